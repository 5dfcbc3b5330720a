//! The INI dialect of NetworkManager keyfiles and systemd units: `[Section]` headers,
//! `key=value` lines, `#`/`;` comments. Sections and keys may repeat (systemd `[Address]`,
//! `[Route]`); every entry keeps its line number for minimal edits.

/// One `key=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniEntry {
    /// Index of the section in [`Ini::sections`].
    pub section: usize,
    pub key: String,
    pub value: String,
    /// 0-based line index in the text.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    /// Section names in order, with the 0-based line of the header.
    pub sections: Vec<(String, usize)>,
    pub entries: Vec<IniEntry>,
}

impl Ini {
    pub fn parse(text: &str) -> Ini {
        let mut ini = Ini::default();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                ini.sections.push((name.trim().to_string(), n));
                continue;
            }
            if let (Some((k, v)), Some(sec)) =
                (t.split_once('='), ini.sections.len().checked_sub(1))
            {
                ini.entries.push(IniEntry {
                    section: sec,
                    key: k.trim().to_string(),
                    value: v.trim().to_string(),
                    line: n,
                });
            }
        }
        ini
    }

    /// Entries of every section called `section`, in order.
    pub fn in_section<'a, 'b>(&'a self, section: &'b str) -> impl Iterator<Item = &'a IniEntry> + 'b
    where
        'a: 'b,
    {
        self.entries.iter().filter(move |e| {
            self.sections
                .get(e.section)
                .is_some_and(|(n, _)| n == section)
        })
    }

    /// Last value of `key` in sections named `section`.
    pub fn get<'a>(&'a self, section: &str, key: &str) -> Option<&'a str> {
        self.in_section(section)
            .filter(|e| e.key == key)
            .last()
            .map(|e| e.value.as_str())
    }

    /// All values of `key` in sections named `section`.
    pub fn all<'a>(&'a self, section: &str, key: &str) -> Vec<&'a str> {
        self.in_section(section)
            .filter(|e| e.key == key)
            .map(|e| e.value.as_str())
            .collect()
    }
}
