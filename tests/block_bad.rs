//! Bad input: each damaged image gives the typed error naming the on-disk reason (never a
//! panic). Fixtures are made by qemu-img and then damaged at known offsets.

mod block_util;

use block_util::*;
use guestfix::block::{self, BlockDev, BlockError, OpenOptions};
use guestfix::check;
use std::path::{Path, PathBuf};

const SIZE: usize = 4 << 20;

fn made(dir: &Path, extra: &[&str], out: &str) -> PathBuf {
    make_raw(dir, "src.raw", SIZE);
    let mut args = vec!["convert", "-f", "raw"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["src.raw", out]);
    qemu_img(dir, &args);
    dir.join(out)
}

fn patch(p: &Path, off: usize, bytes: &[u8]) {
    let mut d = std::fs::read(p).unwrap();
    d[off..off + bytes.len()].copy_from_slice(bytes);
    std::fs::write(p, d).unwrap();
}

fn truncate(p: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Open and read the whole disk; the first error.
fn open_and_read(p: &Path) -> Result<(), BlockError> {
    let dev = block::open(p, &OpenOptions::default())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < dev.len() {
        let n = ((dev.len() - off) as usize).min(buf.len());
        dev.read_at(off, &mut buf[..n])?;
        off += n as u64;
    }
    Ok(())
}

#[test]
fn empty_file_has_an_invalid_format() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("empty.img");
    std::fs::write(&p, b"").unwrap();
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::InvalidFormat { .. }));
    assert!(
        e.to_string()
            .contains("disk-image-size = 0 has an invalid format"),
        "{e}"
    );
}

#[test]
fn truncated_qcow2_header() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    truncate(&p, 60);
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::Truncated { .. }), "{e}");
}

#[test]
fn truncated_qcow2_data() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    let len = std::fs::metadata(&p).unwrap().len();
    truncate(&p, len / 2);
    let e = open_and_read(&p).err().unwrap();
    assert!(matches!(e, BlockError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("qcow2"), "{e}");
}

#[test]
fn truncated_stream_vmdk() {
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "d.vmdk",
    );
    let len = std::fs::metadata(&p).unwrap().len();
    truncate(&p, len / 2);
    let e = open_and_read(&p).err().unwrap();
    assert!(matches!(e, BlockError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("VMDK"), "{e}");
}

#[test]
fn truncated_vhdx() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vhdx"], "d.vhdx");
    truncate(&p, 200 << 10);
    let e = open_and_read(&p).err().unwrap();
    assert!(matches!(e, BlockError::Truncated { .. }), "{e}");
}

#[test]
fn truncated_dynamic_vhd_loses_its_footer() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vpc"], "d.vhd");
    let len = std::fs::metadata(&p).unwrap().len();
    truncate(&p, len - 1000);
    let e = open_and_read(&p).err().unwrap();
    assert!(matches!(e, BlockError::FooterMismatch { .. }), "{e}");
}

#[test]
fn wrong_magic_qcow2_is_no_longer_qcow2() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    patch(&p, 0, b"QFJ\xfb");
    let info = block::info(&p, &OpenOptions::default()).unwrap();
    assert_eq!(info.format, "raw");
}

#[test]
fn vhdx_with_both_headers_damaged() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vhdx"], "d.vhdx");
    patch(&p, 64 << 10, b"HEAD");
    patch(&p, 128 << 10, b"HEAD");
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::Checksum { .. }), "{e}");
}

#[test]
fn vhdx_with_one_header_damaged_still_reads() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vhdx"], "d.vhdx");
    patch(&p, (64 << 10) + 8, &[0xff; 4]); // sequence number: CRC now wrong
    let dev = block::open(&p, &OpenOptions::default()).unwrap();
    assert_eq!(sha_dev(&*dev), sha_file(&t.path().join("src.raw")));
}

#[test]
fn qcow2_l1_table_past_the_end() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    patch(&p, 40, &(1u64 << 40).to_be_bytes());
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(
        matches!(e, BlockError::Truncated { ref what, .. } if what == "qcow2 L1 table"),
        "{e}"
    );
}

#[test]
fn qcow2_l1_table_claiming_gigabytes() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    patch(&p, 36, &0x1000_0000u32.to_be_bytes()); // 2 GiB of L1 entries
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::TooLarge { .. }), "{e}");
}

