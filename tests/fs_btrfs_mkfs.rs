//! The native Btrfs reader against images made by the real `mkfs.btrfs --rootdir` (btrfs-progs):
//! walking the filesystem must give back exactly the source tree (names, types, symlink
//! targets, sizes, SHA-256), `btrfs check` must accept the image, and damaged copies must fail
//! with typed errors, never a panic.

use guestfix::block::raw::{MemDisk, RawFile};
use guestfix::block::{BlockDev, BlockError};
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::{DirtyState, FileType, Filesystem, FsError, FsKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a walk records per path: type, size, and SHA-256 (files) or target (symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    ty: FileType,
    size: u64,
    content: String,
    /// Permission bits and owner.
    mode: u32,
    uid: u32,
    gid: u32,
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic, compressible-ish data.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 7 == 0 {
                (x >> 24) as u8
            } else {
                b'a' + (i % 23) as u8
            }
        })
        .collect()
}

/// The source tree: nested dirs, a 2000-entry dir, files from 0 B to several MiB, inline-sized
/// files, symlinks, a fifo and a character device.
fn build_tree(root: &Path) {
    let w = |p: &str, d: &[u8]| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, d).unwrap();
    };
    w("etc/fstab", b"UUID=1234 / btrfs subvol=@ 0 0\n");
    w("etc/hostname", b"btrfs-guest\n");
    w("etc/os-release", b"NAME=\"Fedora Linux\"\nVERSION_ID=40\n");
    w("empty", b"");
    w("one", b"1");
    w("inline-2000", &pattern(2000, 1));
    w("sector-4095", &pattern(4095, 2));
    w("sector-4096", &pattern(4096, 3));
    w("sector-4097", &pattern(4097, 4));
    w("mid-100k", &pattern(100_000, 5));
    w("big/three-mib", &pattern(3 * 1024 * 1024 + 17, 6));
    w("big/nine-mib", &pattern(9 * 1024 * 1024 + 4096, 7));
    w("a/b/c/d/e/f/g/deep.txt", b"deep\n");
    for i in 0..2000 {
        w(
            &format!("many/file-{i:05}"),
            format!("entry {i}\n").as_bytes(),
        );
    }
    std::fs::create_dir_all(root.join("emptydir")).unwrap();
    std::os::unix::fs::symlink("etc/fstab", root.join("link-rel")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("link-abs")).unwrap();
    std::os::unix::fs::symlink("x".repeat(1000), root.join("link-long")).unwrap();
    std::os::unix::fs::symlink("dangling/target", root.join("a/b/dangling")).unwrap();
    w("names/\u{e9}t\u{e9} with spaces", b"utf8 name\n");
    w("modes/setuid", b"#!/bin/sh\n");
    w("modes/private", b"secret\n");
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &str, m: u32| {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    chmod("modes/setuid", 0o4755);
    chmod("modes/private", 0o600);
    chmod("a/b/c", 0o1777);
    std::os::unix::fs::chown(root.join("modes/private"), Some(1234), Some(4321)).unwrap();
    let ok = Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo failed");
    // A character device needs root; record it only when mknod works.
    let _ = Command::new("mknod")
        .arg(root.join("null"))
        .args(["c", "1", "3"])
        .status();
}

/// Walk a host directory into the same shape the reader's walk produces.
fn walk_host(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = format!("/{}", e.path().strip_prefix(root).unwrap().display());
        let md = e.path().symlink_metadata().unwrap();
        let ft = md.file_type();
        let (ty, size, content) = if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            let t = t.to_str().unwrap().to_string();
            (FileType::Symlink, t.len() as u64, t)
        } else if ft.is_dir() {
            (FileType::Directory, 0, String::new())
        } else if ft.is_file() {
            let d = std::fs::read(e.path()).unwrap();
            (FileType::Regular, d.len() as u64, sha(&d))
        } else if ft.is_fifo() {
            (FileType::Fifo, 0, String::new())
        } else if ft.is_char_device() {
            (FileType::CharDevice, 0, String::new())
        } else {
            (FileType::Unknown, 0, String::new())
        };
        use std::os::unix::fs::MetadataExt;
        out.insert(
            rel,
            Entry {
                ty,
                size,
                content,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
            },
        );
    }
    out
}

