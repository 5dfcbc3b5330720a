//! Windows driver INF files (the setup-information format): sections, `key = value, value`
//! lines, `;` comments, `\` line continuation, quoted fields, and `%string%` tokens replaced
//! from `[Strings]` (then a locale `[Strings.xxxx]`). UTF-16LE (with BOM), UTF-8 (with or
//! without BOM) and Latin-1 files are read. Bounded: at most [`MAX_INF`] bytes, [`MAX_FIELDS`]
//! fields per line. What an INF *means* for a guest (models, services, files) is in
//! [`super::driver`].

use std::collections::HashMap;

/// Largest INF read (real ones are a few KiB to a few hundred KiB).
pub const MAX_INF: usize = 4 << 20;
/// Most fields on one line.
pub const MAX_FIELDS: usize = 4096;

/// Errors reading an INF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InfError {
    #[error("{len} bytes: larger than the {MAX_INF}-byte limit for an INF")]
    /// The file is larger than an INF can be.
    TooLarge {
        /// Its size in bytes.
        len: usize,
    },
    #[error("line {line}: {reason}")]
    /// A line does not parse.
    Syntax {
        /// Its line number (1-based).
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    #[error("no [Version] section with a Signature: not an INF file")]
    /// No `[Version]` section with a Signature: not an INF.
    NoVersion,
}

/// One line of a section: `key = v1, v2` or a bare `v1, v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key before `=`, if any.
    pub key: Option<String>,
    /// The comma-separated values.
    pub values: Vec<String>,
    /// Line number (1-based) where the entry starts.
    pub line: usize,
}

impl Entry {
    /// Field `i` (0-based), empty when absent.
    pub fn value(&self, i: usize) -> &str {
        self.values.get(i).map(String::as_str).unwrap_or("")
    }
}

/// A parsed INF: sections in file order (a section named twice is merged, as SetupAPI does).
#[derive(Debug, Clone, Default)]
pub struct Inf {
    sections: Vec<(String, Vec<Entry>)>,
    index: HashMap<String, usize>,
}

fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A line's key (text before `=`) and its fields.
type KeyFields = (Option<String>, Vec<String>);

/// Split one logical line into its key (text before an unquoted `=`) and fields; comments
/// (`;` outside quotes) are dropped. Quoted text keeps commas and `;`, and `""` inside quotes
/// is one `"`.
fn split_line(line: &str, lineno: usize) -> Result<Option<KeyFields>, InfError> {
    let mut fields: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut key: Option<String> = None;
    let mut in_q = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_q {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_q = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => in_q = true,
            ';' => break,
            '=' if key.is_none() && fields.is_empty() => {
                key = Some(cur.trim().to_string());
                cur.clear();
            }
            ',' => {
                fields.push(cur.trim().to_string());
                cur.clear();
                if fields.len() > MAX_FIELDS {
                    return Err(InfError::Syntax {
                        line: lineno,
                        reason: "too many fields",
                    });
                }
            }
            _ => cur.push(c),
        }
    }
    if in_q {
        return Err(InfError::Syntax {
            line: lineno,
            reason: "unterminated quoted string",
        });
    }
    let last = cur.trim().to_string();
    if key.is_none() && fields.is_empty() && last.is_empty() {
        return Ok(None);
    }
    if !(key.is_some() && fields.is_empty() && last.is_empty()) {
        fields.push(last);
    }
    Ok(Some((key, fields)))
}

