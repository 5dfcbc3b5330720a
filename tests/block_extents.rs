//! Allocation status (`BlockDev::extents`) agrees with `qemu-img map --output=json` (which
//! ranges read as zeros without being read: qemu's `"zero": true` or `"data": false`), and the
//! parallel extent reader (`block::alloc::for_each_data`, the path of `guestfix convert`) sees
//! the same bytes as `qemu-img convert -O raw`. Fixtures are made by the real qemu-img and
//! qemu-io; the project images come from `$GUESTFIX_TEST_IMAGES`. (FMT-1: every container
//! format reads like qemu.)

mod block_util;

use block_util::*;
use guestfix::block::writer::{self, OutFormat};
use guestfix::block::{self, BlockDev, CountingDev, ExtentKind, OpenOptions, alloc};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Merge `(start, len)` ranges (sorted) into maximal runs.
fn merged(v: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, l) in v {
        if l == 0 {
            continue;
        }
        match out.last_mut() {
            Some((ls, ll)) if *ls + *ll == s => *ll += l,
            _ => out.push((s, l)),
        }
    }
    out
}

/// Ranges qemu must read (`data` and not `zero`), from `qemu-img map --output=json`.
fn qemu_data(src: &[&str]) -> Vec<(u64, u64)> {
    let mut args = vec!["map", "--output=json"];
    args.extend_from_slice(src);
    let out = qemu_img(Path::new("."), &args);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    merged(v.as_array().unwrap().iter().filter_map(|e| {
        let data = e["data"].as_bool().unwrap();
        let zero = e["zero"].as_bool().unwrap();
        (data && !zero).then(|| (e["start"].as_u64().unwrap(), e["length"].as_u64().unwrap()))
    }))
}

/// Ranges guestfix reports as data, asked in windows as a reader does.
fn our_data(dev: &dyn BlockDev) -> Vec<(u64, u64)> {
    let mut all = Vec::new();
    let mut off = 0;
    while off < dev.len() {
        let n = (dev.len() - off).min(alloc::EXTENT_WINDOW);
        let ext = dev.extents(off, n).unwrap();
        // The contract: sorted, adjacent, covering exactly the range asked.
        let mut at = off;
        for e in &ext {
            assert_eq!(e.offset, at, "{}: extents are adjacent", dev.describe());
            assert!(e.len > 0);
            at = e.end();
        }
        assert_eq!(at, off + n, "{}: extents cover the window", dev.describe());
        all.extend(ext);
        off += n;
    }
    merged(
        all.iter()
            .filter(|e| e.kind == ExtentKind::Data)
            .map(|e| (e.offset, e.len)),
    )
}

/// `qemu-img convert -O raw` of the source, into `dir`.
fn qemu_raw(dir: &Path, src: &[&str]) -> PathBuf {
    let out = dir.join("qemu.raw");
    let mut args = vec!["convert", "-O", "raw"];
    args.extend_from_slice(src);
    args.push(out.to_str().unwrap());
    qemu_img(dir, &args);
    out
}

