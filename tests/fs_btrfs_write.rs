//! The Btrfs writer (issue 22) judged by the real tools: images made by `mkfs.btrfs --rootdir`
//! (btrfs-progs), written through [`BtrfsWriter`], then `btrfs check --readonly` must exit 0
//! without an error or warning, and our reader must read back exactly the model's bytes and
//! names. Node sizes 4, 16 and 64 KiB, with and without the free-space tree. Needs
//! `btrfs-progs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use guestfix::block::raw::RawFile;
use guestfix::fs::Filesystem;
use guestfix::fs::btrfs::write::{BtrfsWriteError, BtrfsWriter};
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::write::FsWrite;
use proptest::prelude::*;

mod common;

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What the filesystem should hold: files by path, and directories.
#[derive(Debug, Clone, Default)]
struct Model {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl Model {
    fn children(&self, dir: &str) -> BTreeSet<String> {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        self.files
            .keys()
            .chain(self.dirs.iter())
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|r| !r.is_empty() && !r.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

fn base_model() -> Model {
    let mut m = Model::default();
    for d in ["/etc", "/boot", "/boot/grub", "/etc/network", "/many"] {
        m.dirs.insert(d.to_string());
    }
    m.files.insert(
        "/etc/fstab".into(),
        b"UUID=1234 / btrfs defaults 0 0\n".to_vec(),
    );
    m.files
        .insert("/boot/grub/grub.cfg".into(), content(1, 5000));
    m.files
        .insert("/boot/grub/grubenv".into(), content(2, 1024));
    m.files
        .insert("/etc/network/interfaces".into(), content(3, 300));
    m.files
        .insert("/boot/initrd.img".into(), content(4, 1 << 20));
    for i in 0..60 {
        m.files.insert(
            format!("/many/entry-{i:03}"),
            content(100 + i, 40 * i as usize),
        );
    }
    m
}

fn run(c: &mut Command) -> String {
    let o = c.output().expect("run tool");
    assert!(
        o.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mkfs(dir: &Path, m: &Model, opts: &[&str]) -> PathBuf {
    let src = dir.join("root");
    for d in &m.dirs {
        std::fs::create_dir_all(src.join(&d[1..])).unwrap();
    }
    for (p, data) in &m.files {
        std::fs::write(src.join(&p[1..]), data).unwrap();
    }
    let img = dir.join("btrfs.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(320 << 20).unwrap();
    drop(f);
    run(Command::new("mkfs.btrfs")
        .arg("-q")
        .args(opts)
        .arg("--rootdir")
        .arg(&src)
        .arg(&img));
    img
}

/// `btrfs check --readonly` exits 0 and says nothing of an error or warning.
fn check_clean(img: &Path) {
    let out = run(Command::new("btrfs")
        .args(["check", "--readonly", "--check-data-csum"])
        .arg(img));
    for line in out.lines() {
        // a v1 space cache (kernel-made volumes without the free-space tree) is invalidated
        // by the writer the kernel's way, on purpose: the check reports it, it is no error
        if line == "cache and super generation don't match, space cache will be invalidated" {
            continue;
        }
        let l = line.to_ascii_lowercase();
        let bad = (l.contains("error") && !l.contains("no error found"))
            || ["warning", "mismatch", "invalid", "wrong"]
                .iter()
                .any(|w| l.contains(w));
        assert!(!bad, "btrfs check complains: {line}\n---\n{out}");
    }
}

fn open_writer(img: &Path) -> Result<BtrfsWriter, BtrfsWriteError> {
    let dev = Arc::new(RawFile::open_rw(img).unwrap());
    BtrfsWriter::open(dev)
}

/// Our reader reads back exactly the model.
fn check_reader(img: &Path, m: &Model) {
    check_reader_sub(img, None, m);
}

/// Our reader reads back exactly the model in subvolume `subvol` (`None`: the default one).
fn check_reader_sub(img: &Path, subvol: Option<&str>, m: &Model) {
    let fs = BtrfsFs::open(
        Arc::new(RawFile::open(img).unwrap()),
        &BtrfsOpenOptions {
            subvol: subvol.map(str::to_string),
            subvolid: None,
        },
    )
    .unwrap();
    for (p, data) in &m.files {
        let st = fs.stat(p.as_bytes()).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(st.size, data.len() as u64, "{p}: size");
        let mut buf = vec![0u8; data.len()];
        let n = fs.read_at(p.as_bytes(), 0, &mut buf).unwrap();
        assert_eq!(n, data.len(), "{p}: short read");
        assert!(buf == *data, "{p}: content differs");
    }
    for d in m.dirs.iter().map(String::as_str).chain(["/"]) {
        let names: BTreeSet<String> = fs
            .read_dir(d.as_bytes())
            .unwrap_or_else(|e| panic!("{d}: {e}"))
            .into_iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect();
        assert_eq!(names, m.children(d), "{d}: entries");
    }
}

fn judge(img: &Path, m: &Model) {
    check_clean(img);
    check_reader(img, m);
}

/// The mkfs variants every scenario runs on.
const VARIANTS: &[&[&str]] = &[
    &[],
    &["-n", "4096"],
    &["-n", "65536"],
    &["-R", "^free-space-tree"],
    &["-O", "^skinny-metadata"],
    &["-m", "single"],
];

fn each_variant(f: impl Fn(&Path, &mut Model, &mut BtrfsWriter)) {
    for opts in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let mut m = base_model();
        let img = mkfs(dir.path(), &m, opts);
        judge(&img, &m);
        let mut w = open_writer(&img).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        f(&img, &mut m, &mut w);
        drop(w);
        eprintln!("variant {opts:?}");
        judge(&img, &m);
    }
}

#[test]
fn replace_small_stays_inline() {
    each_variant(|_, m, w| {
        let new = b"UUID=abcd / btrfs defaults 0 1\n/dev/vda2 none swap sw 0 0\n".to_vec();
        w.replace("/etc/fstab", None, &new).unwrap();
        m.files.insert("/etc/fstab".into(), new);
    });
}

#[test]
fn replace_inline_with_regular_and_back() {
    each_variant(|_, m, w| {
        let big = content(7, 9000);
        w.replace("/etc/network/interfaces", None, &big).unwrap();
        m.files.insert("/etc/network/interfaces".into(), big);
        // regular → inline
        let small = content(8, 100);
        w.replace("/boot/grub/grub.cfg", None, &small).unwrap();
        m.files.insert("/boot/grub/grub.cfg".into(), small);
        // empty
        w.replace("/many/entry-007", None, b"").unwrap();
        m.files.insert("/many/entry-007".into(), Vec::new());
    });
}

#[test]
fn grow_and_shrink_large_files() {
    each_variant(|_, m, w| {
        // grow the 1 MiB initrd to 3 MiB: checksum items spread over several leaves
        let grown = content(9, 3 << 20);
        w.replace("/boot/initrd.img", None, &grown).unwrap();
        let shrunk = content(10, 12345);
        w.replace("/boot/grub/grub.cfg", None, &shrunk).unwrap();
        m.files.insert("/boot/grub/grub.cfg".into(), shrunk);
        let again = content(11, (3 << 20) - 4097);
        w.replace("/boot/initrd.img", None, &again).unwrap();
        m.files.insert("/boot/initrd.img".into(), again);
    });
}

#[test]
fn replace_with_backup() {
    each_variant(|_, m, w| {
        let old = m.files["/etc/fstab"].clone();
        let new = b"# edited\n".to_vec();
        w.replace("/etc/fstab", Some("fstab.guestfix-orig"), &new)
            .unwrap();
        m.files.insert("/etc/fstab".into(), new);
        m.files.insert("/etc/fstab.guestfix-orig".into(), old);
        let old = m.files["/boot/initrd.img"].clone();
        let mut new = old.clone();
        new.extend_from_slice(&content(12, 70000));
        w.replace("/boot/initrd.img", Some("initrd.img.orig"), &new)
            .unwrap();
        m.files.insert("/boot/initrd.img".into(), new);
        m.files.insert("/boot/initrd.img.orig".into(), old);
        // an existing backup is an error, and nothing changes
        let e = w
            .replace("/etc/fstab", Some("fstab.guestfix-orig"), b"x")
            .unwrap_err();
        assert!(matches!(e, BtrfsWriteError::AlreadyExists(_)), "{e}");
    });
}

#[test]
fn create_files_and_folders() {
    each_variant(|_, m, w| {
        w.create("/etc/modules-load.d/virtio.conf", b"virtio_blk\n")
            .unwrap();
        m.dirs.insert("/etc/modules-load.d".into());
        m.files.insert(
            "/etc/modules-load.d/virtio.conf".into(),
            b"virtio_blk\n".to_vec(),
        );
        // enough new names in one directory to split its leaves
        for i in 0..150 {
            let p = format!("/many/new-{i:03}");
            let data = content(200 + i, (i as usize * 97) % 6000);
            FsWrite::create(w, &p, &data).unwrap();
            m.files.insert(p, data);
        }
        let e = w.create("/etc/fstab", b"x").unwrap_err();
        assert!(matches!(e, BtrfsWriteError::AlreadyExists(_)), "{e}");
    });
}

/// The guestfish fixture (scripts/images/btrfs-fixtures.sh: subvolumes `@`, `@/home`,
/// `@/.snapshots` with a read-only snapper-style snapshot of `@`, compressed files), when it
/// was built.
fn fixture() -> Option<PathBuf> {
    let base = std::env::var_os("HOME").map(PathBuf::from)?;
    let dir = std::fs::read_dir(base.join(".cache/guestfix/fixtures"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("btrfs-"))
                && p.join("done").is_file()
        });
    if dir.is_none() {
        eprintln!(
            "\n*** SKIPPING: no btrfs guestfish fixture (run tests/fs_btrfs_guestfish.rs) ***\n"
        );
    }
    dir
}

fn open_sub(img: &Path, subvol: &str) -> Result<BtrfsWriter, BtrfsWriteError> {
    let dev = Arc::new(RawFile::open_rw(img).unwrap());
    BtrfsWriter::open_with(
        dev,
        BtrfsOpenOptions {
            subvol: Some(subvol.into()),
            subvolid: None,
        },
    )
}

#[test]
fn subvolumes_of_the_guestfish_fixture() {
    let Some(fx) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    run(Command::new("cp")
        .arg("--sparse=always")
        .arg(fx.join("disk.img"))
        .arg(&img));
    check_clean(&img);
    let home = b"rewritten in @/home\n".to_vec();
    let mut w = open_sub(&img, "@/home").unwrap();
    w.replace("/user/notes.txt", Some("notes.txt.orig"), &home)
        .unwrap_or_else(|e| panic!("@/home: {e}"));
    drop(w);
    check_clean(&img);
    let fs = BtrfsFs::open(
        Arc::new(RawFile::open(&img).unwrap()),
        &BtrfsOpenOptions {
            subvol: Some("@/home".into()),
            subvolid: None,
        },
    )
    .unwrap();
    assert_eq!(fs.read_file(b"/user/notes.txt", 1 << 20).unwrap(), home);
    assert_eq!(
        fs.read_file(b"/user/notes.txt.orig", 1 << 20).unwrap(),
        b"home of user\n"
    );
    // @ has a read-only snapshot: the blocks it shares with @ are never COWed by this writer
    // (it refuses them), and here @ was rewritten after the snapshot, so the write lands and
    // the snapshot keeps its bytes
    let snap = |img: &Path, p: &[u8]| {
        BtrfsFs::open(
            Arc::new(RawFile::open(img).unwrap()),
            &BtrfsOpenOptions {
                subvol: Some("@/.snapshots/1/snapshot".into()),
                subvolid: None,
            },
        )
        .unwrap()
        .read_file(p, 1 << 20)
        .unwrap()
    };
    let snap_files: [&[u8]; 4] = [
        b"/etc/hostname",
        b"/var/data/zlib.txt",
        b"/var/data/lzo.txt",
        b"/var/data/zstd.txt",
    ];
    let snap_before: Vec<Vec<u8>> = snap_files.iter().map(|p| snap(&img, p)).collect();
    assert_eq!(snap_before[0], b"before-snapshot\n");
    let mut w = open_sub(&img, "@").unwrap();
    w.replace("/etc/hostname", Some("hostname.orig"), b"x\n")
        .unwrap_or_else(|e| panic!("@: {e}"));
    // compressed files (zlib, lzo, zstd) rewritten: their compressed extents are freed
    let mut want = Vec::new();
    for (i, f) in ["zlib", "lzo", "zstd"].iter().enumerate() {
        let p = format!("/var/data/{f}.txt");
        let data = content(300 + i as u64, 50_000 * (i + 1));
        w.replace(&p, None, &data)
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        want.push((p, data));
    }
    drop(w);
    let fs = BtrfsFs::open(
        Arc::new(RawFile::open(&img).unwrap()),
        &BtrfsOpenOptions::default(),
    )
    .unwrap();
    for (p, data) in &want {
        assert!(fs.read_file(p.as_bytes(), 1 << 30).unwrap() == *data, "{p}");
    }
    check_clean(&img);
    // the snapshot shares the compressed extents: they lost one reference and kept their bytes
    for (p, want) in snap_files.iter().zip(&snap_before) {
        assert!(
            snap(&img, p) == *want,
            "snapshot {}",
            String::from_utf8_lossy(p)
        );
    }
    // the read-only snapshot is never written
    let Err(e) = open_sub(&img, "@/.snapshots/1/snapshot") else {
        panic!("the read-only snapshot opened for writing");
    };
    assert!(matches!(e, BtrfsWriteError::ReadOnlySubvolume(_)), "{e}");
}

/// Set a field of the primary superblock and re-checksum it (crafting states mkfs cannot).
fn poke_super(img: &Path, at: usize, bytes: &[u8]) {
    let mut f = std::fs::read(img).unwrap();
    let sb = 0x10000;
    f[sb + at..sb + at + bytes.len()].copy_from_slice(bytes);
    let c = crc32c::crc32c(&f[sb + 32..sb + 4096]);
    f[sb..sb + 32].fill(0);
    f[sb..sb + 4].copy_from_slice(&c.to_le_bytes());
    std::fs::write(img, f).unwrap();
}

/// A refusal names its reason and leaves every byte as it was.
fn refused(img: &Path, what: &str, f: impl FnOnce() -> Result<(), BtrfsWriteError>) {
    let before = std::fs::read(img).unwrap();
    let e = f().expect_err(what);
    let msg = e.to_string();
    assert!(
        msg.contains(what),
        "expected a refusal naming {what:?}, got: {msg}"
    );
    assert!(
        std::fs::read(img).unwrap() == before,
        "{what}: the refusal wrote"
    );
}

#[test]
fn refusals_name_the_reason_and_write_nothing() {
    let m = base_model();
    // a log tree that needs replaying
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &m, &[]);
    poke_super(&img, 0x60, &0x1234_0000u64.to_le_bytes());
    refused(&img, "log tree", || open_writer(&img).map(|_| ()));

    // mixed block groups
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &m, &["-M"]);
    refused(&img, "mixed block groups", || open_writer(&img).map(|_| ()));

    // quotas
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &m, &["-R", "quota"]);
    refused(&img, "quotas", || open_writer(&img).map(|_| ()));

