//! The guest file tree: several filesystems mounted at guest mount points (longest prefix wins),
//! and guest paths resolved across them the way the guest kernel would, but confined to the
//! guest: symlinks (absolute ones too) are resolved against the GUEST root, `..` never climbs
//! above it, at most [`MAX_SYMLINKS`] links are followed per lookup, names compare
//! case-insensitively on NTFS/FAT (the readers do that), and nothing here ever names a host
//! path — every byte comes from a [`Filesystem`] over a block device.
//!
//! Windows paths (`C:\Windows\win.ini`) map the drive letter to a mount point: C: is the
//! root mount unless [`GuestTree::set_drive`] says otherwise.

use super::{DirEntry, FileType, Filesystem, FsError, Metadata};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Most symlinks followed while resolving one path (as Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: usize = 40;
/// Longest path accepted, and the deepest walk.
pub const MAX_PATH: usize = 4096;
/// The deepest directory level a walk descends to.
pub const MAX_WALK_DEPTH: usize = 256;
/// Most entries a walk returns.
pub const MAX_WALK_ENTRIES: usize = 4 << 20;

/// One filesystem mounted in the tree.
#[derive(Clone)]
pub struct Mount {
    /// Normalised guest path (`/`, `/boot`, `/boot/efi`).
    pub point: Vec<u8>,
    /// The filesystem.
    pub fs: Arc<dyn Filesystem>,
    /// Where it came from (`/dev/sda1`), for messages.
    pub source: String,
    /// How it was opened (the Btrfs subvolume), so that a writer opens the same tree.
    pub options: crate::fs::probe::OpenOptions,
}

/// One path yielded by [`GuestTree::walk`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalkEntry {
    /// Absolute guest path.
    #[serde(serialize_with = "ser_lossy")]
    pub path: Vec<u8>,
    /// Its metadata (a symlink's own, not its target's).
    pub metadata: Metadata,
    /// Target of a symlink, as stored.
    #[serde(serialize_with = "ser_lossy_opt")]
    pub link_target: Option<Vec<u8>>,
}

fn ser_lossy<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(v))
}

fn ser_lossy_opt<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&*String::from_utf8_lossy(v)),
        None => s.serialize_none(),
    }
}

/// Most lookups [`GuestTree`] remembers; past this the memory is dropped and starts again.
const MAX_CACHED_STATS: usize = 1 << 16;

/// Filesystems mounted at guest paths.
#[derive(Default)]
pub struct GuestTree {
    mounts: Vec<Mount>,
    drives: BTreeMap<char, Vec<u8>>,
    /// What each filesystem said of a guest-absolute path (its metadata, or "not found" with
    /// the reader's message). Path resolution stats every prefix of every path, and the
    /// readers resolve each path from their root again (ext4-view scans and checksums every
    /// directory block on the way), so inspection would otherwise repeat the same lookups
    /// many times over. The tree is read-only while it lives; a new mount forgets it all.
    stats: Mutex<HashMap<Vec<u8>, Result<Metadata, String>>>,
}

