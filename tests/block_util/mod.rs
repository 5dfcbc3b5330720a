//! Helpers for the block tests: fixtures made with the real `qemu-img`, and whole-disk hashes.
#![allow(dead_code)]

use guestfix::block::BlockDev;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `qemu-img` with `args` in `dir`, panicking with its stderr on failure.
pub fn qemu_img(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("qemu-img")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qemu-img is installed (Debian package qemu-utils)");
    assert!(
        out.status.success(),
        "qemu-img {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic noise (xorshift), hard to compress.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A raw disk of `size` bytes with a recognisable pattern: noise at odd offsets, a text run,
/// long zero holes, and the last sector written.
pub fn pattern(size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size];
    let mut put = |off: usize, data: &[u8]| {
        let end = (off + data.len()).min(size);
        d[off..end].copy_from_slice(&data[..end - off]);
    };
    put(0, &noise(1, 70_000));
    put(1_048_583, &noise(2, 100_003));
    put(
        3 * 1_048_576 + 12_345,
        &b"guestfix block layer ".repeat(4000),
    );
    put(size / 2 + 511, &noise(3, 5_000));
    put(size - 512, &noise(4, 512));
    d
}

/// Write the pattern disk to `dir/name`.
pub fn make_raw(dir: &Path, name: &str, size: usize) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pattern(size)).unwrap();
    p
}

pub fn sha_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// SHA-256 of a whole device read in odd-sized pieces (so reads cross cluster/grain/block
/// boundaries).
pub fn sha_dev(dev: &dyn BlockDev) -> String {
    let mut h = Sha256::new();
    let mut off = 0u64;
    let mut buf = vec![0u8; 1_000_448];
    while off < dev.len() {
        let n = ((dev.len() - off) as usize).min(buf.len());
        dev.read_at(off, &mut buf[..n]).unwrap();
        h.update(&buf[..n]);
        off += n as u64;
    }
    hex::encode(h.finalize())
}

/// SHA-256 and size of what `qemu-img convert -O raw` makes of `img`.
pub fn qemu_raw_sha(img: &Path) -> (String, u64) {
    qemu_raw_sha_fmt(img, None)
}

/// Same, naming the source format for qemu (a fixed VHD probes as raw otherwise).
pub fn qemu_raw_sha_fmt(img: &Path, fmt: Option<&str>) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.raw");
    let mut args = vec!["convert"];
    if let Some(f) = fmt {
        args.extend_from_slice(&["-f", f]);
    }
    args.extend_from_slice(&["-O", "raw", img.to_str().unwrap(), out.to_str().unwrap()]);
    qemu_img(dir.path(), &args);
    let b = std::fs::read(&out).unwrap();
    (sha_bytes(&b), b.len() as u64)
}

pub fn sha_file(p: &Path) -> String {
    sha_bytes(&std::fs::read(p).unwrap())
}
