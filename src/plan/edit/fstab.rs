//! MOD-L3: `/etc/fstab` and `/etc/crypttab` rewriting.
//!
//! - device names (`/dev/sda1`, `/dev/vdb2` …) are replaced by `UUID=` when the resolver knows
//!   the filesystem's UUID;
//! - entries whose device matches nothing in the image get the `nofail` option (and a note: the
//!   user must fix the name and drop `nofail` after import);
//! - entries of non-standard filesystem types (a parameter: cifs, smbfs, vboxsf, sshfs …) and
//!   invalid lines are commented out behind [`DISABLED_MARKER`], which a second run recognises
//!   as a comment, so the edit is idempotent.
//!
//! Every other byte (comments, spacing, field alignment, unrelated lines) is kept.

use super::{DISABLED_MARKER, split_eol, split_lines_keep};
use crate::guest::linux::fstab::{
    field_ranges, fields, is_blank_or_comment, is_separator, parse_entry, unescape,
};

/// What the image knows about a device spec (`/dev/sda1`, `LABEL=x`, `UUID=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecResolution {
    /// The spec names the filesystem with this UUID: write `UUID=<uuid>`.
    Uuid(String),
    /// The spec is already stable across the import (UUID=, LABEL=, /dev/mapper/…, by-uuid).
    AlreadyStable,
    /// Nothing in the image matches: the entry gets `nofail`.
    NotInImage,
}

/// One thing the user should know about an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditNote {
    /// 1-based line number in the OLD text.
    pub line: usize,
    /// What the user should know.
    pub message: String,
}

/// The result of an editor: the new text and the notes for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The edited text.
    pub text: String,
    /// What the user should know about the edit.
    pub notes: Vec<EditNote>,
}

/// The filesystem types MOD-L3 names as non-standard (network and host-shared filesystems
/// that will not be reachable after import). `nfs` is deliberately not in the default list:
/// an NFS server may well be reachable from the cloud; callers can add it.
pub const DEFAULT_DISABLED_TYPES: &[&str] = &[
    "cifs",
    "smbfs",
    "smb3",
    "vboxsf",
    "vmhgfs",
    "fuse.vmhgfs-fuse",
    "sshfs",
    "fuse.sshfs",
    "9p",
    "virtiofs",
];

/// Filesystem types that have no block device behind them.
const PSEUDO_TYPES: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devpts",
    "devtmpfs",
    "ramfs",
    "cgroup",
    "cgroup2",
    "debugfs",
    "securityfs",
    "hugetlbfs",
    "mqueue",
    "pstore",
    "efivarfs",
    "configfs",
    "fusectl",
    "bpf",
    "tracefs",
    "binfmt_misc",
    "autofs",
    "none",
    "rpc_pipefs",
    "nfsd",
    "usbfs",
    "shm",
];

/// Whether a spec names a block device (something the resolver can know about).
fn is_device_spec(spec: &str) -> bool {
    spec.starts_with("/dev/")
        || ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="]
            .iter()
            .any(|p| {
                spec.len() > p.len()
                    && spec
                        .get(..p.len())
                        .is_some_and(|h| h.eq_ignore_ascii_case(p))
            })
}

/// Comment a line out behind the marker, keeping it readable.
fn disable(content: &str, why: &str) -> String {
    format!("{DISABLED_MARKER} ({why}): {content}")
}

/// Add `nofail` to an options field (or append an options field when there is none).
fn add_nofail(content: &str, ranges: &[(usize, usize)], opt_field: usize) -> String {
    match ranges.get(opt_field) {
        Some(&(s, e)) => {
            let opts = &content[s..e];
            let new = if opts == "defaults" || opts.is_empty() {
                "defaults,nofail".to_string()
            } else {
                format!("{opts},nofail")
            };
            format!("{}{}{}", &content[..s], new, &content[e..])
        }
        None => {
            // Fields before the options are missing (fstab: 3 fields; crypttab: 2 or 3).
            let mut s = content.trim_end_matches(is_separator).to_string();
            let trailing = &content[s.len()..];
            let missing = opt_field.saturating_sub(ranges.len());
            for _ in 0..missing {
                s.push_str("\tnone");
            }
            s.push_str(if opt_field == 3 && missing == 0 {
                "\tdefaults,nofail"
            } else {
                "\tnofail"
            });
            s.push_str(trailing);
            s
        }
    }
}

/// Which table a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `/etc/fstab`: spec file vfstype options freq passno.
    Fstab,
    /// `/etc/crypttab`: name device keyfile options.
    Crypttab,
}

/// MOD-L3 for `/etc/fstab`.
pub fn edit_fstab(
    old: &str,
    resolve: &dyn Fn(&str) -> SpecResolution,
    disabled_types: &[&str],
) -> Edited {
    edit_table(old, Table::Fstab, resolve, disabled_types)
}

/// MOD-L3 for `/etc/crypttab` (device names → `UUID=`, `nofail` for unknown devices, invalid
/// lines commented out).
pub fn edit_crypttab(old: &str, resolve: &dyn Fn(&str) -> SpecResolution) -> Edited {
    edit_table(old, Table::Crypttab, resolve, &[])
}

fn crypttab_check(content: &str) -> Result<(), String> {
    let n = fields(content).len();
    if !(2..=4).contains(&n) {
        return Err(format!("{n} field(s), crypttab needs 2 to 4"));
    }
    Ok(())
}

