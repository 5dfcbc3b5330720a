//! The qcow2 overlay writer: writes land in a new qcow2 backed by the source (never touched);
//! `qemu-img check` passes, `qemu-img map`/`compare` show exactly the written clusters.
//! Full-copy writers (raw sparse, qcow2) reproduce the disk.

mod block_util;

use block_util::*;
use guestfix::block::writer::{self, OutFormat, Qcow2Writer};
use guestfix::block::{self, BlockDev, OpenOptions, WritableDev};
use std::path::Path;
use std::process::Command;

const SIZE: usize = 6 << 20;

fn qemu_status(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new("qemu-img")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Guest ranges the overlay itself holds (depth 0 data), from `qemu-img map --output=json`.
fn own_ranges(dir: &Path, img: &str) -> Vec<(u64, u64)> {
    let out = qemu_img(dir, &["map", "--output=json", img]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["depth"] == 0 && e["data"] == true)
        .map(|e| (e["start"].as_u64().unwrap(), e["length"].as_u64().unwrap()))
        .collect()
}

fn overlay_over(src_name: &str, src_fmt_args: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_raw(d, "src.raw", SIZE);
    let src = if src_fmt_args.is_empty() {
        d.join("src.raw")
    } else {
        let mut a = vec!["convert", "-f", "raw"];
        a.extend_from_slice(src_fmt_args);
        a.extend_from_slice(&["src.raw", src_name]);
        qemu_img(d, &a);
        d.join(src_name)
    };
    let src_hash = sha_file(&src);
    let out = d.join("overlay.qcow2");
    let w = writer::create_overlay(&src, &out, &OpenOptions::default()).unwrap();
    // Untouched overlay reads like the source.
    let mut expect = pattern(SIZE);
    // Partial-cluster write (copy-on-write of the rest), a write spanning two clusters, and
    // a full cluster of zeros at the end.
    w.write_at(70_000, b"hello overlay").unwrap();
    w.write_at(2 * 65536 - 10, &[0xab; 20]).unwrap();
    w.write_at(SIZE as u64 - 65536, &[0u8; 65536]).unwrap();
    expect[70_000..70_013].copy_from_slice(b"hello overlay");
    expect[2 * 65536 - 10..2 * 65536 + 10].fill(0xab);
    expect[SIZE - 65536..].fill(0);
    let mut b = [0u8; 13];
    w.read_at(70_000, &mut b).unwrap();
    assert_eq!(&b, b"hello overlay");
    assert_eq!(
        w.allocated_clusters().unwrap(),
        vec![1, 2, (SIZE as u64 / 65536) - 1]
    );
    w.finish().unwrap();

    // qemu agrees the image is consistent.
    let (code, msg) = qemu_status(d, &["check", "overlay.qcow2"]);
    assert_eq!(code, 0, "qemu-img check: {msg}");
    // The overlay holds exactly the written clusters.
    assert_eq!(
        own_ranges(d, "overlay.qcow2"),
        vec![(65536, 2 * 65536), (SIZE as u64 - 65536, 65536)]
    );
    // It differs from the source, first at the sector of the first written byte.
    let (code, msg) = qemu_status(d, &["compare", src.to_str().unwrap(), "overlay.qcow2"]);
    assert_eq!(code, 1, "{msg}");
    assert!(
        msg.contains(&format!("offset {}!", 70_000 / 512 * 512)),
        "{msg}"
    );
    // Full content = source with our writes, as qemu reads it and as guestfix reads it.
    assert_eq!(qemu_raw_sha(&out).0, sha_bytes(&expect));
    let back = block::open(&out, &OpenOptions::default()).unwrap();
    assert_eq!(sha_dev(&*back), sha_bytes(&expect));
    // The source is untouched.
    assert_eq!(sha_file(&src), src_hash);
}

#[test]
fn overlay_over_raw_source() {
    overlay_over("src.raw", &[]);
}

#[test]
fn overlay_over_qcow2_source() {
    overlay_over("src.qcow2", &["-O", "qcow2"]);
}

#[test]
fn overlay_over_stream_vmdk_source() {
    overlay_over(
        "src.vmdk",
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
    );
}

#[test]
fn overlay_with_no_writes_compares_identical() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = make_raw(d, "src.raw", SIZE);
    let out = d.join("o.qcow2");
    writer::create_overlay(&src, &out, &OpenOptions::default())
        .unwrap()
        .finish()
        .unwrap();
    let (code, msg) = qemu_status(d, &["compare", "src.raw", "o.qcow2"]);
    assert_eq!(code, 0, "{msg}");
    assert_eq!(qemu_status(d, &["check", "o.qcow2"]).0, 0);
    assert!(own_ranges(d, "o.qcow2").is_empty());
}