    // an incompat flag no one knows
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &m, &[]);
    let mut f = std::fs::read(&img).unwrap();
    let flags = u64::from_le_bytes(f[0x10000 + 0xbc..0x10000 + 0xc4].try_into().unwrap());
    drop(std::mem::take(&mut f));
    poke_super(&img, 0xbc, &(flags | 1 << 13).to_le_bytes());
    refused(&img, "incompat", || open_writer(&img).map(|_| ()));

    // two devices (RAID1 metadata across them)
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    for p in [&a, &b] {
        std::fs::File::create(p)
            .unwrap()
            .set_len(256 << 20)
            .unwrap();
    }
    run(Command::new("mkfs.btrfs")
        .args(["-q", "-m", "raid1", "-d", "single"])
        .arg(&a)
        .arg(&b));
    refused(&a, "multi-device", || open_writer(&a).map(|_| ()));

    // no room: data larger than every data block group holds (no new chunk is allocated)
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &m, &[]);
    let mut w = open_writer(&img).unwrap();
    let huge = vec![0x5au8; 400 << 20];
    refused(&img, "no space left", || {
        w.replace("/etc/fstab", None, &huge)
    });

    // paths it does not write
    refused(&img, "not a regular file", || w.replace("/etc", None, b"x"));
    refused(&img, "no such file", || w.replace("/etc/nope", None, b"x"));
    refused(&img, "invalid path", || {
        w.replace("/etc/../fstab", None, b"x")
    });
    refused(&img, "already exists", || {
        FsWrite::rename(&mut w, "/etc/fstab", "/boot/grub/grub.cfg").map_err(|e| match e {
            guestfix::fs::write::WriteError::Btrfs(b) => b,
            other => panic!("{other}"),
        })
    });
    drop(w);
    check_clean(&img);
}

