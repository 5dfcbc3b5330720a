//! The VMDK text descriptor: createType, extent lines, parent hint.

use crate::block::BlockError;

/// Largest descriptor accepted.
pub const MAX_DESCRIPTOR: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    pub access: String,
    pub sectors: u64,
    /// FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, SESPARSE …
    pub kind: String,
    pub file: Option<String>,
    pub offset: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Descriptor {
    pub create_type: Option<String>,
    pub parent_hint: Option<String>,
    pub parent_cid: Option<String>,
    pub extents: Vec<Extent>,
}

/// Whether the first bytes of a file look like a text descriptor.
pub fn looks_like_descriptor(head: &[u8]) -> bool {
    let s = String::from_utf8_lossy(head);
    let t = s.trim_start();
    (t.starts_with("# Disk DescriptorFile") || t.starts_with("#Disk DescriptorFile"))
        || (t.starts_with('#') && s.contains("createType"))
}

fn unquote(v: &str) -> String {
    v.trim().trim_matches('"').to_string()
}

pub fn parse(text: &[u8], path: &str) -> Result<Descriptor, BlockError> {
    let s = String::from_utf8_lossy(text);
    let mut d = Descriptor::default();
    for line in s.lines().take(100_000) {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if !k.contains(' ') {
                match k {
                    "createType" => d.create_type = Some(unquote(v)),
                    "parentFileNameHint" => d.parent_hint = Some(unquote(v)),
                    "parentCID" => d.parent_cid = Some(unquote(v)),
                    _ => {}
                }
                continue;
            }
        }
        let mut words = line.split_whitespace();
        let access = words.next().unwrap_or("");
        if !matches!(access, "RW" | "RDONLY" | "NOACCESS") {
            continue;
        }
        let sectors: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(|| {
            BlockError::corrupt(path, format!("VMDK extent line {line:?}: bad size"))
        })?;
        let kind = words.next().unwrap_or("").to_ascii_uppercase();
        let rest: String = words.collect::<Vec<_>>().join(" ");
        let (file, offset) = if let Some(start) = rest.find('"') {
            let after = rest.get(start + 1..).unwrap_or("");
            let end = after.find('"').ok_or_else(|| {
                BlockError::corrupt(
                    path,
                    format!("VMDK extent line {line:?}: unterminated file name"),
                )
            })?;
            let name = after.get(..end).unwrap_or("").to_string();
            let tail = after.get(end + 1..).unwrap_or("").trim();
            let off = tail
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            (Some(name), off)
        } else {
            (None, 0)
        };
        if d.extents.len() >= 4096 {
            return Err(BlockError::TooLarge {
                path: path.into(),
                what: "VMDK extent count".into(),
                size: d.extents.len() as u64,
                limit: 4096,
            });
        }
        d.extents.push(Extent {
            access: access.to_string(),
            sectors,
            kind,
            file,
            offset,
        });
    }
    Ok(d)
}

impl Descriptor {
    /// Whether the descriptor names a parent (a delta / snapshot disk).
    pub fn has_parent(&self) -> bool {
        let cid_parent = self
            .parent_cid
            .as_deref()
            .is_some_and(|c| !c.eq_ignore_ascii_case("ffffffff"));
        self.parent_hint.is_some() || cid_parent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_flat_descriptor_written_like_qemu() {
        let t = b"# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n# Extent description\nRW 8192 FLAT \"d-flat.vmdk\" 0\n\nddb.virtualHWVersion = \"4\"\n";
        let d = parse(t, "d.vmdk").unwrap();
        assert_eq!(d.create_type.as_deref(), Some("monolithicFlat"));
        assert!(!d.has_parent());
        assert_eq!(
            d.extents,
            vec![Extent {
                access: "RW".into(),
                sectors: 8192,
                kind: "FLAT".into(),
                file: Some("d-flat.vmdk".into()),
                offset: 0
            }]
        );
        assert!(looks_like_descriptor(t));
    }
}
