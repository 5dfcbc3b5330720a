//! Partition tables laid out by sfdisk/sgdisk on plain files, GPT fallback to the backup header,
//! hostile tables, and LVM2 volume groups (linear + striped LVs over two PVs).

use guestfix::block::BlockDev;
use guestfix::block::raw::{MemDisk, RawFile};
use guestfix::volume::{Content, MbrKind, TableKind, VolumeError, scan};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sfdisk(disk: &Path, script: &str) {
    let mut c = Command::new("sfdisk")
        .args(["-q", "--no-reread", disk.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}

fn blank(dir: &Path, name: &str, size: u64) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().set_len(size).unwrap();
    p
}

fn open(p: &Path) -> Arc<dyn BlockDev> {
    Arc::new(RawFile::open(p).unwrap())
}

#[test]
fn mbr_primary_extended_and_logical() {
    let d = tempfile::tempdir().unwrap();
    let disk = blank(d.path(), "mbr.raw", 64 << 20);
    sfdisk(
        &disk,
        "label: dos\nlabel-id: 0x1234abcd\n\
         start=2048, size=20480, type=83, bootable\n\
         start=22528, size=8192, type=7\n\
         start=30720, type=5\n\
         start=32768, size=16384, type=83\n\
         start=51200, size=8192, type=82\n\
         start=61440, size=4096, type=8e\n",
    );
    // An ext4 in logical partition 5, a swap in 6 (found by signature).
    let p5 = blank(d.path(), "p5.img", 16384 * 512);
    sh(
        "mkfs.ext4",
        &["-q", "-F", "-L", "logical5", p5.to_str().unwrap()],
    );
    let sw = blank(d.path(), "sw.img", 8192 * 512);
    sh("mkswap", &["-q", "-L", "swp", sw.to_str().unwrap()]);
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&std::fs::read(&p5).unwrap(), 32768 * 512)
        .unwrap();
    f.write_all_at(&std::fs::read(&sw).unwrap(), 51200 * 512)
        .unwrap();
    drop(f);
    let set = guestfix::fs::scan_disks(&[open(&disk)]).unwrap();
    let di = &set.disks[0];
    assert_eq!(di.table, TableKind::Mbr);
    assert_eq!(di.mbr_kind, MbrKind::Classic);
    assert_eq!(di.disk_signature, Some(0x1234abcd));
    assert!(!di.mbr_boot_code, "sfdisk writes no boot code");
    assert_eq!(di.primary_partitions, 3);
    assert_eq!(di.size, 64 << 20);
    let names: Vec<&str> = set.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/dev/sda1",
            "/dev/sda2",
            "/dev/sda3",
            "/dev/sda5",
            "/dev/sda6",
            "/dev/sda7"
        ]
    );
    let p = |n: &str| set.find(n).unwrap().partition.clone().unwrap();
    assert!(p("/dev/sda1").bootable && !p("/dev/sda2").bootable);
    assert_eq!(p("/dev/sda1").start, 2048 * 512);
    assert_eq!(p("/dev/sda1").size, 20480 * 512);
    assert_eq!(p("/dev/sda2").type_name, "HPFS/NTFS/exFAT");
    assert_eq!(set.find("/dev/sda3").unwrap().content, Content::Extended);
    assert!(p("/dev/sda5").logical);
    assert_eq!(p("/dev/sda5").start, 32768 * 512);
    assert_eq!(p("/dev/sda6").start, 51200 * 512);
    assert_eq!(p("/dev/sda7").mbr_type, Some(0x8e));
    assert_eq!(p("/dev/sda5").partuuid.as_deref(), Some("1234abcd-05"));
    match &set.find("/dev/sda5").unwrap().content {
        Content::Filesystem { fs, label, .. } => {
            assert_eq!(*fs, guestfix::fs::FsKind::Ext4);
            assert_eq!(label.as_deref(), Some("logical5"));
        }
        c => panic!("{c:?}"),
    }
    assert!(matches!(
        &set.find("/dev/sda6").unwrap().content,
        Content::Swap { label: Some(l), .. } if l == "swp"
    ));
    // Boot code present once something is written into the first 440 bytes.
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all_at(&[0xeb, 0x63, 0x90], 0).unwrap();
    drop(f);
    assert!(scan(&[open(&disk)]).unwrap().disks[0].mbr_boot_code);
}