#[test]
fn rename_files_and_folders() {
    each_variant(|_, m, w| {
        // in one folder
        w.rename("/etc/fstab", "/etc/fstab.renamed").unwrap();
        let v = m.files.remove("/etc/fstab").unwrap();
        m.files.insert("/etc/fstab.renamed".into(), v);
        // to another folder
        w.rename("/many/entry-010", "/etc/network/moved").unwrap();
        let v = m.files.remove("/many/entry-010").unwrap();
        m.files.insert("/etc/network/moved".into(), v);
        // a folder with its content
        w.rename("/boot/grub", "/etc/grub-moved").unwrap();
        m.dirs.remove("/boot/grub");
        m.dirs.insert("/etc/grub-moved".into());
        for f in ["grub.cfg", "grubenv"] {
            let v = m.files.remove(&format!("/boot/grub/{f}")).unwrap();
            m.files.insert(format!("/etc/grub-moved/{f}"), v);
        }
        // then written through its new path
        let d = content(77, 6000);
        w.replace("/etc/grub-moved/grub.cfg", None, &d).unwrap();
        m.files.insert("/etc/grub-moved/grub.cfg".into(), d);
        let e = w.rename("/etc", "/etc/network/loop").unwrap_err();
        assert!(matches!(e, BtrfsWriteError::InvalidPath(_)), "{e}");
    });
}

