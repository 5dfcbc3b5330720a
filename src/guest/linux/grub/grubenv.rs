//! GRUB 2 environment block (`/boot/grub2/grubenv`): a 1024-byte file starting with
//! `# GRUB Environment Block\n`, `key=value` lines (`\\` and `\n` escaped), padded with `#`.
//! Holds `saved_entry`, `next_entry`, `kernelopts` (RHEL 8 BLS) … (LNX-7).

/// The header every environment block starts with.
pub const HEADER: &str = "# GRUB Environment Block\n";
/// The size GRUB writes and grub-editenv insists on.
pub const SIZE: usize = 1024;

/// Why an environment block is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrubenvError {
    #[error("grubenv does not start with the '# GRUB Environment Block' header")]
    BadHeader,
    #[error("grubenv is {0} bytes, GRUB needs exactly 1024")]
    BadSize(usize),
    #[error("grubenv padding after the variables is not all '#' (an editor added a newline?)")]
    BadPadding,
    #[error("grubenv variables need {0} bytes, more than a 1024-byte block holds")]
    TooLarge(usize),
}

/// A parsed environment block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grubenv {
    pub vars: Vec<(String, String)>,
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

impl Grubenv {
    /// Parse, leniently: the header is required, the size is checked by [`Grubenv::check`].
    pub fn parse(data: &[u8]) -> Result<Grubenv, GrubenvError> {
        let text = String::from_utf8_lossy(data);
        let body = text.strip_prefix(HEADER).ok_or(GrubenvError::BadHeader)?;
        let vars = body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        Ok(Grubenv { vars })
    }

    /// Strict validity: header and exact size.
    pub fn check(data: &[u8]) -> Result<(), GrubenvError> {
        if !data.starts_with(HEADER.as_bytes()) {
            return Err(GrubenvError::BadHeader);
        }
        if data.len() != SIZE {
            return Err(GrubenvError::BadSize(data.len()));
        }
        // variables are lines without '#'; the first '#' starts the padding, which runs to
        // the end of the block
        let body = data.get(HEADER.len()..).unwrap_or_default();
        let mut at = 0;
        while at < body.len() && body[at] != b'#' {
            match body[at..].iter().position(|&c| c == b'\n') {
                Some(n) => at += n + 1,
                None => return Err(GrubenvError::BadPadding),
            }
        }
        if body[at.min(body.len())..].iter().any(|&c| c != b'#') {
            return Err(GrubenvError::BadPadding);
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set (or add) a variable, keeping the order of the others.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((key.to_string(), value.to_string())),
        }
    }

    /// Serialise into a 1024-byte block padded with `#`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GrubenvError> {
        let mut s = String::from(HEADER);
        for (k, v) in &self.vars {
            s.push_str(k);
            s.push('=');
            s.push_str(&escape(v));
            s.push('\n');
        }
        if s.len() > SIZE {
            return Err(GrubenvError::TooLarge(s.len()));
        }
        let mut b = s.into_bytes();
        b.resize(SIZE, b'#');
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUP: &str = "../shared/data/linux/grub/rhboot__grubby/test/grub2-support_files/";

    #[test]
    fn grubby_samples() {
        let e1 = std::fs::read(format!("{SUP}grubenv.1")).unwrap();
        Grubenv::check(&e1).unwrap();
        let g = Grubenv::parse(&e1).unwrap();
        assert_eq!(
            g.get("saved_entry"),
            Some("Linux, with Fedora 2.6.38.8-32.fc15.x86_64")
        );
        // round trip is byte-exact for a block GRUB wrote
        assert_eq!(g.to_bytes().unwrap(), e1);
        let e0 = std::fs::read(format!("{SUP}grubenv.0")).unwrap();
        assert_eq!(Grubenv::parse(&e0).unwrap().vars, vec![]);
        let e4 = std::fs::read(format!("{SUP}grubenv.4")).unwrap();
        assert_eq!(Grubenv::check(&e4), Err(GrubenvError::BadSize(1025)));
        assert!(Grubenv::parse(b"saved_entry=x\n").is_err());
    }

    #[test]
    fn leapp_corrupted_samples() {
        let d = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/common/actors/scangrubconfig/tests/files/corrupted_grubenv/";
        assert!(Grubenv::check(&std::fs::read(format!("{d}grubenv.correct")).unwrap()).is_ok());
        assert_eq!(
            Grubenv::check(&std::fs::read(format!("{d}grubenv.wrong1")).unwrap()),
            Err(GrubenvError::BadPadding)
        );
        assert_eq!(
            // 1000 bytes and no header at all
            Grubenv::check(&std::fs::read(format!("{d}grubenv.wrong2")).unwrap()),
            Err(GrubenvError::BadHeader)
        );
    }

    #[test]
    fn set_keeps_size() {
        let mut g = Grubenv::default();
        g.set("saved_entry", "a\\b");
        g.set("kernelopts", "root=UUID=x ro");
        let b = g.to_bytes().unwrap();
        assert_eq!(b.len(), 1024);
        assert_eq!(Grubenv::parse(&b).unwrap(), g);
        g.set("big", &"x".repeat(1100));
        assert!(matches!(g.to_bytes(), Err(GrubenvError::TooLarge(_))));
    }
}