fn sgdisk_disk(dir: &Path) -> std::path::PathBuf {
    let disk = blank(dir, "gpt.raw", 32 << 20);
    let s = disk.to_str().unwrap();
    sh(
        "sgdisk",
        &[
            "-U",
            "11223344-5566-4788-99aa-bbccddeeff00",
            "-n",
            "1:2048:+2M",
            "-t",
            "1:ef00",
            "-c",
            "1:EFI System Partition",
            "-u",
            "1:0a0b0c0d-0000-4000-8000-000000000001",
            "-n",
            "2:0:+1M",
            "-t",
            "2:ef02",
            "-c",
            "2:bios",
            "-n",
            "3:0:+8M",
            "-t",
            "3:8300",
            "-c",
            "3:root",
            "-u",
            "3:0a0b0c0d-0000-4000-8000-000000000003",
            "-n",
            "4:0:+2M",
            "-t",
            "4:8200",
            "-n",
            "5:0:+2M",
            "-t",
            "5:8e00",
            "-n",
            "6:0:+2M",
            "-t",
            "6:0700",
            "-c",
            "6:Basic data partition",
            "-n",
            "7:0:+1M",
            "-t",
            "7:0c01",
            "-n",
            "8:0:+1M",
            "-t",
            "8:2700",
            s,
        ],
    );
    disk
}

#[test]
fn gpt_types_guids_and_labels() {
    let d = tempfile::tempdir().unwrap();
    let disk = sgdisk_disk(d.path());
    let set = scan(&[open(&disk)]).unwrap();
    let di = &set.disks[0];
    assert_eq!(di.table, TableKind::Gpt);
    assert_eq!(di.mbr_kind, MbrKind::Protective);
    assert!(!di.gpt_used_backup);
    assert!(!di.dynamic_disk);
    assert_eq!(
        di.gpt_disk_guid.as_deref(),
        Some("11223344-5566-4788-99aa-bbccddeeff00")
    );
    assert_eq!(di.primary_partitions, 8);
    let types: Vec<String> = set
        .volumes
        .iter()
        .map(|v| v.partition.as_ref().unwrap().type_name.clone())
        .collect();
    assert_eq!(
        types,
        [
            "EFI System",
            "BIOS boot",
            "Linux filesystem",
            "Linux swap",
            "Linux LVM",
            "Microsoft basic data",
            "Microsoft reserved",
            "Windows recovery environment"
        ]
    );
    let p1 = set.find("/dev/sda1").unwrap().partition.clone().unwrap();
    assert_eq!(p1.partlabel.as_deref(), Some("EFI System Partition"));
    assert_eq!(
        p1.partuuid.as_deref(),
        Some("0a0b0c0d-0000-4000-8000-000000000001")
    );
    assert_eq!(p1.start, 2048 * 512);
    assert_eq!(p1.size, 2 << 20);
    let p3 = set.find("/dev/sda3").unwrap().partition.clone().unwrap();
    assert_eq!(p3.partlabel.as_deref(), Some("root"));
    // What sgdisk itself reports for partition 3.
    let info = sh("sgdisk", &["-i", "3", disk.to_str().unwrap()]);
    assert!(
        info.to_lowercase()
            .contains(p3.partuuid.as_deref().unwrap())
    );
    // PARTUUID / PARTLABEL resolve through the fstab spec resolver.
    assert_eq!(
        guestfix::guest::mount::resolve_spec(&set, "PARTLABEL=root").map(|v| v.name.as_str()),
        Some("/dev/sda3")
    );
    assert_eq!(
        guestfix::guest::mount::resolve_spec(
            &set,
            "/dev/disk/by-partuuid/0A0B0C0D-0000-4000-8000-000000000001"
        )
        .map(|v| v.name.as_str()),
        Some("/dev/sda1")
    );
    // Hybrid MBR: sgdisk -h puts partition 1 into the MBR next to the 0xEE entry.
    sh("sgdisk", &["-h", "1", disk.to_str().unwrap()]);
    let set = scan(&[open(&disk)]).unwrap();
    assert_eq!(set.disks[0].mbr_kind, MbrKind::Hybrid);
    assert_eq!(set.disks[0].table, TableKind::Gpt);
}