/// Walk the filesystem through the `Filesystem` trait only.
fn walk_fs(fs: &dyn Filesystem, dir: &str, out: &mut BTreeMap<String, Entry>) {
    for de in fs.read_dir(dir.as_bytes()).unwrap() {
        let name = String::from_utf8(de.name.clone()).unwrap();
        let path = if dir == "/" {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        };
        let md = fs.stat(path.as_bytes()).unwrap();
        assert_eq!(
            md.file_type, de.file_type,
            "{path}: dir entry type vs inode"
        );
        let (size, content) = match md.file_type {
            FileType::Directory => {
                walk_fs(fs, &path, out);
                (0, String::new())
            }
            FileType::Regular => {
                let d = fs.read_file(path.as_bytes(), 1 << 30).unwrap();
                assert_eq!(d.len() as u64, md.size, "{path}: size");
                (md.size, sha(&d))
            }
            FileType::Symlink => {
                let t = String::from_utf8(fs.readlink(path.as_bytes()).unwrap()).unwrap();
                (t.len() as u64, t)
            }
            _ => (0, String::new()),
        };
        out.insert(
            path,
            Entry {
                ty: md.file_type,
                size,
                content,
                mode: md.mode & 0o7777,
                uid: md.uid,
                gid: md.gid,
            },
        );
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    tree: std::path::PathBuf,
    image: std::path::PathBuf,
}

fn make_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    build_tree(&tree);
    let image = dir.path().join("btrfs.img");
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(160 << 20).unwrap(); // sparse; large enough for the 64 MiB mirror
    drop(f);
    let out = Command::new("mkfs.btrfs")
        .args(["-q", "-L", "guestroot", "--rootdir"])
        .arg(&tree)
        .arg(&image)
        .output()
        .expect("mkfs.btrfs (Debian package btrfs-progs) must be installed");
    assert!(
        out.status.success(),
        "mkfs.btrfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture {
        _dir: dir,
        tree,
        image,
    }
}

fn open_path(p: &Path) -> Result<BtrfsFs, FsError> {
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(p).unwrap());
    BtrfsFs::open(dev, &BtrfsOpenOptions::default())
}

#[test]
fn mkfs_rootdir_tree_reads_back_exactly() {
    let fx = make_fixture();
    let check = Command::new("btrfs")
        .args(["check", "--readonly"])
        .arg(&fx.image)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "btrfs check: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let fs = open_path(&fx.image).unwrap();
    let info = fs.info();
    assert_eq!(info.kind, FsKind::Btrfs);
    assert_eq!(info.label.as_deref(), Some("guestroot"));
    assert_eq!(info.dirty, DirtyState::Clean);
    // mkfs.btrfs --rootdir may grow the file to fit the tree; the superblock says how far.
    assert_eq!(
        info.total_bytes,
        std::fs::metadata(&fx.image).unwrap().len()
    );
    assert!(info.free_bytes > 0 && info.free_bytes < info.total_bytes);
    // blkid agrees on the UUID.
    let blkid = Command::new("blkid")
        .args(["-o", "value", "-s", "UUID"])
        .arg(&fx.image)
        .output();
    if let Ok(b) = blkid {
        if b.status.success() {
            assert_eq!(
                info.uuid.as_deref(),
                Some(String::from_utf8_lossy(&b.stdout).trim())
            );
        }
    }
    // mkfs --rootdir makes no subvolumes: the top level is the root (BOOT-2 is satisfied).
    assert_eq!(fs.default_subvolume_id(), 5);
    assert!(!fs.root_is_subvolume());
    assert!(fs.list_subvolumes().unwrap().is_empty());
    assert_eq!(fs.mounted_subvolume().unwrap(), None);

    let mut got = BTreeMap::new();
    walk_fs(&fs, "/", &mut got);
    let want = walk_host(&fx.tree);
    assert!(want.len() > 2000);
    for (p, e) in &want {
        assert_eq!(got.get(p), Some(e), "{p}");
    }
    assert_eq!(got.len(), want.len(), "extra entries in the image");

    // The 2000-entry directory forces a multi-level FS tree; lookups by name hash still work.
    let md = fs.stat(b"/many/file-01234").unwrap();
    assert_eq!(md.file_type, FileType::Regular);
    assert_eq!(
        fs.read_file(b"/many/file-01234", 100).unwrap(),
        b"entry 1234\n"
    );
    assert!(matches!(
        fs.stat(b"/many/file-99999"),
        Err(FsError::NotFound(_))
    ));
    assert!(matches!(
        fs.stat(b"/etc/fstab/x"),
        Err(FsError::NotADirectory(_))
    ));
    assert!(matches!(
        fs.read_dir(b"/etc/fstab"),
        Err(FsError::NotADirectory(_))
    ));
    assert!(matches!(
        fs.readlink(b"/etc/fstab"),
        Err(FsError::NotASymlink(_))
    ));
    assert!(matches!(
        fs.read_at(b"/etc", 0, &mut [0u8; 4]),
        Err(FsError::NotAFile(_))
    ));

    // Partial reads across extent boundaries agree with the source bytes.
    let src = std::fs::read(fx.tree.join("big/nine-mib")).unwrap();
    for &(off, len) in &[
        (0u64, 10usize),
        (4095, 2),
        (1 << 20, 300_000),
        (9 << 20, 8192),
    ] {
        let mut buf = vec![0u8; len];
        let n = fs.read_at(b"/big/nine-mib", off, &mut buf).unwrap();
        let end = (off as usize + len).min(src.len());
        assert_eq!(&buf[..n], &src[off as usize..end], "read at {off}+{len}");
    }
    let mut buf = [0u8; 8];
    assert_eq!(
        fs.read_at(b"/big/nine-mib", src.len() as u64, &mut buf)
            .unwrap(),
        0
    );
}