impl Clone for GuestTree {
    /// A clone starts with an empty lookup memory (it may be mounted differently).
    fn clone(&self) -> Self {
        GuestTree {
            mounts: self.mounts.clone(),
            drives: self.drives.clone(),
            stats: Mutex::default(),
        }
    }
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    if comps.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for c in comps {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// Split into components, dropping empty ones and `.` (`..` is kept for the resolver).
fn split(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&c| c == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| c.to_vec())
        .collect()
}

/// Lexically normalise an absolute path (no symlinks consulted): used for mount points.
pub fn normalise(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in split(path) {
        if c == b".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    join(&out)
}

impl GuestTree {
    /// An empty tree (nothing mounted).
    pub fn new() -> Self {
        Self::default()
    }

    /// Mount `fs` at the guest path `point`. A second mount at the same point hides the first
    /// (as in the kernel).
    pub fn mount(
        &mut self,
        point: &[u8],
        fs: Arc<dyn Filesystem>,
        source: &str,
    ) -> Result<(), FsError> {
        self.mount_with(point, fs, source, Default::default())
    }

    /// [`GuestTree::mount`], remembering the options `fs` was opened with (Btrfs `subvol=`).
    pub fn mount_with(
        &mut self,
        point: &[u8],
        fs: Arc<dyn Filesystem>,
        source: &str,
        options: crate::fs::probe::OpenOptions,
    ) -> Result<(), FsError> {
        if point.contains(&0) || point.len() > MAX_PATH {
            return Err(FsError::NotFound(lossy(point)));
        }
        let point = normalise(point);
        self.forget();
        self.mounts.retain(|m| m.point != point);
        self.mounts.push(Mount {
            point,
            fs,
            source: source.to_string(),
            options,
        });
        // Longest mount point first.
        self.mounts.sort_by(|a, b| {
            b.point
                .len()
                .cmp(&a.point.len())
                .then(a.point.cmp(&b.point))
        });
        Ok(())
    }

    fn forget(&mut self) {
        self.stats
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The mounted filesystem's metadata for the guest-absolute path `abs` (remembered).
    fn fs_stat(&self, abs: &[u8]) -> Result<Metadata, FsError> {
        if let Some(r) = self
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(abs)
        {
            return r.clone().map_err(FsError::NotFound);
        }
        let (m, inner) = self.locate(abs)?;
        let r = m.fs.stat(&inner);
        let keep = match &r {
            Ok(md) => Ok(md.clone()),
            Err(FsError::NotFound(msg)) => Err(msg.clone()),
            Err(_) => return r,
        };
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if stats.len() >= MAX_CACHED_STATS {
            stats.clear();
        }
        stats.insert(abs.to_vec(), keep);
        r
    }

    /// Map a drive letter (`C`) to a guest mount point.
    pub fn set_drive(&mut self, letter: char, point: &[u8]) {
        self.forget();
        self.drives
            .insert(letter.to_ascii_uppercase(), normalise(point));
    }

    /// The mounted filesystems, in mount order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Whether `abs` is a mount point or a directory on the way to one.
    fn leads_to_mount(&self, abs: &[u8]) -> bool {
        self.mounts.iter().any(|m| {
            m.point.starts_with(abs)
                && (abs == b"/"
                    || m.point.len() == abs.len()
                    || m.point.get(abs.len()) == Some(&b'/'))
        })
    }

    /// The mount holding the normalised guest path `abs`, and the path inside it.
    fn locate(&self, abs: &[u8]) -> Result<(&Mount, Vec<u8>), FsError> {
        for m in &self.mounts {
            if m.point == b"/" {
                return Ok((m, abs.to_vec()));
            }
            if abs == m.point.as_slice() {
                return Ok((m, b"/".to_vec()));
            }
            if abs.starts_with(&m.point) && abs.get(m.point.len()) == Some(&b'/') {
                return Ok((m, abs[m.point.len()..].to_vec()));
            }
        }
        Err(FsError::NotFound(format!(
            "{}: no filesystem mounted there",
            lossy(abs)
        )))
    }

    /// Turn a user path into an absolute guest path: Windows drive paths are mapped, `\` is a
    /// separator in them, and a relative path is taken from the root.
    fn to_guest(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        if path.contains(&0) {
            return Err(FsError::NotFound(format!("{:?}: NUL in path", lossy(path))));
        }
        if path.len() > MAX_PATH {
            return Err(FsError::NotFound(format!("path of {} bytes", path.len())));
        }
        if path.len() >= 2 && path[0].is_ascii_alphabetic() && path[1] == b':' {
            let letter = (path[0] as char).to_ascii_uppercase();
            let base = match self.drives.get(&letter) {
                Some(p) => p.clone(),
                None if letter == 'C' => b"/".to_vec(),
                None => {
                    return Err(FsError::NotFound(format!(
                        "{}: drive {letter}: is not mapped",
                        lossy(path)
                    )));
                }
            };
            let rest: Vec<u8> = path[2..]
                .iter()
                .map(|&c| if c == b'\\' { b'/' } else { c })
                .collect();
            let mut out = base;
            out.push(b'/');
            out.extend_from_slice(&rest);
            return Ok(out);
        }
        let mut out = Vec::with_capacity(path.len() + 1);
        if path.first() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(path);
        Ok(out)
    }

    /// Resolve to a canonical guest path (every component a real directory or the final
    /// object), following symlinks inside the guest. `follow_last` decides whether a final
    /// symlink is followed.
    pub fn canonicalize(&self, path: &[u8], follow_last: bool) -> Result<Vec<u8>, FsError> {
        let guest = self.to_guest(path)?;
        let mut resolved: Vec<Vec<u8>> = Vec::new();
        let mut pending: VecDeque<Vec<u8>> = split(&guest).into();
        let mut links = 0usize;
        while let Some(c) = pending.pop_front() {
            if c == b".." {
                // Never above the guest root.
                resolved.pop();
                continue;
            }
            resolved.push(c);
            let cand = join(&resolved);
            if cand.len() > MAX_PATH {
                return Err(FsError::NotFound(format!(
                    "{}: path too long",
                    lossy(&guest)
                )));
            }
            let md = match self.fs_stat(&cand) {
                Ok(md) => md,
                Err(FsError::NotFound(_)) => {
                    // A mount point whose directory the parent filesystem lacks.
                    if self.mounts.iter().any(|mm| {
                        mm.point.starts_with(&cand)
                            && (mm.point.len() == cand.len()
                                || mm.point.get(cand.len()) == Some(&b'/'))
                    }) {
                        continue;
                    }
                    return Err(FsError::NotFound(lossy(&cand)));
                }
                Err(e) => return Err(e),
            };
            let last = pending.is_empty();
            match md.file_type {
                FileType::Symlink if !last || follow_last => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(FsError::SymlinkLoop(lossy(&guest)));
                    }
                    let (m, inner) = self.locate(&cand)?;
                    let target = m.fs.readlink(&inner)?;
                    if target.contains(&0) || target.is_empty() {
                        return Err(FsError::NotFound(format!(
                            "{}: bad symlink target",
                            lossy(&cand)
                        )));
                    }
                    resolved.pop();
                    if target.first() == Some(&b'/') {
                        // Absolute: from the guest root, never the host's.
                        resolved.clear();
                    }
                    for t in split(&target).into_iter().rev() {
                        pending.push_front(t);
                    }
                    if pending.len() > MAX_PATH {
                        return Err(FsError::NotFound(format!(
                            "{}: path too long",
                            lossy(&guest)
                        )));
                    }
                }
                FileType::Directory => {}
                _ if !last => return Err(FsError::NotADirectory(lossy(&cand))),
                _ => {}
            }
        }
        Ok(join(&resolved))
    }

    /// Resolve `path` (following every symlink) to the filesystem holding it and the path
    /// inside that filesystem.
    pub fn resolve(&self, path: &[u8]) -> Result<(Arc<dyn Filesystem>, Vec<u8>), FsError> {
        let abs = self.canonicalize(path, true)?;
        let (m, inner) = self.locate(&abs)?;
        Ok((m.fs.clone(), inner))
    }

    /// As [`GuestTree::resolve`] but a final symlink is not followed.
    pub fn resolve_nofollow(&self, path: &[u8]) -> Result<(Arc<dyn Filesystem>, Vec<u8>), FsError> {
        let abs = self.canonicalize(path, false)?;
        let (m, inner) = self.locate(&abs)?;
        Ok((m.fs.clone(), inner))
    }

    fn stat_abs(&self, abs: &[u8]) -> Result<Metadata, FsError> {
        match self.fs_stat(abs) {
            Err(FsError::NotFound(_)) if self.leads_to_mount(abs) => Ok(Metadata {
                file_type: FileType::Directory,
                size: 0,
                mode: 0o040755,
                uid: 0,
                gid: 0,
                nlink: 1,
                mtime: 0,
                ino: 0,
            }),
            r => r,
        }
    }

    /// Metadata, following a final symlink.
    pub fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        self.stat_abs(&self.canonicalize(path, true)?)
    }