#[test]
fn gpt_ldm_partitions_mark_a_dynamic_disk() {
    let d = tempfile::tempdir().unwrap();
    let disk = blank(d.path(), "ldm.raw", 8 << 20);
    sh(
        "sgdisk",
        &[
            "-n",
            "1:2048:+1M",
            "-t",
            "1:4201",
            "-n",
            "2:0:+2M",
            "-t",
            "2:4200",
            disk.to_str().unwrap(),
        ],
    );
    let set = scan(&[open(&disk)]).unwrap();
    assert!(set.disks[0].dynamic_disk);
    assert_eq!(set.volumes[0].content, Content::Ldm);
    assert_eq!(
        set.volumes[0].partition.as_ref().unwrap().type_name,
        "Windows LDM metadata"
    );
    assert_eq!(set.volumes[1].content, Content::Ldm);
}

#[test]
fn bad_primary_gpt_falls_back_to_backup_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let disk = sgdisk_disk(d.path());
    let good = scan(&[open(&disk)]).unwrap();
    let mut bytes = std::fs::read(&disk).unwrap();
    bytes[512 + 40] ^= 0xff; // first_usable_lba: header CRC no longer matches
    let set = scan(&[Arc::new(MemDisk::new("bad", bytes.clone()))]).unwrap();
    assert!(set.disks[0].gpt_used_backup);
    assert!(
        set.warnings
            .iter()
            .any(|w| w.contains("primary GPT is bad") && w.contains("CRC32")),
        "{:?}",
        set.warnings
    );
    let parts = |s: &guestfix::volume::DiskSet| -> Vec<_> {
        s.volumes
            .iter()
            .map(|v| v.partition.clone().unwrap())
            .collect()
    };
    assert_eq!(parts(&set), parts(&good));
    // A bad entry array (entry CRC) also falls back.
    let mut b2 = std::fs::read(&disk).unwrap();
    b2[1024 + 56] ^= 1;
    let set = scan(&[Arc::new(MemDisk::new("bad2", b2))]).unwrap();
    assert!(set.disks[0].gpt_used_backup);
    // Both copies bad: a typed error naming the GPT.
    let last = bytes.len() - 512;
    bytes[last + 40] ^= 0xff;
    match scan(&[Arc::new(MemDisk::new("worse", bytes))]) {
        Err(VolumeError::Corrupt { structure, .. }) => assert_eq!(structure, "GPT"),
        other => panic!("{other:?}"),
    }
}

fn mbr_entry(buf: &mut [u8], slot: usize, ty: u8, start: u32, n: u32) {
    let o = 446 + slot * 16;
    buf[o + 4] = ty;
    buf[o + 8..o + 12].copy_from_slice(&start.to_le_bytes());
    buf[o + 12..o + 16].copy_from_slice(&n.to_le_bytes());
}

#[test]
fn hostile_mbr_entries_are_reported_not_trusted() {
    let mut b = vec![0u8; 4 << 20];
    b[510] = 0x55;
    b[511] = 0xaa;
    mbr_entry(&mut b, 0, 0x83, 2048, 100);
    mbr_entry(&mut b, 1, 0x83, 2100, 100); // overlaps 1
    mbr_entry(&mut b, 2, 0x83, 0xffff_fff0, 0xffff_fff0); // past the end
    mbr_entry(&mut b, 3, 0x05, 0x7fff_0000, 10); // extended past the end
    let set = scan(&[Arc::new(MemDisk::new("hostile", b))]).unwrap();
    let names: Vec<&str> = set.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["/dev/sda1", "/dev/sda2"], "{:?}", set.warnings);
    assert!(set.warnings.iter().any(|w| w.contains("overlap")));
    assert!(set.warnings.iter().any(|w| w.contains("past the disk end")));
    assert!(set.warnings.iter().any(|w| w.contains("EBR")));
}