/// Counts bytes and calls that reach the device.
struct Counting {
    inner: RawFile,
    bytes: AtomicU64,
    calls: AtomicU64,
}

impl BlockDev for Counting {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.read_at(offset, buf)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn resolving_fstab_reads_few_blocks() {
    let fx = make_fixture();
    let dev = Arc::new(Counting {
        inner: RawFile::open(&fx.image).unwrap(),
        bytes: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    });
    let t0 = std::time::Instant::now();
    let fs = BtrfsFs::open(dev.clone(), &BtrfsOpenOptions::default()).unwrap();
    let open_bytes = dev.bytes.load(Ordering::Relaxed);
    let fstab = fs.read_file(b"/etc/fstab", 1 << 20).unwrap();
    let deep = fs.read_file(b"/a/b/c/d/e/f/g/deep.txt", 1 << 20).unwrap();
    let many = fs.read_file(b"/many/file-01999", 1 << 20).unwrap();
    let elapsed = t0.elapsed();
    let total = dev.bytes.load(Ordering::Relaxed);
    let calls = dev.calls.load(Ordering::Relaxed);
    eprintln!(
        "btrfs: open read {open_bytes} B; open + 3 lookups read {total} B in {calls} calls, {elapsed:?}"
    );
    assert_eq!(fstab, b"UUID=1234 / btrfs subvol=@ 0 0\n");
    assert_eq!(deep, b"deep\n");
    assert_eq!(many, b"entry 1999\n");
    // Superblock + a handful of 16 KiB tree blocks, not a scan of the image.
    assert!(total < 1 << 20, "read {total} bytes");
}

fn image_bytes(fx: &Fixture) -> Vec<u8> {
    std::fs::read(&fx.image).unwrap()
}

fn open_mem(data: Vec<u8>) -> Result<BtrfsFs, FsError> {
    BtrfsFs::open(
        Arc::new(MemDisk::new("mem", data)),
        &BtrfsOpenOptions::default(),
    )
}

/// Physical offsets of every copy (DUP keeps two) of the root tree's root block: 16 KiB-aligned
/// blocks whose header carries the image's fsid and, as bytenr, the superblock's `root`.
fn root_tree_copies(img: &[u8]) -> Vec<usize> {
    let sb = &img[0x10000..0x11000];
    let fsid = &sb[0x20..0x30];
    let root = &sb[0x50..0x58];
    (0..img.len() - 16384)
        .step_by(16384)
        .filter(|&o| &img[o + 0x20..o + 0x30] == fsid && &img[o + 0x30..o + 0x38] == root)
        .collect()
}

#[test]
fn damaged_images_give_typed_errors() {
    let fx = make_fixture();
    let good = image_bytes(&fx);

    // Primary superblock checksum broken: the mirror at 64 MiB takes over.
    let mut d = good.clone();
    d[0x10000 + 0x100] ^= 0xff;
    let fs = open_mem(d).unwrap();
    assert_eq!(fs.superblock_offset(), 0x400_0000);
    assert_eq!(
        fs.read_file(b"/etc/hostname", 100).unwrap(),
        b"btrfs-guest\n"
    );

    // Primary and mirror broken: a checksum error names the superblock.
    let mut d = good.clone();
    d[0x10000 + 0x100] ^= 0xff;
    d[0x400_0000 + 0x100] ^= 0xff;
    match open_mem(d) {
        Err(FsError::Corrupt {
            structure, reason, ..
        }) => {
            assert!(structure.contains("superblock"), "{structure}");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a corrupt superblock, got {:?}", other.err()),
    }

    // One damaged copy of a DUP tree block: the other copy is used, as the kernel does.
    let copies = root_tree_copies(&good);
    assert_eq!(copies.len(), 2, "mkfs.btrfs 6.2 defaults to DUP metadata");
    for &c in &copies {
        let mut d = good.clone();
        d[c + 200] ^= 0x55;
        let fs = open_mem(d).unwrap();
        assert_eq!(
            fs.read_file(b"/etc/hostname", 100).unwrap(),
            b"btrfs-guest\n"
        );
    }

    // Both copies of the root tree block damaged: its crc32c catches it.
    let copies = root_tree_copies(&good);
    assert!(!copies.is_empty());
    let mut d = good.clone();
    for &c in &copies {
        d[c + 200] ^= 0x55;
    }
    match open_mem(d) {
        Err(FsError::Corrupt { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
        other => panic!("expected a checksum error, got {:?}", other.err()),
    }

    // The device cut short: tree blocks past the end are an error, not a panic.
    let cut = good[..(40 << 20)].to_vec();
    let r = open_mem(cut).and_then(|fs| {
        let mut all = BTreeMap::new();
        walk_fs_fallible(&fs, "/", &mut all)
    });
    assert!(r.is_err(), "a truncated image must fail somewhere");

    // Many single-byte corruptions of metadata, with the checksums fixed up so that the
    // parsers (not just the crc check) see the damage: errors, never a panic or a hang.
    let shared = Arc::new(good.clone());
    let fix_block = |blk: &mut Vec<u8>, csum_from: usize| {
        let c = crc32c::crc32c(&blk[csum_from..]);
        blk[..4].copy_from_slice(&c.to_le_bytes());
    };
    let mut outcomes = [0usize; 2];
    let sb = 0x10000usize;
    let superblock_offsets = (0x20..0x1000).step_by(53);
    let node_offsets = (32..16384).step_by(97);
    for (i, off) in superblock_offsets
        .map(|o| (true, o))
        .chain(node_offsets.map(|o| (false, o)))
        .enumerate()
    {
        let (is_sb, o) = off;
        let patches = if is_sb {
            let mut blk = good[sb..sb + 4096].to_vec();
            blk[o] = blk[o].wrapping_add(1 + (i % 250) as u8);
            let c = crc32c::crc32c(&blk[0x20..]);
            blk[..4].copy_from_slice(&c.to_le_bytes());
            vec![(sb as u64, blk)]
        } else {
            copies
                .iter()
                .map(|&c| {
                    let mut blk = good[c..c + 16384].to_vec();
                    blk[o] = blk[o].wrapping_add(1 + (i % 250) as u8);
                    fix_block(&mut blk, 32);
                    (c as u64, blk)
                })
                .collect()
        };
        let dev = Arc::new(Patched {
            base: shared.clone(),
            patches,
        });
        match BtrfsFs::open(dev, &BtrfsOpenOptions::default()) {
            Ok(fs) => {
                outcomes[0] += 1;
                let _ = fs.list_subvolumes();
                let _ = fs.read_dir(b"/");
                let _ = fs.read_dir(b"/many");
                let _ = fs.read_file(b"/etc/fstab", 1 << 20);
                let _ = fs.readlink(b"/link-long");
            }
            Err(_) => outcomes[1] += 1,
        }
    }
    eprintln!(
        "btrfs: crafted metadata damage: {} opened, {} refused",
        outcomes[0], outcomes[1]
    );
    assert!(outcomes[1] > 0, "some damage must be refused at open");
}

/// The image with some byte ranges replaced, without copying it.
struct Patched {
    base: Arc<Vec<u8>>,
    patches: Vec<(u64, Vec<u8>)>,
}

impl BlockDev for Patched {
    fn len(&self) -> u64 {
        self.base.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        guestfix::block::check_range("patched", self.len(), offset, buf.len())?;
        let end = offset + buf.len() as u64;
        buf.copy_from_slice(&self.base[offset as usize..end as usize]);
        for (at, bytes) in &self.patches {
            let pend = at + bytes.len() as u64;
            let (lo, hi) = (offset.max(*at), end.min(pend));
            if lo < hi {
                buf[(lo - offset) as usize..(hi - offset) as usize]
                    .copy_from_slice(&bytes[(lo - at) as usize..(hi - at) as usize]);
            }
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "patched".into()
    }
}

fn walk_fs_fallible(
    fs: &dyn Filesystem,
    dir: &str,
    out: &mut BTreeMap<String, u64>,
) -> Result<(), FsError> {
    for de in fs.read_dir(dir.as_bytes())? {
        let path = format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            String::from_utf8_lossy(&de.name)
        );
        let md = fs.stat(path.as_bytes())?;
        match md.file_type {
            FileType::Directory => walk_fs_fallible(fs, &path, out)?,
            FileType::Regular => {
                out.insert(
                    path.clone(),
                    fs.read_file(path.as_bytes(), 1 << 30)?.len() as u64,
                );
            }
            FileType::Symlink => {
                fs.readlink(path.as_bytes())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A verified tree block found in a raw image (one per copy: DUP metadata has two).
#[derive(Debug, Clone)]
struct Block {
    phys: usize,
    bytenr: u64,
    owner: u64,
    level: u8,
}

const NODESIZE: usize = 16384;

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Every tree block with the image's fsid and a valid crc32c, scanning at 4 KiB steps.
fn tree_blocks(img: &[u8]) -> Vec<Block> {
    let fsid = img[0x10020..0x10030].to_vec();
    (0..img.len() - NODESIZE)
        .step_by(4096)
        .filter(|&o| img[o + 32..o + 48] == fsid[..])
        .filter(|&o| crc32c::crc32c(&img[o + 32..o + NODESIZE]) == le32(img, o))
        .map(|o| Block {
            phys: o,
            bytenr: le64(img, o + 48),
            owner: le64(img, o + 88),
            level: img[o + 100],
        })
        .collect()
}

/// Apply `edit` to every copy of the block at `bytenr` and fix their checksums.
fn edit_block(img: &mut [u8], blocks: &[Block], bytenr: u64, edit: impl Fn(&mut [u8])) {
    let mut n = 0;
    for b in blocks.iter().filter(|b| b.bytenr == bytenr) {
        let blk = &mut img[b.phys..b.phys + NODESIZE];
        edit(blk);
        let c = crc32c::crc32c(&blk[32..]);
        blk[..4].copy_from_slice(&c.to_le_bytes());
        n += 1;
    }
    assert!(n > 0);
}

/// Leaf items: (key objectid, key type, key offset, data range inside the block).
fn leaf_items(blk: &[u8]) -> Vec<(u64, u8, u64, std::ops::Range<usize>)> {
    let n = le32(blk, 96) as usize;
    (0..n)
        .map(|i| {
            let a = 101 + i * 25;
            let off = 101 + le32(blk, a + 17) as usize;
            let size = le32(blk, a + 21) as usize;
            (le64(blk, a), blk[a + 8], le64(blk, a + 9), off..off + size)
        })
        .collect()
}

fn walk_all(img: Vec<u8>) -> Result<(), FsError> {
    let fs = open_mem(img)?;
    let mut all = BTreeMap::new();
    walk_fs_fallible(&fs, "/", &mut all)
}

fn assert_corrupt(r: Result<(), FsError>, what: &str, needle: &str) {
    match r {
        Err(FsError::Corrupt {
            structure, reason, ..
        }) => {
            let msg = format!("{structure}: {reason}");
            assert!(msg.contains(needle), "{what}: {msg}");
        }
        other => panic!("{what}: expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn crafted_tree_damage_is_refused() {
    let fx = make_fixture();
    let good = image_bytes(&fx);
    let blocks = tree_blocks(&good);
    assert!(walk_all(good.clone()).is_ok());

    // B-tree cycles: an internal FS-tree node whose second pointer points at itself, or at the
    // same child as its first pointer.
    let node = blocks
        .iter()
        .find(|b| b.owner == 5 && b.level >= 1)
        .expect("the 2000-entry directory makes a multi-level FS tree")
        .clone();
    let ptr1 = 101 + 33 + 17;
    let mut d = good.clone();
    edit_block(&mut d, &blocks, node.bytenr, |blk| {
        blk[ptr1..ptr1 + 8].copy_from_slice(&node.bytenr.to_le_bytes())
    });
    assert_corrupt(walk_all(d), "self-pointer", "level");
    let mut d = good.clone();
    edit_block(&mut d, &blocks, node.bytenr, |blk| {
        let first = le64(blk, 101 + 17);
        blk[ptr1..ptr1 + 8].copy_from_slice(&first.to_le_bytes())
    });
    assert_corrupt(walk_all(d), "duplicate child", "first key");

    // A directory entry pointing at its own directory.
    let (leaf, idx) = blocks
        .iter()
        .filter(|b| b.owner == 5 && b.level == 0)
        .find_map(|b| {
            let blk = &good[b.phys..b.phys + NODESIZE];
            leaf_items(blk)
                .into_iter()
                .position(|it| it.1 == 96 && blk[it.3.start + 8] == 1)
                .map(|i| (b.clone(), i))
        })
        .unwrap();
    let mut d = good.clone();
    edit_block(&mut d, &blocks, leaf.bytenr, |blk| {
        let (dir, _, _, r) = leaf_items(blk)[idx].clone();
        blk[r.start..r.start + 8].copy_from_slice(&dir.to_le_bytes());
    });
    assert_corrupt(walk_all(d), "self-referencing dir", "itself");

    // A regular extent whose disk address lies past the end of every chunk / the device.
    let (leaf, idx) = blocks
        .iter()
        .filter(|b| b.owner == 5 && b.level == 0)
        .find_map(|b| {
            let blk = &good[b.phys..b.phys + NODESIZE];
            leaf_items(blk)
                .into_iter()
                .position(|it| it.1 == 108 && blk[it.3.start + 20] == 1)
                .map(|i| (b.clone(), i))
        })
        .unwrap();
    let mut d = good.clone();
    edit_block(&mut d, &blocks, leaf.bytenr, |blk| {
        let r = leaf_items(blk)[idx].3.clone();
        blk[r.start + 21..r.start + 29].copy_from_slice(&(1u64 << 50).to_le_bytes());
    });
    assert_corrupt(walk_all(d), "extent past the end", "chunk");

    // An absurd inode size: bounded reads refuse it, reads at huge offsets do not allocate.
    let (leaf, idx, ino) = blocks
        .iter()
        .filter(|b| b.owner == 5 && b.level == 0)
        .find_map(|b| {
            let blk = &good[b.phys..b.phys + NODESIZE];
            leaf_items(blk)
                .into_iter()
                .enumerate()
                .find(|(_, it)| it.1 == 1 && le32(blk, it.3.start + 52) & 0o170000 == 0o100000)
                .map(|(i, it)| (b.clone(), i, it.0))
        })
        .unwrap();
    let mut d = good.clone();
    edit_block(&mut d, &blocks, leaf.bytenr, |blk| {
        let r = leaf_items(blk)[idx].3.clone();
        blk[r.start + 16..r.start + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    let fs = open_mem(d).unwrap();
    let mut all = BTreeMap::new();
    let r = walk_fs_fallible(&fs, "/", &mut all);
    assert!(
        matches!(r, Err(FsError::TooLarge { size: u64::MAX, .. })),
        "inode {ino}: {r:?}"
    );
}

#[test]
fn log_tree_is_reported_as_needing_recovery() {
    // GEN-5: a non-zero log_root means fsync'ed data sits in a log tree this reader does not
    // replay.
    let fx = make_fixture();
    let mut d = image_bytes(&fx);
    let sb = 0x10000;
    d[sb + 0x60..sb + 0x68].copy_from_slice(&0x1234_0000u64.to_le_bytes());
    let c = crc32c::crc32c(&d[sb + 0x20..sb + 0x1000]);
    d[sb..sb + 4].copy_from_slice(&c.to_le_bytes());
    let fs = open_mem(d).unwrap();
    match fs.info().dirty {
        DirtyState::NeedsRecovery { replayed, detail } => {
            assert!(!replayed);
            assert!(detail.contains("log tree"), "{detail}");
        }
        other => panic!("expected NeedsRecovery, got {other:?}"),
    }
}

#[test]
fn raid_and_multi_device_filesystems_are_reported_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    for p in [&a, &b] {
        std::fs::File::create(p)
            .unwrap()
            .set_len(256 << 20)
            .unwrap();
    }
    let out = Command::new("mkfs.btrfs")
        .args(["-q", "-m", "raid1", "-d", "raid1"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match open_path(&a) {
        Err(FsError::Unsupported { what, .. }) => assert!(what.contains("multi-device"), "{what}"),
        other => panic!("expected Unsupported, got {:?}", other.err()),
    }

    // A single-device image whose system chunk claims RAID1: the profile is named.
    let fx = make_fixture();
    let mut d = image_bytes(&fx);
    let sb = 0x10000;
    // sys_chunk_array at 0x32b: key (17 bytes), then the chunk item; its type is at +24.
    let ty = sb + 0x32b + 17 + 24;
    let flags = le64(&d, ty) | (1 << 4);
    d[ty..ty + 8].copy_from_slice(&flags.to_le_bytes());
    let c = crc32c::crc32c(&d[sb + 0x20..sb + 0x1000]);
    d[sb..sb + 4].copy_from_slice(&c.to_le_bytes());
    match open_mem(d) {
        Err(FsError::Unsupported { what, .. }) => assert!(what.contains("RAID1"), "{what}"),
        other => panic!("expected Unsupported RAID1, got {:?}", other.err()),
    }
}

#[test]
fn data_checksums_catch_damaged_file_data() {
    let fx = make_fixture();
    let mut d = image_bytes(&fx);
    let src = std::fs::read(fx.tree.join("big/three-mib")).unwrap();
    // Find the file's second MiB on disk (mkfs writes it uncompressed, in one extent or more).
    let needle = &src[1 << 20..(1 << 20) + 256];
    let at = d
        .windows(needle.len())
        .step_by(4096)
        .position(|w| w == needle)
        .expect("file data on disk")
        * 4096;
    d[at + 100] ^= 0x01;
    let fs = open_mem(d).unwrap();
    match fs.read_file(b"/big/three-mib", 1 << 30) {
        Err(FsError::Corrupt { reason, .. }) => {
            assert!(reason.contains("data checksum"), "{reason}")
        }
        other => panic!(
            "expected a data checksum error, got {:?}",
            other.map(|v| v.len())
        ),
    }
    // A read that does not touch the damaged sector still works.
    let mut buf = vec![0u8; 4096];
    fs.read_at(b"/big/three-mib", 0, &mut buf).unwrap();
    assert_eq!(buf, src[..4096]);
    assert_eq!(
        fs.read_file(b"/etc/hostname", 100).unwrap(),
        b"btrfs-guest\n"
    );
}

#[test]
fn superblock_mirror_at_256_gib_is_used_when_the_others_are_damaged() {
    // A sparse 260 GiB image (a few MiB on disk) carries all three superblock copies.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("huge.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(260 << 30)
        .unwrap();
    let out = Command::new("mkfs.btrfs")
        .args(["-q", "-L", "huge"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rw = RawFile::open_rw(&img).unwrap();
    use guestfix::block::WritableDev;
    for at in [0x1_0000u64, 0x400_0000] {
        let mut b = [0u8; 1];
        rw.read_at(at + 0x200, &mut b).unwrap();
        rw.write_at(at + 0x200, &[b[0] ^ 0xff]).unwrap();
    }
    let fs = open_path(&img).unwrap();
    assert_eq!(fs.superblock_offset(), 0x40_0000_0000);
    assert_eq!(fs.info().label.as_deref(), Some("huge"));
    assert!(fs.read_dir(b"/").unwrap().is_empty());
}
