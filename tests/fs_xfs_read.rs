//! The XFS reader against filesystems made by the real `mkfs.xfs` (xfsprogs) from a tree this
//! test generates (`-p protofile`), in v5 (CRC), v4 and v4 without ftype flavours. Needs the
//! Debian package `xfsprogs` (mkfs.xfs, xfs_repair, xfs_db, xfs_logprint).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use guestfix::block::BlockDev;
use guestfix::block::raw::RawFile;
use guestfix::fs::xfs::XfsFs;
use guestfix::fs::{DirtyState, FileType, Filesystem, FsError, FsKind};
use sha2::{Digest, Sha256};

/// A node of the source tree.
#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Node>),
    Link(Vec<u8>),
    Fifo,
    Chr(u32, u32),
    Blk(u32, u32),
}

/// What walking a filesystem reports for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fact {
    File { size: u64, sha256: String },
    Dir,
    Link(Vec<u8>),
    Fifo,
    Chr,
    Blk,
}

/// Deterministic pseudo-random bytes (xorshift64*), different per seed.
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

fn dir(entries: Vec<(&str, Node)>) -> Node {
    Node::Dir(
        entries
            .into_iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v))
            .collect(),
    )
}

fn many(prefix: &str, n: usize, pad: usize) -> Node {
    let mut m = BTreeMap::new();
    for i in 0..n {
        let mut name = format!("{prefix}-{i:05}");
        while name.len() < pad {
            name.push('x');
        }
        // A few real files among the empty ones, so lookups in big directories find data.
        let node = if i % 997 == 0 {
            Node::File(content(i as u64 + 7, 100 + i))
        } else {
            Node::File(Vec::new())
        };
        m.insert(name.into_bytes(), node);
    }
    Node::Dir(m)
}

pub const LONG_TARGET: &str = "/usr/lib/some/very/long/path/that/does/not/fit/inline/in/the/inode/fork/at/all/because/it/is/way/over/sixty/bytes/and/then/some/more/target-file";

/// A target longer than any inode's literal area, so it is stored in a block ("remote").
fn remote_target() -> Vec<u8> {
    let mut t = Vec::new();
    for i in 0..14 {
        t.extend_from_slice(format!("/component-{i:02}-{}", "q".repeat(36)).as_bytes());
    }
    t
}

fn source_tree(btree_dir: bool) -> Node {
    let mut top = vec![
        ("empty", Node::File(Vec::new())),
        ("one", Node::File(b"x".to_vec())),
        ("f4095", Node::File(content(1, 4095))),
        ("f4096", Node::File(content(2, 4096))),
        ("f1m_odd", Node::File(content(3, (1 << 20) + 4097))),
        ("multi", Node::File(content(4, (5 << 20) + 123))),
        (
            "sf",
            dir(vec![
                ("a", Node::File(content(5, 10))),
                ("bb", Node::Dir(BTreeMap::new())),
                ("ccc", Node::Link(b"a".to_vec())),
            ]),
        ),
        ("blockdir", many("blk", 30, 0)),
        ("leafdir", many("leaf-entry", 300, 0)),
        ("nodedir", many("node-directory-entry", 3000, 0)),
        (
            "etc",
            dir(vec![
                (
                    "fstab",
                    Node::File(
                        b"UUID=0b9b2a5e-1111-2222-3333-444455556666 / xfs defaults 0 0\n".to_vec(),
                    ),
                ),
                ("hostname", Node::File(b"guest\n".to_vec())),
                (
                    "localtime",
                    Node::Link(b"../usr/share/zoneinfo/UTC".to_vec()),
                ),
            ]),
        ),
        (
            "nested",
            dir(vec![(
                "a",
                dir(vec![(
                    "b",
                    dir(vec![(
                        "c",
                        dir(vec![("deep.txt", Node::File(content(6, 77)))]),
                    )]),
                )]),
            )]),
        ),
        ("short-link", Node::Link(b"sf/a".to_vec())),
        ("long-link", Node::Link(LONG_TARGET.as_bytes().to_vec())),
        ("remote-link", Node::Link(remote_target())),
        ("fifo", Node::Fifo),
        ("null", Node::Chr(1, 3)),
        ("sda", Node::Blk(8, 0)),
    ];
    if btree_dir {
        top.push(("btreedir", many(&"b".repeat(60), 30000, 200)));
    }
    dir(top)
}

fn write_proto(node: &BTreeMap<Vec<u8>, Node>, src: &Path, proto: &mut String, n: &mut usize) {
    for (name, v) in node {
        let name = String::from_utf8(name.clone()).unwrap();
        match v {
            Node::File(data) => {
                let p = if data.is_empty() {
                    src.join("empty-source")
                } else {
                    *n += 1;
                    let p = src.join(format!("src{n}"));
                    std::fs::write(&p, data).unwrap();
                    p
                };
                proto.push_str(&format!("{name} ---644 0 0 {}\n", p.display()));
            }
            Node::Dir(m) => {
                proto.push_str(&format!("{name} d--755 0 0\n"));
                write_proto(m, src, proto, n);
                proto.push_str("$\n");
            }
            Node::Link(t) => {
                proto.push_str(&format!(
                    "{name} l--777 0 0 {}\n",
                    String::from_utf8(t.clone()).unwrap()
                ));
            }
            Node::Fifo => proto.push_str(&format!("{name} p--644 0 0\n")),
            Node::Chr(ma, mi) => proto.push_str(&format!("{name} c--644 0 0 {ma} {mi}\n")),
            Node::Blk(ma, mi) => proto.push_str(&format!("{name} b--644 0 0 {ma} {mi}\n")),
        }
    }
}

