//! When `GUESTFIX_TEST_IMAGES` names the folder of the project's built images, every Btrfs
//! filesystem there (found through a minimal GPT/MBR read of our own) is walked with the native
//! reader and compared with its manifest `<image>.<part>.manifest.tsv`
//! (`path\ttype\tmode\tsize\tsha256-or-target`).

use guestfix::block::BlockDev;
use guestfix::block::raw::{RawFile, SliceDev};
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use guestfix::fs::{FileType, Filesystem};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

/// One partition: name (GPT name, empty for MBR), 1-based number, byte start and length.
#[derive(Debug)]
struct Part {
    name: String,
    number: usize,
    start: u64,
    len: u64,
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Minimal GPT (then MBR) partition listing with 512-byte sectors.
fn partitions(dev: &dyn BlockDev) -> Vec<Part> {
    let mut hdr = [0u8; 512];
    dev.read_at(512, &mut hdr).unwrap();
    let mut out = Vec::new();
    if &hdr[..8] == b"EFI PART" {
        let entries_lba = le64(&hdr, 72);
        let count = le32(&hdr, 80) as usize;
        let size = le32(&hdr, 84) as usize;
        let mut tbl = vec![0u8; count * size];
        dev.read_at(entries_lba * 512, &mut tbl).unwrap();
        for i in 0..count {
            let e = &tbl[i * size..(i + 1) * size];
            if e[..16].iter().all(|&b| b == 0) {
                continue;
            }
            let first = le64(e, 32);
            let last = le64(e, 40);
            let name: Vec<u16> = e[56..128]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&c| c != 0)
                .collect();
            out.push(Part {
                name: String::from_utf16_lossy(&name),
                number: i + 1,
                start: first * 512,
                len: (last - first + 1) * 512,
            });
        }
        return out;
    }
    let mut mbr = [0u8; 512];
    dev.read_at(0, &mut mbr).unwrap();
    if mbr[510..512] == [0x55, 0xaa] {
        for i in 0..4 {
            let e = &mbr[446 + i * 16..446 + (i + 1) * 16];
            let (start, n) = (le32(e, 8) as u64, le32(e, 12) as u64);
            if e[4] != 0 && n > 0 {
                out.push(Part {
                    name: String::new(),
                    number: i + 1,
                    start: start * 512,
                    len: n * 512,
                });
            }
        }
    }
    out
}

fn is_btrfs(dev: &dyn BlockDev, p: &Part) -> bool {
    let mut m = [0u8; 8];
    p.len > 0x10000 + 4096 && dev.read_at(p.start + 0x10040, &mut m).is_ok() && &m == b"_BHRfS_M"
}

fn type_letter(t: FileType) -> &'static str {
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

/// The manifest row the reader produces for `path`.
fn row(fs: &dyn Filesystem, path: &str) -> String {
    let md = fs.stat(path.as_bytes()).unwrap();
    let (size, last) = match md.file_type {
        FileType::Regular => {
            let d = fs.read_file(path.as_bytes(), 1 << 34).unwrap();
            (d.len() as u64, hex::encode(Sha256::digest(&d)))
        }
        FileType::Symlink => {
            let t = fs.readlink(path.as_bytes()).unwrap();
            (t.len() as u64, String::from_utf8_lossy(&t).into_owned())
        }
        _ => (0, "-".to_string()),
    };
    format!(
        "{path}\t{}\t{:04o}\t{size}\t{last}",
        type_letter(md.file_type),
        md.mode & 0o7777
    )
}

fn walk(fs: &dyn Filesystem, dir: &str, out: &mut BTreeMap<String, String>) {
    out.insert(dir.to_string(), row(fs, dir));
    for e in fs.read_dir(dir.as_bytes()).unwrap() {
        let p = format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            String::from_utf8_lossy(&e.name)
        );
        if e.file_type == FileType::Directory {
            walk(fs, &p, out);
        } else {
            out.insert(p.clone(), row(fs, &p));
        }
    }
}

