//! The XFS reader against filesystems made by the real `mkfs.xfs` (xfsprogs) from a tree this
//! test generates (`-p protofile`), in v5 (CRC), v4 and v4 without ftype flavours. Needs the
//! Debian package `xfsprogs` (mkfs.xfs, xfs_repair, xfs_db, xfs_logprint).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use guestfix::block::raw::RawFile;
use guestfix::block::{BlockDev, BlockError};
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
    _dir: tempfile::TempDir,
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

fn build(mkfs_opts: &[&str], btree_dir: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("empty-source"), b"").unwrap();
    let tree = source_tree(btree_dir);
    let Node::Dir(top) = &tree else {
        unreachable!()
    };
    let mut proto = String::from("/dev/null\n0 0\nd--755 0 0\n");
    let mut n = 0;
    write_proto(top, &src, &mut proto, &mut n);
    proto.push_str("$\n");
    let proto_path = dir.path().join("proto");
    std::fs::write(&proto_path, proto).unwrap();
    let img = dir.path().join("xfs.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(320 << 20).unwrap();
    drop(f);
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-L", "gfxtest"])
        .args(mkfs_opts)
        .arg("-p")
        .arg(&proto_path)
        .arg(&img));
    // Sanity of the test data: xfs_repair in no-modify mode finds nothing wrong.
    run(Command::new("xfs_repair").arg("-n").arg("-f").arg(&img));
    Fixture {
        _dir: dir,
        img,
        tree,
    }
}

fn v5() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build(&["-m", "crc=1,bigtime=1"], true))
}

fn v4() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build(&["-m", "crc=0", "-i", "size=256", "-n", "ftype=1"], true))
}

fn v4_noftype() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build(&["-m", "crc=0", "-n", "ftype=0"], false))
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
    // Through the trait, by path (the 30000-entry directory only by listing).
    let mut got = BTreeMap::new();
    walk_trait(&fs, b"", &mut got, &[b"/btreedir"]);
    assert_eq!(got.len(), want.len());
    for (k, v) in &want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{} missing", String::from_utf8_lossy(k)));
        if !k.starts_with(b"/btreedir/") {
            assert_eq!(g, v, "{}", String::from_utf8_lossy(k));
        }
    }
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
fn v4_without_ftype_tree_matches_source() {
    check_tree(v4_noftype());
}