struct Fixture {
    img: PathBuf,
    tree: Node,
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run tool (is xfsprogs installed?)");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fixtures live in cargo's per-target scratch folder (statics are never dropped, so a
/// TempDir would leak); each run rebuilds them.
fn build(name: &str, mkfs_opts: &[&str], btree_dir: bool) -> Fixture {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("xfs-fixtures")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("empty-source"), b"").unwrap();
    let tree = source_tree(btree_dir);
    let Node::Dir(top) = &tree else {
        unreachable!()
    };
    let mut proto = String::from("/dev/null\n0 0\nd--755 0 0\n");
    let mut n = 0;
    write_proto(top, &src, &mut proto, &mut n);
    proto.push_str("$\n");
    let proto_path = dir.join("proto");
    std::fs::write(&proto_path, proto).unwrap();
    let img = dir.join("xfs.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(320 << 20).unwrap();
    drop(f);
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-L", "gfxtest"])
        .args(mkfs_opts)
        .arg("-p")
        .arg(&proto_path)
        .arg(&img));
    if mkfs_opts.iter().any(|o| o.contains("crc=1")) {
        add_symlink_header(&img, "/remote-link", &remote_target());
    }
    // Sanity of the test data: xfs_repair in no-modify mode finds nothing wrong.
    run(Command::new("xfs_repair").arg("-n").arg("-f").arg(&img));
    // The source files were only needed by mkfs.
    let _ = std::fs::remove_dir_all(&src);
    Fixture { img, tree }
}

fn v5() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build("v5", &["-m", "crc=1,bigtime=1", "-i", "nrext64=1"], true))
}

fn v4() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            "v4",
            &["-m", "crc=0", "-i", "size=256", "-n", "ftype=1"],
            true,
        )
    })
}

fn v4_noftype() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build("v4-noftype", &["-m", "crc=0", "-n", "ftype=0"], false))
}

/// 1 KiB filesystem blocks with 8 KiB directory blocks (each directory block spans eight
/// filesystem blocks, possibly in several extents).
fn v5_small_blocks() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            "v5-1k",
            &["-m", "crc=1", "-b", "size=1024", "-n", "size=8192"],
            false,
        )
    })
}

fn open(img: &Path) -> XfsFs {
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(img).unwrap());
    XfsFs::open(dev).unwrap()
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn expected(node: &Node, path: Vec<u8>, out: &mut BTreeMap<Vec<u8>, Fact>) {
    let fact = match node {
        Node::File(d) => Fact::File {
            size: d.len() as u64,
            sha256: sha(d),
        },
        Node::Dir(m) => {
            for (name, child) in m {
                let mut p = path.clone();
                p.push(b'/');
                p.extend_from_slice(name);
                expected(child, p, out);
            }
            Fact::Dir
        }
        Node::Link(t) => Fact::Link(t.clone()),
        Node::Fifo => Fact::Fifo,
        Node::Chr(..) => Fact::Chr,
        Node::Blk(..) => Fact::Blk,
    };
    if !path.is_empty() {
        out.insert(path, fact);
    }
}

/// Walk through the public `Filesystem` trait only (paths), skipping the contents of
/// `skip` directories (whose listing is still compared by name).
fn walk_trait(fs: &dyn Filesystem, path: &[u8], out: &mut BTreeMap<Vec<u8>, Fact>, skip: &[&[u8]]) {
    let shown = if path.is_empty() {
        b"/".as_slice()
    } else {
        path
    };
    for e in fs.read_dir(shown).unwrap() {
        let mut p = path.to_vec();
        p.push(b'/');
        p.extend_from_slice(&e.name);
        let md = fs.stat(&p).unwrap();
        assert_eq!(md.file_type, e.file_type, "{}", String::from_utf8_lossy(&p));
        let perm = md.mode & 0o7777;
        let fact = match e.file_type {
            FileType::Regular => {
                assert_eq!(perm, 0o644);
                let data = fs.read_file(&p, 64 << 20).unwrap();
                assert_eq!(data.len() as u64, md.size);
                Fact::File {
                    size: md.size,
                    sha256: sha(&data),
                }
            }
            FileType::Directory => {
                assert_eq!(perm, 0o755);
                if skip.contains(&p.as_slice()) {
                    for c in fs.read_dir(&p).unwrap() {
                        let mut cp = p.clone();
                        cp.push(b'/');
                        cp.extend_from_slice(&c.name);
                        out.insert(
                            cp,
                            Fact::File {
                                size: 0,
                                sha256: String::new(),
                            },
                        );
                    }
                } else {
                    walk_trait(fs, &p, out, skip);
                }
                Fact::Dir
            }
            FileType::Symlink => Fact::Link(fs.readlink(&p).unwrap()),
            FileType::Fifo => Fact::Fifo,
            FileType::CharDevice => Fact::Chr,
            FileType::BlockDevice => Fact::Blk,
            t => panic!("unexpected type {t:?}"),
        };
        out.insert(p, fact);
    }
}