/// One random operation of a property-test sequence.
#[derive(Debug, Clone)]
enum Op {
    Write {
        file: usize,
        len: usize,
        seed: u64,
    },
    Backup {
        file: usize,
        name: u8,
        len: usize,
        seed: u64,
    },
    Create {
        dir: usize,
        name: u8,
        len: usize,
        seed: u64,
    },
    Rename {
        file: usize,
        dir: usize,
        name: u8,
    },
    Remove {
        file: usize,
    },
}

fn len_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..2100,
        3 => 2100usize..20_000,
        2 => 20_000usize..300_000,
        1 => 300_000usize..2_000_000,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), len_strategy(), any::<u64>())
            .prop_map(|(file, len, seed)| Op::Write { file, len, seed }),
        1 => (any::<usize>(), any::<u8>(), len_strategy(), any::<u64>())
            .prop_map(|(file, name, len, seed)| Op::Backup { file, name, len, seed }),
        3 => (any::<usize>(), any::<u8>(), len_strategy(), any::<u64>())
            .prop_map(|(dir, name, len, seed)| Op::Create { dir, name, len, seed }),
        2 => (any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(file, dir, name)| Op::Rename { file, dir, name }),
        2 => any::<usize>().prop_map(|file| Op::Remove { file }),
    ]
}

/// Whether an error is a clean refusal (the model is then unchanged).
fn refusal(e: &BtrfsWriteError) -> bool {
    matches!(
        e,
        BtrfsWriteError::TreeShape { .. }
            | BtrfsWriteError::NoSpace(_)
            | BtrfsWriteError::AlreadyExists(_)
    )
}

fn join(d: &str, n: &str) -> String {
    if d == "/" {
        format!("/{n}")
    } else {
        format!("{d}/{n}")
    }
}

fn run_ops(opts: &[&str], ops: &[Op]) -> Result<(), TestCaseError> {
    let td = tempfile::tempdir().unwrap();
    let mut m = base_model();
    let img = mkfs(td.path(), &m, opts);
    let mut w = open_writer(&img).unwrap();
    apply_ops(&mut w, &mut m, ops)?;
    drop(w);
    judge(&img, &m);
    Ok(())
}

/// Run `ops` through `w`, keeping `m` in step with what succeeded.
fn apply_ops(w: &mut BtrfsWriter, m: &mut Model, ops: &[Op]) -> Result<(), TestCaseError> {
    for op in ops {
        let files: Vec<String> = m.files.keys().cloned().collect();
        let dirs: Vec<String> = m.dirs.iter().cloned().chain(["/".to_string()]).collect();
        let r = match op.clone() {
            Op::Write { file, len, seed } => {
                if files.is_empty() {
                    continue;
                }
                let p = files[file % files.len()].clone();
                let d = content(seed, len);
                w.replace(&p, None, &d).map(|_| {
                    m.files.insert(p, d);
                })
            }
            Op::Backup {
                file,
                name,
                len,
                seed,
            } => {
                if files.is_empty() {
                    continue;
                }
                let p = files[file % files.len()].clone();
                let (pd, _) = guestfix::fs::write::split_path(&p);
                let b = format!("bk{name}");
                let to = join(pd, &b);
                let d = content(seed, len);
                let old = m.files[&p].clone();
                w.replace(&p, Some(&b), &d).map(|_| {
                    m.files.insert(to, old);
                    m.files.insert(p, d);
                })
            }
            Op::Create {
                dir,
                name,
                len,
                seed,
            } => {
                let p = join(&dirs[dir % dirs.len()], &format!("n{name}"));
                let d = content(seed, len);
                w.create(&p, &d).map(|_| {
                    m.files.insert(p, d);
                })
            }
            Op::Rename { file, dir, name } => {
                if files.is_empty() {
                    continue;
                }
                let p = files[file % files.len()].clone();
                let to = join(&dirs[dir % dirs.len()], &format!("r{name}"));
                w.rename(&p, &to).map(|_| {
                    let v = m.files.remove(&p).unwrap();
                    m.files.insert(to, v);
                })
            }
            Op::Remove { file } => {
                if files.is_empty() {
                    continue;
                }
                let p = files[file % files.len()].clone();
                w.remove(&p).map(|_| {
                    m.files.remove(&p);
                })
            }
        };
        if let Err(e) = r {
            prop_assert!(refusal(&e), "{op:?}: {e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn prop_16k(ops in proptest::collection::vec(op_strategy(), 1..20)) {
        run_ops(&[], &ops)?;
    }

    #[test]
    fn prop_4k_nodes_no_free_space_tree(ops in proptest::collection::vec(op_strategy(), 1..20)) {
        run_ops(&["-n", "4096", "-R", "^free-space-tree"], &ops)?;
    }

    #[test]
    fn prop_64k_nodes_not_skinny(ops in proptest::collection::vec(op_strategy(), 1..12)) {
        run_ops(&["-n", "65536", "-O", "^skinny-metadata"], &ops)?;
    }
}

#[path = "../fuzz/bodies/btrfs_write.rs"]
mod fuzz_body;

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]
    /// The fuzz target's body on random operation strings (cargo-fuzz explores further).
    #[test]
    fn fuzz_body_random_ops(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        fuzz_body::run(&data);
    }
}

