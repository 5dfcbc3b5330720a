#![no_main]
//! Fuzz the native Btrfs reader: any bytes as a device; open, list subvolumes, walk a few levels
//! and read files. Must never panic, hang or allocate without bound.

use guestfix::block::BlockDev;
use guestfix::block::raw::MemDisk;
use guestfix::fs::btrfs::superblock::crc32c;
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

/// Recompute the superblock's and every tree block's crc32c so that mutations reach the
/// parsers behind the checksum checks.
fn fix_checksums(disk: &mut [u8]) {
    const SB: usize = 0x10000;
    if disk.len() < SB + 4096 {
        return;
    }
    let fsid: Vec<u8> = disk[SB + 0x20..SB + 0x30].to_vec();
    let ns = u32::from_le_bytes([
        disk[SB + 0x94],
        disk[SB + 0x95],
        disk[SB + 0x96],
        disk[SB + 0x97],
    ]) as usize;
    if ns.is_power_of_two() && (4096..=65536).contains(&ns) {
        let mut o = 0;
        while o + ns <= disk.len() {
            if o != SB && disk[o + 32..o + 48] == fsid[..] {
                let c = crc32c(&disk[o + 32..o + ns]);
                disk[o..o + 4].copy_from_slice(&c.to_le_bytes());
            }
            o += 4096;
        }
    }
    let c = crc32c(&disk[SB + 0x20..SB + 4096]);
    disk[SB..SB + 4].copy_from_slice(&c.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    // The fuzzer's bytes are placed at the primary superblock's neighbourhood so that short
    // inputs still reach the parsers: device = 64 KiB of zeros + input, checksums fixed.
    let mut disk = vec![0u8; 0x10000];
    disk.extend_from_slice(data);
    fix_checksums(&mut disk);
    let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz", disk));
    if let Ok(fs) = BtrfsFs::open(dev, &BtrfsOpenOptions::default()) {
        let _ = fs.info();
        let _ = fs.list_subvolumes();
        let mut budget = 256;
        walk(&fs, b"/".to_vec(), 0, &mut budget);
    }
});
