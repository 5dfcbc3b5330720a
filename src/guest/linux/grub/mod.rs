//! Boot loader configuration (LNX-7, MOD-L4): GRUB 2 `grub.cfg`, `grubenv`, Boot Loader
//! Specification entries (`/boot/loader/entries/*.conf`), GRUB legacy `menu.lst`/`grub.conf`,
//! and `/etc/default/grub`. The output is the list of boot entries and THE default entry, with
//! its kernel path and version, initrd and full command line.

pub mod bls;
pub mod default_grub;
pub mod grub2;
pub mod grubenv;
pub mod legacy;
pub(crate) mod words;

use super::files::GuestFiles;

/// One level of an entry's position in the menu: index among its siblings, title, id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MenuLevel {
    /// Position among its siblings (0-based).
    pub index: usize,
    /// The menu entry's or submenu's title.
    pub title: String,
    /// Its `--id`, if given.
    pub id: Option<String>,
}

/// One bootable entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootEntry {
    /// The entry's own title.
    pub title: String,
    /// Where it sits in the menu (submenus first, the entry last).
    pub levels: Vec<MenuLevel>,
    /// Kernel image path as the boot loader sees it (`/vmlinuz-…`).
    pub kernel: Option<String>,
    /// Kernel version taken from the image name (`vmlinuz-5.14.0-70.el9.x86_64`) or BLS `version`.
    pub kernel_version: Option<String>,
    /// Initramfs paths as the boot loader sees them.
    pub initrd: Vec<String>,
    /// The full kernel command line (variables such as `$kernelopts` expanded).
    pub cmdline: String,
    /// File the entry came from.
    pub source: String,
}

impl BootEntry {
    /// Numeric menu path, GRUB style (`2`, `1>0`).
    pub fn path(&self) -> String {
        self.levels
            .iter()
            .map(|l| l.index.to_string())
            .collect::<Vec<_>>()
            .join(">")
    }
    /// Title path, GRUB style (`Advanced options for Debian GNU/Linux>Debian …`).
    pub fn title_path(&self) -> String {
        self.levels
            .iter()
            .map(|l| l.title.clone())
            .collect::<Vec<_>>()
            .join(">")
    }
}

/// The kernel version in an image name: `/vmlinuz-4.18.0-80.el8.x86_64` → `4.18.0-80.el8.x86_64`.
pub fn kernel_version_of(path: &str) -> Option<String> {
    let base = path.rsplit('/').next().unwrap_or(path);
    [
        "vmlinuz-", "vmlinux-", "kernel-", "bzImage-", "linux-", "Image-",
    ]
    .iter()
    .find_map(|p| base.strip_prefix(p))
    .filter(|v| !v.is_empty())
    .map(str::to_string)
}

/// The entries a `default` setting matches, GRUB style: a numeric path (`1>2`), or titles/ids
/// joined by `>`; an empty setting means entry 0. GRUB takes the first match.
pub fn matching_entries(entries: &[BootEntry], setting: &str) -> Vec<usize> {
    let setting = setting.trim();
    let parts: Vec<&str> = if setting.is_empty() {
        vec!["0"]
    } else {
        setting.split('>').collect()
    };
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.levels.len() == parts.len()
                && e.levels.iter().zip(&parts).all(|(l, p)| {
                    *p == l.index.to_string() || *p == l.title || l.id.as_deref() == Some(*p)
                })
        })
        .map(|(i, _)| i)
        .collect()
}

/// The entry GRUB boots for a `default` setting (the first match), or why there is none.
pub fn resolve_default(entries: &[BootEntry], setting: &str) -> Result<usize, String> {
    if entries.is_empty() {
        return Err("no boot entries".into());
    }
    matching_entries(entries, setting)
        .first()
        .copied()
        .ok_or_else(|| format!("default {:?} matches no boot entry", setting.trim()))
}

/// Which boot loader configuration was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LoaderKind {
    /// GRUB 2 with menu entries in grub.cfg.
    Grub2,
    /// GRUB 2 with `blscfg`: entries in /boot/loader/entries (RHEL 8+, Fedora 30+).
    Grub2Bls,
    /// GRUB legacy (0.97): menu.lst / grub.conf.
    GrubLegacy,
}

/// Everything known about the boot configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootConfig {
    /// Which boot loader configuration.
    pub kind: LoaderKind,
    /// The config file GRUB reads.
    pub config_path: String,
    /// The bootable entries, in menu order.
    pub entries: Vec<BootEntry>,
    /// The raw `default` setting (`0`, `${saved_entry}`, a title) as written.
    pub default_setting: Option<String>,
    /// The setting after expanding `${saved_entry}` from grubenv.
    pub default_expanded: Option<String>,
    /// Index into `entries` of THE default entry, or why it cannot be resolved (LNX-7).
    pub default: Result<usize, String>,
    /// The menu timeout as written (seconds).
    pub timeout: Option<String>,
    /// The guest path of the GRUB environment block, if there is one.
    pub grubenv_path: Option<String>,
    /// grubenv's `next_entry`, when set and grub.cfg honours it: the entry GRUB boots ONCE on
    /// the next boot (the first boot after import) instead of the default; index into
    /// `entries`, or why it names nothing.
    pub next_entry: Option<(String, Result<usize, String>)>,
}

impl BootConfig {
    /// THE default entry, when the `default` setting resolves (LNX-7).
    pub fn default_entry(&self) -> Option<&BootEntry> {
        self.default
            .as_ref()
            .ok()
            .and_then(|&i| self.entries.get(i))
    }
    /// The entry GRUB boots: the default, or entry 0 when the default names nothing
    /// (GRUB's own fallback).
    pub fn booted_entry(&self) -> Option<&BootEntry> {
        self.default_entry().or_else(|| self.entries.first())
    }
}

