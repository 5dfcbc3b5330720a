//! The native Btrfs reader against the fixture `scripts/images/btrfs-fixtures.sh` builds with
//! guestfish (the real kernel's btrfs inside the libguestfs appliance): zlib/lzo/zstd compressed
//! files, holes and prealloc extents, subvolumes `@`, `@/home`, `@/.snapshots`, a snapper-style
//! read-only snapshot, and the default subvolume `@` (BOOT-2: root is a subvolume).

use guestfix::block::BlockDev;
use guestfix::block::raw::RawFile;
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::{FileType, Filesystem, FsError};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

/// The cached fixture folder, or `None` (said loudly) when guestfish is not installed. The
/// tests of this file run in parallel: the script runs once (it writes one cache folder, and
/// concurrent runs clobbered each other's files on a machine without the cache).
fn fixture() -> Option<PathBuf> {
    static FIXTURE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_fixture).clone()
}

fn build_fixture() -> Option<PathBuf> {
    let have_guestfish = Command::new("sh")
        .args(["-c", "command -v guestfish"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have_guestfish {
        eprintln!(
            "\n\n*** SKIPPING btrfs guestfish tests: guestfish (Debian package libguestfs-tools) \
             is not installed, so the compressed/subvolume fixture cannot be built ***\n\n"
        );
        return None;
    }
    let out = Command::new("bash")
        .arg("scripts/images/btrfs-fixtures.sh")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "btrfs-fixtures.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The folder is the last line of stdout.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let dir = PathBuf::from(stdout.lines().last().unwrap().trim());
    assert!(dir.join("disk.img").is_file());
    Some(dir)
}

fn open(dir: &std::path::Path, opts: BtrfsOpenOptions) -> Result<BtrfsFs, FsError> {
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(&dir.join("disk.img")).unwrap());
    BtrfsFs::open(dev, &opts)
}

fn sha(d: &[u8]) -> String {
    hex::encode(Sha256::digest(d))
}

#[test]
fn compressed_sparse_and_prealloc_files_read_back_exactly() {
    let Some(dir) = fixture() else { return };
    let fs = open(&dir, BtrfsOpenOptions::default()).unwrap();
    // Default subvolume is @ (id 256), as set with btrfs-subvolume-set-default.
    let want_default: u64 = std::fs::read_to_string(dir.join("default.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(fs.default_subvolume_id(), want_default);
    assert_eq!(fs.mounted_subvolume_id(), 256);
    assert!(fs.root_is_subvolume(), "BOOT-2: / is subvolume @");
    let root = fs.mounted_subvolume().unwrap().unwrap();
    assert_eq!(
        (root.id, root.path.as_str(), root.is_snapshot),
        (256, "@", false)
    );
    let raw = RawFile::open(&dir.join("disk.img")).unwrap();
    assert!(BtrfsFs::probe(&raw));

    // Every file with a recorded SHA-256 (compressed ones included) reads back exactly.
    let sums = std::fs::read_to_string(dir.join("sha256.tsv")).unwrap();
    let mut n = 0;
    for line in sums.lines() {
        let (path, want) = line.split_once('\t').unwrap();
        let data = fs.read_file(path.as_bytes(), 1 << 30).unwrap();
        assert_eq!(sha(&data), want, "{path}");
        n += 1;
    }
    assert_eq!(n, 9);
    for alg in ["zlib", "lzo", "zstd"] {
        let src = std::fs::read(dir.join(format!("src/{alg}.txt"))).unwrap();
        assert!(
            src.len() > 5 * 128 * 1024,
            "spans several compressed extents"
        );
        let path = format!("/var/data/{alg}.txt");
        assert_eq!(
            fs.read_file(path.as_bytes(), 1 << 30).unwrap(),
            src,
            "{alg}"
        );
        // Reads that straddle compressed-extent boundaries.
        for &(off, len) in &[
            (131_070u64, 10usize),
            (262_143, 3),
            (0, 1),
            (700_000, 100_000),
        ] {
            let mut buf = vec![0u8; len];
            let got = fs.read_at(path.as_bytes(), off, &mut buf).unwrap();
            let end = (off as usize + len).min(src.len());
            assert_eq!(&buf[..got], &src[off as usize..end], "{alg} at {off}+{len}");
        }
        let small = std::fs::read(dir.join(format!("src/small-{alg}.txt"))).unwrap();
        let path = format!("/var/data/small-{alg}.txt");
        assert_eq!(fs.read_file(path.as_bytes(), 1 << 20).unwrap(), small);
    }

    // Holes (NO_HOLES: no extent items at all) and an explicit written tail.
    let sparse = fs.read_file(b"/var/data/sparse", 1 << 30).unwrap();
    let mut want = vec![0u8; 8 << 20];
    want[3 << 20..(3 << 20) + 6].copy_from_slice(b"middle");
    want[8_388_600..8_388_604].copy_from_slice(b"tail");
    assert_eq!(sparse.len(), 8_388_608);
    assert!(sparse == want, "sparse file content");
    // Prealloc reads as zeros after the written head.
    let pre = fs.read_file(b"/var/data/prealloc", 1 << 30).unwrap();
    let mut want = vec![0u8; 1 << 20];
    want[..4].copy_from_slice(b"head");
    assert!(pre == want, "prealloc file content");
}

/// Parse guestfish's `btrfs-subvolume-list` records: (id, top_level_id, path).
fn guestfish_subvolumes(dir: &std::path::Path) -> Vec<(u64, u64, String)> {
    guestfish_subvolumes_in(&dir.join("subvolumes.txt"))
}

fn guestfish_subvolumes_in(file: &std::path::Path) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    let mut cur: (u64, u64) = (0, 0);
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("btrfssubvolume_id: ") {
            cur.0 = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("btrfssubvolume_top_level_id: ") {
            cur.1 = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("btrfssubvolume_path: ") {
            out.push((cur.0, cur.1, v.to_string()));
        }
    }
    out
}

#[test]
fn subvolumes_match_btrfs_and_snapshot_is_recognised() {
    let Some(dir) = fixture() else { return };
    let fs = open(&dir, BtrfsOpenOptions::default()).unwrap();
    let subs = fs.list_subvolumes().unwrap();
    let ours: Vec<(u64, u64, String)> = subs
        .iter()
        .map(|s| (s.id, s.parent_id, s.path.clone()))
        .collect();
    let theirs = guestfish_subvolumes(&dir);
    assert_eq!(theirs.len(), 4);
    assert_eq!(ours, theirs);

    let at = subs.iter().find(|s| s.path == "@").unwrap();
    let snap = subs
        .iter()
        .find(|s| s.path == "@/.snapshots/1/snapshot")
        .unwrap();
    assert!(snap.is_snapshot && snap.readonly);
    assert_eq!(snap.parent_uuid, at.uuid, "snapshot of @");
    for s in subs.iter().filter(|s| s.id != snap.id) {
        assert!(!s.is_snapshot, "{} is not a snapshot", s.path);
        assert!(!s.readonly);
        assert!(s.uuid.is_some());
    }
}

/// Snapper snapshots are not extra operating systems (issue 5). On `snapfirst.img` the default
/// subvolume (the top level) holds no system, and in id order the read-only snapshot `snaps/1`
/// (a copy of a system) comes before the real system in `root`: root detection must find one
/// root, `root`, and inspection one operating system.
#[test]
fn a_snapshot_is_not_an_extra_operating_system() {
    let Some(dir) = fixture() else { return };
    let img = dir.join("snapfirst.img");
    // The real tool's view: base 256, snaps/1 257, root 258.
    let ids: Vec<(u64, String)> = guestfish_subvolumes_in(&dir.join("snapfirst-subvolumes.txt"))
        .into_iter()
        .map(|(id, _, p)| (id, p))
        .collect();
    assert_eq!(
        ids,
        [
            (256, "base".into()),
            (257, "snaps/1".into()),
            (258, "root".into())
        ]
    );
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(&img).unwrap());
    let fs = BtrfsFs::open(dev.clone(), &BtrfsOpenOptions::default()).unwrap();
    let subs = fs.list_subvolumes().unwrap();
    let flags: Vec<(&str, bool)> = subs
        .iter()
        .map(|s| (s.path.as_str(), s.is_snapshot))
        .collect();
    assert_eq!(flags, [("base", false), ("snaps/1", true), ("root", false)]);
    // The snapshot does look like a system on its own.
    let snap = BtrfsFs::open(
        dev.clone(),
        &BtrfsOpenOptions {
            subvol: Some("snaps/1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(snap.read_file(b"/etc/os-release", 1000).is_ok());

    let set = guestfix::fs::probe::scan_disks(&[dev]).unwrap();
    let (roots, errors) = guestfix::guest::mount::find_roots(&set);
    assert!(errors.is_empty(), "{:?}", errors);
    let found: Vec<Option<&str>> = roots.iter().map(|r| r.subvol.as_deref()).collect();
    assert_eq!(found, [Some("root")]);
    let i = guestfix::guest::inspect::inspect(
        std::slice::from_ref(&img),
        &guestfix::guest::inspect::InspectOptions::default(),
    )
    .unwrap();
    assert_eq!(i.inspection.operating_systems.len(), 1);
    // os-release without PRETTY_NAME: the product is NAME + VERSION_ID.
    assert_eq!(
        i.inspection.operating_systems[0]
            .product_name
            .known()
            .map(String::as_str),
        Some("Fedora Linux 42")
    );
}

#[test]
fn subvol_options_open_the_right_tree() {
    let Some(dir) = fixture() else { return };
    let notes = b"home of user\n".to_vec();
    // fstab's subvol=@/home, with and without a leading slash, and subvolid=257.
    for opts in [
        BtrfsOpenOptions {
            subvol: Some("@/home".into()),
            subvolid: None,
        },
        BtrfsOpenOptions {
            subvol: Some("/@/home".into()),
            subvolid: Some(257),
        },
        BtrfsOpenOptions {
            subvol: None,
            subvolid: Some(257),
        },
    ] {
        let fs = open(&dir, opts.clone()).unwrap();
        assert_eq!(fs.mounted_subvolume_id(), 257, "{opts:?}");
        assert_eq!(fs.read_file(b"/user/notes.txt", 100).unwrap(), notes);
        let names: Vec<Vec<u8>> = fs
            .read_dir(b"/")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec![b"user".to_vec()]);
    }
    assert!(matches!(
        open(
            &dir,
            BtrfsOpenOptions {
                subvol: Some("@/home".into()),
                subvolid: Some(256)
            }
        ),
        Err(FsError::NotFound(_))
    ));
    assert!(matches!(
        open(
            &dir,
            BtrfsOpenOptions {
                subvol: Some("@/nope".into()),
                subvolid: None
            }
        ),
        Err(FsError::NotFound(_))
    ));
    assert!(
        open(
            &dir,
            BtrfsOpenOptions {
                subvol: None,
                subvolid: Some(4242)
            }
        )
        .is_err()
    );

    // The top level (subvolid=5): nested subvolumes are crossed through directory entries.
    let top = open(
        &dir,
        BtrfsOpenOptions {
            subvol: None,
            subvolid: Some(5),
        },
    )
    .unwrap();
    assert!(!top.root_is_subvolume());
    let names: Vec<Vec<u8>> = top
        .read_dir(b"/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec![b"@".to_vec()]);
    assert_eq!(
        top.read_file(b"/@/home/user/notes.txt", 100).unwrap(),
        notes
    );
    assert_eq!(
        top.read_file(b"/@/.snapshots/1/snapshot/etc/hostname", 100)
            .unwrap(),
        b"before-snapshot\n"
    );
    assert_eq!(
        top.stat(b"/@/home").unwrap().ino,
        256,
        "subvolume root inode"
    );

    // The default root sees @/home's tree at /home and the snapshot under /.snapshots.
    let fs = open(&dir, BtrfsOpenOptions::default()).unwrap();
    assert_eq!(
        fs.read_file(b"/etc/hostname", 100).unwrap(),
        b"after-snapshot\n"
    );
    assert_eq!(fs.read_file(b"/home/user/notes.txt", 100).unwrap(), notes);
    assert!(
        fs.read_file(b"/.snapshots/1/info.xml", 1000)
            .unwrap()
            .starts_with(b"<?xml")
    );

    // The snapper snapshot as its own root: old content; nested subvolumes (home, .snapshots)
    // show as empty directories, as the kernel shows them.
    let snap = open(
        &dir,
        BtrfsOpenOptions {
            subvol: Some("@/.snapshots/1/snapshot".into()),
            subvolid: None,
        },
    )
    .unwrap();
    assert_eq!(snap.mounted_subvolume_id(), 259);
    assert_eq!(
        snap.read_file(b"/etc/hostname", 100).unwrap(),
        b"before-snapshot\n"
    );
    assert_eq!(
        snap.read_file(b"/var/data/zstd.txt", 1 << 30).unwrap(),
        std::fs::read(dir.join("src/zstd.txt")).unwrap()
    );
    for d in [&b"/home"[..], b"/.snapshots"] {
        assert_eq!(snap.stat(d).unwrap().file_type, FileType::Directory);
        assert!(snap.read_dir(d).unwrap().is_empty());
    }
    assert!(matches!(
        snap.stat(b"/home/user"),
        Err(FsError::NotFound(_))
    ));
}

const NODESIZE: usize = 16384;

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Physical offsets of the verified tree blocks owned by tree `owner` at level 0.
fn leaves_of(img: &[u8], owner: u64) -> Vec<usize> {
    let fsid = img[0x10020..0x10030].to_vec();
    (0..img.len() - NODESIZE)
        .step_by(4096)
        .filter(|&o| img[o + 32..o + 48] == fsid[..])
        .filter(|&o| crc32c::crc32c(&img[o + 32..o + NODESIZE]) == le32(img, o))
        .filter(|&o| le64(img, o + 88) == owner && img[o + 100] == 0)
        .collect()
}

/// In every leaf copy of tree `owner`, rewrite the EXTENT_DATA items of compression `comp`
/// with `edit(item data)`, then fix the checksums.
fn edit_extents(img: &mut [u8], owner: u64, comp: u8, edit: &dyn Fn(&mut [u8])) -> usize {
    let mut n = 0;
    for o in leaves_of(img, owner) {
        let blk = &mut img[o..o + NODESIZE];
        let items = le32(blk, 96) as usize;
        for i in 0..items {
            let a = 101 + i * 25;
            if blk[a + 8] != 108 {
                continue;
            }
            let off = 101 + le32(blk, a + 17) as usize;
            let size = le32(blk, a + 21) as usize;
            let data = &mut blk[off..off + size];
            if data[16] == comp {
                edit(data);
                n += 1;
            }
        }
        let c = crc32c::crc32c(&blk[32..]);
        blk[..4].copy_from_slice(&c.to_le_bytes());
    }
    n
}

#[test]
fn real_compressed_extents_with_understated_sizes_are_refused() {
    // Decompression bombs made from the kernel's own compressed extents: the item claims
    // fewer uncompressed bytes (ram_bytes, num_bytes) than the data expands to.
    let Some(dir) = fixture() else { return };
    let good = std::fs::read(dir.join("disk.img")).unwrap();
    for (comp, name) in [(1u8, "zlib"), (2, "lzo"), (3, "zstd")] {
        let mut img = good.clone();
        let n = edit_extents(&mut img, 256, comp, &|d: &mut [u8]| {
            if d[20] == 1 {
                // regular: ram_bytes = num_bytes = 64 KiB (the real extents hold 128 KiB)
                d[8..16].copy_from_slice(&65536u64.to_le_bytes());
                d[45..53].copy_from_slice(&65536u64.to_le_bytes());
            } else {
                // inline: ram_bytes 100 (the real data expands to ~2.6 KiB)
                d[8..16].copy_from_slice(&100u64.to_le_bytes());
            }
        });
        assert!(n >= 6, "{name}: edited {n} extents");
        let dev: Arc<dyn BlockDev> = Arc::new(guestfix::block::raw::MemDisk::new("mem", img));
        let fs = BtrfsFs::open(dev, &BtrfsOpenOptions::default()).unwrap();
        for path in [
            format!("/var/data/{name}.txt"),
            format!("/var/data/small-{name}.txt"),
        ] {
            match fs.read_file(path.as_bytes(), 1 << 30) {
                Err(FsError::Corrupt { reason, .. }) => assert!(
                    reason.contains("more than") || reason.contains("exceeds"),
                    "{path}: {reason}"
                ),
                other => panic!(
                    "{path}: expected a bound error, got {:?}",
                    other.map(|d| d.len())
                ),
            }
        }
        // Uncompressed files are unaffected.
        assert_eq!(
            fs.read_file(b"/home/user/notes.txt", 100).unwrap(),
            b"home of user\n"
        );
    }
}

#[test]
fn explicit_hole_extents_read_as_zeros() {
    let Some(dir) = fixture() else { return };
    // The filesystem made without no-holes really has explicit hole items (disk byte 0).
    let tree = std::fs::read_to_string(dir.join("holes-tree.txt")).unwrap();
    assert!(tree.contains("extent data disk byte 0 nr 0"));
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(&dir.join("holes.img")).unwrap());
    let fs = BtrfsFs::open(dev, &BtrfsOpenOptions::default()).unwrap();
    assert!(!fs.root_is_subvolume());
    let got = fs.read_file(b"/sparse", 1 << 30).unwrap();
    let mut want = vec![0u8; 6 << 20];
    want[..5].copy_from_slice(b"start");
    want[2 << 20..(2 << 20) + 6].copy_from_slice(b"middle");
    want[6_291_453..].copy_from_slice(b"end");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "sparse content");
    // A read that lies wholly inside a hole.
    let mut buf = [0xffu8; 4096];
    assert_eq!(fs.read_at(b"/sparse", 3 << 20, &mut buf).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == 0));
}

/// Counts bytes that reach the device.
struct Counting {
    inner: RawFile,
    bytes: std::sync::atomic::AtomicU64,
}

impl BlockDev for Counting {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), guestfix::block::BlockError> {
        self.bytes
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_at(offset, buf)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn resolving_paths_across_subvolumes_reads_few_blocks() {
    let Some(dir) = fixture() else { return };
    let dev = Arc::new(Counting {
        inner: RawFile::open(&dir.join("disk.img")).unwrap(),
        bytes: Default::default(),
    });
    let t0 = std::time::Instant::now();
    let fs = BtrfsFs::open(dev.clone(), &BtrfsOpenOptions::default()).unwrap();
    let fstab = fs.read_file(b"/etc/fstab", 1 << 20).unwrap();
    let notes = fs.read_file(b"/home/user/notes.txt", 1 << 20).unwrap();
    let snap = fs
        .read_file(b"/.snapshots/1/snapshot/etc/hostname", 1 << 20)
        .unwrap();
    let elapsed = t0.elapsed();
    let total = dev.bytes.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "btrfs: open (default subvolume @) + /etc/fstab + /home (subvolume @/home) + snapshot \
         hostname: {total} bytes read, {elapsed:?}"
    );
    assert!(fstab.starts_with(b"UUID=0 / btrfs subvol=@"));
    assert_eq!(notes, b"home of user\n");
    assert_eq!(snap, b"before-snapshot\n");
    assert!(total < 1 << 20, "read {total} bytes");
}

#[test]
fn the_guests_own_fstab_subvol_options_open_each_mount() {
    let Some(dir) = fixture() else { return };
    let root = open(&dir, BtrfsOpenOptions::default()).unwrap();
    let fstab = String::from_utf8(root.read_file(b"/etc/fstab", 1 << 20).unwrap()).unwrap();
    let mut seen = Vec::new();
    for line in fstab.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let opts = BtrfsOpenOptions::from_mount_options(f[3]).unwrap();
        let fs = open(&dir, opts).unwrap();
        seen.push((f[1].to_string(), fs.mounted_subvolume_id()));
    }
    assert_eq!(
        seen,
        vec![
            ("/".to_string(), 256),
            ("/home".to_string(), 257),
            ("/.snapshots".to_string(), 258)
        ]
    );
}