/// The kernel's judgement (inside the libguestfs appliance, scripts/libguestfs-env.sh: this
/// host has no btrfs module): three variants written through every operation, mounted
/// read-only, every file of the model read back with the same sha256 (the kernel verifies
/// data checksums on read) and every folder listed with the model's names.
#[test]
fn kernel_reads_back_what_was_written() {
    let td = tempfile::tempdir().unwrap();
    let variants: &[&[&str]] = &[
        &[],
        &["-n", "4096", "-R", "^free-space-tree"],
        &["-n", "65536", "-O", "^skinny-metadata"],
    ];
    let mut imgs = Vec::new();
    for (i, opts) in variants.iter().enumerate() {
        let dir = td.path().join(format!("v{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = base_model();
        let img = mkfs(&dir, &m, opts);
        let mut w = open_writer(&img).unwrap();
        let edits: [(&str, Vec<u8>); 3] = [
            ("/etc/fstab", b"# by guestfix\n".to_vec()),
            ("/etc/network/interfaces", content(20 + i as u64, 9000)),
            ("/boot/initrd.img", content(30 + i as u64, (2 << 20) + 123)),
        ];
        for (p, d) in edits {
            let old = m.files[p].clone();
            let b = format!("{}.orig", guestfix::fs::write::split_path(p).1);
            w.replace(p, Some(&b), &d).unwrap();
            m.files
                .insert(join(guestfix::fs::write::split_path(p).0, &b), old);
            m.files.insert(p.to_string(), d);
        }
        w.create(
            "/etc/dracut.conf.d/virtio.conf",
            b"add_drivers+=\" virtio_blk \"\n",
        )
        .unwrap();
        m.dirs.insert("/etc/dracut.conf.d".into());
        m.files.insert(
            "/etc/dracut.conf.d/virtio.conf".into(),
            b"add_drivers+=\" virtio_blk \"\n".to_vec(),
        );
        w.rename("/many/entry-005", "/etc/entry-005").unwrap();
        let v = m.files.remove("/many/entry-005").unwrap();
        m.files.insert("/etc/entry-005".into(), v);
        drop(w);
        judge(&img, &m);
        imgs.push((img, m));
    }
    let mut script: String = imgs
        .iter()
        .map(|(img, _)| format!("add {} readonly:true format:raw\n", img.display()))
        .collect();
    script.push_str("run\n");
    for (i, (_, m)) in imgs.iter().enumerate() {
        let dev = format!("/dev/sd{}", (b'a' + i as u8) as char);
        script.push_str(&format!("mount-ro {dev} /\n"));
        for p in m.files.keys() {
            script.push_str(&format!("echo F {i} {p}\nchecksum sha256 {p}\n"));
        }
        for d in m.dirs.iter().map(String::as_str).chain(["/"]) {
            script.push_str(&format!("echo D {i} {d}\nls {d}\necho END\n"));
        }
        script.push_str("umount /\n");
    }
    let Some(o) = common::guestfish(&script, false) else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "guestfish failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut lines = out.lines();
    let mut seen = 0;
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("F ") {
            let (i, p) = rest.split_once(' ').unwrap();
            let m = &imgs[i.parse::<usize>().unwrap()].1;
            let got = lines.next().unwrap();
            let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&m.files[p]));
            assert_eq!(got, want, "variant {i}: {p} as the kernel reads it");
            seen += 1;
        } else if let Some(rest) = l.strip_prefix("D ") {
            let (i, d) = rest.split_once(' ').unwrap();
            let m = &imgs[i.parse::<usize>().unwrap()].1;
            let mut names = BTreeSet::new();
            for n in lines.by_ref() {
                if n == "END" {
                    break;
                }
                names.insert(n.to_string());
            }
            assert_eq!(
                names,
                m.children(d),
                "variant {i}: {d} as the kernel lists it"
            );
        }
    }
    assert_eq!(seen, imgs.iter().map(|(_, m)| m.files.len()).sum::<usize>());
}