// ------------------------------------------------------------------ LVM

const EXT: u64 = 128 * 512; // extent size 128 sectors
const PE_START: u64 = 2048 * 512;

fn metadata(vg: &str, seqno: u32, thin: bool, bogus: bool) -> String {
    format!(
        r#"{vg} {{
id = "Wq3xYz-1a2b-3c4d-5e6f-7g8h-9i0j-KLMNOP"
seqno = {seqno}
format = "lvm2"			# informational
status = ["RESIZEABLE", "READ", "WRITE"]
flags = []
extent_size = 128		# 64 Kilobytes
max_lv = 0
max_pv = 0
metadata_copies = 0

physical_volumes {{

pv0 {{
id = "AAAAAA-aaaa-bbbb-cccc-dddd-eeee-000000"
device = "/dev/sda"	# Hint only

status = ["ALLOCATABLE"]
flags = []
dev_size = 8192	# 4 Megabytes
pe_start = 2048
pe_count = 32	# 2 Megabytes
}}

pv1 {{
id = "BBBBBB-aaaa-bbbb-cccc-dddd-eeee-111111"
device = "/dev/sdb"	# Hint only

status = ["ALLOCATABLE"]
flags = []
dev_size = 8192
pe_start = 2048
pe_count = 32
}}
}}

logical_volumes {{

root {{
id = "r00000-aaaa-bbbb-cccc-dddd-eeee-ffffff"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
creation_time = 1700000000	# 2023-11-14 22:13:20 +0000
creation_host = "build"
segment_count = 2

segment1 {{
start_extent = 0
extent_count = 8	# 512 Kilobytes

type = "striped"
stripe_count = 1	# linear

stripes = [
"pv0", 0
]
}}
segment2 {{
start_extent = 8
extent_count = 4

type = "striped"
stripe_count = 1	# linear

stripes = [
"pv1", {pv1_start}
]
}}
}}

data {{
id = "d00000-aaaa-bbbb-cccc-dddd-eeee-ffffff"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1

segment1 {{
start_extent = 0
extent_count = 8

type = "striped"
stripe_count = 2
stripe_size = 16	# 8 Kilobytes

stripes = [
"pv0", 8,
"pv1", 4
]
}}
}}
{thin_lv}
}}

}}
# Generated by LVM2 version 2.03.16(2) (2022-05-18): Tue Nov 14 22:13:20 2023

contents = "Text Format Volume Group"
version = 1

description = "Created *after* executing 'lvcreate -i2 -I8k -l8 -n data {vg}'"

creation_host = "build"	# Linux build 6.1.0-13-amd64 #1 SMP x86_64
creation_time = 1700000000	# Tue Nov 14 22:13:20 2023
"#,
        pv1_start = if bogus { 31 } else { 0 },
        thin_lv = if thin {
            r#"
pool {
id = "p00000-aaaa-bbbb-cccc-dddd-eeee-ffffff"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1

segment1 {
start_extent = 0
extent_count = 2

type = "thin-pool"
metadata = "pool_tmeta"
pool = "pool_tdata"
transaction_id = 0
chunk_size = 128
discards = "passdown"
zero_new_blocks = 1
}
}
"#
        } else {
            ""
        }
    )
}