#[test]
fn overlay_with_many_l2_tables_passes_check() {
    // 2 GiB virtual, writes in 5 different L2 ranges (512 MiB each), more writes after a flush.
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    qemu_img(d, &["create", "-f", "raw", "big.raw", "2G"]);
    let out = d.join("o.qcow2");
    let w = writer::create_overlay(&d.join("big.raw"), &out, &OpenOptions::default()).unwrap();
    for i in 0..4u64 {
        w.write_at(i * (512 << 20) + 4096, &noise(i, 3 << 20))
            .unwrap();
    }
    w.write_at((2u64 << 30) - 512, &[9u8; 512]).unwrap();
    w.flush().unwrap();
    // More writes after a flush are fine too.
    w.write_at(1 << 20, &[1u8; 100]).unwrap();
    drop(w);
    let (code, msg) = qemu_status(d, &["check", "o.qcow2"]);
    assert_eq!(code, 0, "{msg}");
    let dev = block::open(&out, &OpenOptions::default()).unwrap();
    let mut b = vec![0u8; 3 << 20];
    dev.read_at(3 * (512 << 20) + 4096, &mut b).unwrap();
    assert_eq!(b, noise(3, 3 << 20));
}

#[test]
fn full_copy_raw_and_qcow2_reproduce_the_disk() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_raw(d, "src.raw", SIZE);
    qemu_img(
        d,
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            "src.raw",
            "s.vmdk",
        ],
    );
    let src = block::open(&d.join("s.vmdk"), &OpenOptions::default()).unwrap();
    let want = sha_file(&d.join("src.raw"));

    let mut last = 0;
    let st =
        writer::copy_image(&*src, &d.join("o.raw"), OutFormat::Raw, &mut |n| last = n).unwrap();
    assert_eq!(last, SIZE as u64);
    assert_eq!(sha_file(&d.join("o.raw")), want);
    assert_eq!(st.data_bytes + st.zero_bytes, SIZE as u64);
    // Sparse: far fewer blocks on disk than the virtual size.
    let blocks =
        std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(d.join("o.raw")).unwrap());
    assert!(
        blocks * 512 < SIZE as u64 / 2,
        "raw output is not sparse ({blocks} blocks)"
    );

    let st = writer::copy_image(&*src, &d.join("o.qcow2"), OutFormat::Qcow2, &mut |_| {}).unwrap();
    assert_eq!(qemu_status(d, &["check", "o.qcow2"]).0, 0);
    assert_eq!(qemu_raw_sha(&d.join("o.qcow2")).0, want);
    let allocated: u64 = own_ranges(d, "o.qcow2").iter().map(|r| r.1).sum();
    assert_eq!(allocated, st.data_bytes);
    assert!(allocated < SIZE as u64 / 2);
    let _ = Qcow2Writer::create_standalone; // the API used by copy_image
}

#[test]
fn full_copy_to_stream_optimized_vmdk() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // A size that is not a whole number of grains.
    let size = SIZE + 3 * 512;
    std::fs::write(d.join("src.raw"), pattern(size)).unwrap();
    qemu_img(
        d,
        &["convert", "-f", "raw", "-O", "qcow2", "src.raw", "s.qcow2"],
    );
    let src = block::open(&d.join("s.qcow2"), &OpenOptions::default()).unwrap();
    let out = d.join("o.vmdk");
    let st = writer::copy_image(&*src, &out, OutFormat::Vmdk, &mut |_| {}).unwrap();
    assert!(st.data_bytes < size as u64 / 2, "zero grains are left out");
    let (code, msg) = qemu_status(d, &["check", "o.vmdk"]);
    assert_eq!(code, 0, "qemu-img check: {msg}");
    let info = qemu_img(d, &["info", "o.vmdk"]);
    assert!(info.contains("create type: streamOptimized"), "{info}");
    // qemu reads back exactly the source (its size rounded up to a whole sector: same here).
    assert_eq!(
        qemu_raw_sha(&out),
        (sha_file(&d.join("src.raw")), size as u64)
    );
    // And so does guestfix (through the footer: the header says GD_AT_END).
    let back = block::open(&out, &OpenOptions::default()).unwrap();
    assert_eq!(sha_dev(&*back), sha_file(&d.join("src.raw")));
    assert_eq!(
        block::info(&out, &OpenOptions::default())
            .unwrap()
            .subformat
            .as_deref(),
        Some("streamOptimized")
    );
}