#[test]
fn qcow2_l2_entry_past_the_end() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "qcow2"], "d.qcow2");
    let d = std::fs::read(&p).unwrap();
    let l1_off = u64::from_be_bytes(d[40..48].try_into().unwrap()) as usize;
    let l2_off = (u64::from_be_bytes(d[l1_off..l1_off + 8].try_into().unwrap())
        & 0x00ff_ffff_ffff_fe00) as usize;
    assert!(l2_off != 0);
    patch(&p, l2_off, &((1u64 << 40) | (1 << 63)).to_be_bytes());
    let dev = block::open(&p, &OpenOptions::default()).unwrap();
    let mut b = [0u8; 512];
    let e = dev.read_at(0, &mut b).err().unwrap();
    assert!(
        matches!(e, BlockError::Truncated { ref what, offset, .. } if what == "qcow2 data cluster" && offset == 1 << 40),
        "{e}"
    );
    // Other clusters still read.
    dev.read_at(3 << 20, &mut b).unwrap();
}

#[test]
fn vmdk_capacity_claiming_terabytes_of_grain_directory() {
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vmdk", "-o", "subformat=monolithicSparse"],
        "d.vmdk",
    );
    // capacity = 32 TiB in sectors: a grain directory of 256 MiB.
    patch(&p, 12, &((32u64 << 40) / 512).to_le_bytes());
    patch(&p, 44, &1u32.to_le_bytes()); // one entry per grain table
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::TooLarge { .. }), "{e}");
}

#[test]
fn vhd_bat_past_the_end() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vpc"], "d.vhd");
    // Dynamic header at 512: table offset at +16; fix the header checksum at +36.
    let mut d = std::fs::read(&p).unwrap();
    d[512 + 16..512 + 24].copy_from_slice(&(1u64 << 40).to_be_bytes());
    let sum: u32 = d[512..1536]
        .iter()
        .enumerate()
        .filter(|(i, _)| !(36..40).contains(i))
        .map(|(_, &b)| b as u32)
        .sum();
    d[512 + 36..512 + 40].copy_from_slice(&(!sum).to_be_bytes());
    std::fs::write(&p, d).unwrap();
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(
        matches!(e, BlockError::Truncated { ref what, .. } if what == "VHD BAT"),
        "{e}"
    );
}

#[test]
fn vhd_footer_copy_differs_footers_are_not_identical() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vpc", "-o", "subformat=dynamic"], "d.vhd");
    patch(&p, 24, &[0x12, 0x34, 0x56, 0x78]); // timestamp of the header copy
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::FooterMismatch { .. }));
    assert!(e.to_string().contains("footers are not identical"), "{e}");
}

#[test]
fn vmdk_grain_inflating_to_wrong_length() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "d.vmdk",
    );
    let d = std::fs::read(&p).unwrap();
    let overhead = u64::from_le_bytes(d[64..72].try_into().unwrap()) as usize * 512;
    assert_eq!(
        u64::from_le_bytes(d[overhead..overhead + 8].try_into().unwrap()),
        0,
        "first grain is LBA 0"
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&[7u8; 1000]).unwrap();
    let short = z.finish().unwrap();
    patch(&p, overhead + 8, &(short.len() as u32).to_le_bytes());
    patch(&p, overhead + 12, &short);
    let dev = block::open(&p, &OpenOptions::default()).unwrap();
    let mut b = [0u8; 512];
    let e = dev.read_at(0, &mut b).err().unwrap();
    assert!(
        matches!(
            e,
            BlockError::GrainLength {
                got: 1000,
                expected: 65536,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("uncompressed data has an invalid length")
    );
}

/// Rewrite a qemu stream-optimized VMDK the way ESX streams it: header GD offset = GD_AT_END
/// (-1) and the real header in a footer (footer marker, footer, end-of-stream marker).
fn gd_at_end(p: &Path) {
    let mut d = std::fs::read(p).unwrap();
    let header = d[..512].to_vec();
    d[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut marker = vec![0u8; 512];
    marker[0..8].copy_from_slice(&1u64.to_le_bytes());
    marker[12..16].copy_from_slice(&3u32.to_le_bytes()); // MARKER_FOOTER
    d.extend_from_slice(&marker);
    d.extend_from_slice(&header);
    d.extend_from_slice(&[0u8; 512]); // MARKER_EOS
    std::fs::write(p, d).unwrap();
}

#[test]
fn vmdk_stream_footer_gd_at_end_reads() {
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "d.vmdk",
    );
    gd_at_end(&p);
    let dev = block::open(&p, &OpenOptions::default()).unwrap();
    assert_eq!(sha_dev(&*dev), sha_file(&t.path().join("src.raw")));
    assert_eq!(sha_dev(&*dev), qemu_raw_sha(&p).0);
}

#[test]
fn vmdk_stream_footer_with_bad_magic() {
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "d.vmdk",
    );
    gd_at_end(&p);
    let len = std::fs::metadata(&p).unwrap().len() as usize;
    patch(&p, len - 1024, b"XXXX");
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(
        e.to_string()
            .contains("VMDK footer (GD_AT_END) has a bad magic"),
        "{e}"
    );
}

