//! When `GUESTFIX_TEST_IMAGES` names a folder of the project's built images (`index.json`, the
//! `*.raw` images and their `<image>.<part>.manifest.tsv` manifests), every ext2/3/4, vfat and
//! NTFS filesystem there with a manifest is walked and compared with it: names, types, modes
//! (ext only: FAT/NTFS keep no Unix modes), sizes, SHA-256 of contents, symlink targets.
//! Without the variable this test only checks that its manifest parser reads a manifest written
//! the way the images' `manifest.py` writes it.

use guestfix::block::BlockDev;
use guestfix::fs::FileType;
use guestfix::fs::tree::GuestTree;
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

#[derive(Debug, PartialEq)]
struct Row {
    kind: char,
    mode: u32,
    size: u64,
    extra: Vec<u8>,
}

/// `path<TAB>type<TAB>octal mode<TAB>size<TAB>sha256|target|-` per line.
fn parse_manifest(text: &[u8]) -> BTreeMap<Vec<u8>, Row> {
    let mut m = BTreeMap::new();
    for line in text.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let mut f: Vec<&[u8]> = line.rsplitn(5, |&c| c == b'\t').collect();
        assert_eq!(
            f.len(),
            5,
            "bad manifest line {:?}",
            String::from_utf8_lossy(line)
        );
        f.reverse();
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        m.insert(
            f[0].to_vec(),
            Row {
                kind: s(f[1]).chars().next().unwrap(),
                mode: u32::from_str_radix(&s(f[2]), 8).unwrap(),
                size: s(f[3]).parse().unwrap(),
                extra: f[4].to_vec(),
            },
        );
    }
    m
}

fn kind_char(t: FileType) -> char {
    match t {
        FileType::Regular => 'f',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        FileType::Unknown => '?',
    }
}

/// Walk `t` into manifest rows (as the image would read back).
fn walk_rows(t: &GuestTree, with_mode: bool) -> BTreeMap<Vec<u8>, Row> {
    let mut m = BTreeMap::new();
    for w in t.walk(b"/").unwrap() {
        let md = &w.metadata;
        let (size, extra) = match md.file_type {
            FileType::Regular => (
                md.size,
                hex::encode(sha2::Sha256::digest(t.read_file(&w.path, 1 << 32).unwrap()))
                    .into_bytes(),
            ),
            FileType::Symlink => (md.size, w.link_target.clone().unwrap()),
            _ => (0, b"-".to_vec()),
        };
        m.insert(
            w.path.clone(),
            Row {
                kind: kind_char(md.file_type),
                mode: if with_mode { md.mode & 0o7777 } else { 0 },
                size,
                extra,
            },
        );
    }
    m
}

fn compare(
    what: &str,
    mut want: BTreeMap<Vec<u8>, Row>,
    got: BTreeMap<Vec<u8>, Row>,
    with_mode: bool,
) {
    want.remove(b"/".as_slice());
    if !with_mode {
        for r in want.values_mut() {
            r.mode = 0;
        }
    }
    let mut problems = Vec::new();
    for (p, w) in &want {
        match got.get(p) {
            None => problems.push(format!("missing {}", String::from_utf8_lossy(p))),
            Some(g) if g != w => problems.push(format!(
                "{}: manifest {w:?}, image {g:?}",
                String::from_utf8_lossy(p)
            )),
            _ => {}
        }
    }
    for p in got.keys() {
        if !want.contains_key(p) && !p.starts_with(b"/lost+found") {
            problems.push(format!("extra {}", String::from_utf8_lossy(p)));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: {} differences, first: {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
}

#[test]
fn manifest_parser_reads_manifest_py_output() {
    let m = parse_manifest(b"/\td\t0755\t0\t-\n/bin\tl\t0777\t7\tusr/bin\n/a b\tf\t0644\t3\tabc\n");
    assert_eq!(m.len(), 3);
    assert_eq!(m[&b"/bin".to_vec()].extra, b"usr/bin");
    assert_eq!(m[&b"/a b".to_vec()].mode, 0o644);
}

#[test]
fn built_images_match_their_manifests() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let dir = dir.as_path();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut compared = 0;
    for img in index["images"].as_array().unwrap() {
        let file = img["file"].as_str().unwrap();
        if !file.ends_with(".raw") {
            continue;
        }
        let parts = img["partitions"].as_array().cloned().unwrap_or_default();
        let dev: Arc<dyn BlockDev> =
            guestfix::block::open(&dir.join(file), &Default::default()).unwrap();
        let set = guestfix::fs::scan_disks(&[dev]).unwrap();
        for p in parts {
            let (Some(manifest), Some(fs)) = (p["manifest"].as_str(), p["fs"].as_str()) else {
                continue;
            };
            if !["ext2", "ext3", "ext4", "vfat", "ntfs"].contains(&fs) {
                continue;
            }
            let vol = match (
                p["device"].as_str(),
                p["number"].as_u64(),
                p["uuid"].as_str(),
            ) {
                (Some(d), _, _) => set.find(d),
                (None, Some(n), _) => set.find(&format!("/dev/sda{n}")),
                (None, None, Some(u)) => {
                    guestfix::guest::mount::resolve_spec(&set, &format!("UUID={u}"))
                }
                _ => None,
            }
            .unwrap_or_else(|| panic!("{file}: no volume for {p}"));
            let fsr = guestfix::guest::mount::open_volume(vol, &Default::default())
                .unwrap_or_else(|e| panic!("{file} {}: {e}", vol.name));
            let mut t = GuestTree::new();
            t.mount(b"/", fsr, &vol.name).unwrap();
            let with_mode = fs.starts_with("ext");
            let want = parse_manifest(&std::fs::read(dir.join(manifest)).unwrap());
            compare(
                &format!("{file}:{}", vol.name),
                want,
                walk_rows(&t, with_mode),
                with_mode,
            );
            compared += 1;
        }
    }
    eprintln!("compared {compared} filesystems with their manifests");
    // Each kind this test reads is present among the built images, and every one was compared.
    let expected: Vec<_> =
        common::indexed_manifests(dir, &["ext2", "ext3", "ext4", "vfat", "ntfs"])
            .into_iter()
            .filter(|(f, _)| f.ends_with(".raw"))
            .collect();
    assert_eq!(compared, expected.len(), "manifests compared vs index.json");
    for fs in [&["ext2", "ext3", "ext4"][..], &["vfat"], &["ntfs"]] {
        assert!(
            !common::indexed_manifests(dir, fs).is_empty(),
            "no {fs:?} manifest among the built images"
        );
    }
}
