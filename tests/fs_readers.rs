//! Filesystem readers and the guest tree over images made by real tools (mkfs.ext4 -d,
//! mkfs.vfat + mcopy, mkntfs + ntfscp, sfdisk), compared byte for byte with the source trees.

use guestfix::block::BlockDev;
use guestfix::block::raw::{MemDisk, RawFile};
use guestfix::fs::tree::GuestTree;
use guestfix::fs::{DirtyState, FileType, Filesystem, FsError, FsKind};
use sha2::Digest;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Deterministic pseudo-random bytes.
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

const GUEST_PASSWD: &[u8] = b"root:x:0:0:GUEST-ONLY-MARKER:/root:/bin/sh\n";

/// The Linux source tree: nested dirs, every kind of symlink, big/empty/sparse files, odd names.
fn linux_tree(root: &Path) {
    let w = |p: &str, d: &[u8]| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, d).unwrap();
    };
    w("etc/hostname", b"guest-host\n");
    w("etc/passwd", GUEST_PASSWD);
    w("etc/os-release", b"ID=debian\nVERSION_ID=12\n");
    w("nested/a/b/c/deep.txt", b"deep\n");
    w("big.bin", &noise(3 * 1024 * 1024 + 17, 7));
    w("empty", b"");
    w("odd/with space", b"space\n");
    w("odd/\u{fc}n\u{ef}c\u{f6}d\u{e9}.txt", b"unicode\n");
    w("odd/-dash", b"dash\n");
    w("odd/back\\slash", b"bs\n");
    w("odd/new\nline", b"nl\n");
    let bad = root
        .join("odd")
        .join(std::ffi::OsStr::from_bytes(b"bad\xffname"));
    std::fs::write(bad, b"latin1\n").unwrap();
    // A sparse file claiming 40 MiB with a few bytes at the end.
    let f = std::fs::File::create(root.join("sparse.bin")).unwrap();
    f.set_len(40 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"tail", (40 << 20) - 4).unwrap();
    std::fs::set_permissions(
        root.join("etc/passwd"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("links")).unwrap();
    let l = |t: &str, p: &str| std::os::unix::fs::symlink(t, root.join(p)).unwrap();
    l("../etc/hostname", "links/rel");
    l("/etc/hostname", "links/abs");
    l("/nonexistent/file", "links/dangling");
    l("loop2", "links/loop1");
    l("loop1", "links/loop2");
    l("../nested/a", "links/dirlink");
    l("/../../../../etc/passwd", "links/evil");
    // The hostile fstab: climbs "above" the root to reach a host file.
    l("/../../../../etc/passwd", "etc/fstab");
    sh("mkfifo", &[root.join("fifo").to_str().unwrap()]);
}

#[derive(Debug, PartialEq)]
struct Fact {
    ty: FileType,
    size: u64,
    perm: Option<u32>,
    /// sha256 of a regular file, or the symlink target.
    content: String,
}

/// Facts of the host source tree (no symlink followed).
fn host_facts(root: &Path, with_perm: bool) -> BTreeMap<Vec<u8>, Fact> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap();
        let mut key = b"/".to_vec();
        key.extend_from_slice(rel.as_os_str().as_bytes());
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let ft = md.file_type();
        let (ty, size, content) = if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            (
                FileType::Symlink,
                t.as_os_str().len() as u64,
                String::from_utf8_lossy(t.as_os_str().as_bytes()).into_owned(),
            )
        } else if ft.is_dir() {
            (FileType::Directory, 0, String::new())
        } else if ft.is_file() {
            (
                FileType::Regular,
                md.len(),
                sha(&std::fs::read(e.path()).unwrap()),
            )
        } else {
            (FileType::Fifo, 0, String::new())
        };
        m.insert(
            key,
            Fact {
                ty,
                size,
                perm: with_perm.then_some(md.permissions().mode() & 0o7777),
                content,
            },
        );
    }
    m
}

