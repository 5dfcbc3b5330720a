//! GRUB legacy (0.97) `menu.lst` / `grub.conf`: `default N|saved`, `timeout N`, then
//! `title` blocks with `root`, `kernel PATH ARGS…` and `initrd PATH`.

use super::{BootEntry, MenuLevel, kernel_version_of};

/// A parsed legacy menu.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyMenu {
    /// The `default` setting.
    pub default: Option<String>,
    /// The `timeout` setting.
    pub timeout: Option<String>,
    /// The `title` entries, in order.
    pub entries: Vec<BootEntry>,
}

/// Split `key value` or `key=value` (GRUB legacy accepts both).
pub fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let end = t.find([' ', '\t', '=']).unwrap_or(t.len());
    let (k, rest) = t.split_at(end);
    let v = rest.trim_start_matches([' ', '\t']);
    let v = v.strip_prefix('=').unwrap_or(v).trim();
    Some((k, v))
}

/// Parse a GRUB legacy `menu.lst` / `grub.conf` read from `source`.
pub fn parse(text: &str, source: &str) -> LegacyMenu {
    let mut m = LegacyMenu::default();
    for line in text.lines() {
        let Some((k, v)) = key_value(line) else {
            continue;
        };
        match k {
            "title" => {
                let index = m.entries.len();
                m.entries.push(BootEntry {
                    title: v.to_string(),
                    levels: vec![MenuLevel {
                        index,
                        title: v.to_string(),
                        id: None,
                    }],
                    kernel: None,
                    kernel_version: None,
                    initrd: Vec::new(),
                    cmdline: String::new(),
                    source: source.to_string(),
                })
            }
            "default" if m.entries.is_empty() => m.default = Some(v.to_string()),
            "timeout" if m.entries.is_empty() => m.timeout = Some(v.to_string()),
            "kernel" => {
                if let Some(e) = m.entries.last_mut() {
                    let mut it = v.splitn(2, [' ', '\t']);
                    let path = it.next().unwrap_or("");
                    e.kernel = Some(path.to_string());
                    e.kernel_version = kernel_version_of(path);
                    e.cmdline = it.next().unwrap_or("").trim().to_string();
                }
            }
            "initrd" => {
                if let Some(e) = m.entries.last_mut() {
                    e.initrd = v.split_whitespace().take(1).map(str::to_string).collect();
                }
            }
            _ => {}
        }
    }
    m
}
