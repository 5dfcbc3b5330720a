//! Fuzz the guest-rooted path resolver. Input: lines `path\tkind\tvalue` describing a small
//! in-memory filesystem (kind `d` directory, `f` file with contents, `l` symlink to value), and
//! a last line: the path to resolve. Inputs starting with `FAT:` are instead a FAT image (after
//! the prefix) resolved with a fixed set of paths.

use guestfix::block::raw::MemDisk;
use guestfix::fs::tree::GuestTree;
use guestfix::fs::{DirEntry, FileType, Filesystem, FsError, FsInfo, FsKind, Metadata};
use std::collections::BTreeMap;
use std::sync::Arc;

struct MemFs(BTreeMap<Vec<u8>, (FileType, Vec<u8>)>);

fn md(t: FileType, size: u64) -> Metadata {
    Metadata {
        file_type: t,
        size,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        mtime: 0,
        ino: 0,
    }
}

impl Filesystem for MemFs {
    fn info(&self) -> FsInfo {
        FsInfo {
            kind: FsKind::Ext4,
            label: None,
            uuid: None,
            block_size: 4096,
            total_bytes: 0,
            free_bytes: 0,
            dirty: guestfix::fs::DirtyState::Clean,
        }
    }
    fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        if path == b"/" {
            return Ok(md(FileType::Directory, 0));
        }
        self.0
            .get(path)
            .map(|(t, v)| md(*t, v.len() as u64))
            .ok_or_else(|| FsError::NotFound(String::from_utf8_lossy(path).into()))
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
                (!rest.is_empty() && !rest.contains(&b'/')).then(|| DirEntry {
                    name: rest.to_vec(),
                    file_type: *t,
                })
            })
            .collect())
    }
    fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        match self.0.get(path) {
            Some((FileType::Regular, v)) => {
                let o = (offset as usize).min(v.len());
                let n = (v.len() - o).min(buf.len());
                buf[..n].copy_from_slice(&v[o..o + n]);
                Ok(n)
            }
            _ => Err(FsError::NotAFile(String::from_utf8_lossy(path).into())),
        }
    }
    fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        match self.0.get(path) {
            Some((FileType::Symlink, v)) => Ok(v.clone()),
            _ => Err(FsError::NotASymlink(String::from_utf8_lossy(path).into())),
        }
    }
}

fn exercise(t: &GuestTree, p: &[u8]) {
    let _ = t.resolve(p);
    let _ = t.stat(p);
    let _ = t.lstat(p);
    let _ = t.read_file(p, 1 << 20);
    let _ = t.read_dir(p);
    let _ = t.readlink(p);
}

pub fn run(data: &[u8]) {
    if let Some(img) = data.strip_prefix(b"FAT:") {
        if let Ok(fs) = guestfix::fs::fat::FatFs::open(Arc::new(MemDisk::new("fat", img.to_vec())))
        {
            let mut t = GuestTree::new();
            if t.mount(b"/", Arc::new(fs), "fat").is_ok() {
                for p in [
                    &b"/"[..],
                    b"/EFI/BOOT/BOOTX64.EFI",
                    b"C:\\x\\..\\y",
                    b"/a/b",
                ] {
                    exercise(&t, p);
                }
                let _ = t.walk(b"/");
            }
        }
        return;
    }
    let mut lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
    let Some(target) = lines.pop() else { return };
    let mut map = BTreeMap::new();
    for l in lines.into_iter().take(256) {
        let mut f = l.splitn(3, |&c| c == b'\t');
        let (Some(p), Some(k), v) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let t = match k {
            b"d" => FileType::Directory,
            b"l" => FileType::Symlink,
            _ => FileType::Regular,
        };
        let mut key = b"/".to_vec();
        key.extend(p.iter().copied().filter(|&c| c != 0));
        map.insert(key, (t, v.unwrap_or_default().to_vec()));
    }
    let mut t = GuestTree::new();
    if t.mount(b"/", Arc::new(MemFs(map)), "mem").is_ok() {
        exercise(&t, target);
        let _ = t.walk(b"/");
    }
}