/// Read `dev` through the parallel extent reader and compare every byte with `reference`
/// (ranges not read must be zeros there). Returns the bytes read.
fn assert_reads_like(dev: &dyn BlockDev, reference: &Path) -> u64 {
    let f = std::fs::File::open(reference).unwrap();
    assert_eq!(f.metadata().unwrap().len(), dev.len());
    let read = std::sync::atomic::AtomicU64::new(0);
    alloc::for_each_data(
        dev,
        3,
        writer::COPY_BLOCK as u64,
        &|off, data| {
            let mut want = vec![0u8; data.len()];
            f.read_exact_at(&mut want, off).unwrap();
            assert!(want == data, "{}: bytes at {off:#x}", dev.describe());
            read.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        },
        &mut |off, len| {
            let mut at = off;
            let mut buf = vec![0u8; 1 << 20];
            while at < off + len {
                let n = ((off + len - at) as usize).min(buf.len());
                f.read_exact_at(&mut buf[..n], at).unwrap();
                assert!(
                    writer::is_zero(&buf[..n]),
                    "{}: skipped range at {at:#x} is not zero in qemu's copy",
                    dev.describe()
                );
                at += n as u64;
            }
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    read.into_inner()
}

fn sum(v: &[(u64, u64)]) -> u64 {
    v.iter().map(|r| r.1).sum()
}

/// A 12 MiB raw disk with data, a written run of zeros and holes, and every container qemu-img
/// makes from it (plus a qcow2 overlay written by qemu-io).
fn fixtures(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let raw = dir.join("src.raw");
    let f = std::fs::File::create(&raw).unwrap();
    f.set_len(12 << 20).unwrap();
    f.write_all_at(&noise(1, 512 << 10), 1 << 20).unwrap();
    f.write_all_at(&noise(2, (1 << 20) - 512), (4 << 20) + 512)
        .unwrap();
    f.write_all_at(&vec![0u8; 1 << 20], 6 << 20).unwrap();
    f.write_all_at(&noise(3, 4096), (12 << 20) - 4096).unwrap();
    drop(f);
    let mut out = vec![(raw.clone(), "raw")];
    for (name, fmt, opts) in [
        ("d.qcow2", "qcow2", ""),
        ("c.qcow2", "qcow2", "-c"),
        ("fixed.vhd", "vpc", "subformat=fixed"),
        ("dyn.vhd", "vpc", ""),
        ("d.vhdx", "vhdx", "block_size=1M"),
        ("sparse.vmdk", "vmdk", ""),
        ("stream.vmdk", "vmdk", "subformat=streamOptimized"),
    ] {
        let mut args = vec!["convert", "-f", "raw", "-O", fmt];
        match opts {
            "" => {}
            "-c" => args.push("-c"),
            o => args.extend(["-o", o]),
        }
        args.extend(["src.raw", name]);
        qemu_img(dir, &args);
        out.push((dir.join(name), fmt));
    }
    // An overlay over the qcow2: one cluster written, one zeroed, the rest from the backing file.
    qemu_img(
        dir,
        &[
            "create", "-f", "qcow2", "-b", "d.qcow2", "-F", "qcow2", "ov.qcow2",
        ],
    );
    for cmd in ["write -P 0x55 3M 64k", "write -z 1M 64k"] {
        let st = Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", cmd, "ov.qcow2"])
            .current_dir(dir)
            .output()
            .expect("qemu-io is installed (Debian package qemu-utils)");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    out.push((dir.join("ov.qcow2"), "qcow2"));
    out
}

#[test]
fn extents_agree_with_qemu_img_map_on_every_format() {
    let d = tempfile::tempdir().unwrap();
    for (img, fmt) in fixtures(d.path()) {
        let dev = block::open(&img, &OpenOptions::default()).unwrap();
        let ours = our_data(&*dev);
        let qemu = qemu_data(&["-f", fmt, img.to_str().unwrap()]);
        if fmt == "vhdx" {
            // qemu's vhdx driver has no block status: it reports (and reads) the whole disk
            // as data. Ours must be a part of it that still holds every non-zero byte (checked
            // below by content).
            assert_eq!(qemu, vec![(0, dev.len())], "{}", img.display());
            assert!(sum(&ours) < dev.len(), "{}: {ours:?}", img.display());
        } else {
            assert_eq!(ours, qemu, "data ranges of {}", img.display());
        }
        // The written 1 MiB of zeros is not data in any container qemu-img wrote (it detects
        // zeros when converting), only in the raw source.
        let zeros_are_data = ours.iter().any(|&(s, l)| s <= 6 << 20 && s + l >= 7 << 20);
        assert_eq!(zeros_are_data, fmt == "raw", "{}", img.display());
        let reference = qemu_raw(d.path(), &["-f", fmt, img.to_str().unwrap()]);
        let read = assert_reads_like(&*dev, &reference);
        assert!(read < dev.len(), "{}: read {read} bytes", img.display());
        std::fs::remove_file(reference).unwrap();
    }
}

#[test]
fn overlay_extents_come_from_the_backing_file_and_its_own_clusters() {
    let d = tempfile::tempdir().unwrap();
    let all = fixtures(d.path());
    let ov = &all.last().unwrap().0;
    let dev = block::open(ov, &OpenOptions::default()).unwrap();
    let ext = dev.extents(0, dev.len()).unwrap();
    let kind_at = |o: u64| {
        ext.iter()
            .find(|e| e.offset <= o && o < e.end())
            .unwrap()
            .kind
    };
    assert_eq!(kind_at(3 << 20), ExtentKind::Data); // written in the overlay
    assert_eq!(kind_at(1 << 20), ExtentKind::Zero); // zeroed in the overlay over backing data
    assert_eq!(kind_at((1 << 20) + (64 << 10)), ExtentKind::Data); // backing data
    assert_eq!(kind_at(8 << 20), ExtentKind::Unallocated); // nowhere
}

#[test]
fn convert_skips_zero_extents_and_keeps_the_output_sparse() {
    let d = tempfile::tempdir().unwrap();
    let all = fixtures(d.path());
    let (img, _) = &all[1]; // d.qcow2
    let dev = CountingDev::new(block::open(img, &OpenOptions::default()).unwrap());
    let data = sum(&our_data(&dev));
    let out = d.path().join("out.raw");
    let stats = writer::copy_image(&dev, &out, OutFormat::Raw, &mut |_| {}).unwrap();
    // Only the data extents were read (widened to 64 KiB blocks).
    assert!(
        dev.bytes_read() <= data + 4 * (64 << 10),
        "{}",
        dev.bytes_read()
    );
    assert!(dev.bytes_read() >= data);
    assert_eq!(stats.data_bytes + stats.zero_bytes, 12 << 20);
    assert_eq!(sha_file(&out), sha_file(&d.path().join("src.raw")));
    let allocated = std::fs::metadata(&out).unwrap().blocks() * 512;
    assert!(
        allocated <= stats.data_bytes,
        "{allocated} > {}",
        stats.data_bytes
    );
    // The stream-VMDK and dynamic-VHD writers (FMT-5) skip the source's zero extents too
    // (their grains / 2 MiB blocks that hold data are read whole), and qemu reads their output
    // back as the source.
    let src_sha = sha_file(&d.path().join("src.raw"));
    for (fmt, qfmt, name, unit) in [
        (OutFormat::Vmdk, "vmdk", "out.vmdk", 64u64 << 10),
        (OutFormat::Vhd, "vpc", "out.vhd", 2 << 20),
    ] {
        let before = dev.bytes_read();
        let out = d.path().join(name);
        writer::copy_image(&dev, &out, fmt, &mut |_| {}).unwrap();
        let units: u64 = our_data(&dev)
            .iter()
            .map(|&(s, l)| (s + l).div_ceil(unit) - s / unit)
            .sum();
        let read = dev.bytes_read() - before;
        assert!(read <= units * unit, "{name}: read {read} bytes");
        let back = d.path().join(format!("{name}.raw"));
        qemu_img(
            d.path(),
            &[
                "convert",
                "-f",
                qfmt,
                "-O",
                "raw",
                name,
                back.to_str().unwrap(),
            ],
        );
        // A VHD rounds the size up to its geometry; compare the source's 12 MiB.
        let f = std::fs::OpenOptions::new().write(true).open(&back).unwrap();
        assert!(f.metadata().unwrap().len() >= 12 << 20);
        f.set_len(12 << 20).unwrap();
        drop(f);
        assert_eq!(sha_file(&back), src_sha, "{name}");
    }
}

/// The project's 2 GiB Debian image in every container format, and its OVA.
#[test]
fn project_images_extents_agree_with_qemu_and_read_like_qemu() {
    let Some(dir) = std::env::var_os("GUESTFIX_TEST_IMAGES").filter(|d| !d.is_empty()) else {
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "GUESTFIX_REQUIRE_IMAGES is set but GUESTFIX_TEST_IMAGES is not"
        );
        eprintln!("\n*** SKIPPED: GUESTFIX_TEST_IMAGES is not set; run scripts/test.sh ***\n");
        return;
    };
    let dir = PathBuf::from(dir);
    let tmp = tempfile::tempdir().unwrap();
    for (name, fmt) in [
        ("debian12-bios.raw", "raw"),
        ("debian12-bios.qcow2", "qcow2"),
        ("debian12-bios.compressed.qcow2", "qcow2"),
        ("debian12-bios.fixed.vhd", "vpc"),
        ("debian12-bios.dynamic.vhd", "vpc"),
        ("debian12-bios.sparse.vmdk", "vmdk"),
        ("debian12-bios.stream.vmdk", "vmdk"),
        ("debian12-bios.vhdx", "vhdx"),
        ("debian12-bios.ova", "ova"),
    ] {
        let img = dir.join(name);
        let (disks, info) = block::open_with_info(&img, &OpenOptions::default()).unwrap();
        let dev = &disks[0];
        // qemu reads an OVA's disk in place through its raw driver at the tar member.
        let src = match info.disks.first() {
            Some(o) => format!(
                "driver=vmdk,file.driver=raw,file.offset={},file.size={},file.file.filename={}",
                o.offset,
                o.file_size,
                img.display()
            ),
            None => img.display().to_string(),
        };
        let src_args: Vec<&str> = if fmt == "ova" {
            vec!["--image-opts", &src]
        } else {
            vec!["-f", fmt, &src]
        };
        let ours = our_data(&**dev);
        let qemu = qemu_data(&src_args);
        if fmt == "vhdx" {
            assert_eq!(
                qemu,
                vec![(0, dev.len())],
                "qemu's vhdx has no block status"
            );
            assert!(
                sum(&ours) < dev.len() / 2,
                "{name}: {} data bytes",
                sum(&ours)
            );
        } else {
            assert_eq!(ours, qemu, "data ranges of {name}");
        }
        let reference = qemu_raw(tmp.path(), &src_args);
        let read = assert_reads_like(&**dev, &reference);
        // Roughly a third of the 2 GiB disk holds data.
        assert!(read < dev.len() / 2, "{name}: read {read} bytes");
        std::fs::remove_file(reference).unwrap();
    }
}
