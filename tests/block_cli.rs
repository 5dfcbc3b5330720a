//! `guestfix convert`: output equals the source as qemu reads it; exit codes 0/1/2; --json.

mod block_util;

use block_util::*;
use std::process::Command;

fn guestfix(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn convert_vhdx_to_raw_and_qcow2() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_raw(d, "src.raw", 5 << 20);
    qemu_img(
        d,
        &["convert", "-f", "raw", "-O", "vhdx", "src.raw", "s.vhdx"],
    );
    let s = d.join("s.vhdx");
    let raw = d.join("o.raw");
    let (code, out, err) = guestfix(&[
        "convert",
        s.to_str().unwrap(),
        raw.to_str().unwrap(),
        "--format",
        "raw",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["source_format"], "vhdx");
    assert_eq!(v["format"], "raw");
    assert_eq!(v["virtual_size"], 5 << 20);
    assert_eq!(sha_file(&raw), sha_file(&d.join("src.raw")));

    let q = d.join("o.qcow2");
    let (code, out, err) = guestfix(&["convert", s.to_str().unwrap(), q.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("vhdx"), "{out}");
    qemu_img(d, &["check", "o.qcow2"]);
    assert_eq!(qemu_raw_sha(&q).0, sha_file(&d.join("src.raw")));

    // Stream-optimized VMDK (FMT-5 export format).
    let v = d.join("o.vmdk");
    let (code, _, err) = guestfix(&[
        "convert",
        s.to_str().unwrap(),
        v.to_str().unwrap(),
        "--format",
        "vmdk",
    ]);
    assert_eq!(code, 0, "{err}");
    qemu_img(d, &["check", "o.vmdk"]);
    assert_eq!(qemu_raw_sha(&v).0, sha_file(&d.join("src.raw")));
}

#[test]
fn convert_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Unknown output format: usage (2).
    make_raw(d, "src.raw", 4 << 20);
    let s = d.join("src.raw");
    let o = d.join("o");
    let (code, _, err) = guestfix(&[
        "convert",
        s.to_str().unwrap(),
        o.to_str().unwrap(),
        "--format",
        "vdi",
    ]);
    assert_eq!(code, 2, "{err}");
    // Missing file: host I/O error (2).
    let (code, _, _) = guestfix(&[
        "convert",
        d.join("nope").to_str().unwrap(),
        o.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    // Damaged image: exit 1 naming the reason.
    qemu_img(
        d,
        &["convert", "-f", "raw", "-O", "vpc", "src.raw", "d.vhd"],
    );
    let mut b = std::fs::read(d.join("d.vhd")).unwrap();
    b[24] ^= 0xff;
    std::fs::write(d.join("d.vhd"), b).unwrap();
    let (code, _, err) = guestfix(&[
        "convert",
        d.join("d.vhd").to_str().unwrap(),
        o.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("footers are not identical"), "{err}");
}
