//! Property tests of the ext4 writer: random sequences of writer operations on images made by
//! mkfs.ext4 (Debian 12 defaults, 1 KiB and 4 KiB blocks, and without metadata_csum), each
//! checked afterwards with `e2fsck -fn` (exit 0), the independent ext4-view reader (every file
//! reads back exactly) and `debugfs stat` (size and mode agree).

#[path = "fs_ext4_write_util.rs"]
mod util;

use guestfix::fs::ext4w::Ext4WriteError;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use util::*;

#[derive(Debug, Clone)]
enum Op {
    CreateFile {
        dir: usize,
        name: u8,
        seed: u64,
        len: usize,
        mode: u16,
    },
    Replace {
        file: usize,
        seed: u64,
        len: usize,
    },
    CreateDir {
        dir: usize,
        name: u8,
    },
    Link {
        file: usize,
        dir: usize,
        name: u8,
    },
    Rename {
        file: usize,
        dir: usize,
        name: u8,
    },
    RenameDir {
        src: usize,
        dir: usize,
        name: u8,
    },
    Chmod {
        file: usize,
        mode: u16,
    },
    Chown {
        file: usize,
        uid: u32,
        gid: u32,
    },
    Times {
        file: usize,
        mtime: u32,
    },
    Many {
        count: usize,
        seed: u64,
    },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => Just(0usize),
        6 => 1usize..5000,
        3 => 5000usize..300_000,
        1 => 300_000usize..3_500_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..30, any::<u64>(), size(), 0u16..0o7777)
            .prop_map(|(dir, name, seed, len, mode)| Op::CreateFile { dir, name, seed, len, mode }),
        4 => (any::<usize>(), any::<u64>(), size()).prop_map(|(file, seed, len)| Op::Replace { file, seed, len }),
        1 => (any::<usize>(), 0u8..30).prop_map(|(dir, name)| Op::CreateDir { dir, name }),
        1 => (any::<usize>(), any::<usize>(), 0u8..30).prop_map(|(file, dir, name)| Op::Link { file, dir, name }),
        1 => (any::<usize>(), any::<usize>(), 0u8..30).prop_map(|(file, dir, name)| Op::Rename { file, dir, name }),
        1 => (any::<usize>(), any::<usize>(), 0u8..30).prop_map(|(src, dir, name)| Op::RenameDir { src, dir, name }),
        1 => (any::<usize>(), 0u16..0o7777).prop_map(|(file, mode)| Op::Chmod { file, mode }),
        1 => (any::<usize>(), any::<u32>(), any::<u32>()).prop_map(|(file, uid, gid)| Op::Chown { file, uid, gid }),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(file, mtime)| Op::Times { file, mtime }),
        1 => (1usize..250, any::<u64>()).prop_map(|(count, seed)| Op::Many { count, seed }),
    ]
}

/// What the filesystem should hold: path -> inode key, inode key -> (content seed, len, mode).
#[derive(Default)]
struct Model {
    files: BTreeMap<String, usize>,
    inodes: Vec<(u64, usize, u32)>,
    dirs: Vec<String>,
}

impl Model {
    fn exists(&self, p: &str) -> bool {
        self.files.contains_key(p) || self.dirs.iter().any(|d| d == p)
    }
    fn pick_file(&self, i: usize) -> Option<String> {
        if self.files.is_empty() {
            None
        } else {
            self.files.keys().nth(i % self.files.len()).cloned()
        }
    }
    fn pick_dir(&self, i: usize) -> String {
        self.dirs[i % self.dirs.len()].clone()
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn base_tree() -> tempfile::TempDir {
    let t = tree();
    std::fs::create_dir_all(t.path().join("etc")).unwrap();
    std::fs::create_dir_all(t.path().join("big")).unwrap();
    std::fs::write(t.path().join("etc/fstab"), bytes(11, 300)).unwrap();
    for i in 0..400 {
        std::fs::write(
            t.path().join(format!("big/entry-{i:04}")),
            bytes(i, (i % 7) as usize * 300),
        )
        .unwrap();
    }
    t
}

fn base_model() -> Model {
    let mut m = Model {
        dirs: vec!["/".into(), "/etc".into(), "/big".into()],
        ..Model::default()
    };
    m.inodes.push((11, 300, 0o644));
    m.files.insert("/etc/fstab".into(), 0);
    for i in 0..400u64 {
        m.inodes.push((i, (i % 7) as usize * 300, 0o644));
        m.files
            .insert(format!("/big/entry-{i:04}"), m.inodes.len() - 1);
    }
    m
}

/// A template image (mkfs -d, then `e2fsck -fyD` so /big is an htree directory).
fn template(size: &str, args: &[&str]) -> Img {
    let t = base_tree();
    // Make the tree files' modes predictable.
    for e in walkdir::WalkDir::new(t.path()) {
        let e = e.unwrap();
        use std::os::unix::fs::PermissionsExt;
        let m = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(m)).unwrap();
    }
    let img = mkfs(Some(t.path()), size, args);
    let out = std::process::Command::new("e2fsck")
        .arg("-fyD")
        .arg(&img.path)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() <= 1);
    assert!(debugfs(&img, "htree /big").contains("Root node dump"));
    img
}

