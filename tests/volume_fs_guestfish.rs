//! Images made by libguestfs (guestfish, with `scripts/libguestfs-env.sh`'s settings): an LVM2
//! volume group spanning two disks (a linear LV crossing from one PV to the other and a
//! 2-stripe LV) made by the real LVM tools, and an NTFS volume with a Windows-like directory
//! tree (ntfscp cannot make directories). One guestfish run (~1 min under TCG) builds both.

use guestfix::block::BlockDev;
use guestfix::block::raw::{MemDisk, RawFile};
use guestfix::fs::tree::GuestTree;
use guestfix::fs::{DirtyState, FileType, Filesystem};
use guestfix::volume::Content;
use sha2::Digest;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Run a guestfish script in `dir` with the project's libguestfs environment.
fn guestfish(dir: &Path, script: &str) {
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libguestfs-env.sh");
    let mut c = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && guestfish", env.display()))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "guestfish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn open(p: &Path) -> Arc<dyn BlockDev> {
    Arc::new(RawFile::open(p).unwrap())
}

#[test]
fn lvm_across_two_disks_and_ntfs_tree_made_by_guestfish() {
    let d = tempfile::tempdir().unwrap();
    let dp = d.path();
    let big = noise(700_000, 9);
    let system = noise(300_000, 4);
    std::fs::write(dp.join("big.bin"), &big).unwrap();
    std::fs::write(dp.join("SYSTEM"), &system).unwrap();
    std::fs::write(dp.join("app.exe"), b"MZ\x90\0app").unwrap();
    guestfish(
        dp,
        "sparse a.raw 40M\n\
         sparse b.raw 40M\n\
         sparse c.raw 24M\n\
         run\n\
         part-disk /dev/sda mbr\n\
         part-set-mbr-id /dev/sda 1 0x8e\n\
         pvcreate /dev/sda1\n\
         pvcreate /dev/sdb\n\
         vgcreate vg0 \"/dev/sda1 /dev/sdb\"\n\
         debug sh \"lvm lvcreate -y -i 2 -I 16k -L 8M -n data vg0\"\n\
         lvcreate-free root vg0 100\n\
         mkfs ext4 /dev/vg0/root\n\
         mkfs ext4 /dev/vg0/data\n\
         mount /dev/vg0/root /\n\
         mkdir-p /etc/x\n\
         write /etc/hostname \"lvm-guest\\n\"\n\
         write /etc/fstab \"/dev/mapper/vg0-root / ext4 defaults 0 1\\n/dev/vg0/data /data ext4 defaults 0 2\\n\"\n\
         ln-s ../hostname /etc/x/link\n\
         upload big.bin /big.bin\n\
         mkdir /data\n\
         mount /dev/vg0/data /data\n\
         upload big.bin /data/big.bin\n\
         umount-all\n\
         part-disk /dev/sdc mbr\n\
         part-set-mbr-id /dev/sdc 1 0x07\n\
         mkfs ntfs /dev/sdc1 label:Windows\n\
         mount /dev/sdc1 /\n\
         mkdir-p /Windows/System32/config\n\
         mkdir-p \"/Program Files/App\"\n\
         mkdir-p /Users/Public/Desktop\n\
         upload SYSTEM /Windows/System32/config/SYSTEM\n\
         write /Windows/win.ini \"[fonts]\\r\\n\"\n\
         upload app.exe \"/Program Files/App/app.exe\"\n\
         write /Users/Public/caf\u{e9}.txt \"unicode\"\n\
         umount-all\n",
    );
    // ---- LVM: VG over a partition of disk 0 and the whole disk 1.
    let set =
        guestfix::fs::scan_disks(&[open(&dp.join("a.raw")), open(&dp.join("b.raw"))]).unwrap();
    assert_eq!(set.vgs.len(), 1, "{:?}", set.warnings);
    assert!(
        matches!(&set.find("/dev/sda1").unwrap().content, Content::LvmPv { vg: Some(v), .. } if v == "vg0")
    );
    assert!(matches!(
        &set.find("/dev/sdb").unwrap().content,
        Content::LvmPv { .. }
    ));
    let data_lv = set.lvs.iter().find(|l| l.lv == "data").unwrap();
    assert_eq!(data_lv.segment_types, ["striped"]);
    let root_lv = set.lvs.iter().find(|l| l.lv == "root").unwrap();
    assert!(
        root_lv.segment_types.len() >= 2,
        "root crosses both PVs: {root_lv:?}"
    );
    let (roots, errs) = guestfix::guest::mount::find_roots(&set);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].volume, "/dev/vg0/root");
    let lt = guestfix::guest::mount::build_linux_tree(&set, &roots[0]).unwrap();
    let t = &lt.tree;
    assert_eq!(t.read_file(b"/etc/x/link", 100).unwrap(), b"lvm-guest\n");
    assert_eq!(t.read_file(b"/big.bin", 1 << 20).unwrap(), big);
    // Through the fstab mount of the striped LV.
    assert_eq!(t.read_file(b"/data/big.bin", 1 << 20).unwrap(), big);
    assert_eq!(
        lt.fstab[1].status,
        guestfix::guest::mount::FstabStatus::Mounted
    );
    // A missing second disk: the VG is reported, the LVs on it are not mapped.
    let half = guestfix::volume::scan(&[open(&dp.join("a.raw"))]).unwrap();
    assert!(half.lvs.iter().all(|l| l.unsupported.is_some()));
    assert!(half.warnings.iter().any(|w| w.contains("missing")));

    // ---- ext4 made by the kernel: its journal has the 64bit + csum-v3 features, so with
    // needs_recovery set ext4-view loads and replays it (replayed: true).
    let root_dev = &set.find("/dev/vg0/root").unwrap().dev;
    let mut bytes = vec![0u8; root_dev.len() as usize];
    root_dev.read_at(0, &mut bytes).unwrap();
    {
        let sb = &mut bytes[1024..2048];
        let v = u32::from_le_bytes(sb[96..100].try_into().unwrap()) | 0x4;
        sb[96..100].copy_from_slice(&v.to_le_bytes());
        let c = !crc32c::crc32c(&sb[..0x3fc]);
        sb[0x3fc..0x400].copy_from_slice(&c.to_le_bytes());
    }
    let fs = guestfix::fs::ext4::Ext4Fs::open(Arc::new(MemDisk::new("root", bytes))).unwrap();
    assert!(
        matches!(
            fs.info().dirty,
            DirtyState::NeedsRecovery { replayed: true, .. }
        ),
        "{:?}",
        fs.info().dirty
    );
    assert_eq!(fs.read_file(b"/etc/hostname", 100).unwrap(), b"lvm-guest\n");

    // ---- NTFS with directories.
    let set = guestfix::fs::scan_disks(&[open(&dp.join("c.raw"))]).unwrap();
    let v = set.find("/dev/sda1").unwrap();
    assert!(matches!(
        &v.content,
        Content::Filesystem {
            fs: guestfix::fs::FsKind::Ntfs,
            ..
        }
    ));
    let (roots, _) = guestfix::guest::mount::find_roots(&set);
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].os, guestfix::guest::mount::OsKind::Windows);
    let t: GuestTree = guestfix::guest::mount::build_windows_tree(&roots[0]).unwrap();
    assert_eq!(roots[0].fs.info().label.as_deref(), Some("Windows"));
    let walk: Vec<(String, FileType, u64)> = t
        .walk(b"/")
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                String::from_utf8(w.path).unwrap(),
                w.metadata.file_type,
                w.metadata.size,
            )
        })
        .collect();
    use FileType::{Directory as D, Regular as F};
    let want: Vec<(String, FileType, u64)> = [
        ("/Program Files", D, 0),
        ("/Program Files/App", D, 0),
        ("/Program Files/App/app.exe", F, 7),
        ("/Users", D, 0),
        ("/Users/Public", D, 0),
        ("/Users/Public/Desktop", D, 0),
        ("/Users/Public/caf\u{e9}.txt", F, 7),
        ("/Windows", D, 0),
        ("/Windows/System32", D, 0),
        ("/Windows/System32/config", D, 0),
        ("/Windows/System32/config/SYSTEM", F, 300_000),
        ("/Windows/win.ini", F, 9),
    ]
    .into_iter()
    .map(|(p, t, s)| (p.to_string(), t, s))
    .collect();
    assert_eq!(walk, want);
    assert_eq!(
        sha2::Sha256::digest(
            t.read_file(b"C:\\WINDOWS\\system32\\CONFIG\\system", 1 << 20)
                .unwrap()
        ),
        sha2::Sha256::digest(&system)
    );
    assert_eq!(
        t.read_file(b"c:\\windows\\WIN.INI", 100).unwrap(),
        b"[fonts]\r\n"
    );
    // The data-run map of the hive, read back from the volume.
    let ntfs = guestfix::fs::ntfs::NtfsFs::open(v.dev.clone()).unwrap();
    let mut rebuilt = Vec::new();
    for r in ntfs.data_runs(b"/Windows/System32/config/SYSTEM").unwrap() {
        let mut b = vec![0u8; r.len as usize];
        v.dev.read_at(r.volume_offset.unwrap(), &mut b).unwrap();
        rebuilt.extend_from_slice(&b);
    }
    assert_eq!(rebuilt, system);
}
