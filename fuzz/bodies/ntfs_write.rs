//! Fuzz the NTFS writer: a fixed small volume (mkntfs 2 MiB, 512-byte clusters, `/BCD`, `/hive`
//! and `/SYSTEM` copied in by ntfscp; stored zlib-compressed beside this body) and a sequence of
//! create / replace / rename / backup operations drawn from the input. Afterwards our
//! consistency checker must find nothing and our reader must open the volume and read back
//! every file with the content the model expects. Refusals are fine; a panic is a bug.

use flate2::read::ZlibDecoder;
use guestfix::block::raw::MemDisk;
use guestfix::fs::Filesystem;
use guestfix::fs::ntfs::NtfsFs;
use guestfix::fs::ntfsw::NtfsWriter;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

static VOLUME: &[u8] = include_bytes!("ntfs_write.img.zlib");

const NAMES: [&str; 8] = [
    "/BCD",
    "/hive",
    "/SYSTEM",
    "/a",
    "/Long Name.txt",
    "/ÄÖ.dat",
    "/x.y.z",
    "/NEW.SYS",
];

fn content(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed) as u8)
        .collect()
}

pub fn run(data: &[u8]) {
    let mut img = Vec::new();
    ZlibDecoder::new(VOLUME)
        .read_to_end(&mut img)
        .expect("template volume inflates");
    let dev = Arc::new(MemDisk::new("fuzz.img", img));
    let mut w = NtfsWriter::open(dev.clone()).expect("template volume opens");
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for n in &NAMES[..3] {
        model.insert(n.to_string(), w.read_file(n).expect("template file"));
    }
    for (i, c) in data.chunks(4).take(48).enumerate() {
        let get = |k: usize| usize::from(c.get(k).copied().unwrap_or(0));
        let (a, b) = (NAMES[get(1) % 8], NAMES[get(2) % 8]);
        let len = match get(0) >> 4 {
            0..=5 => get(3) * 4,
            6..=11 => get(3) * 97,
            _ => get(3) * 1500,
        };
        let d = content(i, len);
        match get(0) % 4 {
            0 => {
                if w.create_file(a, &d).is_ok() {
                    model.insert(a.to_string(), d);
                }
            }
            1 => {
                if w.replace_file(a, &d).is_ok() {
                    model.insert(a.to_string(), d);
                }
            }
            2 => {
                if w.rename(a, b).is_ok() {
                    if let Some(v) = model.remove(a) {
                        model.insert(b.to_string(), v);
                    }
                }
            }
            _ => {
                if w.backup_and_replace(a, &b[1..], &d).is_ok() {
                    let old = model.insert(a.to_string(), d).unwrap_or_default();
                    model.insert(b.to_string(), old);
                }
            }
        }
    }
    w.flush().expect("flush");
    let problems = w.check();
    assert!(problems.is_empty(), "checker: {problems:?}");
    let fs = NtfsFs::open(dev).expect("our reader opens the written volume");
    for (p, want) in &model {
        let got = fs
            .read_file(p.as_bytes(), 1 << 24)
            .expect("our reader reads a written file");
        assert!(
            got == *want,
            "{p}: {} bytes read, {} expected",
            got.len(),
            want.len()
        );
    }
}