/// Facts of the guest tree as the walk gives them.
fn guest_facts(t: &GuestTree, with_perm: bool, skip: &[&[u8]]) -> BTreeMap<Vec<u8>, Fact> {
    let mut m = BTreeMap::new();
    for w in t.walk(b"/").unwrap() {
        if skip.iter().any(|s| w.path.starts_with(s)) {
            continue;
        }
        let md = &w.metadata;
        let (size, content) = match md.file_type {
            FileType::Regular => (md.size, sha(&t.read_file(&w.path, 1 << 30).unwrap())),
            FileType::Symlink => (
                md.size,
                String::from_utf8_lossy(w.link_target.as_ref().unwrap()).into_owned(),
            ),
            _ => (0, String::new()),
        };
        m.insert(
            w.path.clone(),
            Fact {
                ty: md.file_type,
                size,
                perm: with_perm.then_some(md.mode & 0o7777),
                content,
            },
        );
    }
    m
}

fn assert_same(host: &BTreeMap<Vec<u8>, Fact>, guest: &BTreeMap<Vec<u8>, Fact>) {
    let hk: Vec<String> = host
        .keys()
        .map(|k| String::from_utf8_lossy(k).into())
        .collect();
    let gk: Vec<String> = guest
        .keys()
        .map(|k| String::from_utf8_lossy(k).into())
        .collect();
    assert_eq!(hk, gk, "names differ");
    for (k, h) in host {
        assert_eq!(Some(h), guest.get(k), "{}", String::from_utf8_lossy(k));
    }
}