/// A whole-disk PV: label in sector 1, metadata area at 4 KiB, extents from 1 MiB filled with
/// a pattern unique to the PV.
fn pv_disk(uuid_bare: &str, text: &str, seed: u8) -> Vec<u8> {
    let size = PE_START + 32 * EXT + 4096;
    let mut d = vec![0u8; size as usize];
    let l = 512;
    d[l..l + 8].copy_from_slice(b"LABELONE");
    d[l + 8..l + 16].copy_from_slice(&1u64.to_le_bytes());
    d[l + 20..l + 24].copy_from_slice(&32u32.to_le_bytes());
    d[l + 24..l + 32].copy_from_slice(b"LVM2 001");
    let ph = l + 32;
    d[ph..ph + 32].copy_from_slice(uuid_bare.as_bytes());
    d[ph + 32..ph + 40].copy_from_slice(&size.to_le_bytes());
    // data area list: (pe_start, 0), (0, 0); metadata list: (4096, mda), (0, 0)
    d[ph + 40..ph + 48].copy_from_slice(&PE_START.to_le_bytes());
    let mda_size = PE_START - 4096;
    d[ph + 72..ph + 80].copy_from_slice(&4096u64.to_le_bytes());
    d[ph + 80..ph + 88].copy_from_slice(&mda_size.to_le_bytes());
    let m = 4096;
    d[m + 4..m + 20].copy_from_slice(b" LVM2 x[5A%r0N*>");
    d[m + 20..m + 24].copy_from_slice(&1u32.to_le_bytes());
    d[m + 24..m + 32].copy_from_slice(&4096u64.to_le_bytes());
    d[m + 32..m + 40].copy_from_slice(&mda_size.to_le_bytes());
    d[m + 40..m + 48].copy_from_slice(&512u64.to_le_bytes());
    d[m + 48..m + 56].copy_from_slice(&(text.len() as u64).to_le_bytes());
    d[m + 512..m + 512 + text.len()].copy_from_slice(text.as_bytes());
    for (i, b) in d[PE_START as usize..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed;
    }
    d
}

fn pv_set(text: &str) -> (Vec<u8>, Vec<u8>) {
    (
        pv_disk("AAAAAAaaaabbbbccccddddeeee000000", text, 0x11),
        pv_disk("BBBBBBaaaabbbbccccddddeeee111111", text, 0x22),
    )
}

fn read_all(dev: &dyn BlockDev) -> Vec<u8> {
    let mut v = vec![0u8; dev.len() as usize];
    dev.read_at(0, &mut v).unwrap();
    v
}

#[test]
fn lvm_metadata_text_parses() {
    let vg = guestfix::volume::lvm::vg_from_text(&metadata("vg0", 7, true, false)).unwrap();
    assert_eq!(vg.name, "vg0");
    assert_eq!(vg.seqno, 7);
    assert_eq!(vg.extent_size, 128);
    assert_eq!(vg.pvs.len(), 2);
    assert_eq!(vg.pvs[1].device.as_deref(), Some("/dev/sdb"));
    let names: Vec<&str> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["root", "data", "pool"]);
    assert_eq!(vg.lvs[0].segments.len(), 2);
    assert_eq!(
        vg.lvs[2].segments[0].kind,
        guestfix::volume::lvm::SegmentKind::Unsupported("thin-pool".into())
    );
    // Syntax errors are typed and located, never panics.
    for bad in [
        "vg0 {",
        "vg0 { a = [1, }",
        "vg0 { a = \"x }",
        "}",
        "a = 99999999999999999999",
    ] {
        assert!(
            matches!(
                guestfix::volume::lvm::parse_text(bad),
                Err(VolumeError::LvmSyntax { .. })
            ),
            "{bad}"
        );
    }
    let deep = "a {".repeat(100);
    assert!(guestfix::volume::lvm::parse_text(&deep).is_err());
}