#[test]
fn full_copy_to_dynamic_vhd() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let size = SIZE + 7 * 512;
    let src_bytes = pattern(size);
    std::fs::write(d.join("src.raw"), &src_bytes).unwrap();
    let src = block::open(&d.join("src.raw"), &OpenOptions::default()).unwrap();
    let out = d.join("o.vhd");
    let st = writer::copy_image(&*src, &out, OutFormat::Vhd, &mut |_| {}).unwrap();
    assert!(st.zero_bytes > 0);
    // qemu reads it as a VHD; the size is rounded up to whole CHS geometry, padded with zeros.
    let info = qemu_img(d, &["info", "-f", "vpc", "--output=json", "o.vhd"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    let vsize = v["virtual-size"].as_u64().unwrap();
    assert!(
        vsize >= size as u64 && vsize < size as u64 + (1 << 20),
        "{vsize}"
    );
    let mut expect = src_bytes.clone();
    expect.resize(vsize as usize, 0);
    assert_eq!(
        qemu_raw_sha_fmt(&out, Some("vpc")),
        (sha_bytes(&expect), vsize)
    );
    // guestfix reads it back the same, and the two footers are identical (FMT-3).
    let back = block::open(&out, &OpenOptions::default()).unwrap();
    assert_eq!(back.len(), vsize);
    assert_eq!(sha_dev(&*back), sha_bytes(&expect));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes[..512], bytes[bytes.len() - 512..]);
    // Zero blocks are not stored.
    assert!((bytes.len() as u64) < vsize);
}

#[test]
fn full_copy_to_fixed_vhd() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let size = SIZE + 7 * 512;
    let src_bytes = pattern(size);
    std::fs::write(d.join("src.raw"), &src_bytes).unwrap();
    let src = block::open(&d.join("src.raw"), &OpenOptions::default()).unwrap();
    let out = d.join("f.vhd");
    let st = writer::copy_image(&*src, &out, OutFormat::VhdFixed, &mut |_| {}).unwrap();
    assert!(st.zero_bytes > 0);
    assert_eq!(st.data_bytes + st.zero_bytes, size as u64);
    // qemu reads it as a fixed VHD, rounded up to whole CHS geometry like the dynamic one.
    let info = qemu_img(d, &["info", "-f", "vpc", "--output=json", "f.vhd"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    let vsize = v["virtual-size"].as_u64().unwrap();
    assert!(
        vsize >= size as u64 && vsize < size as u64 + (1 << 20),
        "{vsize}"
    );
    let mut expect = src_bytes.clone();
    expect.resize(vsize as usize, 0);
    assert_eq!(
        qemu_raw_sha_fmt(&out, Some("vpc")),
        (sha_bytes(&expect), vsize)
    );
    // guestfix reads it back as a fixed VHD of the same bytes; the file is the disk + footer.
    let (disks, info) = block::open_with_info(&out, &OpenOptions::default()).unwrap();
    assert_eq!(
        (info.format.as_str(), info.subformat.as_deref()),
        ("vhd", Some("fixed"))
    );
    assert_eq!(disks[0].len(), vsize);
    assert_eq!(sha_dev(&*disks[0]), sha_bytes(&expect));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), vsize + 512);
    // qemu-img compare agrees with the source (the geometry padding reads as zeros).
    let o = std::process::Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "vpc"])
        .arg(d.join("src.raw"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn full_copy_to_vhdx() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Three 32 MiB blocks: data, zeros only (not stored), data in a partial last block.
    let size = (64 << 20) + 7 * 512;
    let mut src_bytes = pattern(SIZE);
    src_bytes.resize(size, 0);
    src_bytes[size - 3000..size - 1000].copy_from_slice(&noise(9, 2000));
    std::fs::write(d.join("src.raw"), &src_bytes).unwrap();
    let src = block::open(&d.join("src.raw"), &OpenOptions::default()).unwrap();
    let out = d.join("o.vhdx");
    let st = writer::copy_image(&*src, &out, OutFormat::Vhdx, &mut |_| {}).unwrap();
    assert_eq!(st.data_bytes, (32 << 20) + 7 * 512);
    assert_eq!(st.data_bytes + st.zero_bytes, size as u64);
    // qemu-img: consistent, and the same disk as the source.
    qemu_img(d, &["check", "-f", "vhdx", "o.vhdx"]);
    qemu_img(
        d,
        &["compare", "-f", "raw", "-F", "vhdx", "src.raw", "o.vhdx"],
    );
    assert_eq!(
        qemu_raw_sha_fmt(&out, Some("vhdx")),
        (sha_bytes(&src_bytes), size as u64)
    );
    // Our reader, too; the zero block is not stored.
    let (disks, info) = block::open_with_info(&out, &OpenOptions::default()).unwrap();
    assert_eq!(info.format, "vhdx");
    assert_eq!(sha_dev(&*disks[0]), sha_bytes(&src_bytes));
    assert!(std::fs::metadata(&out).unwrap().len() < (3 * 32 + 8) << 20);
}
