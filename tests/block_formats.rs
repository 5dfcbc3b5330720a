//! Every container format read through guestfix equals `qemu-img convert -O raw` of the same
//! image (whole-disk SHA-256), on fixtures made by the real qemu-img (FMT-1).

mod block_util;

use block_util::*;
use guestfix::block::{self, BlockDev, OpenOptions};
use std::path::Path;

const SIZE: usize = 6 * 1024 * 1024 + 3 * 512;

fn assert_same_as_qemu(img: &Path, format: &str, subformat: Option<&str>) {
    let opts = OpenOptions::default();
    let dev = block::open(img, &opts).unwrap();
    let qfmt = match format {
        "vhd" => Some("vpc"),
        "raw" | "ova" => None,
        f => Some(f),
    };
    let (want, want_len) = qemu_raw_sha_fmt(img, qfmt);
    assert_eq!(dev.len(), want_len, "virtual size of {}", img.display());
    assert_eq!(sha_dev(&*dev), want, "content of {}", img.display());
    let info = block::info(img, &opts).unwrap();
    assert_eq!(info.format, format);
    if let Some(s) = subformat {
        assert_eq!(info.subformat.as_deref(), Some(s));
    }
    assert_eq!(info.virtual_size, want_len);
    // A descriptor's size includes its extent files.
    assert!(info.file_size >= std::fs::metadata(img).unwrap().len());
}

fn convert(dir: &Path, extra: &[&str], out: &str) -> std::path::PathBuf {
    let src = make_raw(dir, "src.raw", SIZE);
    let mut args = vec!["convert", "-f", "raw"];
    args.extend_from_slice(extra);
    args.push(src.to_str().unwrap());
    args.push(out);
    qemu_img(dir, &args);
    dir.join(out)
}

#[test]
fn raw_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = make_raw(d.path(), "disk.img", SIZE);
    assert_same_as_qemu(&p, "raw", None);
    assert_eq!(
        sha_dev(&*block::open(&p, &OpenOptions::default()).unwrap()),
        sha_file(&p)
    );
}

#[test]
fn raw_disk_starting_with_a_tar_is_raw_not_ova() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), b"not an ovf").unwrap();
    let st = std::process::Command::new("tar")
        .args(["--format=ustar", "-cf", "disk.img", "notes.txt"])
        .current_dir(d.path())
        .status()
        .unwrap();
    assert!(st.success());
    let p = d.path().join("disk.img");
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(4 << 20).unwrap();
    assert_same_as_qemu(&p, "raw", None);
}

#[test]
fn qcow2_v3_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "qcow2"], "d.qcow2");
    assert_same_as_qemu(&p, "qcow2", Some("v3"));
}

#[test]
fn qcow2_v2_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "qcow2", "-o", "compat=0.10"], "d.qcow2");
    assert_same_as_qemu(&p, "qcow2", Some("v2"));
}

#[test]
fn qcow2_small_clusters_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "qcow2", "-o", "cluster_size=4096"],
        "d.qcow2",
    );
    assert_same_as_qemu(&p, "qcow2", Some("v3"));
}

#[test]
fn qcow2_compressed_deflate_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "qcow2", "-c"], "d.qcow2");
    assert_same_as_qemu(&p, "qcow2", Some("v3"));
}

#[test]
fn qcow2_compressed_zstd_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
        "d.qcow2",
    );
    assert_same_as_qemu(&p, "qcow2", Some("v3"));
}

#[test]
fn qcow2_zero_clusters_read_as_zeros() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "qcow2"], "d.qcow2");
    // Zero the first MiB in the image (v3 zero flag), as qemu-io would.
    let out = std::process::Command::new("qemu-io")
        .args(["-c", "write -z 0 1M", p.to_str().unwrap()])
        .output();
    if let Ok(o) = out {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dev = block::open(&p, &OpenOptions::default()).unwrap();
        let mut b = vec![1u8; 1 << 20];
        dev.read_at(0, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        assert_same_as_qemu(&p, "qcow2", Some("v3"));
    } else {
        panic!("qemu-io is part of qemu-utils and must be installed");
    }
}

#[test]
fn qcow2_backing_chain_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let base = make_raw(d.path(), "base.raw", SIZE);
    let _ = base;
    qemu_img(
        d.path(),
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "mid.qcow2",
        ],
    );
    qemu_img(
        d.path(),
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "mid.qcow2",
            "-F",
            "qcow2",
            "top.qcow2",
        ],
    );
    // Change data in the middle layer so the chain matters.
    let o = std::process::Command::new("qemu-io")
        .args(["-c", "write -P 0x5a 65536 70000", "mid.qcow2"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let top = d.path().join("top.qcow2");
    assert_same_as_qemu(&top, "qcow2", Some("v3"));
    let info = block::info(&top, &OpenOptions::default()).unwrap();
    assert_eq!(info.backing_file.as_deref(), Some("mid.qcow2"));
    assert_eq!(info.backing_format.as_deref(), Some("qcow2"));
    let dev = block::open(&top, &OpenOptions::default()).unwrap();
    let mut b = [0u8; 4];
    dev.read_at(65536 + 69_998, &mut b).unwrap();
    assert_eq!(b[..2], [0x5a, 0x5a]);
}

#[test]
fn vmdk_monolithic_sparse_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vmdk", "-o", "subformat=monolithicSparse"],
        "d.vmdk",
    );
    assert_same_as_qemu(&p, "vmdk", Some("monolithicSparse"));
}