/// The image file a manifest `<image>.<part>.manifest.tsv` belongs to, and `<part>`.
fn image_for(manifest: &Path) -> Option<(PathBuf, String)> {
    let name = manifest
        .file_name()?
        .to_str()?
        .strip_suffix(".manifest.tsv")?;
    let (image, part) = name.rsplit_once('.')?;
    let dir = manifest.parent()?;
    for cand in [
        format!("{image}.raw"),
        format!("{image}.img"),
        image.to_string(),
    ] {
        let p = dir.join(&cand);
        if p.is_file() {
            return Some((p, part.to_string()));
        }
    }
    None
}

/// From `index.json` next to the manifest: (partition number, fs type) of the partition whose
/// `manifest` field names this manifest.
fn index_entry(manifest: &Path, name: &str) -> Option<(usize, String)> {
    let text = std::fs::read_to_string(manifest.parent()?.join("index.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    for img in v.get("images")?.as_array()? {
        for p in img
            .get("partitions")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            if p.get("manifest").and_then(|m| m.as_str()) == Some(name) {
                let number = p.get("number")?.as_u64()? as usize;
                let fs = p.get("fs")?.as_str()?.to_string();
                return Some((number, fs));
            }
        }
    }
    None
}

#[test]
fn built_images_match_their_manifests() {
    let Some(dir) = common::images_dir() else {
        return;
    };
    let root = dir.display().to_string();
    let mut compared = std::collections::BTreeSet::new();
    for ent in std::fs::read_dir(&root).unwrap() {
        let manifest = ent.unwrap().path();
        let Some((image, part)) = image_for(&manifest) else {
            continue;
        };
        let dev: Arc<dyn BlockDev> = Arc::new(RawFile::open(&image).unwrap());
        let parts = partitions(&*dev);
        let manifest_name = manifest.file_name().unwrap().to_str().unwrap().to_string();
        // index.json (when present) says which partition number and filesystem a manifest is
        // for; otherwise match the GPT partition name or number, and accept only Btrfs.
        let chosen = match index_entry(&manifest, &manifest_name) {
            Some((_, fs)) if fs != "btrfs" => None,
            Some((number, _)) => parts.iter().find(|p| p.number == number),
            None => {
                let named = parts.iter().find(|p| {
                    p.name == part
                        || part.trim_start_matches(['p', 'a', 'r', 't']) == p.number.to_string()
                });
                let btrfs: Vec<&Part> = parts.iter().filter(|p| is_btrfs(&*dev, p)).collect();
                match named {
                    Some(p) => Some(p),
                    None if btrfs.len() == 1 => btrfs.first().copied(),
                    None => None,
                }
            }
        }
        .filter(|p| is_btrfs(&*dev, p));
        let Some(p) = chosen else {
            continue; // not a Btrfs filesystem (ext4, XFS, … manifests belong to others)
        };
        let slice = SliceDev::new(
            dev.clone(),
            p.start,
            p.len,
            format!("{}:{part}", image.display()),
        )
        .unwrap();
        let fs = BtrfsFs::open(Arc::new(slice), &BtrfsOpenOptions::default()).unwrap();
        let mut got = BTreeMap::new();
        walk(&fs, "/", &mut got);
        let text = std::fs::read_to_string(&manifest).unwrap();
        let mut want = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let path = line.split('\t').next().unwrap().to_string();
            want.insert(path, line.to_string());
        }
        for (path, line) in &want {
            assert_eq!(got.get(path), Some(line), "{}: {path}", manifest.display());
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{}: extra entries",
            manifest.display()
        );
        eprintln!(
            "btrfs: {} matches ({} entries)",
            manifest.display(),
            want.len()
        );
        compared.insert(manifest_name);
    }
    eprintln!(
        "btrfs: compared {} Btrfs filesystems under {root}",
        compared.len()
    );
    // Every Btrfs manifest index.json lists was compared, and there is at least one.
    let expected = common::indexed_manifests(&dir, &["btrfs"]);
    assert!(!expected.is_empty(), "index.json lists no Btrfs manifest");
    for (file, m) in &expected {
        assert!(
            compared.contains(m),
            "{file}: Btrfs manifest {m} was not compared"
        );
    }
}