/// Enough new files on 4 KiB nodes that the fs tree's nodes split and its root grows a level
/// (a node holds 121 pointers).
#[test]
fn node_splits_and_a_taller_tree() {
    let td = tempfile::tempdir().unwrap();
    let mut m = base_model();
    let img = mkfs(td.path(), &m, &["-n", "4096"]);
    let levels = |img: &Path| {
        let out = run(Command::new("btrfs")
            .args(["inspect-internal", "dump-tree", "-t", "fs"])
            .arg(img));
        out.lines()
            .find_map(|l| l.strip_prefix("node ").or_else(|| l.strip_prefix("leaf ")))
            .and_then(|l| l.split("level ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|l| l.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let before = levels(&img);
    let mut w = open_writer(&img).unwrap();
    for i in 0..1400u64 {
        let p = format!("/many/bulk-{i:05}");
        let d = content(1000 + i, 1500);
        w.create(&p, &d).unwrap();
        m.files.insert(p, d);
    }
    drop(w);
    let after = levels(&img);
    eprintln!("fs tree root level {before} → {after}");
    assert!(after >= 2 && after > before, "{before} → {after}");
    judge(&img, &m);
}

/// A loop mount of an image, unmounted when dropped.
struct Mount {
    dir: PathBuf,
}

impl Mount {
    fn new(img: &Path, dir: &Path, ro: bool) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        run(Command::new("mount")
            .args(["-t", "btrfs", "-o", if ro { "loop,ro" } else { "loop" }])
            .arg(img)
            .arg(dir));
        Mount {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn write_model(root: &Path, m: &Model) {
    for d in &m.dirs {
        std::fs::create_dir_all(root.join(&d[1..])).unwrap();
    }
    for (p, data) in &m.files {
        std::fs::write(root.join(&p[1..]), data).unwrap();
    }
}

/// One snapshot of `@`: its path from the top level, whether read-only, and what it holds.
struct Snap {
    path: String,
    ro: bool,
    model: Model,
}

/// A snapper-like volume made by the kernel through a loop mount: subvolume `@` (the
/// default) holding the model, then snapshots under `/.snapshots/N/snapshot`: 1 read-only,
/// then `@` changed by the kernel (some blocks of `@` already copied by the kernel), 2
/// writable and 3 read-only taken back to back (blocks shared three ways), then `@` changed
/// again; `@` also holds a hard link and a symlink, and 1500 small files in `/bulk`.
fn snapper_volume(dir: &Path, opts: &[&str]) -> (PathBuf, Model, Vec<Snap>) {
    let img = dir.join("snapper.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.btrfs").arg("-q").args(opts).arg(&img));
    let mnt = dir.join("mnt");
    let mut m = base_model();
    // enough small files that 4 KiB nodes make a three-level fs tree (shared nodes)
    m.dirs.insert("/bulk".into());
    for i in 0..1500u64 {
        m.files
            .insert(format!("/bulk/f-{i:04}"), content(2000 + i, 1000));
    }
    let mut snaps = Vec::new();
    {
        let _g = Mount::new(&img, &mnt, false);
        run(Command::new("btrfs")
            .args(["subvolume", "create"])
            .arg(mnt.join("@")));
        write_model(&mnt.join("@"), &m);
        std::fs::write(mnt.join("@/etc/hard"), b"hard-linked\n").unwrap();
        std::fs::hard_link(mnt.join("@/etc/hard"), mnt.join("@/etc/hard2")).unwrap();
        std::os::unix::fs::symlink("fstab", mnt.join("@/etc/link")).unwrap();
        m.files
            .insert("/etc/hard".into(), b"hard-linked\n".to_vec());
        m.files
            .insert("/etc/hard2".into(), b"hard-linked\n".to_vec());
        let snap = |n: u32, ro: bool, m: &Model, snaps: &mut Vec<Snap>| {
            run(&mut Command::new("sync"));
            let d = mnt.join(format!(".snapshots/{n}"));
            std::fs::create_dir_all(&d).unwrap();
            let mut c = Command::new("btrfs");
            c.args(["subvolume", "snapshot"]);
            if ro {
                c.arg("-r");
            }
            run(c.arg(mnt.join("@")).arg(d.join("snapshot")));
            snaps.push(Snap {
                path: format!(".snapshots/{n}/snapshot"),
                ro,
                model: m.clone(),
            });
        };
        snap(1, true, &m, &mut snaps);
        for (i, p) in ["/many/entry-030", "/boot/grub/grub.cfg", "/etc/fstab"]
            .iter()
            .enumerate()
        {
            let d = content(500 + i as u64, 3000 * i + 10);
            std::fs::write(mnt.join("@").join(&p[1..]), &d).unwrap();
            m.files.insert(p.to_string(), d);
        }
        snap(2, false, &m, &mut snaps);
        snap(3, true, &m, &mut snaps);
        let d = content(510, 20_000);
        std::fs::write(mnt.join("@/many/entry-031"), &d).unwrap();
        m.files.insert("/many/entry-031".into(), d);
        let out = run(Command::new("btrfs").args(["subvolume", "list"]).arg(&mnt));
        let id = out
            .lines()
            .find(|l| l.ends_with(" path @"))
            .and_then(|l| l.split_whitespace().nth(1))
            .expect("@ listed")
            .to_string();
        run(Command::new("btrfs")
            .args(["subvolume", "set-default", &id])
            .arg(&mnt));
    }
    (img, m, snaps)
}

/// The kernel reads every snapshot and `@` back as their models say (data checksums are
/// verified on read).
fn kernel_reads(img: &Path, dir: &Path, live: &[(&str, &Model)]) {
    // the default subvolume is @: the top level holds every subvolume
    let top = {
        let t = dir.join("top");
        std::fs::create_dir_all(&t).unwrap();
        run(Command::new("mount")
            .args(["-t", "btrfs", "-o", "loop,ro,subvolid=5"])
            .arg(img)
            .arg(&t));
        Mount { dir: t }
    };
    for (sub, m) in live {
        let root = top.dir.join(sub);
        for (p, data) in &m.files {
            let got = std::fs::read(root.join(&p[1..])).unwrap_or_else(|e| panic!("{sub}{p}: {e}"));
            assert!(got == *data, "{sub}{p}: the kernel reads other bytes");
        }
        for d in m.dirs.iter().map(String::as_str).chain(["/"]) {
            let names: BTreeSet<String> = std::fs::read_dir(root.join(&d[1..]))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".snapshots" && n != "link")
                .collect();
            assert_eq!(
                names,
                m.children(d),
                "{sub}{d}: the kernel lists other names"
            );
        }
    }
    drop(top);
}

/// The model as the reader lists it: `/` of `@` also holds `.snapshots` and `/etc` the
/// symlink `link`, which the model does not track; files are compared exactly.
fn check_live(img: &Path, sub: &str, m: &Model) {
    let fs = BtrfsFs::open(
        Arc::new(RawFile::open(img).unwrap()),
        &BtrfsOpenOptions {
            subvol: Some(sub.into()),
            subvolid: None,
        },
    )
    .unwrap();
    for (p, data) in &m.files {
        let got = fs
            .read_file(p.as_bytes(), 1 << 30)
            .unwrap_or_else(|e| panic!("{sub}{p}: {e}"));
        assert!(got == *data, "{sub}{p}: content differs");
    }
    for d in m.dirs.iter().map(String::as_str).chain(["/"]) {
        let names: BTreeSet<String> = fs
            .read_dir(d.as_bytes())
            .unwrap_or_else(|e| panic!("{sub}{d}: {e}"))
            .into_iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .filter(|n| n != ".snapshots" && n != "link")
            .collect();
        assert_eq!(names, m.children(d), "{sub}{d}: entries");
    }
}

/// How many (shared block, shared data) back references and FULL_BACKREF extents
/// `btrfs inspect-internal dump-tree` finds in the extent tree.
fn shared_refs(img: &Path) -> (usize, usize, usize) {
    let out = run(Command::new("btrfs")
        .args(["inspect-internal", "dump-tree", "-t", "extent"])
        .arg(img));
    let n = |w: &str| out.lines().filter(|l| l.contains(w)).count();
    (
        n("shared block backref"),
        n("shared data backref"),
        n("FULL_BACKREF"),
    )
}

/// Every snapshot reads as it was taken (our reader), and `btrfs check` is clean.
fn judge_snapper(img: &Path, live: &[(&str, &Model)], snaps: &[Snap]) {
    check_clean(img);
    for (sub, m) in live {
        check_live(img, sub, m);
    }
    for s in snaps {
        check_live(img, &s.path, &s.model);
    }
}

/// Issue 22: `@` with read-only and writable snapper snapshots sharing its tree blocks and
/// data extents; files replaced (with backups), created, renamed and removed in `@` through
/// our writer, then in the writable snapshot 2 (whose blocks `@` owns). Judges: `btrfs check`
/// clean, every snapshot byte-identical before and after (our reader and the kernel), `@`
/// and snapshot 2 read back as their models (our reader and the kernel).
#[test]
fn snapper_snapshots_share_tree_blocks() {
    for opts in [
        &[][..],
        &["-n", "4096"],
        &["-O", "^skinny-metadata", "-n", "65536"],
    ] {
        eprintln!("variant {opts:?}");
        let td = tempfile::tempdir().unwrap();
        let (img, mut m, mut snaps) = snapper_volume(td.path(), opts);
        judge_snapper(&img, &[("@", &m)], &snaps);
        let shared_before = shared_refs(&img);
        let mut w = open_writer(&img).unwrap();
        // shared leaves with inline files and with regular extents, in several directories
        let d = content(600, 100);
        w.replace("/etc/fstab", Some("fstab.orig"), &d).unwrap();
        let old = m.files.insert("/etc/fstab".into(), d).unwrap();
        m.files.insert("/etc/fstab.orig".into(), old);
        let d = content(601, 70_000);
        w.replace("/boot/initrd.img", None, &d).unwrap();
        m.files.insert("/boot/initrd.img".into(), d);
        for i in (0..60).step_by(7) {
            let p = format!("/many/entry-{i:03}");
            let d = content(700 + i, 5000);
            w.replace(&p, None, &d).unwrap();
            m.files.insert(p, d);
        }
        for i in 0..40 {
            let p = format!("/many/new-{i:03}");
            let d = content(800 + i, 1000 + 97 * i as usize);
            w.create(&p, &d).unwrap();
            m.files.insert(p, d);
        }
        for i in (0..1500).step_by(150) {
            let p = format!("/bulk/f-{i:04}");
            if i % 300 == 0 {
                w.remove(&p).unwrap();
                m.files.remove(&p);
            } else {
                let d = content(3000 + i, 1200);
                w.replace(&p, None, &d).unwrap();
                m.files.insert(p, d);
            }
        }
        w.rename("/etc/network/interfaces", "/boot/interfaces")
            .unwrap();
        let v = m.files.remove("/etc/network/interfaces").unwrap();
        m.files.insert("/boot/interfaces".into(), v);
        for p in [
            "/boot/grub/grubenv",
            "/many/entry-030",
            "/many/entry-059",
            "/many/new-003",
        ] {
            w.remove(p).unwrap_or_else(|e| panic!("remove {p}: {e}"));
            m.files.remove(p);
        }
        // refusals name what they do not handle and write nothing
        refused(&img, "hard-linked", || w.remove("/etc/hard"));
        refused(&img, "not a regular file", || w.remove("/etc/link"));
        refused(&img, "not a regular file", || w.remove("/boot/grub"));
        refused(&img, "no such file", || w.remove("/many/entry-030"));
        drop(w);
        judge_snapper(&img, &[("@", &m)], &snaps);
        // the shared blocks were copied the kernel's way: blocks @ owned switched to full
        // back references, their children and data extents gained shared references
        let shared_after = shared_refs(&img);
        eprintln!(
            "shared block/data refs, full-backref extents: {shared_before:?} → {shared_after:?}"
        );
        assert!(
            shared_after.1 > shared_before.1 && shared_after.2 > shared_before.2,
            "shared data references, FULL_BACKREF {shared_before:?} → {shared_after:?}"
        );
        if opts.contains(&"4096") {
            // a three-level fs tree: shared nodes hand shared block references to leaves
            assert!(
                shared_after.0 > shared_before.0,
                "shared block references {shared_before:?} → {shared_after:?}"
            );
        }
        // the writable snapshot: its blocks are owned by @ (or shared with 1 and 3)
        let mut m2 = snaps[1].model.clone();
        let mut w = open_sub(&img, ".snapshots/2/snapshot").unwrap();
        let d = content(900, 12_000);
        w.replace("/etc/fstab", None, &d).unwrap();
        m2.files.insert("/etc/fstab".into(), d);
        w.remove("/many/entry-012").unwrap();
        m2.files.remove("/many/entry-012");
        w.create("/etc/snapper-was-here", b"x\n").unwrap();
        m2.files
            .insert("/etc/snapper-was-here".into(), b"x\n".to_vec());
        drop(w);
        let snap2 = snaps.remove(1);
        assert!(!snap2.ro);
        judge_snapper(&img, &[("@", &m), (&snap2.path, &m2)], &snaps);
        let mut live: Vec<(&str, &Model)> = vec![("@", &m), (&snap2.path, &m2)];
        live.extend(snaps.iter().map(|s| (s.path.as_str(), &s.model)));
        kernel_reads(&img, td.path(), &live);
        // a read-only snapshot is never opened for writing
        let Err(e) = open_sub(&img, &snaps[0].path) else {
            panic!("read-only snapshot opened");
        };
        assert!(matches!(e, BtrfsWriteError::ReadOnlySubvolume(_)), "{e}");
    }
}

/// Random operations (remove included) on `@` of a snapper-like volume: every snapshot reads
/// as taken, `@` as the model, `btrfs check` clean.
fn run_snapper_ops(opts: &[&str], ops: &[Op]) -> Result<(), TestCaseError> {
    let td = tempfile::tempdir().unwrap();
    let (img, mut m, snaps) = snapper_volume(td.path(), opts);
    // the hard-linked names are kept out of the operations (removing one is refused)
    let hard: Vec<(String, Vec<u8>)> = ["/etc/hard", "/etc/hard2"]
        .iter()
        .map(|p| (p.to_string(), m.files.remove(*p).unwrap()))
        .collect();
    let mut w = open_writer(&img).unwrap();
    apply_ops(&mut w, &mut m, ops)?;
    drop(w);
    m.files.extend(hard);
    check_clean(&img);
    check_live(&img, "@", &m);
    for s in &snaps {
        check_live(&img, &s.path, &s.model);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn prop_snapper_16k(ops in proptest::collection::vec(op_strategy(), 1..20)) {
        run_snapper_ops(&[], &ops)?;
    }

    #[test]
    fn prop_snapper_4k_nodes(ops in proptest::collection::vec(op_strategy(), 1..20)) {
        run_snapper_ops(&["-n", "4096", "-R", "^free-space-tree"], &ops)?;
    }
}

/// A snapper rollback: writable snapshot 2 made the default and `@` deleted by the kernel
/// (its cleaner gives the blocks `@` owned and the snapshots still use full back references,
/// some with a single reference left). Then snapshot 2 written through our writer: every
/// snapshot byte-identical, `btrfs check` clean, the kernel reads everything back.
#[test]
fn snapper_rollback_after_the_origin_is_deleted() {
    for opts in [&[][..], &["-n", "4096"]] {
        eprintln!("variant {opts:?}");
        let td = tempfile::tempdir().unwrap();
        let (img, _, mut snaps) = snapper_volume(td.path(), opts);
        let snap2 = snaps.remove(1);
        {
            let mnt = td.path().join("top");
            std::fs::create_dir_all(&mnt).unwrap();
            run(Command::new("mount")
                .args(["-t", "btrfs", "-o", "loop,subvolid=5"])
                .arg(&img)
                .arg(&mnt));
            let g = Mount { dir: mnt.clone() };
            let out = run(Command::new("btrfs").args(["subvolume", "list"]).arg(&mnt));
            let id = out
                .lines()
                .find(|l| l.ends_with(&format!(" path {}", snap2.path)))
                .and_then(|l| l.split_whitespace().nth(1))
                .expect("snapshot 2 listed")
                .to_string();
            run(Command::new("btrfs")
                .args(["subvolume", "set-default", &id])
                .arg(&mnt));
            run(Command::new("btrfs")
                .args(["subvolume", "delete", "-c"])
                .arg(mnt.join("@")));
            run(Command::new("btrfs").args(["subvolume", "sync"]).arg(&mnt));
            drop(g);
        }
        let mut m2 = snap2.model.clone();
        judge_snapper(&img, &[(&snap2.path, &m2)], &snaps);
        let before = shared_refs(&img);
        let mut w = open_writer(&img).unwrap();
        for (i, p) in [
            "/etc/fstab",
            "/boot/initrd.img",
            "/many/entry-020",
            "/bulk/f-0700",
        ]
        .iter()
        .enumerate()
        {
            let d = content(4000 + i as u64, 900 * i * i + 50);
            w.replace(p, Some("prev"), &d)
                .unwrap_or_else(|e| panic!("{p}: {e}"));
            let (dir, _) = guestfix::fs::write::split_path(p);
            let old = m2.files.insert(p.to_string(), d).unwrap();
            m2.files.insert(join(dir, "prev"), old);
        }
        for p in ["/many/entry-040", "/bulk/f-1400", "/bulk/f-0001"] {
            w.remove(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            m2.files.remove(p);
        }
        for i in 0..30 {
            let p = format!("/bulk/g-{i:02}");
            let d = content(4100 + i, 3000);
            w.create(&p, &d).unwrap();
            m2.files.insert(p, d);
        }
        drop(w);
        eprintln!("shared refs {before:?} → {:?}", shared_refs(&img));
        judge_snapper(&img, &[(&snap2.path, &m2)], &snaps);
        let mut live: Vec<(&str, &Model)> = vec![(&snap2.path, &m2)];
        live.extend(snaps.iter().map(|s| (s.path.as_str(), &s.model)));
        kernel_reads(&img, td.path(), &live);
    }
}
