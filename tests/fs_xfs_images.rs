//! When `GUESTFIX_TEST_IMAGES` names the folder of the project's built images, every XFS
//! filesystem there that has a manifest (`<image>.<part>.manifest.tsv`:
//! `path\ttype\tmode\tsize\tsha256-or-target`) is walked with the native reader and compared
//! with it. Partitions are found with a small GPT/MBR read of this test's own (the volume layer
//! is written in parallel). Without the variable the test says so and checks nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use guestfix::block::raw::SliceDev;
use guestfix::block::{BlockDev, OpenOptions};
use guestfix::fs::xfs::XfsFs;
use guestfix::fs::{FileType, Filesystem};
use sha2::{Digest, Sha256};

mod common;

/// (1-based number, GPT name or "", byte start, byte length).
type Part = (usize, String, u64, u64);

fn u32le(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}

fn u64le(b: &[u8], o: usize) -> u64 {
    u32le(b, o) | (u32le(b, o + 4) << 32)
}

fn partitions(dev: &dyn BlockDev) -> Vec<Part> {
    let mut s = [0u8; 1024];
    if dev.read_at(0, &mut s).is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if &s[512..520] == b"EFI PART" {
        let lba = u64le(&s, 512 + 72);
        let n = (u32le(&s, 512 + 80) as usize).min(1024);
        let esz = (u32le(&s, 512 + 84) as usize).clamp(128, 4096);
        let mut t = vec![0u8; n * esz];
        if dev.read_at(lba * 512, &mut t).is_err() {
            return out;
        }
        for (i, e) in t.chunks(esz).enumerate() {
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let (first, last) = (u64le(e, 32), u64le(e, 40));
            let name: Vec<u16> = e[56..128]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&c| c != 0)
                .collect();
            out.push((
                i + 1,
                String::from_utf16_lossy(&name),
                first * 512,
                (last + 1 - first) * 512,
            ));
        }
    } else if s[510..512] == [0x55, 0xaa] {
        for i in 0..4 {
            let e = &s[446 + 16 * i..462 + 16 * i];
            let (start, len) = (u32le(e, 8), u32le(e, 12));
            if e[4] != 0 && len > 0 {
                out.push((i + 1, String::new(), start * 512, len * 512));
            }
        }
    }
    out
}

fn is_xfs(dev: &dyn BlockDev, start: u64) -> bool {
    let mut m = [0u8; 4];
    dev.read_at(start, &mut m).is_ok() && &m == b"XFSB"
}

fn letter(t: FileType) -> &'static str {
    match t {
        FileType::Regular => "f",
        FileType::Directory => "d",
        FileType::Symlink => "l",
        FileType::CharDevice => "c",
        FileType::BlockDevice => "b",
        FileType::Fifo => "p",
        FileType::Socket => "s",
        FileType::Unknown => "?",
    }
}

fn walk(fs: &dyn Filesystem, path: &str, out: &mut BTreeMap<String, String>) {
    let md = fs.stat(path.as_bytes()).unwrap();
    let (size, last) = match md.file_type {
        FileType::Regular => {
            let d = fs.read_file(path.as_bytes(), 1 << 32).unwrap();
            (d.len(), hex::encode(Sha256::digest(&d)))
        }
        FileType::Symlink => {
            let t = fs.readlink(path.as_bytes()).unwrap();
            (t.len(), String::from_utf8_lossy(&t).into_owned())
        }
        _ => (0, "-".into()),
    };
    out.insert(
        path.to_string(),
        format!(
            "{path}\t{}\t{:04o}\t{size}\t{last}",
            letter(md.file_type),
            md.mode & 0o7777
        ),
    );
    if md.file_type == FileType::Directory {
        for e in fs.read_dir(path.as_bytes()).unwrap() {
            let child = format!(
                "{}/{}",
                path.trim_end_matches('/'),
                String::from_utf8_lossy(&e.name)
            );
            walk(fs, &child, out);
        }
    }
}

