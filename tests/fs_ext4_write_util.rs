//! Helpers shared by the ext4 writer tests (included with `#[path]`): real mkfs.ext4 images,
//! e2fsck, debugfs and the independent ext4-view reader.
#![allow(dead_code)]

use guestfix::block::raw::RawFile;
use guestfix::fs::ext4w::Ext4Writer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub struct Img {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// `mkfs.ext4 -q -F [args] [-d tree] img SIZE` on a fresh sparse file.
pub fn mkfs(tree: Option<&Path>, size: &str, args: &[&str]) -> Img {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs.img");
    let mut c = Command::new("mkfs.ext4");
    c.arg("-q").arg("-F").args(args);
    if let Some(t) = tree {
        c.arg("-d").arg(t);
    }
    c.arg(&path).arg(size);
    // mke2fs wants a fixed time for reproducible output only via env; not needed here.
    let out = c.output().expect("mkfs.ext4 runs");
    assert!(
        out.status.success(),
        "mkfs.ext4 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Img { dir, path }
}

pub fn writer(img: &Img) -> Ext4Writer {
    let dev = Arc::new(RawFile::open_rw(&img.path).unwrap());
    Ext4Writer::open(dev).unwrap()
}

pub fn open_err(img: &Img) -> guestfix::fs::ext4w::Ext4WriteError {
    let dev = Arc::new(RawFile::open_rw(&img.path).unwrap());
    match Ext4Writer::open(dev) {
        Ok(_) => panic!("open should have been refused"),
        Err(e) => e,
    }
}

/// `e2fsck -fn`: must exit 0.
pub fn fsck_clean(img: &Img) {
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(&img.path)
        .output()
        .expect("e2fsck runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "e2fsck -fn found problems:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn debugfs(img: &Img, req: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(req)
        .arg(&img.path)
        .output()
        .expect("debugfs runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run several debugfs commands with write access.
pub fn debugfs_w(img: &Img, cmds: &[String]) {
    let f = img.dir.path().join("cmds");
    std::fs::write(&f, cmds.join("\n") + "\n").unwrap();
    let out = Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&f)
        .arg(&img.path)
        .output()
        .expect("debugfs runs");
    assert!(out.status.success());
}

/// `(size, mode)` from `debugfs -R 'stat PATH'`.
pub fn debugfs_stat(img: &Img, path: &str) -> (u64, u32) {
    let s = debugfs(img, &format!("stat \"{path}\""));
    let mode = s
        .split("Mode:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|m| u32::from_str_radix(m, 8).unwrap())
        .unwrap_or_else(|| panic!("no Mode in debugfs stat of {path}: {s}"));
    let size = s
        .split("Size:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|m| m.parse::<u64>().unwrap())
        .unwrap_or_else(|| panic!("no Size in debugfs stat of {path}: {s}"));
    (size, mode)
}

/// ext4-view reads through this (its `std` feature, which reads files, is not enabled).
struct FileReader(std::fs::File);

impl ext4_view::Ext4Read for FileReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        use std::os::unix::fs::FileExt;
        self.0.read_exact_at(dst, start_byte)?;
        Ok(())
    }
}

pub fn view(img: &Img) -> ext4_view::Ext4 {
    let f = std::fs::File::open(&img.path).unwrap();
    ext4_view::Ext4::load(Box::new(FileReader(f))).unwrap()
}

pub fn view_read(img: &Img, path: &str) -> Vec<u8> {
    view(img).read(path).unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
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

pub fn tree() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// File content through `debugfs -R 'cat PATH'`.
pub fn debugfs_cat(img: &Img, path: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat \"{path}\""))
        .arg(&img.path)
        .output()
        .expect("debugfs runs");
    out.stdout
}