fn copy_img(src: &Path) -> Img {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs.img");
    std::fs::copy(src, &path).unwrap();
    Img { dir, path }
}

fn run(tpl: &Path, ops: &[Op]) -> Result<(), TestCaseError> {
    let img = copy_img(tpl);
    let mut m = base_model();
    let mut w = writer(&img);
    for op in ops {
        match op.clone() {
            Op::CreateFile {
                dir,
                name,
                seed,
                len,
                mode,
            } => {
                let d = m.pick_dir(dir);
                let n = format!("file{name}");
                let p = join(&d, &n);
                let r = w.create_file(
                    d.as_bytes(),
                    n.as_bytes(),
                    &bytes(seed, len),
                    u32::from(mode),
                    0,
                    0,
                );
                if m.exists(&p) {
                    prop_assert!(
                        matches!(r, Err(Ext4WriteError::AlreadyExists(_))),
                        "{p}: {r:?}"
                    );
                } else {
                    r.map_err(|e| TestCaseError::fail(format!("create {p}: {e}")))?;
                    m.inodes.push((seed, len, u32::from(mode)));
                    m.files.insert(p, m.inodes.len() - 1);
                }
            }
            Op::Replace { file, seed, len } => {
                let Some(p) = m.pick_file(file) else { continue };
                w.replace_file(p.as_bytes(), &bytes(seed, len))
                    .map_err(|e| TestCaseError::fail(format!("replace {p}: {e}")))?;
                let k = m.files[&p];
                m.inodes[k].0 = seed;
                m.inodes[k].1 = len;
            }
            Op::CreateDir { dir, name } => {
                let d = m.pick_dir(dir);
                let n = format!("dir{name}");
                let p = join(&d, &n);
                let r = w.create_dir(d.as_bytes(), n.as_bytes(), 0o755, 0, 0);
                if m.exists(&p) {
                    prop_assert!(matches!(r, Err(Ext4WriteError::AlreadyExists(_))));
                } else {
                    r.map_err(|e| TestCaseError::fail(format!("mkdir {p}: {e}")))?;
                    m.dirs.push(p);
                }
            }
            Op::Link { file, dir, name } => {
                let Some(src) = m.pick_file(file) else {
                    continue;
                };
                let d = m.pick_dir(dir);
                let n = format!("link{name}");
                let p = join(&d, &n);
                let r = w.hard_link(src.as_bytes(), d.as_bytes(), n.as_bytes());
                if m.exists(&p) {
                    prop_assert!(matches!(r, Err(Ext4WriteError::AlreadyExists(_))));
                } else {
                    r.map_err(|e| TestCaseError::fail(format!("link {src} {p}: {e}")))?;
                    let k = m.files[&src];
                    m.files.insert(p, k);
                }
            }
            Op::Rename { file, dir, name } => {
                let Some(src) = m.pick_file(file) else {
                    continue;
                };
                let d = m.pick_dir(dir);
                let n = format!("moved{name}");
                let p = join(&d, &n);
                let r = w.rename(src.as_bytes(), d.as_bytes(), n.as_bytes());
                if m.exists(&p) {
                    prop_assert!(matches!(r, Err(Ext4WriteError::AlreadyExists(_))));
                } else {
                    r.map_err(|e| TestCaseError::fail(format!("rename {src} {p}: {e}")))?;
                    let k = m.files.remove(&src).unwrap();
                    m.files.insert(p, k);
                }
            }
            Op::RenameDir { src, dir, name } => {
                let s = m.pick_dir(src);
                // "/" cannot move; "/big" stays where `Many` fills it.
                if s == "/" || s == "/big" {
                    continue;
                }
                let d = m.pick_dir(dir);
                let n = format!("rdir{name}");
                let p = join(&d, &n);
                let r = w.rename(s.as_bytes(), d.as_bytes(), n.as_bytes());
                let inside = d == s || d.starts_with(&format!("{s}/"));
                if m.exists(&p) {
                    prop_assert!(
                        matches!(r, Err(Ext4WriteError::AlreadyExists(_))),
                        "{s} -> {p}: {r:?}"
                    );
                } else if inside {
                    prop_assert!(
                        matches!(r, Err(Ext4WriteError::InvalidPath(_))),
                        "{s} -> {p}: {r:?}"
                    );
                } else {
                    r.map_err(|e| TestCaseError::fail(format!("rename dir {s} {p}: {e}")))?;
                    let prefix = format!("{s}/");
                    let moved = |x: &str| -> Option<String> {
                        if x == s {
                            Some(p.clone())
                        } else {
                            x.strip_prefix(&prefix).map(|rest| join(&p, rest))
                        }
                    };
                    for dd in m.dirs.iter_mut() {
                        if let Some(nw) = moved(dd) {
                            *dd = nw;
                        }
                    }
                    let old: Vec<(String, usize)> =
                        std::mem::take(&mut m.files).into_iter().collect();
                    for (f, k) in old {
                        let f = moved(&f).unwrap_or(f);
                        m.files.insert(f, k);
                    }
                }
            }
            Op::Chmod { file, mode } => {
                let Some(p) = m.pick_file(file) else { continue };
                w.set_mode(p.as_bytes(), u32::from(mode)).unwrap();
                let k = m.files[&p];
                m.inodes[k].2 = u32::from(mode);
            }
            Op::Chown { file, uid, gid } => {
                let Some(p) = m.pick_file(file) else { continue };
                w.set_owner(p.as_bytes(), uid, gid).unwrap();
            }
            Op::Times { file, mtime } => {
                let Some(p) = m.pick_file(file) else { continue };
                w.set_times(p.as_bytes(), 0, i64::from(mtime)).unwrap();
            }
            Op::Many { count, seed } => {
                for j in 0..count {
                    let n = format!("many-{seed:016x}-{j:03}-padding-to-make-names-longer");
                    let p = join("/big", &n);
                    w.create_file(
                        b"/big",
                        n.as_bytes(),
                        &bytes(seed ^ j as u64, j % 50),
                        0o600,
                        0,
                        0,
                    )
                    .map_err(|e| TestCaseError::fail(format!("create {p}: {e}")))?;
                    m.inodes.push((seed ^ j as u64, j % 50, 0o600));
                    m.files.insert(p, m.inodes.len() - 1);
                }
            }
        }
    }
    w.flush().unwrap();
    drop(w);
    fsck_clean(&img);
    let v = view(&img);
    for (p, &k) in &m.files {
        let (seed, len, _) = m.inodes[k];
        let got = v
            .read(p.as_str())
            .map_err(|e| TestCaseError::fail(format!("{p}: {e}")))?;
        prop_assert!(got == bytes(seed, len), "{} content differs", p);
    }
    for d in &m.dirs {
        prop_assert!(v.metadata(d.as_str()).unwrap().is_dir());
    }
    // debugfs agrees on size and mode (a sample: debugfs is one process per call).
    for (p, &k) in m.files.iter().rev().take(6) {
        let (_, len, mode) = m.inodes[k];
        let (s, md) = debugfs_stat(&img, p);
        prop_assert_eq!((s, md & 0o7777), (len as u64, mode));
    }
    Ok(())
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn random_ops_default_features_1k(ops in prop::collection::vec(op(), 1..20)) {
        static TPL: std::sync::OnceLock<Img> = std::sync::OnceLock::new();
        let tpl = TPL.get_or_init(|| template("64M", &[]));
        run(&tpl.path, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..cfg() })]
    #[test]
    fn random_ops_4k_two_groups(ops in prop::collection::vec(op(), 1..20)) {
        static TPL: std::sync::OnceLock<Img> = std::sync::OnceLock::new();
        let tpl = TPL.get_or_init(|| template("200M", &["-b", "4096", "-g", "16384"]));
        run(&tpl.path, &ops)?;
    }

    #[test]
    fn random_ops_without_metadata_csum(ops in prop::collection::vec(op(), 1..20)) {
        static TPL: std::sync::OnceLock<Img> = std::sync::OnceLock::new();
        let tpl = TPL.get_or_init(|| template("64M", &["-O", "^metadata_csum,uninit_bg"]));
        run(&tpl.path, &ops)?;
    }
}
