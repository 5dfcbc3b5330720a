//! Fuzz the XFS writer: the input is a sequence of operations (replace, create, mkdir,
//! rename, backup) run on a small image made by `mkfs.xfs -p` (xfsprogs 6.1, 300 MiB,
//! defaults: crc, finobt, sparse inodes, reflink, bigtime), embedded zero-run-length encoded
//! (`xfs_write.img.rle`) and held in a sparse in-memory device. The writer may refuse an
//! operation, but it must never panic, and afterwards our reader must open the result and
//! read back exactly what every successful operation wrote.

use guestfix::block::{BlockDev, BlockError, WritableDev};
use guestfix::fs::Filesystem;
use guestfix::fs::xfs::XfsFs;
use guestfix::fs::xfs::write::XfsWriter;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

const IMAGE: &[u8] = include_bytes!("xfs_write.img.rle");
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
        "xfs_write fuzz image".into()
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

pub fn run(data: &[u8]) {
    if data.len() > 4096 {
        return;
    }
    let dev = Arc::new(SparseDev::decode(IMAGE));
    let mut w = XfsWriter::open(dev.clone()).expect("the embedded image opens");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for p in ["/etc/fstab", "/etc/hostname", "/boot/grub.cfg"] {
        let fs = XfsFs::open(dev.clone()).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = fs.read_at(p.as_bytes(), 0, &mut buf).unwrap();
        buf.truncate(n);
        files.insert(p.to_string(), buf);
    }
    let dirs = ["/", "/etc", "/etc/sysconfig", "/boot", "/many"];
    for op in data.chunks(4) {
        let [k, a, b, c] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        let len = usize::from(u16::from_be_bytes([b, c])) * (1 + usize::from(k >> 4));
        let keys: Vec<String> = files.keys().cloned().collect();
        let pick = keys[usize::from(a) % keys.len()].clone();
        let dir = dirs[usize::from(a) % dirs.len()];
        let join = |n: String| {
            if dir == "/" {
                format!("/{n}")
            } else {
                format!("{dir}/{n}")
            }
        };
        match k % 5 {
            0 => {
                let d = bytes(b, len);
                if w.replace_file(pick.as_bytes(), &d).is_ok() {
                    files.insert(pick, d);
                }
            }
            1 => {
                let name = format!("f{c}");
                let d = bytes(c, len);
                if w.create_file(dir.as_bytes(), name.as_bytes(), &d, 0o644)
                    .is_ok()
                {
                    files.insert(join(name), d);
                }
            }
            2 => {
                let _ = w.create_dir(dir.as_bytes(), format!("d{c}").as_bytes(), 0o755);
            }
            3 => {
                let (pd, _) = guestfix::fs::write::split_path(&pick);
                let pd = pd.to_string();
                let name = format!("r{c}");
                if w.rename(pick.as_bytes(), pd.as_bytes(), name.as_bytes())
                    .is_ok()
                {
                    let v = files.remove(&pick).unwrap();
                    let to = if pd == "/" {
                        format!("/{name}")
                    } else {
                        format!("{pd}/{name}")
                    };
                    files.insert(to, v);
                }
            }
            _ => {
                let name = format!("b{c}");
                let (pd, _) = guestfix::fs::write::split_path(&pick);
                let pd = pd.to_string();
                let d = bytes(a, len);
                let old = files[&pick].clone();
                if w.backup_and_replace(pick.as_bytes(), name.as_bytes(), &d)
                    .is_ok()
                {
                    let to = if pd == "/" {
                        format!("/{name}")
                    } else {
                        format!("{pd}/{name}")
                    };
                    files.insert(to, old);
                    files.insert(pick, d);
                }
            }
        }
    }
    w.flush().unwrap();
    drop(w);
    let fs = XfsFs::open(dev).expect("the reader opens what the writer left");
    for (p, want) in &files {
        let st = fs.stat(p.as_bytes()).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(st.size, want.len() as u64, "{p}");
        let mut buf = vec![0u8; want.len()];
        fs.read_at(p.as_bytes(), 0, &mut buf).unwrap();
        assert!(buf == *want, "{p}: content differs");
    }
    for d in dirs {
        fs.read_dir(d.as_bytes())
            .unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}
