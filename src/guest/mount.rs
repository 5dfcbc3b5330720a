//! Root filesystems and the guest file tree: find the candidate roots on a disk set (a Linux
//! root has `/etc` plus `/etc/fstab` or `/etc/os-release`; a Windows root has
//! `/Windows/System32`), and for a Linux root mount what its `/etc/fstab` names (MOD-L3's
//! parser) into a [`GuestTree`], resolving each spec against the disk set by `UUID=`, `LABEL=`,
//! `PARTUUID=`, `PARTLABEL=`, `/dev/disk/by-*/`, `/dev/mapper/VG-LV`, `/dev/VG/LV` and plain
//! device names (`/dev/sdaN`, `/dev/vdaN`, `/dev/hdaN`, `/dev/xvdaN`, `/dev/nvme0n1pN`).

use crate::fs::tree::GuestTree;
use crate::fs::{Filesystem, FsError, FsKind, OpenOptions, open_filesystem};
use crate::guest::linux::fstab;
use crate::volume::{Content, DiskSet, Volume, disk_name};
use std::sync::Arc;

/// Largest fstab read.
pub const MAX_FSTAB: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
/// Which kind of OS a root holds.
pub enum OsKind {
    /// A Linux root (`/etc/os-release`, `/etc/fstab` …).
    Linux,
    /// A Windows system volume (`Windows/System32/config/SYSTEM`).
    Windows,
}

/// A filesystem that looks like an operating system's root.
#[derive(Clone)]
pub struct RootCandidate {
    /// Volume name (`/dev/sda2`, `/dev/VG/root`).
    pub volume: String,
    /// The Btrfs subvolume the root was found in, when it is not the default one (Fedora's
    /// `root`, SUSE's `@`).
    pub subvol: Option<String>,
    /// Which kind of OS.
    pub os: OsKind,
    /// The root filesystem, opened.
    pub fs: Arc<dyn Filesystem>,
}

impl RootCandidate {
    /// How reports name this root: the volume, with `:SUBVOL` for a Btrfs subvolume
    /// (`/dev/sda3:root`).
    pub fn name(&self) -> String {
        match &self.subvol {
            Some(sv) => format!("{}:{}", self.volume, sv),
            None => self.volume.clone(),
        }
    }
}

impl std::fmt::Debug for RootCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootCandidate({} {:?})", self.name(), self.os)
    }
}

/// Errors of root selection.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("no operating system root found (GEN-7)")]
    /// No volume holds an OS root.
    NoRoot,
    #[error("several roots found ({0}); name one as DEVICE:PATH")]
    /// Several roots exist and none was named (the roots, comma-separated).
    SeveralRoots(String),
    #[error("{0}: no such volume in the disk set")]
    /// The named volume is not in the disk set.
    UnknownVolume(String),
    #[error("{volume}: {source}")]
    /// A filesystem could not be opened.
    Fs {
        /// The volume.
        volume: String,
        #[source]
        /// Why.
        source: FsError,
    },
}

/// Open the filesystem on a volume (as the probe named it).
pub fn open_volume(v: &Volume, opts: &OpenOptions) -> Result<Arc<dyn Filesystem>, FsError> {
    match &v.content {
        Content::Filesystem { fs, .. } => open_filesystem(*fs, v.dev.clone(), opts),
        other => Err(FsError::Unrecognised(format!(
            "{}: holds {other:?}, not a filesystem",
            v.name
        ))),
    }
}

fn is_dir(fs: &dyn Filesystem, p: &[u8]) -> bool {
    fs.stat(p)
        .is_ok_and(|m| m.file_type == crate::fs::FileType::Directory)
}