#[test]
fn split_vmdk_is_an_unsupported_vmdk_file_format() {
    let t = tempfile::tempdir().unwrap();
    for sub in ["twoGbMaxExtentSparse", "twoGbMaxExtentFlat"] {
        qemu_img(
            t.path(),
            &[
                "create",
                "-f",
                "vmdk",
                "-o",
                &format!("subformat={sub}"),
                "s.vmdk",
                "10M",
            ],
        );
        let e = block::open(&t.path().join("s.vmdk"), &OpenOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(e, BlockError::UnsupportedVmdk { ref create_type, .. } if create_type == sub),
            "{e}"
        );
        assert!(e.to_string().contains("unsupported VMDK file format"));
        // `check` refuses it as a disk split into several files (FMT-2), with the error as evidence.
        let r = check::image_error_report("s.vmdk", &e.to_string(), &ec2());
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "FMT-2", "{sub}: {:?}", r.findings[0]);
        assert_eq!(r.findings[0].severity, check::Severity::Blocker);
        assert!(
            r.findings[0].evidence.iter().any(|v| v.contains(sub)),
            "{:?}",
            r.findings[0]
        );
    }
}

fn ec2() -> guestfix::rules::Profile {
    guestfix::rules::RulesSource::Embedded.load("ec2").unwrap()
}

#[test]
fn sesparse_vmdk_is_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("d.vmdk"),
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"seSparse\"\n\n# Extent description\nRW 20480 SESPARSE \"d-sesparse.vmdk\"\n",
    )
    .unwrap();
    std::fs::write(t.path().join("d-sesparse.vmdk"), vec![0u8; 4096]).unwrap();
    let e = block::open(&t.path().join("d.vmdk"), &OpenOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(e, BlockError::UnsupportedVmdk { ref create_type, .. } if create_type == "seSparse"),
        "{e}"
    );
    let r = check::image_error_report("d.vmdk", &e.to_string(), &ec2());
    assert_eq!(r.findings[0].id, "FMT-2", "{:?}", r.findings[0]);
}

#[test]
fn encrypted_qcow2_is_refused() {
    let t = tempfile::tempdir().unwrap();
    qemu_img(
        t.path(),
        &[
            "create",
            "-f",
            "qcow2",
            "--object",
            "secret,id=s,data=x",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=s",
            "e.qcow2",
            "8M",
        ],
    );
    let e = block::open(&t.path().join("e.qcow2"), &OpenOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, BlockError::Encrypted { .. }), "{e}");
    assert!(e.to_string().contains("LUKS"));
}

#[test]
fn backing_chain_loop_is_refused() {
    let t = tempfile::tempdir().unwrap();
    qemu_img(
        t.path(),
        &[
            "create", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", "8M",
        ],
    );
    qemu_img(
        t.path(),
        &[
            "create", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "8M",
        ],
    );
    let e = block::open(&t.path().join("a.qcow2"), &OpenOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(e, BlockError::BackingLoop { ref backing, .. } if backing.ends_with("a.qcow2")),
        "{e}"
    );
}

#[test]
fn backing_chain_deeper_than_the_bound_is_refused() {
    let t = tempfile::tempdir().unwrap();
    qemu_img(t.path(), &["create", "-f", "qcow2", "l0.qcow2", "1M"]);
    let depth = block::MAX_BACKING_DEPTH + 2;
    for i in 1..=depth {
        qemu_img(
            t.path(),
            &[
                "create",
                "-f",
                "qcow2",
                "-u",
                "-b",
                &format!("l{}.qcow2", i - 1),
                "-F",
                "qcow2",
                &format!("l{i}.qcow2"),
                "1M",
            ],
        );
    }
    let e = block::open(
        &t.path().join(format!("l{depth}.qcow2")),
        &OpenOptions::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, BlockError::BackingTooDeep { .. }), "{e}");
    // A chain within the bound opens.
    block::open(&t.path().join("l5.qcow2"), &OpenOptions::default()).unwrap();
}

