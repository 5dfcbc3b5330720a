#![no_main]
//! Fuzz the native Btrfs reader: any bytes as a device; open, list subvolumes, walk a few levels
//! and read files. Must never panic, hang or allocate without bound.

use guestfix::block::BlockDev;
use guestfix::block::raw::MemDisk;
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::{FileType, Filesystem};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn walk(fs: &BtrfsFs, dir: Vec<u8>, depth: usize, budget: &mut usize) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs.read_dir(&dir) else { return };
    for e in entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let mut p = dir.clone();
        if p != b"/" {
            p.push(b'/');
        }
        p.extend_from_slice(&e.name);
        match fs.stat(&p).map(|m| m.file_type) {
            Ok(FileType::Directory) => walk(fs, p, depth + 1, budget),
            Ok(FileType::Regular) => {
                let _ = fs.read_file(&p, 1 << 20);
            }
            Ok(FileType::Symlink) => {
                let _ = fs.readlink(&p);
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The fuzzer's bytes are placed at the primary superblock's neighbourhood so that short
    // inputs still reach the parsers: device = 64 KiB of zeros + input.
    let mut disk = vec![0u8; 0x10000];
    disk.extend_from_slice(data);
    let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz", disk));
    if let Ok(fs) = BtrfsFs::open(dev, &BtrfsOpenOptions::default()) {
        let _ = fs.info();
        let _ = fs.list_subvolumes();
        let mut budget = 256;
        walk(&fs, b"/".to_vec(), 0, &mut budget);
    }
});
