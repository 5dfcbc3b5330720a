//! `/etc/fstab` (and `/etc/crypttab`-style) parsing that keeps every line's bytes, so that edits
//! (MOD-L3) can leave comments, spacing and unrelated lines exactly as they were.

/// One line of an fstab file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabLine {
    /// 1-based line number.
    pub number: usize,
    /// The line exactly as in the file, without its line terminator.
    pub raw: String,
    /// The parsed entry, or `None` for blank and comment lines.
    pub entry: Option<Result<FstabEntry, String>>,
}

/// The fields of an fstab entry (octal escapes such as `\040` decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// The first field: the block device or filesystem (`/dev/sda1`, `UUID=…`).
    pub spec: String,
    /// The second field: the mount point.
    pub file: String,
    /// The third field: the filesystem type.
    pub vfstype: String,
    /// The fourth field: the mount options, comma-separated.
    pub options: String,
    /// The fifth field: the dump frequency, when present.
    pub freq: Option<u32>,
    /// The sixth field: the fsck pass, when present.
    pub passno: Option<u32>,
}

impl FstabEntry {
    /// The options as a list.
    pub fn option_list(&self) -> Vec<&str> {
        self.options.split(',').filter(|o| !o.is_empty()).collect()
    }
    /// Whether option `name` is given (alone or as `name=value`).
    pub fn has_option(&self, name: &str) -> bool {
        self.option_list()
            .iter()
            .any(|o| *o == name || o.split_once('=').map(|(k, _)| k) == Some(name))
    }
    /// The value of an option `name=value`.
    pub fn option_value(&self, name: &str) -> Option<&str> {
        self.option_list()
            .into_iter()
            .find_map(|o| match o.split_once('=') {
                Some((k, v)) if k == name => Some(v),
                _ => None,
            })
    }
}

/// Decode fstab's octal escapes (`\040` for a space, `\011` tab, `\012`, `\134`).
pub fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `c` separates fields. As libmount splits them (`man 5 fstab`): space and tab only;
/// every other character (`\r` and other control characters included) belongs to a field.
pub fn is_separator(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The byte ranges of the fields of a line (its content, without the terminator).
pub fn field_ranges(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (is_separator(c), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.len()));
    }
    out
}

/// The fields of a line.
pub fn fields(line: &str) -> Vec<&str> {
    field_ranges(line)
        .into_iter()
        .filter_map(|(s, e)| line.get(s..e))
        .collect()
}

/// Whether a line holds no entry: nothing but separators, or a comment (`#` after them).
pub fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches(is_separator);
    t.is_empty() || t.starts_with('#')
}

/// Parse one non-comment line into an entry. Fewer than three fields, or a non-numeric
/// freq/passno, or more than six fields, is an invalid line (MOD-L3 comments those out).
pub fn parse_entry(line: &str) -> Result<FstabEntry, String> {
    let fields = fields(line);
    if fields.len() < 3 {
        return Err(format!("{} field(s), at least 3 needed", fields.len()));
    }
    if fields.len() > 6 {
        return Err(format!("{} fields, at most 6 allowed", fields.len()));
    }
    let num = |i: usize, what: &str| -> Result<Option<u32>, String> {
        match fields.get(i) {
            None => Ok(None),
            Some(s) => s
                .parse::<u32>()
                .map(Some)
                .map_err(|_| format!("{what} field {s:?} is not a number")),
        }
    };
    Ok(FstabEntry {
        spec: unescape(fields[0]),
        file: unescape(fields[1]),
        vfstype: unescape(fields[2]),
        options: fields
            .get(3)
            .map(|s| unescape(s))
            .unwrap_or_else(|| "defaults".into()),
        freq: num(4, "dump")?,
        passno: num(5, "pass")?,
    })
}

/// Parse a whole file, line by line. Never fails: invalid lines carry their reason.
pub fn parse(text: &str) -> Vec<FstabLine> {
    super::lines::contents(text)
        .enumerate()
        .map(|(i, raw)| {
            let entry = if is_blank_or_comment(raw) {
                None
            } else {
                Some(parse_entry(raw))
            };
            FstabLine {
                number: i + 1,
                raw: raw.to_string(),
                entry,
            }
        })
        .collect()
}

/// The valid entries of a file, with their line numbers.
pub fn entries(text: &str) -> Vec<(usize, FstabEntry)> {
    parse(text)
        .into_iter()
        .filter_map(|l| match l.entry {
            Some(Ok(e)) => Some((l.number, e)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_util_linux_fixture() {
        let text = std::fs::read_to_string(
            "../shared/data/linux/fstab/util-linux/tests/ts/libmount/files/fstab",
        )
        .unwrap();
        let lines = parse(&text);
        assert_eq!(lines.len(), text.lines().count());
        let es = entries(&text);
        assert!(es.iter().any(|(_, e)| e.file == "/"));
        // every raw line is preserved byte for byte
        let joined: Vec<&str> = lines.iter().map(|l| l.raw.as_str()).collect();
        assert_eq!(joined.join("\n"), text.trim_end_matches('\n'));
    }

    #[test]
    fn escapes_and_invalid_lines() {
        let t = "/dev/sda1 /mnt/my\\040disk ext4 defaults,nofail 0 2\nbogus\n# c\n\n/dev/x / ext4 d x\n";
        let l = parse(t);
        let e = l[0].entry.clone().unwrap().unwrap();
        assert_eq!(e.file, "/mnt/my disk");
        assert!(e.has_option("nofail"));
        assert!(matches!(l[1].entry, Some(Err(_))));
        assert!(l[2].entry.is_none() && l[3].entry.is_none());
        assert!(matches!(l[4].entry, Some(Err(_))));
        let m = parse_entry("UUID=1 / ext4 subvol=@,ro").unwrap();
        assert_eq!(m.option_value("subvol"), Some("@"));
        assert_eq!(m.freq, None);
    }
}