/// Every filesystem in `set` that looks like an OS root. Volumes that fail to open are
/// reported in the second list.
pub fn find_roots(set: &DiskSet) -> (Vec<RootCandidate>, Vec<(String, FsError)>) {
    let mut roots = Vec::new();
    let mut errors = Vec::new();
    for v in &set.volumes {
        if !matches!(v.content, Content::Filesystem { .. }) {
            continue;
        }
        let fs = match open_volume(v, &OpenOptions::default()) {
            Ok(fs) => fs,
            Err(e) => {
                errors.push((v.name.clone(), e));
                continue;
            }
        };
        if let Some(os) = os_kind(&*fs) {
            roots.push(RootCandidate {
                volume: v.name.clone(),
                subvol: None,
                os,
                fs,
            });
            continue;
        }
        // Btrfs whose default subvolume is not the system (SLES/openSUSE keep the tree in `@`,
        // Fedora in `root`): look in the other subvolumes, never in snapshots (snapper's
        // `.snapshots/N/snapshot` are copies of the root, not other operating systems).
        if matches!(
            &v.content,
            Content::Filesystem {
                fs: FsKind::Btrfs,
                ..
            }
        ) {
            let subs = crate::fs::btrfs::BtrfsFs::open(v.dev.clone(), &Default::default())
                .and_then(|b| b.list_subvolumes());
            for sub in subs
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !s.is_snapshot)
            {
                let opts = OpenOptions {
                    subvol: Some(sub.path.clone()),
                    subvolid: None,
                };
                let Ok(sfs) = open_volume(v, &opts) else {
                    continue;
                };
                if os_kind(&*sfs) == Some(OsKind::Linux) {
                    roots.push(RootCandidate {
                        volume: v.name.clone(),
                        subvol: Some(sub.path.clone()),
                        os: OsKind::Linux,
                        fs: sfs,
                    });
                    break;
                }
            }
        }
    }
    (roots, errors)
}

fn os_kind(fs: &dyn Filesystem) -> Option<OsKind> {
    if is_dir(fs, b"/etc")
        && (fs.stat(b"/etc/fstab").is_ok() || fs.stat(b"/etc/os-release").is_ok())
    {
        Some(OsKind::Linux)
    } else if is_dir(fs, b"/Windows/System32") {
        Some(OsKind::Windows)
    } else {
        None
    }
}

/// Parse `sda`, `vdb`, `xvdc`, `hdaa` (+ partition number) into (disk index, partition).
fn parse_disk_dev(name: &str) -> Option<(usize, Option<u32>)> {
    if let Some(rest) = name.strip_prefix("nvme") {
        // nvme<ctrl>n<ns>[p<part>]
        let (ctrl, rest) = rest.split_once('n')?;
        let ctrl: usize = ctrl.parse().ok()?;
        let (ns, part) = match rest.split_once('p') {
            Some((ns, p)) => (ns, Some(p.parse().ok()?)),
            None => (rest, None),
        };
        let _ns: u32 = ns.parse().ok()?;
        return Some((ctrl, part));
    }
    let rest = ["xvd", "sd", "vd", "hd"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let letters: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let digits = &rest[letters.len()..];
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut idx = 0usize;
    for c in letters.bytes() {
        idx = idx * 26 + (c - b'a') as usize + 1;
    }
    let part = if digits.is_empty() {
        None
    } else {
        Some(digits.parse().ok()?)
    };
    Some((idx - 1, part))
}

fn eq_ci(a: &Option<String>, b: &str) -> bool {
    a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b))
}

fn fs_ids(v: &Volume) -> (Option<String>, Option<String>) {
    match &v.content {
        Content::Filesystem { uuid, label, .. } | Content::Swap { uuid, label } => {
            (uuid.clone(), label.clone())
        }
        _ => (None, None),
    }
}

/// Undo udev's `\x2f` escapes in /dev/disk/by-label names.
fn udev_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The volume an fstab spec names, if any.
pub fn resolve_spec<'a>(set: &'a DiskSet, spec: &str) -> Option<&'a Volume> {
    let by = |key: &str, val: &str| -> Option<&'a Volume> {
        let val = val.trim_matches('"');
        set.volumes.iter().find(|v| {
            let (uuid, label) = fs_ids(v);
            let part = v.partition.as_ref();
            match key {
                "UUID" => eq_ci(&uuid, val),
                "LABEL" => label.as_deref() == Some(val),
                "PARTUUID" => part.is_some_and(|p| eq_ci(&p.partuuid, val)),
                "PARTLABEL" => part.is_some_and(|p| p.partlabel.as_deref() == Some(val)),
                _ => false,
            }
        })
    };
    for (pfx, key) in [
        ("UUID=", "UUID"),
        ("LABEL=", "LABEL"),
        ("PARTUUID=", "PARTUUID"),
        ("PARTLABEL=", "PARTLABEL"),
        ("/dev/disk/by-uuid/", "UUID"),
        ("/dev/disk/by-label/", "LABEL"),
        ("/dev/disk/by-partuuid/", "PARTUUID"),
        ("/dev/disk/by-partlabel/", "PARTLABEL"),
    ] {
        if let Some(v) = spec.strip_prefix(pfx) {
            return by(key, &udev_unescape(v));
        }
    }
    // udev's by-id / by-path names of a partition end in `-partN`: on a one-disk set that
    // can only be partition N of that disk (issue 23).
    for pfx in ["/dev/disk/by-id/", "/dev/disk/by-path/"] {
        if let Some(rest) = spec.strip_prefix(pfx) {
            let n: u32 = rest.rsplit_once("-part")?.1.parse().ok()?;
            if set.disks.len() != 1 {
                return None;
            }
            return set.volumes.iter().find(|v| {
                v.disk == Some(0)
                    && v.lv.is_none()
                    && v.partition.as_ref().is_some_and(|p| p.number == n)
            });
        }
    }
    if let Some(v) = set.find(spec) {
        return Some(v);
    }
    let dev = spec.strip_prefix("/dev/")?;
    let (disk, part) = parse_disk_dev(dev)?;
    let name = match part {
        Some(n) => format!("/dev/{}{n}", disk_name("sd", disk)),
        None => format!("/dev/{}", disk_name("sd", disk)),
    };
    set.find(&name)
}

