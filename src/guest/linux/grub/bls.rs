//! Boot Loader Specification entries (`/boot/loader/entries/*.conf`, RHEL 8+, Fedora 30+):
//! `title`, `version`, `linux`, `initrd`, `options` (which may use `$kernelopts` from
//! grubenv). GRUB's `blscfg` shows them newest version first; the entry id (what
//! `saved_entry` names) is the file name without `.conf`.

use super::super::files::GuestFiles;
use super::{BootEntry, MenuLevel, expand_vars, kernel_version_of};
use std::cmp::Ordering;

/// Where BLS entries live.
pub const ENTRIES_DIR: &str = "/boot/loader/entries";
/// Most entries read (bounds work on hostile images).
const MAX_ENTRIES: usize = 1024;
/// Largest entry file read (real ones are a few hundred bytes).
const MAX_ENTRY_SIZE: usize = 64 * 1024;

/// One parsed BLS file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlsEntry {
    /// The entry's ID: its file name without `.conf`.
    pub id: String,
    /// The `title` line.
    pub title: Option<String>,
    /// The `version` line.
    pub version: Option<String>,
    /// The `linux` line: the kernel's path.
    pub linux: Option<String>,
    /// The `initrd` lines: initramfs paths.
    pub initrd: Vec<String>,
    /// `options` as written (variables not expanded).
    pub options: Option<String>,
}

/// Parse the text of one entry file.
pub fn parse(id: &str, text: &str) -> BlsEntry {
    let mut e = BlsEntry {
        id: id.to_string(),
        ..Default::default()
    };
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (k, v) = match t.split_once([' ', '\t']) {
            Some((k, v)) => (k, v.trim().to_string()),
            None => (t, String::new()),
        };
        match k {
            "title" => e.title = Some(v),
            "version" => e.version = Some(v),
            "linux" => e.linux = Some(v),
            "initrd" => e.initrd.extend(v.split_whitespace().map(str::to_string)),
            "options" => {
                e.options = Some(match e.options.take() {
                    Some(o) => format!("{o} {v}"),
                    None => v,
                })
            }
            _ => {}
        }
    }
    e
}

/// rpm-style version comparison (`vercmp`): alternating numeric and alphabetic segments.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    fn segs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            rest = rest.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            let Some(c) = rest.chars().next() else { break };
            let num = c.is_ascii_digit();
            let end = rest
                .find(|x: char| {
                    if num {
                        !x.is_ascii_digit()
                    } else {
                        !x.is_ascii_alphabetic()
                    }
                })
                .unwrap_or(rest.len());
            out.push((num, &rest[..end]));
            rest = &rest[end..];
        }
        out
    }
    let (sa, sb) = (segs(a), segs(b));
    for (x, y) in sa.iter().zip(sb.iter()) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (p, q) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.1.cmp(y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    sa.len().cmp(&sb.len())
}

/// All entries in menu order (newest version first, then id descending, like blscfg).
pub fn read_all(files: &dyn GuestFiles) -> Vec<BlsEntry> {
    let mut v: Vec<BlsEntry> = files
        .list(ENTRIES_DIR)
        .into_iter()
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .take(MAX_ENTRIES)
        .filter_map(|id| {
            let t = files.read_small(&format!("{ENTRIES_DIR}/{id}.conf"), MAX_ENTRY_SIZE)?;
            Some(parse(&id, &t))
        })
        .collect();
    v.sort_by(|a, b| {
        let va = a.version.as_deref().unwrap_or("");
        let vb = b.version.as_deref().unwrap_or("");
        vercmp(vb, va).then_with(|| vercmp(&b.id, &a.id))
    });
    v
}

/// BLS entries as boot entries, `$variables` in options expanded with `lookup` (grubenv).
pub fn load(files: &dyn GuestFiles, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<BootEntry> {
    read_all(files)
        .into_iter()
        .enumerate()
        .map(|(i, e)| to_boot_entry(&e, i, lookup))
        .collect()
}

/// Convert one entry (at menu position `index`).
pub fn to_boot_entry(
    e: &BlsEntry,
    index: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> BootEntry {
    let title = e.title.clone().unwrap_or_else(|| e.id.clone());
    BootEntry {
        title: title.clone(),
        levels: vec![MenuLevel {
            index,
            title,
            id: Some(e.id.clone()),
        }],
        kernel: e.linux.clone(),
        kernel_version: e
            .version
            .clone()
            .or_else(|| e.linux.as_deref().and_then(kernel_version_of)),
        initrd: e.initrd.clone(),
        cmdline: e
            .options
            .as_deref()
            .map(|o| expand_vars(o, lookup))
            .unwrap_or_default(),
        source: format!("{ENTRIES_DIR}/{}.conf", e.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(vercmp("4.18.0-80.el8", "4.18.0-147.el8"), Ordering::Less);
        assert_eq!(vercmp("5.14.0", "5.14.0"), Ordering::Equal);
        assert_eq!(vercmp("3.10-23.el7", "3.10-1.el7.fc24"), Ordering::Greater);
        assert_eq!(
            vercmp("6.15.9-201.fc42", "4.16.11-100.fc26"),
            Ordering::Greater
        );
    }
}