impl Inf {
    /// Parse an INF file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Inf, InfError> {
        if bytes.len() > MAX_INF {
            return Err(InfError::TooLarge { len: bytes.len() });
        }
        let text = decode(bytes);
        let mut inf = Inf::default();
        let mut current: Option<usize> = None;
        let mut pending = String::new();
        let mut pending_line = 0;
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let line = raw.trim_end_matches('\r');
            if pending.is_empty() {
                pending_line = lineno;
            }
            // A trailing `\` (outside a comment) continues the line.
            let code = strip_comment(line);
            if let Some(body) = code.trim_end().strip_suffix('\\') {
                pending.push_str(body);
                continue;
            }
            pending.push_str(line);
            let logical = std::mem::take(&mut pending);
            let t = logical.trim();
            if t.starts_with('[') {
                let end = t.find(']').ok_or(InfError::Syntax {
                    line: pending_line,
                    reason: "section name without ]",
                })?;
                let name = t[1..end].trim().to_string();
                let key = name.to_ascii_lowercase();
                current = Some(match inf.index.get(&key) {
                    Some(&i) => i,
                    None => {
                        inf.sections.push((name, Vec::new()));
                        inf.index.insert(key, inf.sections.len() - 1);
                        inf.sections.len() - 1
                    }
                });
                continue;
            }
            let Some((key, values)) = split_line(t, pending_line)? else {
                continue;
            };
            let Some(i) = current else {
                return Err(InfError::Syntax {
                    line: pending_line,
                    reason: "text before the first [section]",
                });
            };
            inf.sections[i].1.push(Entry {
                key,
                values,
                line: pending_line,
            });
        }
        let signed = inf
            .section("Version")
            .is_some_and(|s| s.iter().any(|e| key_is(e, "Signature")));
        if !signed {
            return Err(InfError::NoVersion);
        }
        inf.substitute();
        Ok(inf)
    }

    /// Replace `%token%` in every key and field from `[Strings]` (unknown tokens, such as
    /// directory ids `%12%`, are kept as they are; `%%` is `%`).
    fn substitute(&mut self) {
        let mut strings: HashMap<String, String> = HashMap::new();
        let mut names: Vec<String> = self
            .sections
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n.to_ascii_lowercase().starts_with("strings."))
            .collect();
        names.sort();
        names.insert(0, "Strings".into());
        // [Strings] wins over locale sections: insert it last.
        for name in names.iter().rev() {
            if let Some(entries) = self.section(name) {
                for e in entries {
                    if let Some(k) = &e.key {
                        strings.insert(k.to_ascii_lowercase(), e.value(0).to_string());
                    }
                }
            }
        }
        let sub = |s: &str| -> String {
            if !s.contains('%') {
                return s.to_string();
            }
            let mut out = String::new();
            let mut rest = s;
            while let Some(a) = rest.find('%') {
                out.push_str(&rest[..a]);
                let after = &rest[a + 1..];
                match after.find('%') {
                    Some(0) => {
                        out.push('%');
                        rest = &after[1..];
                    }
                    Some(b) => {
                        let tok = &after[..b];
                        match strings.get(&tok.to_ascii_lowercase()) {
                            Some(v) => out.push_str(v),
                            None => {
                                out.push('%');
                                out.push_str(tok);
                                out.push('%');
                            }
                        }
                        rest = &after[b + 1..];
                    }
                    None => {
                        out.push('%');
                        rest = after;
                    }
                }
            }
            out.push_str(rest);
            out
        };
        for (name, entries) in &mut self.sections {
            if name.eq_ignore_ascii_case("Strings")
                || name.to_ascii_lowercase().starts_with("strings.")
            {
                continue;
            }
            for e in entries {
                e.key = e.key.as_deref().map(sub);
                for v in &mut e.values {
                    *v = sub(v);
                }
            }
        }
    }

    /// The entries of section `name` (case-insensitive), or None when there is no such section.
    pub fn section(&self, name: &str) -> Option<&[Entry]> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| self.sections[i].1.as_slice())
    }

    /// The first field of `key` in section `section`.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)?
            .iter()
            .find(|e| key_is(e, key))
            .map(|e| e.value(0))
    }

    /// Every field of every `key` line in `section` (AddReg = a, b → [a, b]).
    pub fn values(&self, section: &str, key: &str) -> Vec<String> {
        self.section(section)
            .unwrap_or(&[])
            .iter()
            .filter(|e| key_is(e, key))
            .flat_map(|e| e.values.iter().filter(|v| !v.is_empty()).cloned())
            .collect()
    }

    /// Section names in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(n, _)| n.as_str())
    }
}

/// Whether an entry's key is `key` (case-insensitive).
pub fn key_is(e: &Entry, key: &str) -> bool {
    e.key
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(key))
}

fn strip_comment(line: &str) -> &str {
    let mut in_q = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ';' if !in_q => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "; comment\r\n[Version]\r\nSignature=\"$WINDOWS NT$\"\r\nClass=SCSIAdapter\r\n\
        ClassGUID={4D36E97B-E325-11CE-BFC1-08002BE10318}\r\n\
        [Manufacturer]\r\n%RH% = RH, NTamd64.10.0, \\\r\n  NTx86\r\n\
        [Strings]\r\nRH = \"Red Hat, Inc.\"\r\nDesc=\"A \"\"quoted\"\" ; disk\"\r\n\
        [RH.NTamd64.10.0]\r\n%Desc% = inst, PCI\\VEN_1AF4&DEV_1001 ; trailing\r\n\
        [Dirs]\r\nDefaultDestDir = %12%, 50%%\r\n";

    #[test]
    fn parses_sections_strings_quotes_continuations() {
        let inf = Inf::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(inf.value("version", "CLASS"), Some("SCSIAdapter"));
        let m = inf.section("Manufacturer").unwrap();
        assert_eq!(m[0].key.as_deref(), Some("Red Hat, Inc."));
        assert_eq!(m[0].values, ["RH", "NTamd64.10.0", "NTx86"]);
        let models = inf.section("rh.ntamd64.10.0").unwrap();
        assert_eq!(models[0].key.as_deref(), Some("A \"quoted\" ; disk"));
        assert_eq!(models[0].values, ["inst", "PCI\\VEN_1AF4&DEV_1001"]);
        assert_eq!(inf.section("Dirs").unwrap()[0].values, ["%12%", "50%"]);
    }

    #[test]
    fn utf16_with_bom() {
        let mut b = vec![0xFF, 0xFE];
        b.extend(SAMPLE.encode_utf16().flat_map(u16::to_le_bytes));
        let inf = Inf::parse(&b).unwrap();
        assert_eq!(inf.value("Version", "Class"), Some("SCSIAdapter"));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Inf::parse(b"[Version]\nSignature=\"$Windows NT$\nClass=x\n").unwrap_err(),
            InfError::Syntax {
                line: 2,
                reason: "unterminated quoted string"
            }
        );
        assert_eq!(
            Inf::parse(b"x=1\n").unwrap_err(),
            InfError::Syntax {
                line: 1,
                reason: "text before the first [section]"
            }
        );
        assert_eq!(
            Inf::parse(b"[Strings]\na=b\n").unwrap_err(),
            InfError::NoVersion
        );
        assert_eq!(
            Inf::parse(b"[Version\nSignature=x\n").unwrap_err(),
            InfError::Syntax {
                line: 1,
                reason: "section name without ]"
            }
        );
    }
}
