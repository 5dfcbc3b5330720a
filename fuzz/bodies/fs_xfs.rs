//! Fuzz the XFS reader: the input bytes are a disk; open it, walk a bounded number of
//! directory entries, stat them, read a few files and symlinks. Any panic, hang or huge
//! allocation is a bug (images are untrusted input).

use std::sync::Arc;

use guestfix::block::raw::MemDisk;
use guestfix::fs::xfs::XfsFs;
use guestfix::fs::{FileType, Filesystem};

pub fn run(data: &[u8]) {
    let dev = Arc::new(MemDisk::new("fuzz", data.to_vec()));
    let Ok(fs) = XfsFs::open(dev) else {
        return;
    };
    let _ = fs.info();
    let mut budget = 256usize;
    let mut files = 0;
    let mut stack = vec![(b"/".to_vec(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let mut p = dir.clone();
            if p.len() > 1 {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            let _ = fs.stat(&p);
            match e.file_type {
                FileType::Directory if depth < 8 => stack.push((p, depth + 1)),
                FileType::Regular if files < 8 => {
                    files += 1;
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = fs.read_at(&p, 0, &mut buf);
                }
                FileType::Symlink => {
                    let _ = fs.readlink(&p);
                }
                _ => {}
            }
        }
    }
}
