//! Initramfs listing (LNX-8, LNX-3) on archives made by the real `cpio` and compressors.

use guestfix::guest::linux::initramfs::{InitramfsError, Limits, list, module_name};
use std::path::Path;
use std::process::Command;

fn sh(cmd: &str, dir: &Path) {
    let st = Command::new("bash")
        .arg("-ec")
        .arg(cmd)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

/// A tree like a Debian initramfs: modules for virtio and nvme, some binaries.
fn make_tree(dir: &Path) {
    sh(
        "mkdir -p main/usr/lib/modules/6.1.0-26-amd64/kernel/drivers/{block,nvme/host,net} main/bin main/etc early/kernel/x86/microcode
         echo ko > main/usr/lib/modules/6.1.0-26-amd64/kernel/drivers/block/virtio_blk.ko
         echo ko > main/usr/lib/modules/6.1.0-26-amd64/kernel/drivers/nvme/host/nvme.ko.xz
         echo ko > main/usr/lib/modules/6.1.0-26-amd64/kernel/drivers/net/virtio-net.ko.zst
         head -c 300000 /dev/urandom > main/bin/busybox
         ln -s busybox main/bin/sh
         echo x > main/etc/fstab
         head -c 5000 /dev/urandom > early/kernel/x86/microcode/GenuineIntel.bin",
        dir,
    );
}

fn expect_modules(files: &[String], modules: &[String]) {
    assert!(files.iter().any(|f| f == "bin/busybox"), "{files:?}");
    assert!(files.iter().any(|f| f == "bin/sh"));
    assert_eq!(modules, &["nvme", "virtio_blk", "virtio_net"]);
}

#[test]
fn every_compression_and_concatenation() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    sh(
        "cd main && find . | sort | cpio -o -H newc --quiet > ../main.cpio",
        t.path(),
    );
    sh(
        "cd early && find . | sort | cpio -o -H newc --quiet > ../early.cpio",
        t.path(),
    );
    let cases = [
        ("none", "cat main.cpio"),
        ("gzip", "gzip -9c main.cpio"),
        ("xz", "xz --check=crc32 -c main.cpio"),
        ("lzma", "xz --format=lzma -c main.cpio"),
        ("zstd", "zstd -q -c main.cpio"),
        ("lz4", "lz4 -l -q -c main.cpio"),
        ("bzip2", "bzip2 -c main.cpio"),
    ];
    for (comp, cmd) in cases {
        sh(&format!("{cmd} > main.{comp}"), t.path());
        sh(
            &format!("cat early.cpio main.{comp} > initrd.{comp}"),
            t.path(),
        );
        let data = std::fs::read(t.path().join(format!("initrd.{comp}"))).unwrap();
        let l = list(&data, &Limits::default()).unwrap_or_else(|e| panic!("{comp}: {e}"));
        assert_eq!(l.archives[0].compression, "none");
        assert!(l.files.iter().any(|f| f.ends_with("GenuineIntel.bin")));
        if comp != "none" {
            assert_eq!(l.archives.len(), 2, "{comp}: {:?}", l.archives);
            assert_eq!(l.archives[1].compression, comp);
        }
        expect_modules(&l.files, &l.modules());
    }
}

#[test]
fn odc_format_and_module_names() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    sh(
        "cd main && find . | cpio -o -H odc --quiet > ../main.odc",
        t.path(),
    );
    let l = list(
        &std::fs::read(t.path().join("main.odc")).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    expect_modules(&l.files, &l.modules());
    assert_eq!(
        module_name("a/b/xen-blkfront.ko.xz").as_deref(),
        Some("xen_blkfront")
    );
    assert_eq!(module_name("a/b/modules.dep"), None);
}

#[test]
fn bad_input_gives_typed_errors() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    sh(
        "cd main && find . | cpio -o -H newc --quiet > ../main.cpio && gzip -c ../main.cpio > ../main.gz",
        t.path(),
    );
    let cpio = std::fs::read(t.path().join("main.cpio")).unwrap();
    let gz = std::fs::read(t.path().join("main.gz")).unwrap();
    assert_eq!(
        list(&[], &Limits::default()).unwrap_err(),
        InitramfsError::Empty
    );
    assert!(matches!(
        list(b"PK\x03\x04junk", &Limits::default()),
        Err(InitramfsError::UnknownFormat { .. })
    ));
    // Truncated archive: no trailer.
    assert!(matches!(
        list(&cpio[..cpio.len() / 2], &Limits::default()),
        Err(InitramfsError::Cpio { .. })
    ));
    // Corrupt compressed data.
    let mut bad = gz.clone();
    for b in bad.iter_mut().skip(20).take(200) {
        *b ^= 0x55;
    }
    assert!(list(&bad, &Limits::default()).is_err());
    // A decompression bomb is cut at the limit.
    let small = Limits {
        max_unpacked: 10_000,
        ..Limits::default()
    };
    assert_eq!(
        list(&gz, &small).unwrap_err(),
        InitramfsError::TooLarge { limit: 10_000 }
    );
    let few = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    assert_eq!(list(&cpio, &few).unwrap_err(), InitramfsError::TooMany(3));
}