#[test]
fn lvm_linear_and_striped_lvs_across_two_pvs() {
    let text = metadata("my-vg", 3, true, false);
    let (a, b) = pv_set(&text);
    let (a2, b2) = (a.clone(), b.clone());
    let set = scan(&[
        Arc::new(MemDisk::new("pv0", a)),
        Arc::new(MemDisk::new("pv1", b)),
    ])
    .unwrap();
    assert!(matches!(
        &set.volumes[0].content,
        Content::LvmPv { vg: Some(v), .. } if v == "my-vg"
    ));
    let root = set.find("/dev/my-vg/root").unwrap();
    assert_eq!(root.aliases, ["/dev/mapper/my--vg-root"]);
    assert_eq!(root.size, 12 * EXT);
    let pe = PE_START as usize;
    let ext = EXT as usize;
    // Linear: 8 extents of pv0 from extent 0, then 4 of pv1 from extent 0.
    let mut want = a2[pe..pe + 8 * ext].to_vec();
    want.extend_from_slice(&b2[pe..pe + 4 * ext]);
    assert_eq!(read_all(&*root.dev), want);
    // Striped: 8 KiB chunks alternating pv0 (from extent 8) and pv1 (from extent 4).
    let data = set.find("/dev/mapper/my--vg-data").unwrap();
    assert_eq!(data.size, 8 * EXT);
    let chunk = 16 * 512;
    let mut want = Vec::new();
    for k in 0..(8 * ext / chunk) {
        let row = k / 2;
        let (src, base) = if k % 2 == 0 {
            (&a2, pe + 8 * ext)
        } else {
            (&b2, pe + 4 * ext)
        };
        want.extend_from_slice(&src[base + row * chunk..base + (row + 1) * chunk]);
    }
    assert_eq!(read_all(&*data.dev), want);
    // A read straddling segments and chunks.
    let mut x = vec![0u8; 3 * chunk];
    root.dev.read_at(8 * EXT - 100, &mut x).unwrap();
    let mut lin = a2[pe..pe + 8 * ext].to_vec();
    lin.extend_from_slice(&b2[pe..pe + 4 * ext]);
    assert_eq!(x, lin[8 * ext - 100..8 * ext - 100 + 3 * chunk]);
    // The thin pool is listed, not mapped.
    let pool = set.lvs.iter().find(|l| l.lv == "pool").unwrap();
    assert!(pool.unsupported.as_deref().unwrap().contains("thin-pool"));
    assert!(set.find("/dev/my-vg/pool").is_none());
}

/// Writes through an LV's map (what `apply` does for ext4 on LVM) land exactly where reads
/// come from: a fresh scan of the written PVs reads the written bytes back, for the linear LV
/// that spans both PVs and for the striped one, and no PV byte outside the LV's extents changes.
#[test]
fn lvm_writes_through_the_map_land_on_the_lv_extents() {
    use guestfix::block::WritableDev;
    use guestfix::volume::lvm::LvDev;
    let text = metadata("vg0", 3, false, false);
    let (a, b) = pv_set(&text);
    let set = scan(&[
        Arc::new(MemDisk::new("pv0", a.clone())),
        Arc::new(MemDisk::new("pv1", b.clone())),
    ])
    .unwrap();
    let pe = PE_START as usize;
    let ext = EXT as usize;
    // (LV, its extents on pv0, on pv1): root = pv0 0..8 + pv1 0..4; data = pv0 8..12, pv1 4..8.
    for (lv, r0, r1) in [("root", 0..8, 0..4), ("data", 8..12, 4..8)] {
        let info = set.lvs.iter().find(|l| l.lv == lv).unwrap();
        let map = info.map.clone().expect("mapped LV has a map");
        let w0 = Arc::new(MemDisk::new("pv0", a.clone()));
        let w1 = Arc::new(MemDisk::new("pv1", b.clone()));
        let devs: Vec<Arc<dyn WritableDev>> = map
            .pv_ids()
            .map(|id| -> Arc<dyn WritableDev> {
                if id.starts_with("AAAAAA") {
                    w0.clone()
                } else {
                    w1.clone()
                }
            })
            .collect();
        let dev = LvDev::from_map(map.clone(), devs).unwrap();
        let pattern: Vec<u8> = (0..dev.len() as usize)
            .map(|i| (i * 7 % 251) as u8 ^ 0x5a)
            .collect();
        // Unaligned pieces, straddling stripe chunks and the segment boundary.
        let mut at = 0usize;
        for n in [1usize, 511, 8192, 3, 70_000, 100_000].iter().cycle() {
            if at >= pattern.len() {
                break;
            }
            let end = (at + n).min(pattern.len());
            dev.write_at(at as u64, &pattern[at..end]).unwrap();
            at = end;
        }
        dev.flush().unwrap();
        let (c0, c1) = (w0.contents(), w1.contents());
        let set2 = scan(&[
            Arc::new(MemDisk::new("pv0", c0.clone())),
            Arc::new(MemDisk::new("pv1", c1.clone())),
        ])
        .unwrap();
        let back = read_all(&*set2.find(&format!("/dev/vg0/{lv}")).unwrap().dev);
        assert!(back == pattern, "{lv}: read back differs");
        for (orig, now, r) in [(&a, &c0, r0), (&b, &c1, r1)] {
            let (lo, hi) = (pe + r.start * ext, pe + r.end * ext);
            assert_eq!(orig[..lo], now[..lo], "{lv}: PV bytes before the extents");
            assert_eq!(orig[hi..], now[hi..], "{lv}: PV bytes after the extents");
        }
        // A write past the LV's end is refused, not wrapped onto the PV.
        assert!(dev.write_at(dev.len() - 1, &[0, 0]).is_err());
    }
}