/// Walk by inode numbers (no path lookups), covering every entry of every directory.
fn walk_inodes(fs: &XfsFs, ino: u64, path: &[u8], out: &mut BTreeMap<Vec<u8>, Fact>) {
    let inode = fs.read_inode(ino).unwrap();
    for (e, child) in fs.dir_entries(&inode).unwrap() {
        let mut p = path.to_vec();
        p.push(b'/');
        p.extend_from_slice(&e.name);
        let ci = fs.read_inode(child).unwrap();
        assert_eq!(ci.file_type, e.file_type);
        let fact = match ci.file_type {
            FileType::Regular => {
                let mut data = vec![0u8; ci.size as usize];
                assert_eq!(fs.read_inode_at(&ci, 0, &mut data).unwrap(), data.len());
                Fact::File {
                    size: ci.size,
                    sha256: sha(&data),
                }
            }
            FileType::Directory => {
                walk_inodes(fs, child, &p, out);
                Fact::Dir
            }
            FileType::Symlink => Fact::Link(guestfix::fs::xfs::symlink::target(fs, &ci).unwrap()),
            FileType::Fifo => Fact::Fifo,
            FileType::CharDevice => Fact::Chr,
            FileType::BlockDevice => Fact::Blk,
            t => panic!("unexpected type {t:?}"),
        };
        out.insert(p, fact);
    }
}

fn check_tree(f: &Fixture) {
    let fs = open(&f.img);
    let mut want = BTreeMap::new();
    expected(&f.tree, Vec::new(), &mut want);
    let mut got = BTreeMap::new();
    walk_inodes(&fs, fs.superblock().rootino, b"", &mut got);
    assert_eq!(got.len(), want.len());
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "{}", String::from_utf8_lossy(k));
    }
    // Through the trait, by path: every entry is found again by name through the hash index
    // (block leaf array, LEAF1, DA node tree, B+tree-mapped), stat'ed and read.
    let mut got = BTreeMap::new();
    walk_trait(&fs, b"", &mut got, &[]);
    assert_eq!(got, want);
    // Names that are not there, in every directory format.
    for d in ["/sf", "/blockdir", "/leafdir", "/nodedir", "/btreedir"] {
        if want.contains_key(d.as_bytes()) {
            let p = format!("{d}/no-such-name");
            assert!(matches!(fs.stat(p.as_bytes()), Err(FsError::NotFound(_))));
        }
    }
    assert!(matches!(
        fs.read_dir(b"/one"),
        Err(FsError::NotADirectory(_))
    ));
    assert!(matches!(fs.readlink(b"/one"), Err(FsError::NotASymlink(_))));
    assert!(matches!(
        fs.read_at(b"/etc", 0, &mut [0u8; 4]),
        Err(FsError::NotAFile(_))
    ));
}

#[test]
fn v5_tree_matches_source() {
    check_tree(v5());
}

#[test]
fn v4_tree_matches_source() {
    check_tree(v4());
}

#[test]
fn v5_1k_blocks_8k_directory_blocks_tree_matches_source() {
    let f = v5_small_blocks();
    let sb = open(&f.img).superblock().clone();
    assert_eq!((sb.block_size, sb.dir_block_size()), (1024, 8192));
    check_tree(f);
}

#[test]
fn name_hash_matches_xfs_db() {
    for name in [
        "a",
        "ab",
        "abc",
        "abcd",
        "fstab",
        "node-directory-entry-02990",
        "localtime",
        "x".repeat(255).as_str(),
    ] {
        let out = xfs_db(&v4_noftype().img, false, &[format!("hash {name}")]);
        let got = guestfix::fs::xfs::dir2_leaf::hashname(name.as_bytes());
        assert_eq!(out.trim(), format!("{got:#x}"), "{name}");
    }
}

#[test]
fn v4_without_ftype_tree_matches_source() {
    check_tree(v4_noftype());
}

/// mkfs.xfs 6.1 `-p` writes the block of a remote symlink on a v5 filesystem without the
/// `xfs_dsymlink_hdr` the kernel requires (xfs_repair -n reports "bad symlink header"), and
/// `xfs_db -x` crashes on `type symlink`. So the header is added here, from the values xfs_db
/// reports, and xfs_repair -n (run by `build`) is the independent judge that it is right.
fn add_symlink_header(img: &Path, path: &str, target: &[u8]) {
    let ino = xfs_db_ino(img, path);
    let (_, fsb, count) = xfs_db_first_extent(img, path, true);
    assert_eq!(count, 1);
    let off = xfs_db_convert(img, &format!("fsblock {fsb}"));
    let sb = xfs_db(img, false, &["sb 0".into(), "p uuid blocksize".into()]);
    let uuid = hex::decode(xfs_db_field(&sb, "uuid").replace('-', "")).unwrap();
    let bs: usize = xfs_db_field(&sb, "blocksize").parse().unwrap();
    let mut blk = vec![0u8; bs];
    blk[0..4].copy_from_slice(b"XSLM");
    blk[8..12].copy_from_slice(&(target.len() as u32).to_be_bytes());
    blk[16..32].copy_from_slice(&uuid);
    blk[32..40].copy_from_slice(&ino.to_be_bytes());
    blk[40..48].copy_from_slice(&(off / 512).to_be_bytes());
    blk[56..56 + target.len()].copy_from_slice(target);
    let crc = crc32c::crc32c(&blk);
    blk[12..16].copy_from_slice(&crc.to_le_bytes());
    let tmp = img.with_extension("hdr");
    std::fs::write(&tmp, &blk).unwrap();
    run(Command::new("dd")
        .arg(format!("if={}", tmp.display()))
        .arg(format!("of={}", img.display()))
        .args(["bs=512", "conv=notrunc", "status=none"])
        .arg(format!("seek={}", off / 512)));
}