#[test]
fn backing_outside_the_folder_needs_permission() {
    let t = tempfile::tempdir().unwrap();
    make_raw(t.path(), "base.raw", SIZE);
    std::fs::create_dir(t.path().join("sub")).unwrap();
    qemu_img(
        &t.path().join("sub"),
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "../base.raw",
            "-F",
            "raw",
            "top.qcow2",
        ],
    );
    let top = t.path().join("sub/top.qcow2");
    let e = block::open(&top, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::BackingOutside { .. }), "{e}");
    let opts = OpenOptions {
        allow_outside_backing: true,
    };
    let dev = block::open(&top, &opts).unwrap();
    assert_eq!(sha_dev(&*dev), sha_file(&t.path().join("base.raw")));
}

#[test]
fn image_from_memory_cannot_open_backing_files() {
    let t = tempfile::tempdir().unwrap();
    make_raw(t.path(), "base.raw", SIZE);
    qemu_img(
        t.path(),
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "top.qcow2",
        ],
    );
    let bytes = std::fs::read(t.path().join("top.qcow2")).unwrap();
    let mem = std::sync::Arc::new(guestfix::block::raw::MemDisk::new("mem", bytes));
    let e = block::open_dev(mem).err().unwrap();
    assert!(matches!(e, BlockError::BackingUnavailable { .. }), "{e}");
}

#[test]
fn tar_member_claiming_a_terabyte() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("vm.ovf"), "<Envelope/>").unwrap();
    let st = std::process::Command::new("tar")
        .args(["--format=ustar", "-cf", "vm.ova", "vm.ovf"])
        .current_dir(t.path())
        .status()
        .unwrap();
    assert!(st.success());
    let p = t.path().join("vm.ova");
    // size field = 10000000000000 octal (~1 TiB), checksum recomputed.
    let mut d = std::fs::read(&p).unwrap();
    d[124..136].copy_from_slice(b"20000000000\0");
    d[148..156].copy_from_slice(b"        ");
    let sum: u32 = d[..512].iter().map(|&b| b as u32).sum();
    d[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    std::fs::write(&p, d).unwrap();
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::Truncated { .. }), "{e}");
}

fn vhd_sum(b: &[u8], field: usize) -> u32 {
    let s: u32 = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(field..field + 4).contains(i))
        .map(|(_, &x)| x as u32)
        .sum();
    !s
}

#[test]
fn differencing_vhd_names_its_parent() {
    let t = tempfile::tempdir().unwrap();
    let p = made(
        t.path(),
        &["-O", "vpc", "-o", "subformat=dynamic"],
        "child.vhd",
    );
    let mut d = std::fs::read(&p).unwrap();
    let len = d.len();
    // Disk type 4 (differencing) in both footers, checksums recomputed.
    for base in [0, len - 512] {
        d[base + 60..base + 64].copy_from_slice(&4u32.to_be_bytes());
        let s = vhd_sum(&d[base..base + 512], 64);
        d[base + 64..base + 68].copy_from_slice(&s.to_be_bytes());
    }
    // Parent unicode name in the dynamic header (at the footer's data offset).
    let dh = u64::from_be_bytes(d[16..24].try_into().unwrap()) as usize;
    let name: Vec<u8> = "parent.vhd"
        .encode_utf16()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    d[dh + 64..dh + 64 + name.len()].copy_from_slice(&name);
    let s = vhd_sum(&d[dh..dh + 1024], 36);
    d[dh + 36..dh + 40].copy_from_slice(&s.to_be_bytes());
    std::fs::write(&p, d).unwrap();
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(matches!(e, BlockError::BackingUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("parent parent.vhd"), "{e}");
}

#[test]
fn vhdx_with_a_log_to_replay_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let p = made(t.path(), &["-O", "vhdx"], "d.vhdx");
    let mut d = std::fs::read(&p).unwrap();
    for base in [64usize << 10, 128 << 10] {
        d[base + 48..base + 64].copy_from_slice(&[0x42; 16]); // LogGuid: a log is active
        d[base + 4..base + 8].fill(0);
        let crc = crc32c::crc32c(&d[base..base + 4096]);
        d[base + 4..base + 8].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&p, d).unwrap();
    let e = block::open(&p, &OpenOptions::default()).err().unwrap();
    assert!(
        matches!(e, BlockError::Unsupported { ref reason, .. } if reason.contains("log")),
        "{e}"
    );
}