#[test]
fn vmdk_stream_optimized_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "d.vmdk",
    );
    assert_same_as_qemu(&p, "vmdk", Some("streamOptimized"));
}

#[test]
fn vmdk_monolithic_flat_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vmdk", "-o", "subformat=monolithicFlat"],
        "d.vmdk",
    );
    assert_same_as_qemu(&p, "vmdk", Some("monolithicFlat"));
}

#[test]
fn vhd_fixed_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "vpc", "-o", "subformat=fixed"], "d.vhd");
    assert_same_as_qemu(&p, "vhd", Some("fixed"));
}

#[test]
fn vhd_dynamic_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "vpc", "-o", "subformat=dynamic"], "d.vhd");
    assert_same_as_qemu(&p, "vhd", Some("dynamic"));
}

#[test]
fn vhd_dynamic_force_size_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
        "d.vhd",
    );
    assert_same_as_qemu(&p, "vhd", Some("dynamic"));
}

#[test]
fn vhdx_dynamic_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vhdx", "-o", "subformat=dynamic"],
        "d.vhdx",
    );
    assert_same_as_qemu(&p, "vhdx", Some("dynamic"));
}

#[test]
fn vhdx_small_blocks_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(
        d.path(),
        &["-O", "vhdx", "-o", "subformat=dynamic,block_size=1M"],
        "d.vhdx",
    );
    assert_same_as_qemu(&p, "vhdx", Some("dynamic"));
}

#[test]
fn vhdx_fixed_reads_like_qemu() {
    let d = tempfile::tempdir().unwrap();
    let p = convert(d.path(), &["-O", "vhdx", "-o", "subformat=fixed"], "d.vhdx");
    assert_same_as_qemu(&p, "vhdx", Some("fixed"));
}

/// Every image in `$GUESTFIX_TEST_IMAGES` (the project's built test images) reads like qemu.
#[test]
fn project_test_images_read_like_qemu() {
    let Ok(dir) = std::env::var("GUESTFIX_TEST_IMAGES") else {
        return;
    };
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "qcow2" | "vmdk" | "vhd" | "vhdx" | "ova") {
            continue;
        }
        let disks = block::open_all(&p, &OpenOptions::default()).unwrap();
        if ext == "ova" {
            // qemu reads an OVA's first member only through a raw offset; compare each disk
            // against qemu on the extracted member instead.
            let info = block::info(&p, &OpenOptions::default()).unwrap();
            let t = tempfile::tempdir().unwrap();
            let bytes = std::fs::read(&p).unwrap();
            for (disk, di) in disks.iter().zip(&info.disks) {
                let m = t.path().join(&di.href);
                std::fs::write(
                    &m,
                    &bytes[di.offset as usize..(di.offset + di.file_size) as usize],
                )
                .unwrap();
                assert_eq!(
                    sha_dev(&**disk),
                    qemu_raw_sha(&m).0,
                    "{}:{}",
                    p.display(),
                    di.href
                );
            }
        } else {
            let f = if ext == "vhd" { "vpc" } else { ext };
            assert_eq!(
                sha_dev(&*disks[0]),
                qemu_raw_sha_fmt(&p, Some(f)).0,
                "{}",
                p.display()
            );
        }
        n += 1;
    }
    assert!(n > 0, "GUESTFIX_TEST_IMAGES={dir} holds no image");
}

/// Readers work from bytes: every container opened from a MemDisk reads like the file.
#[test]
fn containers_open_from_memory() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-O", "qcow2", "-c"], "m.qcow2", "qcow2"),
        (
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
            "m.vmdk",
            "vmdk",
        ),
        (&["-O", "vpc"], "m.vhd", "vpc"),
        (&["-O", "vhdx"], "m.vhdx", "vhdx"),
    ];
    for (args, name, qfmt) in cases {
        let p = convert(d.path(), args, name);
        let mem = std::sync::Arc::new(block::raw::MemDisk::new(name, std::fs::read(&p).unwrap()));
        let counted = std::sync::Arc::new(block::CountingDev::new(mem));
        let stats = counted.stats();
        let (disks, info) = block::open_dev(counted).unwrap();
        assert_eq!(
            sha_dev(&*disks[0]),
            qemu_raw_sha_fmt(&p, Some(qfmt)).0,
            "{name}"
        );
        assert_eq!(info.virtual_size, disks[0].len());
        // The counter saw the container file being read.
        assert!(stats.reads() > 0 && stats.bytes() > 0, "{name}");
    }
}