/// The shared line-by-line editor.
pub fn edit_table(
    old: &str,
    table: Table,
    resolve: &dyn Fn(&str) -> SpecResolution,
    disabled_types: &[&str],
) -> Edited {
    let mut text = String::with_capacity(old.len() + 64);
    let mut notes = Vec::new();
    for (i, line) in split_lines_keep(old).into_iter().enumerate() {
        let number = i + 1;
        let (content, eol) = split_eol(line);
        if is_blank_or_comment(content) {
            text.push_str(line);
            continue;
        }
        let (dev_field, opt_field) = match table {
            Table::Fstab => (0usize, 3usize),
            Table::Crypttab => (1, 3),
        };
        // validity
        let parsed = match table {
            Table::Fstab => parse_entry(content).map(Some),
            Table::Crypttab => crypttab_check(content).map(|_| None),
        };
        let entry = match parsed {
            Ok(e) => e,
            Err(why) => {
                notes.push(EditNote {
                    line: number,
                    message: format!("invalid entry commented out: {why}"),
                });
                text.push_str(&disable(content, &format!("invalid: {why}")));
                text.push_str(eol);
                continue;
            }
        };
        if let Some(e) = &entry {
            if disabled_types
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&e.vfstype))
            {
                notes.push(EditNote {
                    line: number,
                    message: format!(
                        "{} entry for {} commented out: non-standard filesystem type",
                        e.vfstype, e.file
                    ),
                });
                text.push_str(&disable(
                    content,
                    &format!("non-standard type {}", e.vfstype),
                ));
                text.push_str(eol);
                continue;
            }
        }
        let ranges = field_ranges(content);
        let Some(&(ds, de)) = ranges.get(dev_field) else {
            text.push_str(line);
            continue;
        };
        let spec = unescape(&content[ds..de]);
        let pseudo = entry
            .as_ref()
            .is_some_and(|e| PSEUDO_TYPES.contains(&e.vfstype.as_str()) || e.has_option("bind"));
        let has_nofail = match &entry {
            Some(e) => e.has_option("nofail"),
            None => ranges
                .get(opt_field)
                .is_some_and(|&(s, e)| content[s..e].split(',').any(|o| o == "nofail")),
        };
        if pseudo || !is_device_spec(&spec) {
            text.push_str(line);
            continue;
        }
        let what = entry
            .as_ref()
            .map(|e| e.file.clone())
            .unwrap_or_else(|| spec.clone());
        match resolve(&spec) {
            SpecResolution::AlreadyStable => text.push_str(line),
            SpecResolution::Uuid(u) => {
                text.push_str(&content[..ds]);
                text.push_str("UUID=");
                text.push_str(&u);
                text.push_str(&content[de..]);
                text.push_str(eol);
                notes.push(EditNote {
                    line: number,
                    message: format!("{what}: {spec} replaced by UUID={u}"),
                });
            }
            SpecResolution::NotInImage if has_nofail => text.push_str(line),
            // The root filesystem never gets nofail (issue 23): a root that cannot be found
            // must stop the boot, not be skipped. (The planner resolves the root's own entry to
            // the root it read the fstab from, so this is the editor's last guard.)
            SpecResolution::NotInImage if entry.as_ref().is_some_and(|e| e.file == "/") => {
                text.push_str(line)
            }
            SpecResolution::NotInImage => {
                text.push_str(&add_nofail(content, &ranges, opt_field));
                text.push_str(eol);
                notes.push(EditNote {
                    line: number,
                    message: format!(
                        "{what}: no device matching {spec} in the image; added nofail — fix the \
                         device name and remove nofail after import"
                    ),
                });
            }
        }
    }
    Edited { text, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(spec: &str) -> SpecResolution {
        match spec {
            "/dev/sda1" => SpecResolution::Uuid("1111-2222".into()),
            s if s.starts_with("UUID=1111") => SpecResolution::AlreadyStable,
            _ => SpecResolution::NotInImage,
        }
    }

    #[test]
    fn minimal_edits() {
        let old = "# c\n/dev/sda1\t/  ext4  defaults 0 1\n/dev/sdz9 /d xfs\n//srv/s /m cifs rw 0 0\nbad\nproc /proc proc defaults 0 0\n";
        let e = edit_fstab(old, &res, DEFAULT_DISABLED_TYPES);
        assert_eq!(
            e.text,
            "# c\nUUID=1111-2222\t/  ext4  defaults 0 1\n/dev/sdz9 /d xfs\tdefaults,nofail\n\
             # guestfix: disabled (non-standard type cifs): //srv/s /m cifs rw 0 0\n\
             # guestfix: disabled (invalid: 1 field(s), at least 3 needed): bad\nproc /proc proc defaults 0 0\n"
        );
        assert_eq!(e.notes.len(), 4);
        assert_eq!(
            edit_fstab(&e.text, &res, DEFAULT_DISABLED_TYPES).text,
            e.text
        );
    }

    #[test]
    fn crypttab() {
        let old = "luks-root /dev/sda1 none luks\nswap /dev/sdz2 /dev/urandom swap,cipher=aes\nx\n";
        let e = edit_crypttab(old, &res);
        assert_eq!(
            e.text,
            "luks-root UUID=1111-2222 none luks\nswap /dev/sdz2 /dev/urandom swap,cipher=aes,nofail\n\
             # guestfix: disabled (invalid: 1 field(s), crypttab needs 2 to 4): x\n"
        );
        assert_eq!(edit_crypttab(&e.text, &res).text, e.text);
    }
}
