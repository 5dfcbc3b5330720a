//! Fuzz the Btrfs writer: the input is a sequence of operations (replace, replace with a
//! backup, create, rename, remove) run on a small image made by `mkfs.btrfs --rootdir` (btrfs-progs
//! 6.2, 128 MiB, defaults: DUP metadata, skinny metadata, no-holes, free-space tree; a few
//! files in /etc, /boot/grub and /many), embedded zero-run-length encoded
//! (`btrfs_write.img.rle`: "BTRFRLE1", the length as u64 BE, then runs: 0 + u32 BE count of
//! zeros, or 1 + u16 BE length + bytes) and held in a sparse in-memory device. The writer may
//! refuse an operation, but it must never panic, and afterwards our reader must open the
//! result and read back exactly what every successful operation wrote.

use guestfix::block::{BlockDev, BlockError, WritableDev};
use guestfix::fs::Filesystem;
use guestfix::fs::btrfs::write::BtrfsWriter;
use guestfix::fs::btrfs::{BtrfsFs, BtrfsOpenOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

const IMAGE: &[u8] = include_bytes!("btrfs_write.img.rle");
const PAGE: u64 = 4096;

/// A device of `len` bytes whose untouched pages read as zeros.
struct SparseDev {
    len: u64,
    pages: RwLock<HashMap<u64, Vec<u8>>>,
}

impl SparseDev {
    fn decode(rle: &[u8]) -> SparseDev {
        let len = u64::from_be_bytes(rle[8..16].try_into().unwrap());
        let dev = SparseDev {
            len,
            pages: RwLock::new(HashMap::new()),
        };
        let (mut i, mut pos) = (16usize, 0u64);
        while i < rle.len() {
            if rle[i] == 0 {
                pos += u64::from(u32::from_be_bytes(rle[i + 1..i + 5].try_into().unwrap()));
                i += 5;
            } else {
                let n = usize::from(u16::from_be_bytes([rle[i + 1], rle[i + 2]]));
                dev.write_at(pos, &rle[i + 3..i + 3 + n]).unwrap();
                pos += n as u64;
                i += 3 + n;
            }
        }
        assert_eq!(pos, len, "embedded image decodes to its length");
        dev
    }
}

impl BlockDev for SparseDev {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        guestfix::block::check_range("sparse", self.len, offset, buf.len())?;
        let pages = self.pages.read().unwrap();
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let (p, o) = (at / PAGE, (at % PAGE) as usize);
            let n = (PAGE as usize - o).min(buf.len() - done);
            match pages.get(&p) {
                Some(pg) => buf[done..done + n].copy_from_slice(&pg[o..o + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "btrfs_write fuzz image".into()
    }
}

impl WritableDev for SparseDev {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        guestfix::block::check_range("sparse", self.len, offset, buf.len())?;
        let mut pages = self.pages.write().unwrap();
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let (p, o) = (at / PAGE, (at % PAGE) as usize);
            let n = (PAGE as usize - o).min(buf.len() - done);
            let pg = pages.entry(p).or_insert_with(|| vec![0u8; PAGE as usize]);
            pg[o..o + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

pub fn run(data: &[u8]) {
    if data.len() > 2048 {
        return;
    }
    let dev = Arc::new(SparseDev::decode(IMAGE));
    let mut w = BtrfsWriter::open(dev.clone()).expect("the embedded image opens");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    {
        let fs = BtrfsFs::open(dev.clone(), &BtrfsOpenOptions::default()).unwrap();
        for p in [
            "/etc/fstab",
            "/etc/hostname",
            "/boot/grub/grub.cfg",
            "/many/e7",
        ] {
            files.insert(p.to_string(), fs.read_file(p.as_bytes(), 1 << 20).unwrap());
        }
    }
    let dirs = ["/", "/etc", "/boot/grub", "/many"];
    let mut removed = std::collections::BTreeSet::new();
    for op in data.chunks(4) {
        let [k, a, b, c] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        // up to ~ 1 MiB: inline, one extent, several csum leaves
        let len = usize::from(u16::from_be_bytes([b, c])) * (1 + usize::from(k >> 5));
        let keys: Vec<String> = files.keys().cloned().collect();
        let pick = keys[usize::from(a) % keys.len()].clone();
        let dir = dirs[usize::from(a) % dirs.len()];
        match k % 5 {
            0 => {
                let d = bytes(b, len);
                if w.replace(&pick, None, &d).is_ok() {
                    files.insert(pick, d);
                }
            }
            1 => {
                let p = join(dir, &format!("f{c}"));
                let d = bytes(c, len);
                if w.create(&p, &d).is_ok() {
                    files.insert(p, d);
                }
            }
            2 => {
                let to = join(dir, &format!("r{c}"));
                if w.rename(&pick, &to).is_ok() {
                    let v = files.remove(&pick).unwrap();
                    files.insert(to, v);
                }
            }
            4 => {
                // keep one file, so that `pick` always has a key
                if files.len() > 1 && w.remove(&pick).is_ok() {
                    files.remove(&pick);
                    removed.insert(pick);
                }
            }
            _ => {
                let name = format!("b{c}");
                let (pd, _) = guestfix::fs::write::split_path(&pick);
                let to = join(pd, &name);
                let d = bytes(a, len);
                let old = files[&pick].clone();
                if w.replace(&pick, Some(&name), &d).is_ok() {
                    files.insert(to, old);
                    files.insert(pick, d);
                }
            }
        }
    }
    drop(w);
    let fs = BtrfsFs::open(dev, &BtrfsOpenOptions::default())
        .expect("the reader opens what the writer left");
    for (p, want) in &files {
        let st = fs.stat(p.as_bytes()).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(st.size, want.len() as u64, "{p}");
        let got = fs
            .read_file(p.as_bytes(), 1 << 30)
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(got == *want, "{p}: content differs");
    }
    for p in removed.iter().filter(|p| !files.contains_key(*p)) {
        assert!(
            fs.stat(p.as_bytes()).is_err(),
            "{p}: still there after remove"
        );
    }
    for d in dirs {
        fs.read_dir(d.as_bytes())
            .unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}