/// One fstab line and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FstabOutcome {
    /// The line number in `/etc/fstab` (1-based).
    pub line: usize,
    /// The first field (`/dev/sda1`, `UUID=…`, `LABEL=…`).
    pub spec: String,
    /// The second field: the mount point.
    pub file: String,
    /// The third field: the filesystem type.
    pub vfstype: String,
    /// The volume it resolved to.
    pub volume: Option<String>,
    /// What became of the line.
    pub status: FstabStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
/// What became of one fstab line.
pub enum FstabStatus {
    /// Its filesystem was mounted in the tree.
    Mounted,
    /// The root line (the candidate itself is mounted at `/`).
    Root,
    /// A swap area (not mounted).
    Swap,
    /// proc, sysfs, tmpfs, nfs, bind mounts …
    NotAFilesystem(String),
    /// The spec names no volume of the disk set.
    Unresolved,
    /// It resolved but could not be opened.
    Failed(String),
}

/// A Linux guest's tree and how its fstab was applied.
pub struct LinuxTree {
    /// The guest tree, with the root and every fstab filesystem mounted.
    pub tree: GuestTree,
    /// Each fstab line and what became of it.
    pub fstab: Vec<FstabOutcome>,
    /// Problems that did not stop the mount (no fstab, a volume that failed to open).
    pub warnings: Vec<String>,
}

const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devpts",
    "devtmpfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "hugetlbfs",
    "mqueue",
    "configfs",
    "pstore",
    "efivarfs",
    "fusectl",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse",
    "none",
    "bpf",
    "tracefs",
    "autofs",
    "binfmt_misc",
    "9p",
    "virtiofs",
    "iso9660",
    "udf",
    "squashfs",
    "overlay",
];

/// Build the guest tree of a Linux root from its `/etc/fstab`.
pub fn build_linux_tree(set: &DiskSet, root: &RootCandidate) -> Result<LinuxTree, FsError> {
    let mut tree = GuestTree::new();
    let root_opts = OpenOptions {
        subvol: root.subvol.clone(),
        subvolid: None,
    };
    tree.mount_with(b"/", root.fs.clone(), &root.volume, root_opts)?;
    let mut out = LinuxTree {
        tree,
        fstab: Vec::new(),
        warnings: Vec::new(),
    };
    let text = match out.tree.read_file(b"/etc/fstab", MAX_FSTAB) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(FsError::NotFound(_)) => {
            out.warnings.push(format!("{}: no /etc/fstab", root.volume));
            return Ok(out);
        }
        Err(e) => {
            out.warnings
                .push(format!("{}: /etc/fstab unreadable: {e}", root.volume));
            return Ok(out);
        }
    };
    for (line, e) in fstab::entries(&text) {
        let vol = resolve_spec(set, &e.spec);
        let mut o = FstabOutcome {
            line,
            spec: e.spec.clone(),
            file: e.file.clone(),
            vfstype: e.vfstype.clone(),
            volume: vol.map(|v| v.name.clone()),
            status: FstabStatus::Unresolved,
        };
        let bind = e.has_option("bind") || e.has_option("rbind");
        o.status = if e.vfstype == "swap" || e.file == "swap" {
            FstabStatus::Swap
        } else if bind || PSEUDO.contains(&e.vfstype.as_str()) {
            FstabStatus::NotAFilesystem(if bind {
                "bind mount".into()
            } else {
                e.vfstype.clone()
            })
        } else if !e.file.starts_with('/') {
            FstabStatus::NotAFilesystem(format!("mount point {:?}", e.file))
        } else if let Some(v) = vol {
            if e.file == "/" {
                if v.name != root.volume {
                    out.warnings.push(format!(
                        "fstab line {line}: / is {} but the root found is {}",
                        v.name, root.volume
                    ));
                }
                FstabStatus::Root
            } else {
                let opts = OpenOptions::from_mount_options(&e.options);
                match open_volume(v, &opts).and_then(|fs| {
                    out.tree
                        .mount_with(e.file.as_bytes(), fs, &v.name, opts.clone())
                }) {
                    Ok(()) => FstabStatus::Mounted,
                    Err(err) => FstabStatus::Failed(err.to_string()),
                }
            }
        } else {
            FstabStatus::Unresolved
        };
        out.fstab.push(o);
    }
    Ok(out)
}