    /// Metadata of the path itself (a final symlink is not followed).
    pub fn lstat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        self.stat_abs(&self.canonicalize(path, false)?)
    }

    /// Whether the path exists (following symlinks inside the guest).
    pub fn exists(&self, path: &[u8]) -> bool {
        self.stat(path).is_ok()
    }

    /// The target of the symlink at `path`, as stored.
    pub fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        let (fs, inner) = self.resolve_nofollow(path)?;
        fs.readlink(&inner)
    }

    /// Read a whole regular file (symlinks followed), refusing more than `limit` bytes.
    pub fn read_file(&self, path: &[u8], limit: u64) -> Result<Vec<u8>, FsError> {
        let (fs, inner) = self.resolve(path)?;
        fs.read_file(&inner, limit)
    }

    /// Entries of a directory (symlinks followed), with the mount points directly below it
    /// that the directory itself lacks. Sorted by name.
    pub fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError> {
        let abs = self.canonicalize(path, true)?;
        self.read_dir_abs(&abs)
    }

    fn read_dir_abs(&self, abs: &[u8]) -> Result<Vec<DirEntry>, FsError> {
        let (m, inner) = self.locate(abs)?;
        let mut entries = match m.fs.read_dir(&inner) {
            Ok(e) => e,
            Err(FsError::NotFound(_)) if self.leads_to_mount(abs) => Vec::new(),
            Err(e) => return Err(e),
        };
        for mm in &self.mounts {
            let Some(rest) = mm.point.strip_prefix(abs) else {
                continue;
            };
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            if rest.is_empty() || (abs != b"/" && !mm.point[abs.len()..].starts_with(b"/")) {
                continue;
            }
            let first = rest.split(|&c| c == b'/').next().unwrap_or(rest).to_vec();
            if !entries.iter().any(|e| e.name == first) {
                entries.push(DirEntry {
                    name: first,
                    file_type: FileType::Directory,
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Every path below `path` (not following symlinks), depth first in name order, with its
    /// metadata; `path` itself is not included. Entries with hostile names (`/`, NUL, `.`,
    /// `..`) are refused with an error naming the directory.
    pub fn walk(&self, path: &[u8]) -> Result<Vec<WalkEntry>, FsError> {
        let abs = self.canonicalize(path, true)?;
        let mut out = Vec::new();
        self.walk_dir(&abs, 0, &mut out)?;
        Ok(out)
    }

    fn walk_dir(&self, dir: &[u8], depth: usize, out: &mut Vec<WalkEntry>) -> Result<(), FsError> {
        if depth > MAX_WALK_DEPTH {
            return Err(FsError::Corrupt {
                fs: "tree",
                structure: lossy(dir),
                reason: format!("directories nest deeper than {MAX_WALK_DEPTH} (a cycle?)"),
            });
        }
        for e in self.read_dir_abs(dir)? {
            if e.name.is_empty()
                || e.name.contains(&b'/')
                || e.name.contains(&0)
                || e.name == b"."
                || e.name == b".."
            {
                return Err(FsError::Corrupt {
                    fs: "tree",
                    structure: lossy(dir),
                    reason: format!("hostile entry name {:?}", lossy(&e.name)),
                });
            }
            if out.len() >= MAX_WALK_ENTRIES {
                return Err(FsError::Corrupt {
                    fs: "tree",
                    structure: lossy(dir),
                    reason: format!("more than {MAX_WALK_ENTRIES} entries"),
                });
            }
            let mut p = dir.to_vec();
            if p != b"/" {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            let md = self.stat_abs(&p)?;
            let link_target = if md.file_type == FileType::Symlink {
                let (m, inner) = self.locate(&p)?;
                Some(m.fs.readlink(&inner)?)
            } else {
                None
            };
            let is_dir = md.file_type == FileType::Directory;
            out.push(WalkEntry {
                path: p.clone(),
                metadata: md,
                link_target,
            });
            if is_dir {
                self.walk_dir(&p, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{DirtyState, FsInfo, FsKind};
    use std::collections::BTreeMap;

    /// A tiny in-memory filesystem: path → (type, contents or link target).
    struct MemFs(BTreeMap<Vec<u8>, (FileType, Vec<u8>)>, bool);

    impl MemFs {
        fn build(items: &[(&str, FileType, &str)], ci: bool) -> Arc<dyn Filesystem> {
            Arc::new(MemFs(
                items
                    .iter()
                    .map(|(p, t, v)| (p.as_bytes().to_vec(), (*t, v.as_bytes().to_vec())))
                    .collect(),
                ci,
            ))
        }
        fn get(&self, p: &[u8]) -> Option<&(FileType, Vec<u8>)> {
            if self.1 {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(p))
                    .map(|(_, v)| v)
            } else {
                self.0.get(p)
            }
        }
    }

    impl Filesystem for MemFs {
        fn info(&self) -> FsInfo {
            FsInfo {
                kind: FsKind::Ext4,
                label: None,
                uuid: None,
                block_size: 0,
                total_bytes: 0,
                free_bytes: 0,
                dirty: DirtyState::Clean,
            }
        }
        fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
            let (t, v) = if path == b"/" {
                (FileType::Directory, 0)
            } else {
                let (t, v) = self
                    .get(path)
                    .ok_or_else(|| FsError::NotFound(lossy(path)))?;
                (*t, v.len() as u64)
            };
            Ok(Metadata {
                file_type: t,
                size: v,
                mode: 0,
                uid: 0,
                gid: 0,
                nlink: 1,
                mtime: 0,
                ino: 0,
            })
        }
        fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError> {
            let mut pre = path.to_vec();
            if pre != b"/" {
                pre.push(b'/');
            }
            Ok(self
                .0
                .iter()
                .filter_map(|(k, (t, _))| {
                    let rest = k.strip_prefix(pre.as_slice())?;
                    (!rest.contains(&b'/')).then(|| DirEntry {
                        name: rest.to_vec(),
                        file_type: *t,
                    })
                })
                .collect())
        }
        fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
            let (_, v) = self
                .get(path)
                .ok_or_else(|| FsError::NotFound(lossy(path)))?;
            let o = (offset as usize).min(v.len());
            let n = (v.len() - o).min(buf.len());
            buf[..n].copy_from_slice(&v[o..o + n]);
            Ok(n)
        }
        fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
            match self.get(path) {
                Some((FileType::Symlink, v)) => Ok(v.clone()),
                _ => Err(FsError::NotASymlink(lossy(path))),
            }
        }
        fn case_insensitive(&self) -> bool {
            self.1
        }
    }

    use FileType::{Directory as D, Regular as F, Symlink as L};

    fn tree() -> GuestTree {
        let root = MemFs::build(
            &[
                ("/etc", D, ""),
                ("/etc/hostname", F, "root-fs"),
                ("/boot", D, ""),
                ("/boot/hidden", F, "under the mount"),
                ("/bo", F, "not a dir"),
                ("/link-to-efi", L, "boot/efi/EFI"),
                ("/up", L, "../../.."),
            ],
            false,
        );
        let boot = MemFs::build(&[("/grub", D, ""), ("/grub/grub.cfg", F, "cfg")], false);
        let efi = MemFs::build(&[("/EFI", D, ""), ("/EFI/BOOT.EFI", F, "efi")], true);
        let mut t = GuestTree::new();
        t.mount(b"/", root, "sda1").unwrap();
        t.mount(b"/boot/efi", efi, "sda3").unwrap();
        t.mount(b"/boot/", boot, "sda2").unwrap();
        t.set_drive('D', b"/boot/efi");
        t
    }

    #[test]
    fn longest_mount_prefix_wins_and_missing_mount_dirs_are_synthesised() {
        let t = tree();
        assert_eq!(t.read_file(b"/boot/grub/grub.cfg", 10).unwrap(), b"cfg");
        // The boot fs has no "efi" directory, yet the mount point is reachable and listed.
        assert_eq!(t.read_file(b"/boot/efi/efi/boot.efi", 10).unwrap(), b"efi");
        let names: Vec<Vec<u8>> = t
            .read_dir(b"/boot")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [b"efi".to_vec(), b"grub".to_vec()]);
        assert_eq!(t.stat(b"/boot/efi").unwrap().file_type, D);
        // What the mount hides stays hidden; a name that merely prefixes a mount is itself.
        assert!(t.read_file(b"/boot/hidden", 100).is_err());
        assert_eq!(t.stat(b"/bo").unwrap().file_type, F);
        // `..` crosses back out of a mount; a symlink into one is followed.
        assert_eq!(
            t.read_file(b"/boot/efi/../../etc/hostname", 10).unwrap(),
            b"root-fs"
        );
        assert_eq!(t.read_file(b"/link-to-efi/BOOT.EFI", 10).unwrap(), b"efi");
        assert_eq!(t.canonicalize(b"/up/up/etc", true).unwrap(), b"/etc");
        // Drive letters.
        assert_eq!(t.read_file(b"D:\\efi\\boot.efi", 10).unwrap(), b"efi");
        assert_eq!(t.read_file(b"c:/etc/hostname", 10).unwrap(), b"root-fs");
        assert!(matches!(
            t.read_file(b"E:\\x", 10),
            Err(FsError::NotFound(_))
        ));
        let walked: Vec<String> = t
            .walk(b"/boot")
            .unwrap()
            .into_iter()
            .map(|w| lossy(&w.path))
            .collect();
        assert_eq!(
            walked,
            [
                "/boot/efi",
                "/boot/efi/EFI",
                "/boot/efi/EFI/BOOT.EFI",
                "/boot/grub",
                "/boot/grub/grub.cfg"
            ]
        );
    }

    #[test]
    fn hostile_names_and_link_loops() {
        let fs = MemFs::build(
            &[
                ("/a", L, "b"),
                ("/b", L, "/a"),
                ("/self", L, "self/x"),
                ("/bad\0", F, ""),
            ],
            false,
        );
        let mut t = GuestTree::new();
        t.mount(b"/", fs, "m").unwrap();
        assert!(matches!(t.stat(b"/a"), Err(FsError::SymlinkLoop(_))));
        assert!(matches!(t.stat(b"/self"), Err(FsError::SymlinkLoop(_))));
        assert_eq!(t.lstat(b"/a").unwrap().file_type, L);
        // An entry name with NUL is refused by the walk, not passed on.
        assert!(matches!(t.walk(b"/"), Err(FsError::Corrupt { .. })));
        assert!(t.stat(b"/x\0y").is_err());
        assert!(t.stat(&vec![b'a'; MAX_PATH + 1]).is_err());
    }
}
