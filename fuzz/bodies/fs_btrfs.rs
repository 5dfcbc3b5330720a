//! Fuzz the native Btrfs reader: open, list subvolumes, walk a few levels and read files. Must
//! never panic, hang or allocate without bound.
//!
//! Input format (so that a real image fits in a small input): a sequence of
//! `[page number: u32 LE][4096 bytes]` records placed on an otherwise zero 256 MiB device.
//! Checksums of the superblock and of every tree block written are recomputed so that
//! mutations reach the parsers behind the crc checks. Seed corpus: `fuzz-seed/` in the fixture
//! folder printed by `scripts/images/btrfs-fixtures.sh` (the non-zero pages of real images);
//! run with `cargo +nightly fuzz run fs_btrfs <that folder> -- -max_len=1048576`.

use guestfix::block::BlockDev;
use guestfix::block::raw::MemDisk;
use guestfix::fs::btrfs::superblock::crc32c;
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::{FileType, Filesystem};
use std::sync::Arc;

const PAGE: usize = 4096;
const DEV_PAGES: u32 = 65536; // 256 MiB
const SB_PAGE: usize = 0x10000 / PAGE;

fn walk(fs: &BtrfsFs, dir: Vec<u8>, depth: usize, budget: &mut usize) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs.read_dir(&dir) else {
        return;
    };
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

/// Recompute the superblock's crc and that of every tree block starting on a written page.
fn fix_checksums(disk: &mut [u8], pages: &[usize]) {
    let sb = SB_PAGE * PAGE;
    let fsid: Vec<u8> = disk[sb + 0x20..sb + 0x30].to_vec();
    let ns = u32::from_le_bytes([
        disk[sb + 0x94],
        disk[sb + 0x95],
        disk[sb + 0x96],
        disk[sb + 0x97],
    ]) as usize;
    if ns.is_power_of_two() && (PAGE..=65536).contains(&ns) {
        for &p in pages {
            let o = p * PAGE;
            if p != SB_PAGE && o + ns <= disk.len() && disk[o + 32..o + 48] == fsid[..] {
                let c = crc32c(&disk[o + 32..o + ns]);
                disk[o..o + 4].copy_from_slice(&c.to_le_bytes());
            }
        }
    }
    let c = crc32c(&disk[sb + 0x20..sb + PAGE]);
    disk[sb..sb + 4].copy_from_slice(&c.to_le_bytes());
}

pub fn run(data: &[u8]) {
    let mut disk = vec![0u8; DEV_PAGES as usize * PAGE];
    let mut pages = Vec::new();
    for rec in data.chunks_exact(4 + PAGE) {
        let page = (u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]) % DEV_PAGES) as usize;
        disk[page * PAGE..(page + 1) * PAGE].copy_from_slice(&rec[4..]);
        pages.push(page);
    }
    fix_checksums(&mut disk, &pages);
    let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz", disk));
    if let Ok(fs) = BtrfsFs::open(dev, &BtrfsOpenOptions::default()) {
        let _ = fs.info();
        let _ = fs.list_subvolumes();
        let mut budget = 256;
        walk(&fs, b"/".to_vec(), 0, &mut budget);
    }
}