/// Where GRUB 2 keeps grub.cfg on the distributions we know (BIOS first, then EFI).
pub fn grub2_cfg_paths(files: &dyn GuestFiles) -> Vec<String> {
    let mut v = vec![
        "/boot/grub2/grub.cfg".to_string(),
        "/boot/grub/grub.cfg".to_string(),
    ];
    for d in files.list("/boot/efi/EFI") {
        v.push(format!("/boot/efi/EFI/{d}/grub.cfg"));
    }
    v
}

/// Expand `$var` / `${var}` from GRUB's environment (unknown variables are empty, as in GRUB).
pub fn expand_vars(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name).unwrap_or_default());
            rest = &after[consumed..];
        }
    }
    out.push_str(rest);
    // GRUB collapses nothing, but an expanded empty variable leaves double spaces
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Inspect the boot loader of a Linux root.
pub fn inspect(files: &dyn GuestFiles) -> Option<BootConfig> {
    // grubenv (for ${saved_entry} and $kernelopts)
    let (grubenv_path, env) = ["/boot/grub2/grubenv", "/boot/grub/grubenv"]
        .iter()
        .map(|p| p.to_string())
        .chain(
            files
                .list("/boot/efi/EFI")
                .into_iter()
                .map(|d| format!("/boot/efi/EFI/{d}/grubenv")),
        )
        .find_map(|p| {
            let d = files.read(&p)?;
            grubenv::Grubenv::parse(&d).ok().map(|g| (Some(p), g))
        })
        .unwrap_or_default();

    // GRUB 2
    let cfg = grub2_cfg_paths(files).into_iter().find_map(|p| {
        let t = files.read_string(&p)?;
        let c = grub2::parse(&t, &p);
        (c.bls_position.is_some() || !c.entries.is_empty() || c.default.is_some()).then_some((p, c))
    });
    if let Some((path, cfg)) = cfg {
        let lookup = |k: &str| -> Option<String> {
            env.get(k)
                .map(str::to_string)
                .or_else(|| {
                    (k == "kernelopts")
                        .then(|| cfg.kernelopts_fallback.clone())
                        .flatten()
                })
                .or_else(|| {
                    cfg.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                })
        };
        let mut entries = cfg.entries.clone();
        for e in entries.iter_mut() {
            if e.cmdline.contains('$') {
                e.cmdline = expand_vars(&e.cmdline, &lookup);
            }
        }
        let mut kind = LoaderKind::Grub2;
        if let Some(pos) = cfg.bls_position {
            kind = LoaderKind::Grub2Bls;
            let bls_entries = bls::load(files, &lookup);
            let n = bls_entries.len();
            // entries after the blscfg position shift down by the number of BLS entries
            for e in entries.iter_mut() {
                if let Some(l) = e.levels.first_mut() {
                    if l.index >= pos {
                        l.index += n;
                    }
                }
            }
            for (k, mut b) in bls_entries.into_iter().enumerate() {
                if let Some(l) = b.levels.first_mut() {
                    l.index = pos + k;
                }
                entries.push(b);
            }
            entries.sort_by_key(|e| e.levels.iter().map(|l| l.index).collect::<Vec<_>>());
        }
        let expanded = cfg.default.as_ref().map(|d| {
            let e = expand_vars(d, &|k| lookup(k));
            e.trim().to_string()
        });
        let default = resolve_default(&entries, expanded.as_deref().unwrap_or("0"));
        let next_entry = env
            .get("next_entry")
            .map(str::trim)
            .filter(|n| cfg.honours_next_entry && !n.is_empty())
            .map(|n| (n.to_string(), resolve_default(&entries, n)));
        return Some(BootConfig {
            kind,
            config_path: path,
            entries,
            default_setting: cfg.default.clone(),
            default_expanded: expanded,
            default,
            timeout: cfg.timeout.clone(),
            grubenv_path,
            next_entry,
        });
    }

    // GRUB legacy
    for p in [
        "/boot/grub/menu.lst",
        "/boot/grub/grub.conf",
        "/etc/grub.conf",
    ] {
        if let Some(t) = files.read_string(p) {
            let m = legacy::parse(&t, p);
            if m.entries.is_empty() {
                continue;
            }
            let setting = m.default.clone().unwrap_or_else(|| "0".into());
            let default = if setting == "saved" {
                let saved = files
                    .read_string("/boot/grub/default")
                    .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
                    .unwrap_or_else(|| "0".into());
                resolve_default(&m.entries, &saved)
            } else {
                resolve_default(&m.entries, &setting)
            };
            return Some(BootConfig {
                kind: LoaderKind::GrubLegacy,
                config_path: p.to_string(),
                entries: m.entries,
                default_setting: m.default.clone(),
                default_expanded: m.default,
                default,
                timeout: m.timeout,
                grubenv_path: None,
                next_entry: None,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(
            kernel_version_of("/vmlinuz-4.18.0-80.el8.x86_64").as_deref(),
            Some("4.18.0-80.el8.x86_64")
        );
        assert_eq!(kernel_version_of("/boot/vmlinuz").as_deref(), None);
        assert_eq!(kernel_version_of("/new-kernel.img"), None);
    }

    #[test]
    fn expand() {
        let l = |k: &str| (k == "kernelopts").then(|| "root=/dev/sda1 ro".to_string());
        assert_eq!(
            expand_vars("$kernelopts $tuned_params quiet", &l),
            "root=/dev/sda1 ro quiet"
        );
        assert_eq!(expand_vars("${kernelopts}", &l), "root=/dev/sda1 ro");
        assert_eq!(expand_vars("a $ b ${", &l), "a $ b ${");
    }
}