fn ext4_image(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    linux_tree(&src);
    let img = dir.join("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(24 << 20)
        .unwrap();
    let mut args = vec![
        "-q",
        "-F",
        "-L",
        "rootfs",
        "-U",
        "8c1f3a52-0d3e-4b6e-9d6e-3f1c2b4a5d6e",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-d", src.to_str().unwrap(), img.to_str().unwrap()]);
    sh("mkfs.ext4", &args);
    img
}

fn mem_copy(path: &Path) -> Arc<dyn BlockDev> {
    Arc::new(MemDisk::new("mem", std::fs::read(path).unwrap()))
}

#[test]
fn ext4_walk_matches_source_tree() {
    let d = tempfile::tempdir().unwrap();
    let img = ext4_image(d.path(), &[]);
    // Over a MemDisk copy: the readers open no file at all.
    let dev = mem_copy(&img);
    let p = guestfix::fs::probe(&*dev).unwrap().unwrap();
    assert_eq!(p.kind, FsKind::Ext4);
    assert_eq!(p.label.as_deref(), Some("rootfs"));
    assert_eq!(
        p.uuid.as_deref(),
        Some("8c1f3a52-0d3e-4b6e-9d6e-3f1c2b4a5d6e")
    );
    let fs = guestfix::fs::ext4::Ext4Fs::open(dev).unwrap();
    let info = fs.info();
    assert_eq!(info.dirty, DirtyState::Clean);
    assert_eq!(info.total_bytes, 24 << 20);
    let mut t = GuestTree::new();
    t.mount(b"/", Arc::new(fs), "mem").unwrap();
    let host = host_facts(&d.path().join("src"), true);
    let guest = guest_facts(&t, true, &[b"/lost+found"]);
    assert_same(&host, &guest);
    // The sparse file reads as zeros then "tail".
    let (fsx, inner) = t.resolve(b"/sparse.bin").unwrap();
    let mut b = [9u8; 8];
    assert_eq!(fsx.read_at(&inner, (40 << 20) - 8, &mut b).unwrap(), 8);
    assert_eq!(&b, b"\0\0\0\0tail");
    // A limit below the size is refused.
    assert!(matches!(
        t.read_file(b"/big.bin", 1000),
        Err(FsError::TooLarge { .. })
    ));
}

#[test]
fn hostile_symlinks_stay_inside_the_guest() {
    let d = tempfile::tempdir().unwrap();
    let img = ext4_image(d.path(), &[]);
    let dev = mem_copy(&img);
    let mut t = GuestTree::new();
    t.mount(
        b"/",
        Arc::new(guestfix::fs::ext4::Ext4Fs::open(dev).unwrap()),
        "mem",
    )
    .unwrap();
    let host_passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    // /etc/fstab -> /../../../../etc/passwd: the GUEST's passwd, never the host's.
    let got = t.read_file(b"/etc/fstab", 1 << 20).unwrap();
    assert_eq!(got, GUEST_PASSWD);
    assert_ne!(got, host_passwd);
    assert_eq!(t.read_file(b"/links/evil", 1 << 20).unwrap(), GUEST_PASSWD);
    assert_eq!(
        t.canonicalize(b"/etc/fstab", true).unwrap(),
        b"/etc/passwd".to_vec()
    );
    // `..` never climbs above the root.
    assert_eq!(
        t.read_file(b"/../../../etc/hostname", 100).unwrap(),
        b"guest-host\n"
    );
    assert_eq!(t.read_file(b"/links/rel", 100).unwrap(), b"guest-host\n");
    assert_eq!(t.read_file(b"/links/abs", 100).unwrap(), b"guest-host\n");
    assert_eq!(
        t.read_file(b"/links/dirlink/b/c/deep.txt", 100).unwrap(),
        b"deep\n"
    );
    assert_eq!(
        t.read_file(b"/links/dirlink/../../etc/hostname", 100)
            .unwrap(),
        b"guest-host\n",
        "`..` after a symlinked dir applies to the link's target, as in the kernel"
    );
    assert!(matches!(
        t.read_file(b"/links/loop1", 100),
        Err(FsError::SymlinkLoop(_))
    ));
    assert!(matches!(
        t.read_file(b"/links/dangling", 100),
        Err(FsError::NotFound(_))
    ));
    // lstat sees the link itself; stat its target.
    assert_eq!(t.lstat(b"/links/abs").unwrap().file_type, FileType::Symlink);
    assert_eq!(t.stat(b"/links/abs").unwrap().file_type, FileType::Regular);
    assert_eq!(t.readlink(b"/links/abs").unwrap(), b"/etc/hostname");
    assert!(!t.exists(b"/links/dangling"));
    assert!(!t.exists(b"/links/dangling/.."));
    // Hostile path input.
    assert!(t.read_file(b"/etc/host\0name", 100).is_err());
    assert!(matches!(
        t.read_file(b"/etc/hostname/x", 100),
        Err(FsError::NotADirectory(_))
    ));
    assert!(matches!(
        t.read_file(b"/fifo", 100),
        Err(FsError::NotAFile(_))
    ));
}

/// Set ext4's needs_recovery bit (and fix the superblock checksum, which is CRC32C without the
/// final inversion, when metadata_csum is on).
fn set_needs_recovery(bytes: &mut [u8]) {
    let sb = &mut bytes[1024..2048];
    let v = u32::from_le_bytes(sb[96..100].try_into().unwrap()) | 0x4;
    sb[96..100].copy_from_slice(&v.to_le_bytes());
    if u32::from_le_bytes(sb[100..104].try_into().unwrap()) & 0x400 != 0 {
        let c = !crc32c::crc32c(&sb[..0x3fc]);
        sb[0x3fc..0x400].copy_from_slice(&c.to_le_bytes());
    }
}

/// A journal mkfs.ext4 just made has no journal features yet (the kernel sets 64bit/csum-v3
/// on first use), and ext4-view replays only 64bit + csum-v3 journals: with needs_recovery set,
/// such a filesystem is read unreplayed and reported `replayed: false`, with or without
/// metadata_csum (whose superblock checksum the reader fixes in memory).
#[test]
fn ext4_needs_recovery_without_replay_is_reported() {
    for extra in [&[][..], &["-O", "^metadata_csum"][..]] {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(ext4_image(d.path(), extra)).unwrap();
        set_needs_recovery(&mut bytes);
        let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("dirty", bytes));
        assert!(guestfix::fs::probe(&*dev).unwrap().unwrap().needs_recovery);
        let fs = guestfix::fs::ext4::Ext4Fs::open(dev).unwrap();
        match fs.info().dirty {
            DirtyState::NeedsRecovery {
                replayed: false,
                detail,
            } => assert!(detail.contains("cannot replay"), "{detail}"),
            other => panic!("{extra:?}: {other:?}"),
        }
        assert_eq!(
            fs.read_file(b"/etc/hostname", 100).unwrap(),
            b"guest-host\n"
        );
        assert_eq!(fs.read_file(b"/etc/passwd", 100).unwrap(), GUEST_PASSWD);
    }
}

/// A FAT tree (no symlinks: FAT has none), made with mkfs.vfat + mcopy -s.
#[test]
fn fat_walk_matches_source_tree_and_is_case_insensitive() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let w = |p: &str, data: &[u8]| {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("EFI/BOOT/BOOTX64.EFI", &noise(200_000, 3));
    w("EFI/debian/grub.cfg", b"search --fs-uuid x\n");
    w("Long File Name With Spaces.txt", b"lfn\n");
    w("empty.dat", b"");
    w("deep/a/b/c/d/e.txt", b"e\n");
    w("MixedCase.Txt", b"mixed\n");
    let img = d.path().join("fat.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    sh(
        "mkfs.vfat",
        &["-n", "ESP", "-i", "1234ABCD", img.to_str().unwrap()],
    );
    let mut args = vec!["-s", "-i", img.to_str().unwrap()];
    let entries: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    args.extend(entries.iter().map(|s| s.as_str()));
    args.push("::/");
    sh("mcopy", &args);
    let dev = mem_copy(&img);
    let p = guestfix::fs::probe(&*dev).unwrap().unwrap();
    assert_eq!(p.kind, FsKind::Vfat);
    assert_eq!(p.uuid.as_deref(), Some("1234-ABCD"));
    assert_eq!(p.label.as_deref(), Some("ESP"));
    let fs = guestfix::fs::fat::FatFs::open(dev).unwrap();
    assert_eq!(fs.info().label.as_deref(), Some("ESP"));
    assert!(fs.case_insensitive());
    let mut t = GuestTree::new();
    t.mount(b"/", Arc::new(fs), "mem").unwrap();
    let host = host_facts(&src, false);
    let guest = guest_facts(&t, false, &[]);
    assert_same(&host, &guest);
    assert_eq!(
        t.read_file(b"/efi/DEBIAN/GRUB.CFG", 100).unwrap(),
        b"search --fs-uuid x\n"
    );
    assert_eq!(t.read_file(b"/mixedcase.txt", 100).unwrap(), b"mixed\n");
    assert_eq!(t.read_file(b"C:\\MIXEDCASE.TXT", 100).unwrap(), b"mixed\n");
}

fn ntfs_image(dir: &Path, files: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
    let img = dir.join("ntfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    sh(
        "mkntfs",
        &["-F", "-f", "-q", "-L", "WinSys", img.to_str().unwrap()],
    );
    for (name, data) in files {
        let src = dir.join(format!("f{}", name.len()));
        std::fs::write(&src, data).unwrap();
        sh(
            "ntfscp",
            &["-q", img.to_str().unwrap(), src.to_str().unwrap(), name],
        );
    }
    img
}

#[test]
fn ntfs_files_names_data_runs_and_hibernation() {
    let d = tempfile::tempdir().unwrap();
    let big = noise(1_500_000, 11);
    let files = vec![
        ("/SYSTEM", big.clone()),
        ("/win.ini", b"[fonts]\r\n".to_vec()),
        ("/Mixed Case Name.txt", noise(5000, 5)),
    ];
    let img = ntfs_image(d.path(), &files);
    let dev = mem_copy(&img);
    let p = guestfix::fs::probe(&*dev).unwrap().unwrap();
    assert_eq!(p.kind, FsKind::Ntfs);
    let fs = guestfix::fs::ntfs::NtfsFs::open(dev.clone()).unwrap();
    assert_eq!(fs.info().label.as_deref(), Some("WinSys"));
    assert_eq!(fs.info().uuid, p.uuid);
    assert_eq!(fs.info().dirty, DirtyState::Clean);
    let mut names: Vec<String> = fs
        .read_dir(b"/")
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Mixed Case Name.txt", "SYSTEM", "win.ini"]);
    for (n, data) in &files {
        assert_eq!(&fs.read_file(n.as_bytes(), 1 << 30).unwrap(), data, "{n}");
        assert_eq!(fs.stat(n.as_bytes()).unwrap().size, data.len() as u64);
    }
    // Case-insensitive lookup.
    assert_eq!(fs.read_file(b"/WIN.INI", 100).unwrap(), b"[fonts]\r\n");
    assert_eq!(
        fs.read_file(b"/mixed case name.TXT", 1 << 20).unwrap(),
        files[2].1
    );
    // The data-run map points at the file's bytes on the volume.
    let runs = fs.data_runs(b"/system").unwrap();
    assert!(!runs.is_empty());
    let mut rebuilt = Vec::new();
    for r in &runs {
        assert_eq!(r.file_offset, rebuilt.len() as u64);
        let mut b = vec![0u8; r.len as usize];
        dev.read_at(r.volume_offset.unwrap(), &mut b).unwrap();
        rebuilt.extend_from_slice(&b);
    }
    assert_eq!(rebuilt, big);
    // Small files live in the MFT record: no runs to give.
    assert!(matches!(
        fs.data_runs(b"/win.ini"),
        Err(FsError::Unsupported { .. })
    ));

    // A hiberfil.sys whose header says HIBR: hibernated / fast startup (GEN-5).
    let d2 = tempfile::tempdir().unwrap();
    let mut hib = b"HIBR".to_vec();
    hib.extend_from_slice(&[0u8; 4092]);
    let img2 = ntfs_image(d2.path(), &[("/hiberfil.sys", hib)]);
    let fs2 = guestfix::fs::ntfs::NtfsFs::open(mem_copy(&img2)).unwrap();
    match fs2.info().dirty {
        DirtyState::Dirty { detail } => assert!(detail.contains("hiberfil"), "{detail}"),
        other => panic!("expected dirty, got {other:?}"),
    }
}

/// A partitioned disk: ext4 root whose fstab mounts /boot (ext4 by UUID) and /boot/efi (vfat
/// by PARTUUID), plus swap, an NFS line and an entry naming nothing.
#[test]
fn linux_guest_tree_from_fstab() {
    let d = tempfile::tempdir().unwrap();
    let dp = d.path();
    let root_src = dp.join("root");
    std::fs::create_dir_all(root_src.join("etc")).unwrap();
    std::fs::create_dir_all(root_src.join("boot")).unwrap();
    std::fs::write(root_src.join("etc/os-release"), b"ID=debian\n").unwrap();
    std::fs::write(
        root_src.join("etc/fstab"),
        "# static file system information\n\
         UUID=11111111-2222-4333-8444-555555555555 / ext4 errors=remount-ro 0 1\n\
         UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee /boot ext4 defaults 0 2\n\
         PARTUUID=d00dfeed-03 /boot/efi vfat umask=0077 0 1\n\
         /dev/sda4 none swap sw 0 0\n\
         server:/export /mnt/nfs nfs defaults 0 0\n\
         LABEL=nothere /srv ext4 defaults 0 2\n",
    )
    .unwrap();
    let boot_src = dp.join("boot");
    std::fs::create_dir_all(boot_src.join("grub")).unwrap();
    std::fs::write(boot_src.join("grub/grub.cfg"), b"set timeout=5\n").unwrap();
    std::os::unix::fs::symlink("/boot/grub/grub.cfg", root_src.join("etc/grub-link")).unwrap();
    let mk = |name: &str, size: u64, uuid: &str, src: &Path| {
        let p = dp.join(name);
        std::fs::File::create(&p).unwrap().set_len(size).unwrap();
        sh(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-U",
                uuid,
                "-d",
                src.to_str().unwrap(),
                p.to_str().unwrap(),
            ],
        );
    };
    mk(
        "r.img",
        8 << 20,
        "11111111-2222-4333-8444-555555555555",
        &root_src,
    );
    mk(
        "b.img",
        4 << 20,
        "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        &boot_src,
    );
    let e = dp.join("e.img");
    std::fs::File::create(&e).unwrap().set_len(2 << 20).unwrap();
    sh("mkfs.vfat", &[e.to_str().unwrap()]);
    let efi_src = dp.join("BOOTX64.EFI");
    std::fs::write(&efi_src, b"MZ-efi").unwrap();
    sh("mmd", &["-i", e.to_str().unwrap(), "::/EFI"]);
    sh(
        "mcopy",
        &[
            "-i",
            e.to_str().unwrap(),
            efi_src.to_str().unwrap(),
            "::/EFI/",
        ],
    );
    let s = dp.join("s.img");
    std::fs::File::create(&s).unwrap().set_len(1 << 20).unwrap();
    sh(
        "mkswap",
        &[
            "-q",
            "-U",
            "5a5a5a5a-1111-4222-8333-444444444444",
            s.to_str().unwrap(),
        ],
    );
    let disk = dp.join("disk.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(20 << 20)
        .unwrap();
    let script = "label: dos\nlabel-id: 0xd00dfeed\n\
                  start=2048, size=16384, type=83, bootable\n\
                  start=18432, size=8192, type=83\n\
                  start=26624, size=4096, type=ef\n\
                  start=30720, size=2048, type=82\n";
    let mut child = Command::new("sfdisk")
        .args(["-q", disk.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    for (img, sector) in [
        (&dp.join("r.img"), 2048u64),
        (&dp.join("b.img"), 18432),
        (&e, 26624),
        (&s, 30720),
    ] {
        std::os::unix::fs::FileExt::write_all_at(&f, &std::fs::read(img).unwrap(), sector * 512)
            .unwrap();
    }
    drop(f);
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(&disk).unwrap());
    let set = guestfix::fs::scan_disks(&[dev]).unwrap();
    let (roots, errs) = guestfix::guest::mount::find_roots(&set);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].volume, "/dev/sda1");
    let lt = guestfix::guest::mount::build_linux_tree(&set, &roots[0]).unwrap();
    use guestfix::guest::mount::FstabStatus as S;
    let st: Vec<(&str, S)> = lt
        .fstab
        .iter()
        .map(|o| (o.file.as_str(), o.status.clone()))
        .collect();
    assert_eq!(st[0], ("/", S::Root));
    assert_eq!(st[1], ("/boot", S::Mounted));
    assert_eq!(st[2], ("/boot/efi", S::Mounted));
    assert_eq!(st[3], ("none", S::Swap));
    assert_eq!(lt.fstab[3].volume.as_deref(), Some("/dev/sda4"));
    assert_eq!(st[4], ("/mnt/nfs", S::NotAFilesystem("nfs".into())));
    assert_eq!(st[5], ("/srv", S::Unresolved));
    let t = &lt.tree;
    assert_eq!(
        t.read_file(b"/boot/grub/grub.cfg", 100).unwrap(),
        b"set timeout=5\n"
    );
    assert_eq!(
        t.read_file(b"/etc/grub-link", 100).unwrap(),
        b"set timeout=5\n"
    );
    assert_eq!(
        t.read_file(b"/boot/efi/efi/bootx64.efi", 100).unwrap(),
        b"MZ-efi"
    );
    let names: Vec<Vec<u8>> = t
        .read_dir(b"/boot")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&b"efi".to_vec()) && names.contains(&b"grub".to_vec()));
    // The swap partition was recognised with its UUID.
    let sw = set.find("/dev/sda4").unwrap();
    assert_eq!(
        sw.content,
        guestfix::volume::Content::Swap {
            uuid: Some("5a5a5a5a-1111-4222-8333-444444444444".into()),
            label: None
        }
    );
    // The CLI over the same disk.
    let exe = env!("CARGO_BIN_EXE_guestfix");
    let out = Command::new(exe)
        .args(["cat", disk.to_str().unwrap(), "-p", "/boot/grub/grub.cfg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"set timeout=5\n");
    let out = Command::new(exe)
        .args([
            "cat",
            disk.to_str().unwrap(),
            "-p",
            "/dev/sda2:/grub/grub.cfg",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"set timeout=5\n");
    let out = Command::new(exe)
        .args(["ls", disk.to_str().unwrap(), "-p", "/boot"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "efi\ngrub\nlost+found\n"
    );
    let out = Command::new(exe)
        .args([
            "ls",
            disk.to_str().unwrap(),
            "-R",
            "--json",
            "-p",
            "/boot/efi",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[1]["path"], "/boot/efi/EFI/BOOTX64.EFI");
    assert_eq!(v[1]["size"], 6);
    let out = Command::new(exe)
        .args(["cat", disk.to_str().unwrap(), "-p", "/etc/nothere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(exe)
        .args(["cat", "/nonexistent/disk.raw", "-p", "/etc/fstab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

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

/// Open, walk and read every file of damaged copies of a real image: each step ends in a value
/// or a typed error (no panic, no hang), and reads never exceed the claimed sizes.
fn mutate_and_walk(
    img: &[u8],
    regions: &[std::ops::Range<usize>],
    rounds: usize,
    seed: u64,
) -> (usize, usize) {
    let mut rng = Rng(seed);
    let (mut opened, mut walked) = (0, 0);
    for _ in 0..rounds {
        let mut m = img.to_vec();
        for _ in 0..1 + rng.below(8) {
            let r = &regions[rng.below(regions.len())];
            let pos = r.start + rng.below(r.len());
            m[pos] = rng.next() as u8;
        }
        let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("m", m));
        let Ok(Some(p)) = guestfix::fs::probe(&*dev) else {
            continue;
        };
        let Ok(fs) = guestfix::fs::open_filesystem(p.kind, dev, &Default::default()) else {
            continue;
        };
        opened += 1;
        let mut t = GuestTree::new();
        t.mount(b"/", fs, "m").unwrap();
        if let Ok(entries) = t.walk(b"/") {
            walked += 1;
            for e in entries {
                if e.metadata.file_type == FileType::Regular {
                    if let Ok(b) = t.read_file(&e.path, 8 << 20) {
                        assert!(b.len() as u64 <= e.metadata.size);
                    }
                }
            }
        }
    }
    (opened, walked)
}

#[test]
fn mutated_fat_ext4_ntfs_images_never_panic() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("a/b/f.txt"), b"hello").unwrap();
    std::fs::write(src.join("a/big"), noise(70_000, 1)).unwrap();
    std::fs::write(src.join("top"), b"top").unwrap();
    let fat = d.path().join("fat.img");
    std::fs::File::create(&fat)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    sh("mkfs.vfat", &[fat.to_str().unwrap()]);
    sh(
        "mcopy",
        &[
            "-s",
            "-i",
            fat.to_str().unwrap(),
            src.join("a").to_str().unwrap(),
            src.join("top").to_str().unwrap(),
            "::/",
        ],
    );
    let (o, w) = mutate_and_walk(
        &std::fs::read(&fat).unwrap(),
        &[0..16 * 1024, 16 * 1024..48 * 1024],
        500,
        1,
    );
    assert!(o > 0 && w > 0, "fat {o} {w}");
    let ext = d.path().join("ext.img");
    std::fs::File::create(&ext)
        .unwrap()
        .set_len(2 << 20)
        .unwrap();
    sh(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            src.to_str().unwrap(),
            ext.to_str().unwrap(),
        ],
    );
    let (o, w) = mutate_and_walk(
        &std::fs::read(&ext).unwrap(),
        &[0..4096, 4096..256 * 1024],
        300,
        2,
    );
    assert!(o > 0 && w > 0, "ext4 {o} {w}");
    let ntfs = ntfs_image(
        d.path(),
        &[("/SYSTEM", noise(70_000, 2)), ("/x.ini", b"x".to_vec())],
    );
    let bytes = std::fs::read(&ntfs).unwrap();
    // Damage the boot sector and the first 64 MFT records ($MFT LCN at 0x30 of the boot sector).
    let cluster = u16::from_le_bytes([bytes[11], bytes[12]]) as usize * bytes[13] as usize;
    let mft = u64::from_le_bytes(bytes[0x30..0x38].try_into().unwrap()) as usize * cluster;
    let (o, w) = mutate_and_walk(&bytes, &[0..512, mft..mft + 64 * 1024], 300, 3);
    assert!(o > 0 && w > 0, "ntfs {o} {w}");
}