// ---------------------------------------------------------------------------------------------
// Helpers for tests that change a copy of a fixture with the real xfsprogs tools or dd.

fn xfs_db(img: &Path, write: bool, cmds: &[String]) -> String {
    let mut c = Command::new("xfs_db");
    if write {
        c.arg("-x");
    } else {
        c.arg("-r");
    }
    for cmd in cmds {
        c.arg("-c").arg(cmd);
    }
    let out = run(c.arg(img));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Number in the parentheses of xfs_db `convert` output ("0x10600 (67072)").
fn xfs_db_convert(img: &Path, what: &str) -> u64 {
    let out = xfs_db(img, false, &[format!("convert {what} byte")]);
    let inner = out.split('(').nth(1).unwrap().split(')').next().unwrap();
    inner.parse().unwrap()
}

/// The value of a `field = value` line printed by xfs_db.
fn xfs_db_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field} = ")))
        .unwrap_or_else(|| panic!("{field} not in {out}"))
        .trim()
        .to_string()
}

/// The first data fork extent xfs_db prints for `path` ("0:[startoff,startblock,count,flag]").
fn xfs_db_first_extent(img: &Path, path: &str, v5: bool) -> (u64, u64, u64) {
    let u = if v5 { "u3" } else { "u" };
    let out = xfs_db(
        img,
        false,
        &[format!("path {path}"), format!("p {u}.bmx[0]")],
    );
    let rec = out.split("0:[").nth(1).unwrap().split(']').next().unwrap();
    let v: Vec<u64> = rec.split(',').map(|x| x.trim().parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

fn xfs_db_ino(img: &Path, path: &str) -> u64 {
    let out = xfs_db(img, false, &[format!("path {path}"), "inode".into()]);
    out.trim().rsplit(' ').next().unwrap().parse().unwrap()
}

/// A sparse copy of a fixture image.
fn copy_of(f: &Fixture, name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let p = d.path().join(name);
    run(Command::new("cp")
        .arg("--sparse=always")
        .arg(&f.img)
        .arg(&p));
    (d, p)
}

/// Flip every bit of the byte at `off`, with dd.
fn flip_byte(img: &Path, off: u64) {
    use std::io::Write;
    let mut b = [0u8; 1];
    RawFile::open(img).unwrap().read_at(off, &mut b).unwrap();
    let mut child = Command::new("dd")
        .arg(format!("of={}", img.display()))
        .args(["bs=1", "count=1", "conv=notrunc", "status=none"])
        .arg(format!("seek={off}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&[!b[0]]).unwrap();
    assert!(child.wait().unwrap().success());
}

fn try_open(img: &Path) -> Result<XfsFs, FsError> {
    let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(img).unwrap());
    XfsFs::open(dev)
}

fn assert_corrupt<T: std::fmt::Debug>(r: Result<T, FsError>, structure: &str) {
    match r {
        Err(FsError::Corrupt { structure: s, .. }) => {
            assert!(
                s.contains(structure),
                "corrupt {s:?}, expected {structure:?}"
            )
        }
        other => panic!("expected Corrupt({structure}), got {other:?}"),
    }
}

fn file_of(tree: &Node, path: &[&str]) -> Vec<u8> {
    let mut n = tree;
    for c in path {
        let Node::Dir(m) = n else { panic!() };
        n = &m[c.as_bytes()];
    }
    match n {
        Node::File(d) => d.clone(),
        _ => panic!(),
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn info_matches_xfsprogs_and_blkid() {
    for f in [v5(), v4(), v4_noftype()] {
        let fs = open(&f.img);
        let info = fs.info();
        let sb = xfs_db(&f.img, false, &["sb 0".into(), "p".into()]);
        assert_eq!(info.kind, FsKind::Xfs);
        assert_eq!(info.label.as_deref(), Some("gfxtest"));
        assert_eq!(
            info.uuid.as_deref(),
            Some(xfs_db_field(&sb, "uuid").as_str())
        );
        let blkid = Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "UUID"])
            .arg(&f.img)
            .output();
        if let Ok(out) = blkid {
            if out.status.success() {
                assert_eq!(
                    info.uuid.as_deref(),
                    Some(String::from_utf8_lossy(&out.stdout).trim())
                );
            }
        }
        let bs: u64 = xfs_db_field(&sb, "blocksize").parse().unwrap();
        assert_eq!(u64::from(info.block_size), bs);
        let dblocks: u64 = xfs_db_field(&sb, "dblocks").parse().unwrap();
        let fdblocks: u64 = xfs_db_field(&sb, "fdblocks").parse().unwrap();
        assert_eq!(info.total_bytes, dblocks * bs);
        assert_eq!(info.free_bytes, fdblocks * bs);
        assert!(info.free_bytes > 0 && info.free_bytes < info.total_bytes);
        // GEN-5: mkfs leaves a clean log, and xfs_logprint agrees.
        assert_eq!(info.dirty, DirtyState::Clean);
        let lp = run(Command::new("xfs_logprint").arg("-t").arg(&f.img));
        assert!(String::from_utf8_lossy(&lp.stdout).contains("<CLEAN>"));
        // mkfs stamps the current time (big-time encoding on v5): within the last day.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mtime = fs.stat(b"/one").unwrap().mtime;
        assert!(
            mtime <= now + 60 && mtime > now - 86400,
            "mtime {mtime}, now {now}"
        );
    }
    // The v5 fixture uses big-time timestamps and 64-bit extent counters (nrext64).
    let out = xfs_db(
        &v5().img,
        false,
        &["path /multi".into(), "p v3.bigtime v3.nrext64".into()],
    );
    assert_eq!(xfs_db_field(&out, "v3.bigtime"), "1");
    assert_eq!(xfs_db_field(&out, "v3.nrext64"), "1");
}

#[test]
fn directory_formats_are_the_intended_ones() {
    // Sanity of the fixtures: xfs_db sees short-form, block, leaf, node and B+tree directories,
    // and the reader parses each inode the same way.
    for (f, v5) in [(v5(), true), (v4(), false)] {
        let fs = open(&f.img);
        let bs = u64::from(fs.info().block_size);
        let leaf = (1u64 << 35) / bs;
        let free = (2u64 << 35) / bs;
        for (dir, fmt) in [
            ("/sf", "1 (local)"),
            ("/blockdir", "2 (extents)"),
            ("/leafdir", "2 (extents)"),
            ("/nodedir", "any"),
            ("/btreedir", "3 (btree)"),
        ] {
            let out = xfs_db(
                &f.img,
                false,
                &[format!("path {dir}"), "p core.format".into()],
            );
            let got_fmt = xfs_db_field(&out, "core.format");
            if fmt != "any" {
                assert_eq!(got_fmt, fmt, "{dir}");
            }
            let bmap = xfs_db(&f.img, false, &[format!("path {dir}"), "bmap".into()]);
            let offs: Vec<u64> = bmap
                .lines()
                .filter_map(|l| l.strip_prefix("data offset "))
                .map(|l| l.split(' ').next().unwrap().parse().unwrap())
                .collect();
            let ino = fs.lookup(dir.as_bytes()).unwrap();
            let exts = if got_fmt.starts_with('1') {
                Vec::new()
            } else {
                guestfix::fs::xfs::bmbt::data_extents(&fs, &ino).unwrap()
            };
            let ours: Vec<u64> = exts.iter().map(|e| e.startoff).collect();
            assert_eq!(ours, offs, "{dir} extents");
            match dir {
                "/blockdir" => assert_eq!(offs, vec![0]),
                "/leafdir" => {
                    assert!(
                        offs.contains(&leaf) && offs.iter().all(|&o| o < free),
                        "{offs:?}"
                    )
                }
                "/nodedir" | "/btreedir" => assert!(offs.iter().any(|&o| o >= free)),
                _ => {}
            }
        }
        let _ = v5;
    }
}

#[test]
fn crc_corruption_is_reported_not_returned_as_data() {
    let f = v5();
    let fs = open(&f.img);
    // An inode: the size field of /f4096.
    let ino = fs.stat(b"/f4096").unwrap().ino;
    let (_d, img) = copy_of(f, "inode.img");
    flip_byte(&img, xfs_db_convert(&img, &format!("ino {ino}")) + 60);
    let bad = try_open(&img).unwrap();
    assert_corrupt(bad.stat(b"/f4096"), &format!("inode {ino}"));
    assert_corrupt(bad.read_file(b"/f4096", 1 << 20), &format!("inode {ino}"));
    // Other files are still readable.
    assert_eq!(bad.read_file(b"/one", 10).unwrap(), b"x");

    // A directory block: a byte of an entry name in /blockdir.
    let (_d, img) = copy_of(f, "dir.img");
    let (_, fsb, _) = xfs_db_first_extent(&img, "/blockdir", true);
    flip_byte(
        &img,
        xfs_db_convert(&img, &format!("fsblock {fsb}")) + 64 + 40,
    );
    let bad = try_open(&img).unwrap();
    assert_corrupt(bad.read_dir(b"/blockdir"), "directory block 0");
    assert_corrupt(bad.stat(b"/blockdir/blk-00003"), "directory block 0");

    // A bmbt block of the B+tree directory.
    let (_d, img) = copy_of(f, "bmbt.img");
    let out = xfs_db(
        &img,
        false,
        &["path /btreedir".into(), "p u3.bmbt.ptrs[1]".into()],
    );
    let ptr = xfs_db_field(&out, "u3.bmbt.ptrs[1]");
    flip_byte(&img, xfs_db_convert(&img, &format!("fsblock {ptr}")) + 100);
    let bad = try_open(&img).unwrap();
    assert_corrupt(bad.read_dir(b"/btreedir"), "bmbt block");

    // A remote symlink block.
    let (_d, img) = copy_of(f, "symlink.img");
    let (_, fsb, _) = xfs_db_first_extent(&img, "/remote-link", true);
    flip_byte(&img, xfs_db_convert(&img, &format!("fsblock {fsb}")) + 60);
    let bad = try_open(&img).unwrap();
    assert_corrupt(bad.readlink(b"/remote-link"), "symlink inode");
    assert_eq!(bad.readlink(b"/long-link").unwrap(), LONG_TARGET.as_bytes());

    // The superblock label, and the AGF / AGI of AG 0: open fails.
    for (name, off, what) in [
        ("sb.img", 110u64, "superblock"),
        ("agf.img", 512 + 52, "AGF of AG 0"),
        ("agi.img", 1024 + 28, "AGI of AG 0"),
    ] {
        let (_d, img) = copy_of(f, name);
        flip_byte(&img, off);
        assert_corrupt(try_open(&img), what);
    }
}

#[test]
fn dirty_log_needs_recovery() {
    // GEN-5. Clear the unmount flag of the log's last record with dd: xfs_logprint then calls
    // the log DIRTY, and so must the reader.
    for f in [v5(), v4()] {
        let (_d, img) = copy_of(f, "dirty.img");
        let sb = xfs_db(&img, false, &["sb 0".into(), "p logstart".into()]);
        let logstart = xfs_db_field(&sb, "logstart");
        let log = xfs_db_convert(&img, &format!("fsblock {logstart}"));
        // mkfs writes one unmount record at log block 0; its op header follows in block 1.
        let mut rec = [0u8; 4];
        RawFile::open(&img).unwrap().read_at(log, &mut rec).unwrap();
        assert_eq!(rec, [0xfe, 0xed, 0xba, 0xbe]);
        let mut flags = [0u8; 1];
        RawFile::open(&img)
            .unwrap()
            .read_at(log + 512 + 9, &mut flags)
            .unwrap();
        assert_eq!(flags[0], 0x20, "XLOG_UNMOUNT_TRANS");
        flip_byte(&img, log + 512 + 9);
        let lp = run(Command::new("xfs_logprint").arg("-t").arg(&img));
        assert!(String::from_utf8_lossy(&lp.stdout).contains("<DIRTY>"));
        let fs = try_open(&img).unwrap();
        match fs.info().dirty {
            DirtyState::NeedsRecovery { replayed, detail } => {
                assert!(!replayed);
                assert!(detail.contains("no unmount record"), "{detail}");
            }
            d => panic!("{d:?}"),
        }
        // Files are still readable (stale view, as reported).
        assert_eq!(fs.read_file(b"/etc/hostname", 100).unwrap(), b"guest\n");
    }
}

#[test]
fn holes_and_unwritten_extents_read_as_zeros() {
    // Rewritten with xfs_db -x (xfs_repair -n accepts the result): /f1m_odd's only extent is
    // moved 10 blocks into the file (a 10-block hole at the start), and /f4096's extent is
    // flagged unwritten (preallocated).
    for (f, v5) in [(v5(), true), (v4(), false)] {
        let u = if v5 { "u3" } else { "u" };
        let (_d, img) = copy_of(f, "holes.img");
        let orig = file_of(&f.tree, &["f1m_odd"]);
        let bs = u64::from(open(&f.img).info().block_size);
        let new_size = orig.len() as u64 + 10 * bs;
        xfs_db(
            &img,
            true,
            &[
                "path /f1m_odd".into(),
                format!("write {u}.bmx[0].startoff 10"),
                format!("write core.size {new_size}"),
                "path /f4096".into(),
                format!("write {u}.bmx[0].extentflag 1"),
            ],
        );
        run(Command::new("xfs_repair").arg("-n").arg("-f").arg(&img));
        let fs = try_open(&img).unwrap();
        let data = fs.read_file(b"/f1m_odd", 8 << 20).unwrap();
        assert_eq!(data.len() as u64, new_size);
        assert!(data[..10 * bs as usize].iter().all(|&b| b == 0));
        assert_eq!(&data[10 * bs as usize..], &orig[..]);
        // A read straddling the end of the hole.
        let mut b = vec![0xaau8; 100];
        assert_eq!(fs.read_at(b"/f1m_odd", 10 * bs - 50, &mut b).unwrap(), 100);
        assert!(b[..50].iter().all(|&x| x == 0));
        assert_eq!(&b[50..], &orig[..50]);
        let un = fs.read_file(b"/f4096", 8192).unwrap();
        assert_eq!(un, vec![0u8; 4096]);
        assert_ne!(file_of(&f.tree, &["f4096"]), un);
    }
}

#[test]
fn regular_file_in_btree_format() {
    // No xfsprogs tool writes a many-extent file into an unmounted image, so xfs_db -x rewrites
    // /multi (one 1281-block extent) into a real bmbt-format fork: its last block becomes the
    // bmbt leaf (so di_nblocks stays right and no block leaks), the other 1280 blocks are split
    // into 30 extents of mixed length (more than fit in the inode). xfs_repair -n accepts it.
    for (f, v5) in [(v5(), true), (v4(), false)] {
        let u = if v5 { "u3" } else { "u" };
        let (_d, img) = copy_of(f, "btree.img");
        let ino = xfs_db_ino(&img, "/multi");
        let (off0, start, count) = xfs_db_first_extent(&img, "/multi", v5);
        assert_eq!((off0, count), (0, 1281));
        let leaf = start + 1280;
        let sb = xfs_db(&img, false, &["sb 0".into(), "p uuid".into()]);
        let uuid = xfs_db_field(&sb, "uuid");
        let daddr = xfs_db_convert(&img, &format!("fsblock {leaf}")) / 512;
        let mut cmds = vec![
            "path /multi".to_string(),
            "write core.format 3".into(),
            "write core.nextents 30".into(),
            format!("write {u}.bmbt.level 1"),
            format!("write {u}.bmbt.numrecs 1"),
            format!("write {u}.bmbt.keys[1].startoff 0"),
            format!("write {u}.bmbt.ptrs[1] {leaf}"),
            format!("fsblock {leaf}"),
            "type bmapbtd".into(),
        ];
        let magic = if v5 { "0x424d4133" } else { "0x424d4150" };
        for (k, v) in [("magic", magic), ("level", "0"), ("numrecs", "30")] {
            cmds.push(format!("write -d {k} {v}"));
        }
        cmds.push("write -d -- leftsib -1".into());
        cmds.push("write -d -- rightsib -1".into());
        if v5 {
            cmds.push(format!("write -d bno {daddr}"));
            cmds.push(format!("write -d uuid {uuid}"));
            cmds.push(format!("write -d owner {ino}"));
            cmds.push("write -d lsn 0".into());
        }
        let mut off = 0u64;
        for i in 0..30u64 {
            let len = if i == 29 {
                1280 - off
            } else {
                20 + (i % 5) * 7
            };
            let r = i + 1;
            cmds.push(format!("write -d recs[{r}].startoff {off}"));
            cmds.push(format!("write -d recs[{r}].startblock {}", start + off));
            cmds.push(format!("write -d recs[{r}].blockcount {len}"));
            cmds.push(format!("write -d recs[{r}].extentflag 0"));
            off += len;
        }
        xfs_db(&img, true, &cmds);
        let out = xfs_db(&img, false, &["path /multi".into(), "p core.format".into()]);
        assert_eq!(xfs_db_field(&out, "core.format"), "3 (btree)");
        run(Command::new("xfs_repair").arg("-n").arg("-f").arg(&img));

        let fs = try_open(&img).unwrap();
        let inode = fs.lookup(b"/multi").unwrap();
        let exts = guestfix::fs::xfs::bmbt::data_extents(&fs, &inode).unwrap();
        assert_eq!(exts.len(), 30);
        let mut want = file_of(&f.tree, &["multi"]);
        let bs = fs.info().block_size as usize;
        // The last block is now the tree leaf: that part of the file is a hole.
        for b in &mut want[1280 * bs..] {
            *b = 0;
        }
        let got = fs.read_file(b"/multi", 8 << 20).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bmbt-mapped file content differs");
        drop(fs);

        // A root claiming two levels over a leaf block: the level check stops the walk.
        xfs_db(
            &img,
            true,
            &["path /multi".into(), format!("write {u}.bmbt.level 2")],
        );
        let fs = try_open(&img).unwrap();
        assert_corrupt(fs.read_file(b"/multi", 8 << 20), "bmbt block");
    }
}

#[test]
fn self_referencing_directory_entry_is_corrupt() {
    // xfs_db -x points the short-form entry /sf/bb at /sf itself.
    let f = v4();
    let (_d, img) = copy_of(f, "selfref.img");
    let sf = xfs_db_ino(&img, "/sf");
    let out = xfs_db(&img, false, &["path /sf".into(), "p".into()]);
    let field = out
        .lines()
        .find(|l| l.contains("list[1].inumber"))
        .unwrap()
        .split(" = ")
        .next()
        .unwrap()
        .to_string();
    xfs_db(
        &img,
        true,
        &["path /sf".into(), format!("write {field} {sf}")],
    );
    let fs = try_open(&img).unwrap();
    assert_corrupt(fs.read_dir(b"/sf"), "directory inode");
    assert_corrupt(fs.stat(b"/sf/bb/x"), "directory inode");
}

#[test]
fn inode_number_out_of_range_is_corrupt() {
    let f = v4();
    let (_d, img) = copy_of(f, "badino.img");
    let out = xfs_db(&img, false, &["path /sf".into(), "p".into()]);
    let field = out
        .lines()
        .find(|l| l.contains("list[0].inumber"))
        .unwrap()
        .split(" = ")
        .next()
        .unwrap()
        .to_string();
    // AG number 200 of a 4-AG filesystem (4-byte short-form inode numbers hold it).
    let sb = open(&img).superblock().clone();
    let bogus = 200u64 << (sb.agblklog + sb.inopblog);
    xfs_db(
        &img,
        true,
        &["path /sf".into(), format!("write {field} {bogus}")],
    );
    let fs = try_open(&img).unwrap();
    assert_corrupt(fs.stat(b"/sf/a"), "inode number");
}

/// A device that counts the bytes read through it.
struct Counting {
    inner: RawFile,
    bytes: std::sync::atomic::AtomicU64,
    reads: std::sync::atomic::AtomicU64,
}

impl BlockDev for Counting {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), guestfix::block::BlockError> {
        use std::sync::atomic::Ordering::Relaxed;
        self.bytes.fetch_add(buf.len() as u64, Relaxed);
        self.reads.fetch_add(1, Relaxed);
        self.inner.read_at(offset, buf)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn fstab_lookup_cost() {
    use std::sync::atomic::Ordering::Relaxed;
    let f = v5();
    let dev = Arc::new(Counting {
        inner: RawFile::open(&f.img).unwrap(),
        bytes: 0.into(),
        reads: 0.into(),
    });
    let t0 = std::time::Instant::now();
    let fs = XfsFs::open(dev.clone()).unwrap();
    let open_bytes = dev.bytes.load(Relaxed);
    let open_time = t0.elapsed();
    let t1 = std::time::Instant::now();
    let data = fs.read_file(b"/etc/fstab", 1 << 20).unwrap();
    let fstab_time = t1.elapsed();
    assert_eq!(data, file_of(&f.tree, &["etc", "fstab"]));
    let fstab_bytes = dev.bytes.load(Relaxed) - open_bytes;
    let t2 = std::time::Instant::now();
    let before = dev.bytes.load(Relaxed);
    let md = fs.stat(b"/nodedir/node-directory-entry-02990").unwrap();
    let node_bytes = dev.bytes.load(Relaxed) - before;
    let node_time = t2.elapsed();
    assert_eq!(md.size, 0);
    eprintln!(
        "xfs cost: open {open_bytes} B in {open_time:?}; /etc/fstab {fstab_bytes} B in \
         {fstab_time:?}; lookup in 3000-entry node dir {node_bytes} B in {node_time:?}; \
         {} reads total",
        dev.reads.load(Relaxed)
    );
    // A path of two components must not read more than a few blocks beyond open.
    assert!(fstab_bytes < 64 * 1024, "{fstab_bytes}");
}

/// A device whose bytes at some offsets are replaced (mutation testing without copying).
struct Mutated {
    inner: Arc<RawFile>,
    patches: BTreeMap<u64, u8>,
}

impl BlockDev for Mutated {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), guestfix::block::BlockError> {
        self.inner.read_at(offset, buf)?;
        for (&o, &v) in self.patches.range(offset..offset + buf.len() as u64) {
            buf[(o - offset) as usize] = v;
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "mutated".into()
    }
}

/// The fuzz target's walk (fuzz/fuzz_targets/fs_xfs.rs): bounded entries, a few file reads.
fn bounded_walk(fs: &dyn Filesystem) -> usize {
    let mut budget = 256usize;
    let mut files = 0;
    let mut stack = vec![(b"/".to_vec(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for e in entries {
            if budget == 0 {
                return 256;
            }
            budget -= 1;
            let mut p = dir.clone();
            if p.len() > 1 {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            let _ = fs.stat(&p);
            match e.file_type {
                FileType::Directory if depth < 8 => stack.push((p, depth + 1)),
                FileType::Regular if files < 8 => {
                    files += 1;
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = fs.read_at(&p, 0, &mut buf);
                }
                FileType::Symlink => {
                    let _ = fs.readlink(&p);
                }
                _ => {}
            }
        }
    }
    256 - budget
}

#[test]
fn random_metadata_damage_gives_errors_not_panics() {
    // v4 has no CRCs, so damaged bytes reach every parser; v5 checks that CRCs catch them.
    for (f, seed) in [(v4_noftype(), 1u64), (v4(), 2), (v5(), 3)] {
        let raw = Arc::new(RawFile::open(&f.img).unwrap());
        let clean = bounded_walk(&XfsFs::open(Arc::new(RawFile::open(&f.img).unwrap())).unwrap());
        assert_eq!(clean, 256);
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let (mut opened, mut errors) = (0, 0);
        for _ in 0..300 {
            let mut patches = BTreeMap::new();
            for _ in 0..1 + next() % 4 {
                // Mostly the first 256 KiB (superblock, AG headers, first inode chunks,
                // small directories), sometimes anywhere in the first 4 MiB.
                let span = if next() % 4 == 0 { 4 << 20 } else { 256 << 10 };
                patches.insert(next() % span, next() as u8);
            }
            let dev: Arc<dyn BlockDev> = Arc::new(Mutated {
                inner: raw.clone(),
                patches,
            });
            match XfsFs::open(dev) {
                Ok(fs) => {
                    opened += 1;
                    let _ = fs.info();
                    bounded_walk(&fs);
                }
                Err(_) => errors += 1,
            }
        }
        assert!(opened > 50, "only {opened} of 300 opened ({errors} errors)");
    }
}

#[test]
fn unreadable_log_is_reported_not_fatal() {
    // xfs_db -x points the superblock's log start past the end of the filesystem (the CRC is
    // recomputed): the files stay readable and the log state says why it is unknown (GEN-5).
    let (_d, img) = copy_of(v5(), "badlog.img");
    xfs_db(
        &img,
        true,
        &["sb 0".into(), "write logstart 4000000000".into()],
    );
    let fs = try_open(&img).unwrap();
    match fs.info().dirty {
        DirtyState::NeedsRecovery { replayed, detail } => {
            assert!(!replayed);
            assert!(detail.contains("log cannot be read"), "{detail}");
        }
        d => panic!("{d:?}"),
    }
    assert_eq!(fs.read_file(b"/etc/hostname", 100).unwrap(), b"guest\n");
}
