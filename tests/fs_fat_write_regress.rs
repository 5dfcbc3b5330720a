//! FAT writer tests on images made by mkfs.vfat, checked with `fsck.vfat -n` and mtools
//! (`mcopy`, `mdir`) as the independent reader.

use guestfix::block::raw::RawFile;
use guestfix::fs::fatw::{FatWriteError, FatWriter};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

struct Img {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn mkfs_vfat(size_kib: u32, args: &[&str]) -> Img {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("esp.img");
    let out = Command::new("mkfs.vfat")
        .arg("-C")
        .args(args)
        .arg(&path)
        .arg(size_kib.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Img { _dir: dir, path }
}

fn fsck(path: &Path) -> (i32, String) {
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn fsck_clean(path: &Path) {
    let (code, out) = fsck(path);
    assert_eq!(code, 0, "fsck.vfat -n:\n{out}");
}

/// Read a file with mtools' mcopy (to stdout).
fn mread(path: &Path, file: &str) -> Vec<u8> {
    let out = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-n")
        .arg("-i")
        .arg(path)
        .arg(format!("::{file}"))
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcopy {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn writer(img: &Img) -> FatWriter {
    FatWriter::open(Arc::new(RawFile::open_rw(&img.path).unwrap())).unwrap()
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn plain_fatfs_create_dir_fails_fsck_which_is_why_we_fix_it() {
    let img = mkfs_vfat(32 * 1024, &[]);
    {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&img.path)
            .unwrap();
        let fs = fatfs::FileSystem::new(f, fatfs::FsOptions::new()).unwrap();
        fs.root_dir().create_dir("EFI").unwrap();
        fs.unmount().unwrap();
    }
    let (code, out) = fsck(&img.path);
    assert!(out.contains("Expected a valid '.' entry"), "{out}");
    assert_ne!(code, 0, "fatfs create_dir output is rejected by fsck.fat");
}

#[test]
fn add_bootx64_efi_fat12_fat16_fat32() {
    for (args, kib) in [
        (&["-F", "12"][..], 4 * 1024),
        (&["-F", "16"][..], 32 * 1024),
        (&["-F", "32"][..], 64 * 1024),
    ] {
        let img = mkfs_vfat(kib, args);
        let w = writer(&img);
        w.create_dir_all("/EFI/BOOT").unwrap();
        w.create_dir_all("/EFI/debian").unwrap();
        let efi = bytes(42, 900_000);
        w.write_file("/EFI/BOOT/BOOTX64.EFI", &efi).unwrap();
        w.write_file("/EFI/debian/grub.cfg", b"search --fs-uuid x\n")
            .unwrap();
        assert_eq!(w.read_file("/EFI/BOOT/BOOTX64.EFI", 1 << 20).unwrap(), efi);
        fsck_clean(&img.path);
        assert_eq!(mread(&img.path, "/EFI/BOOT/BOOTX64.EFI"), efi);
        // Replace (shrink) and keep a backup copy.
        w.backup_file("/EFI/debian/grub.cfg", "grub.cfg.guestfix-orig")
            .unwrap();
        w.write_file("/EFI/debian/grub.cfg", b"new\n").unwrap();
        w.write_file("/EFI/BOOT/BOOTX64.EFI", b"tiny").unwrap();
        assert!(matches!(
            w.backup_file("/EFI/debian/grub.cfg", "grub.cfg.guestfix-orig"),
            Err(FatWriteError::AlreadyExists(_))
        ));
        assert!(matches!(
            w.write_file("/EFI", b"x"),
            Err(FatWriteError::NotAFile(_))
        ));
        assert!(matches!(
            w.write_file("/NOPE/x", b"x"),
            Err(FatWriteError::NotFound(_))
        ));
        fsck_clean(&img.path);
        assert_eq!(mread(&img.path, "/EFI/BOOT/BOOTX64.EFI"), b"tiny");
        assert_eq!(mread(&img.path, "/EFI/debian/grub.cfg"), b"new\n");
        assert_eq!(
            mread(&img.path, "/EFI/debian/grub.cfg.guestfix-orig"),
            b"search --fs-uuid x\n"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Mkdir {
        parent: usize,
        name: u8,
    },
    Write {
        dir: usize,
        name: u8,
        seed: u64,
        len: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<usize>(), 0u8..12).prop_map(|(parent, name)| Op::Mkdir { parent, name }),
        3 => (any::<usize>(), 0u8..12, any::<u64>(), prop_oneof![3 => Just(0usize), 3 => 1usize..5000, 3 => 5000usize..400_000, 1 => 400_000usize..4_200_000])
            .prop_map(|(dir, name, seed, len)| Op::Write { dir, name, seed, len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 30, ..ProptestConfig::default() })]
    #[test]
    fn random_fat_ops_pass_fsck_and_read_back(fat32 in any::<bool>(), ops in prop::collection::vec(op(), 1..20)) {
        // Room for every write at its largest (19 x 4.2 MB): a full disk is not what is tested.
        let img = if fat32 { mkfs_vfat(128 * 1024, &["-F", "32"]) } else { mkfs_vfat(96 * 1024, &[]) };
        let w = writer(&img);
        let mut dirs: Vec<String> = vec![String::new()];
        let mut files: std::collections::BTreeMap<String, (u64, usize)> = Default::default();
        for op in ops {
            match op {
                Op::Mkdir { parent, name } => {
                    let p = format!("{}/Dir Long Name {name}", dirs[parent % dirs.len()]);
                    if files.contains_key(&p) { continue; }
                    w.create_dir_all(&p).unwrap();
                    if !dirs.contains(&p) { dirs.push(p); }
                }
                Op::Write { dir, name, seed, len } => {
                    let p = if name % 2 == 0 {
                        format!("{}/F{name}.BIN", dirs[dir % dirs.len()])
                    } else {
                        format!("{}/a longer file name {name}.data", dirs[dir % dirs.len()])
                    };
                    w.write_file(&p, &bytes(seed, len)).unwrap();
                    files.insert(p, (seed, len));
                }
            }
        }
        fsck_clean(&img.path);
        for (p, (seed, len)) in &files {
            prop_assert!(mread(&img.path, p) == bytes(*seed, *len), "{} differs", p);
        }
    }
}