/// `index.json`'s (partition number, fs) for the partition whose `manifest` is `name`.
fn from_index(dir: &Path, name: &str) -> Option<(usize, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).ok()?).ok()?;
    v["images"].as_array()?.iter().find_map(|img| {
        img["partitions"].as_array()?.iter().find_map(|p| {
            (p["manifest"].as_str() == Some(name)).then(|| {
                (
                    p["number"].as_u64().unwrap_or(0) as usize,
                    p["fs"].as_str().unwrap_or("").to_string(),
                )
            })
        })
    })
}

fn image_file(dir: &Path, image: &str) -> Option<PathBuf> {
    [
        format!("{image}.raw"),
        format!("{image}.img"),
        format!("{image}.qcow2"),
        image.to_string(),
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

#[test]
fn built_images_match_their_manifests() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let root = dir.display().to_string();
    let mut compared = std::collections::BTreeSet::new();
    for ent in std::fs::read_dir(&dir).unwrap() {
        let manifest = ent.unwrap().path();
        let Some(mname) = manifest
            .file_name()
            .and_then(|n| n.to_str())
            .map(String::from)
        else {
            continue;
        };
        let Some((image, part)) = mname
            .strip_suffix(".manifest.tsv")
            .and_then(|n| n.rsplit_once('.'))
        else {
            continue;
        };
        let indexed = from_index(&dir, &mname);
        if indexed.as_ref().is_some_and(|(_, fs)| fs != "xfs") {
            continue;
        }
        let Some(file) = image_file(&dir, image) else {
            continue;
        };
        let dev = guestfix::block::open(&file, &OpenOptions::default()).unwrap();
        let parts = partitions(&*dev);
        let xfs: Vec<&Part> = parts.iter().filter(|p| is_xfs(&*dev, p.2)).collect();
        let named = xfs.iter().copied().find(|(n, name, _, _)| match &indexed {
            Some((num, _)) => num == n,
            None => name == part || part.trim_start_matches(['p', 'a', 'r', 't']) == n.to_string(),
        });
        // Without index.json and a matching name/number, an image with one XFS filesystem.
        let chosen = match (named, &indexed) {
            (Some(p), _) => Some(p),
            (None, None) if xfs.len() == 1 => xfs.first().copied(),
            _ => None,
        };
        let Some(&(_, _, start, len)) = chosen else {
            // An index entry that says XFS must be found (for containers the block layer can
            // open); otherwise the manifest belongs to another filesystem.
            assert!(
                indexed.is_none() || parts.is_empty(),
                "{mname}: index.json says XFS but no XFS partition found"
            );
            continue;
        };
        let slice = SliceDev::new(dev.clone(), start, len, format!("{image}:{part}")).unwrap();
        let fs = XfsFs::open(Arc::new(slice)).unwrap();
        let mut got = BTreeMap::new();
        walk(&fs, "/", &mut got);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let want: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                (
                    l.split('\t').next().unwrap_or("").to_string(),
                    l.to_string(),
                )
            })
            .collect();
        for (path, line) in &want {
            // Directory sizes are filesystem-specific: the manifest lists 0 for them.
            assert_eq!(got.get(path), Some(line), "{mname}: {path}");
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{mname}: entries not in the manifest"
        );
        eprintln!("xfs: {mname} matches ({} entries)", want.len());
        compared.insert(mname);
    }
    eprintln!(
        "xfs: compared {} XFS filesystems under {root}",
        compared.len()
    );
    // Every XFS manifest index.json lists was compared, and there is at least one.
    let expected = common::indexed_manifests(&dir, &["xfs"]);
    assert!(!expected.is_empty(), "index.json lists no XFS manifest");
    for (file, m) in &expected {
        assert!(
            compared.contains(m),
            "{file}: XFS manifest {m} was not compared"
        );
    }
}