#[test]
fn lvm_missing_pv_and_bogus_extents_are_reported() {
    let text = metadata("vg0", 1, false, false);
    let (a, _) = pv_set(&text);
    let set = scan(&[Arc::new(MemDisk::new("pv0", a))]).unwrap();
    assert!(set.warnings.iter().any(|w| w.contains("missing")));
    let root = set.lvs.iter().find(|l| l.lv == "root").unwrap();
    assert!(root.unsupported.as_deref().unwrap().contains("missing"));
    assert!(set.find("/dev/vg0/root").is_none());

    let text = metadata("vg0", 1, false, true);
    let (a, b) = pv_set(&text);
    let set = scan(&[
        Arc::new(MemDisk::new("pv0", a)),
        Arc::new(MemDisk::new("pv1", b)),
    ])
    .unwrap();
    let root = set.lvs.iter().find(|l| l.lv == "root").unwrap();
    assert!(
        root.unsupported.as_deref().unwrap().contains("exceed"),
        "{root:?}"
    );
    // The good LV of the same VG is still mapped.
    assert!(set.find("/dev/vg0/data").is_some());
}

/// A deterministic xorshift generator for the mutation tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Thousands of damaged copies of real sfdisk/sgdisk tables: every scan ends in a value or a
/// typed error, and every volume it gives lies inside the disk.
#[test]
fn mutated_partition_tables_never_panic_or_escape_the_disk() {
    let d = tempfile::tempdir().unwrap();
    let gpt = blank(d.path(), "g.raw", 1 << 20);
    sh(
        "sgdisk",
        &[
            "-n",
            "1:34:+100K",
            "-n",
            "2:0:+200K",
            "-t",
            "2:8e00",
            gpt.to_str().unwrap(),
        ],
    );
    let mbr = blank(d.path(), "m.raw", 1 << 20);
    sfdisk(
        &mbr,
        "label: dos\nstart=1, size=100, type=83\nstart=200, type=5\n\
         start=300, size=100, type=83\nstart=500, size=100, type=83\nstart=700, size=100, type=82\n",
    );
    let images = [std::fs::read(&gpt).unwrap(), std::fs::read(&mbr).unwrap()];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut outcomes = [0usize; 2];
    for i in 0..1500 {
        let mut img = images[i % 2].clone();
        let len = img.len();
        for _ in 0..1 + rng.below(6) {
            // Hit the table sectors: the first 34 and the last 33.
            let pos = if rng.below(2) == 0 {
                rng.below(34 * 512)
            } else {
                len - 1 - rng.below(33 * 512)
            };
            img[pos] = rng.next() as u8;
        }
        match scan(&[Arc::new(MemDisk::new("m", img))]) {
            Ok(set) => {
                outcomes[0] += 1;
                for v in &set.volumes {
                    if let Some(p) = &v.partition {
                        assert!(p.start + p.size <= len as u64, "{v:?}");
                    }
                    assert!(v.dev.len() <= len as u64);
                }
            }
            Err(_) => outcomes[1] += 1,
        }
    }
    assert!(outcomes[0] > 0);
}