/// The tree of a Windows root: the volume at `/`, drive C: mapped to it.
pub fn build_windows_tree(root: &RootCandidate) -> Result<GuestTree, FsError> {
    let mut t = GuestTree::new();
    let root_opts = OpenOptions {
        subvol: root.subvol.clone(),
        subvolid: None,
    };
    t.mount_with(b"/", root.fs.clone(), &root.volume, root_opts)?;
    t.set_drive('C', b"/");
    Ok(t)
}

/// Pick the tree a user path refers to: `DEVICE:PATH` opens that volume alone at `/`; a plain
/// path needs exactly one root (Linux roots get their fstab mounts). With no root at all but
/// exactly one filesystem, that filesystem is used. Returns the tree and the guest path.
pub fn select(
    set: &DiskSet,
    user_path: &str,
) -> Result<(GuestTree, String, Vec<String>), MountError> {
    if let Some((dev, p)) = user_path.split_once(':') {
        if dev.starts_with("/dev/") {
            let v = resolve_spec(set, dev).ok_or_else(|| MountError::UnknownVolume(dev.into()))?;
            let fs = open_volume(v, &OpenOptions::default()).map_err(|source| MountError::Fs {
                volume: v.name.clone(),
                source,
            })?;
            let mut t = GuestTree::new();
            t.mount(b"/", fs, &v.name)
                .map_err(|source| MountError::Fs {
                    volume: v.name.clone(),
                    source,
                })?;
            let p = if p.is_empty() { "/" } else { p };
            return Ok((t, p.to_string(), Vec::new()));
        }
    }
    let (roots, errors) = find_roots(set);
    let mut warnings: Vec<String> = errors.iter().map(|(v, e)| format!("{v}: {e}")).collect();
    let root = match roots.len() {
        1 => roots.into_iter().next().ok_or(MountError::NoRoot)?,
        0 => {
            let fss: Vec<&Volume> = set
                .volumes
                .iter()
                .filter(|v| matches!(v.content, Content::Filesystem { .. }))
                .collect();
            match fss.as_slice() {
                [v] => {
                    let fs = open_volume(v, &OpenOptions::default()).map_err(|source| {
                        MountError::Fs {
                            volume: v.name.clone(),
                            source,
                        }
                    })?;
                    RootCandidate {
                        volume: v.name.clone(),
                        subvol: None,
                        os: OsKind::Linux,
                        fs,
                    }
                }
                _ => return Err(MountError::NoRoot),
            }
        }
        _ => {
            return Err(MountError::SeveralRoots(
                roots
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    };
    let tree = match root.os {
        OsKind::Windows => build_windows_tree(&root),
        OsKind::Linux => build_linux_tree(set, &root).map(|lt| {
            warnings.extend(lt.warnings);
            lt.tree
        }),
    }
    .map_err(|source| MountError::Fs {
        volume: root.volume.clone(),
        source,
    })?;
    Ok((tree, user_path.to_string(), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_map_to_disk_and_partition() {
        assert_eq!(parse_disk_dev("sda1"), Some((0, Some(1))));
        assert_eq!(parse_disk_dev("vdb"), Some((1, None)));
        assert_eq!(parse_disk_dev("xvda2"), Some((0, Some(2))));
        assert_eq!(parse_disk_dev("hdc5"), Some((2, Some(5))));
        assert_eq!(parse_disk_dev("sdaa1"), Some((26, Some(1))));
        assert_eq!(parse_disk_dev("nvme0n1p3"), Some((0, Some(3))));
        assert_eq!(parse_disk_dev("nvme1n1"), Some((1, None)));
        assert_eq!(parse_disk_dev("md0"), None);
        assert_eq!(parse_disk_dev("sd"), None);
        assert_eq!(udev_unescape("my\\x2fdisk"), "my/disk");
    }
}