/// Damaged copies of the realistic metadata text: parsed or refused, and an LV that maps reads
/// only inside its PVs.
#[test]
fn mutated_lvm_metadata_never_panics() {
    let text = metadata("vg0", 1, true, false).into_bytes();
    let (a, b) = pv_set(std::str::from_utf8(&text).unwrap());
    let pv0: Arc<dyn BlockDev> = Arc::new(MemDisk::new("pv0", a));
    let pv1: Arc<dyn BlockDev> = Arc::new(MemDisk::new("pv1", b));
    let mut rng = Rng(12345);
    let mut parsed = 0;
    for _ in 0..3000 {
        let mut t = text.clone();
        for _ in 0..1 + rng.below(4) {
            let pos = rng.below(t.len());
            let alphabet = b"0123456789{}[]\",=# \nabc-";
            t[pos] = alphabet[rng.below(alphabet.len())];
        }
        let s = String::from_utf8_lossy(&t);
        if let Ok(vg) = guestfix::volume::lvm::vg_from_text(&s) {
            parsed += 1;
            for lv in &vg.lvs {
                let devs = |p: &guestfix::volume::lvm::PvMeta| match p.key.as_str() {
                    "pv0" => Some(pv0.clone()),
                    "pv1" => Some(pv1.clone()),
                    _ => None,
                };
                if let Ok(dev) = guestfix::volume::lvm::map_lv(&vg, lv, &devs) {
                    let n = dev.len().min(1 << 20) as usize;
                    let mut buf = vec![0u8; n];
                    dev.read_at(0, &mut buf).unwrap();
                }
            }
        }
    }
    assert!(parsed > 0);
}

/// LUKS1 and LUKS2 made by cryptsetup in partitions of an sfdisk disk: detected (GEN-3) with
/// the UUID cryptsetup reports, never opened; mkswap's swap with its UUID and label.
#[test]
fn luks_and_swap_partitions_are_detected() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("key");
    std::fs::write(&key, b"secret").unwrap();
    let mut uuids = Vec::new();
    for (name, ty) in [("l1", "luks1"), ("l2", "luks2")] {
        let p = blank(d.path(), name, 20 << 20);
        let ps = p.to_str().unwrap();
        sh(
            "cryptsetup",
            &[
                "luksFormat",
                "-q",
                "--type",
                ty,
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
                "--key-file",
                key.to_str().unwrap(),
                ps,
            ],
        );
        uuids.push(sh("cryptsetup", &["luksUUID", ps]).trim().to_string());
    }
    let sw = blank(d.path(), "sw", 4 << 20);
    sh(
        "mkswap",
        &[
            "-q",
            "-L",
            "myswap",
            "-U",
            "0b7e2d44-1c1e-4c8b-9a36-6a4f1f5c9e01",
            sw.to_str().unwrap(),
        ],
    );
    let disk = blank(d.path(), "disk.raw", 50 << 20);
    sfdisk(
        &disk,
        "label: gpt\nstart=2048, size=40960, type=CA7D7CCB-63ED-4C53-861C-1742536059CC\n\
         start=43008, size=40960\nstart=83968, size=8192, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n",
    );
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    use std::os::unix::fs::FileExt;
    for (src, sector) in [
        (d.path().join("l1"), 2048u64),
        (d.path().join("l2"), 43008),
        (sw, 83968),
    ] {
        f.write_all_at(&std::fs::read(src).unwrap(), sector * 512)
            .unwrap();
    }
    drop(f);
    let set = guestfix::fs::scan_disks(&[open(&disk)]).unwrap();
    assert_eq!(
        set.volumes[0].content,
        Content::Luks {
            version: 1,
            uuid: Some(uuids[0].clone())
        }
    );
    assert_eq!(
        set.volumes[0].partition.as_ref().unwrap().type_name,
        "Linux LUKS"
    );
    assert_eq!(
        set.volumes[1].content,
        Content::Luks {
            version: 2,
            uuid: Some(uuids[1].clone())
        }
    );
    assert_eq!(
        set.volumes[2].content,
        Content::Swap {
            uuid: Some("0b7e2d44-1c1e-4c8b-9a36-6a4f1f5c9e01".into()),
            label: Some("myswap".into())
        }
    );
    assert_eq!(
        set.volumes[2].partition.as_ref().unwrap().type_name,
        "Linux swap"
    );
    // An fstab swap line by UUID resolves to it.
    assert_eq!(
        guestfix::guest::mount::resolve_spec(&set, "UUID=0B7E2D44-1C1E-4C8B-9A36-6A4F1F5C9E01")
            .map(|v| v.name.as_str()),
        Some("/dev/sda3")
    );
}
