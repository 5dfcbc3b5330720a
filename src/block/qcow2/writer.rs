//! qcow2 v3 writer: a copy-on-write overlay over a backing image (only changed clusters are
//! stored; untouched clusters read through to the source), or a standalone image (full copy).
//!
//! Layout: cluster 0 header (+ backing format extension and backing file name), cluster 1 the
//! refcount table, then the L1 table; L2 tables, data clusters and refcount blocks are appended.
//! Nothing is ever freed, so every cluster below the end has refcount 1; metadata lives in
//! memory and is written on [`WritableDev::flush`] (and on drop).

use super::header::{EXT_BACKING_FORMAT, MAGIC};
use super::l1l2::{COPIED, OFFSET_MASK};
use crate::block::util::for_each_chunk;
use crate::block::{BlockDev, BlockError, WritableDev, check_range};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const CLUSTER_BITS: u32 = 16;
const CS: u64 = 1 << CLUSTER_BITS;
const L2_ENTRIES: u64 = CS / 8;
const REFCOUNTS_PER_BLOCK: u64 = CS / 2;
/// Largest image the writer makes (one refcount-table cluster covers far more).
const MAX_SIZE: u64 = 64 << 40;

struct State {
    l1: Vec<u64>,
    l2: BTreeMap<u64, (u64, Vec<u64>)>,
    refblocks: Vec<u64>,
    next_free: u64,
    dirty: bool,
}

/// A qcow2 v3 image being written.
pub struct Qcow2Writer {
    file: File,
    path: PathBuf,
    size: u64,
    backing: Option<Arc<dyn BlockDev>>,
    state: Mutex<State>,
}

impl Qcow2Writer {
    /// Create `path` as a qcow2 overlay of `backing` (read for untouched clusters), recording
    /// `backing_name` and `backing_format` ("raw", "qcow2", "vmdk", "vpc", "vhdx") in the
    /// header. The source is never written.
    pub fn create_overlay(
        path: &Path,
        backing: Arc<dyn BlockDev>,
        backing_name: &str,
        backing_format: &str,
    ) -> Result<Self, BlockError> {
        let size = backing.len();
        Self::create(path, size, Some((backing, backing_name, backing_format)))
    }

    /// Create a standalone qcow2 image of `size` bytes (reads of unwritten clusters give zeros).
    pub fn create_standalone(path: &Path, size: u64) -> Result<Self, BlockError> {
        Self::create(path, size, None)
    }

    fn create(
        path: &Path,
        size: u64,
        backing: Option<(Arc<dyn BlockDev>, &str, &str)>,
    ) -> Result<Self, BlockError> {
        let io = |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if size > MAX_SIZE {
            return Err(BlockError::TooLarge {
                path: path.into(),
                what: "qcow2 output virtual size".into(),
                size,
                limit: MAX_SIZE,
            });
        }
        let l1_entries = size.div_ceil(CS * L2_ENTRIES);
        let l1_clusters = (l1_entries * 8).div_ceil(CS).max(1);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        // Header cluster.
        let mut h = vec![0u8; CS as usize];
        let put32 =
            |h: &mut Vec<u8>, o: usize, v: u32| h[o..o + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |h: &mut Vec<u8>, o: usize, v: u64| h[o..o + 8].copy_from_slice(&v.to_be_bytes());
        h[0..4].copy_from_slice(MAGIC);
        put32(&mut h, 4, 3);
        put32(&mut h, 20, CLUSTER_BITS);
        put64(&mut h, 24, size);
        put32(&mut h, 36, l1_entries as u32);
        put64(&mut h, 40, 2 * CS);
        put64(&mut h, 48, CS);
        put32(&mut h, 56, 1);
        put32(&mut h, 96, 4);
        put32(&mut h, 100, 104);
        let (dev, name) = match backing {
            Some((dev, name, fmt)) => {
                if name.len() > 1023 || fmt.len() > 64 {
                    return Err(BlockError::unsupported(
                        path,
                        "backing file name too long for qcow2",
                    ));
                }
                let mut off = 104usize;
                put32(&mut h, off, EXT_BACKING_FORMAT);
                put32(&mut h, off + 4, fmt.len() as u32);
                h[off + 8..off + 8 + fmt.len()].copy_from_slice(fmt.as_bytes());
                off += 8 + fmt.len().div_ceil(8) * 8;
                // End-of-extensions marker (8 zero bytes) then the name.
                off += 8;
                h[off..off + name.len()].copy_from_slice(name.as_bytes());
                put64(&mut h, 8, off as u64);
                put32(&mut h, 16, name.len() as u32);
                (Some(dev), Some(name))
            }
            None => (None, None),
        };
        let _ = name;
        file.write_all_at(&h, 0).map_err(io)?;
        let w = Qcow2Writer {
            file,
            path: path.to_path_buf(),
            size,
            backing: dev,
            state: Mutex::new(State {
                l1: vec![0; l1_entries as usize],
                l2: BTreeMap::new(),
                refblocks: Vec::new(),
                next_free: 2 + l1_clusters,
                dirty: true,
            }),
        };
        w.flush()?;
        Ok(w)
    }

    fn io(&self, source: std::io::Error) -> BlockError {
        BlockError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, BlockError> {
        self.state
            .lock()
            .map_err(|_| BlockError::corrupt(&self.path, "qcow2 writer lock poisoned"))
    }

    /// Host offset of guest cluster `idx` if this image holds it.
    fn lookup(st: &State, idx: u64) -> Option<u64> {
        st.l2
            .get(&(idx / L2_ENTRIES))
            .and_then(|(_, t)| t.get((idx % L2_ENTRIES) as usize))
            .map(|e| e & OFFSET_MASK)
            .filter(|&o| o != 0)
    }

    /// Guest clusters this image holds (in order).
    pub fn allocated_clusters(&self) -> Result<Vec<u64>, BlockError> {
        let st = self.lock()?;
        let mut v = Vec::new();
        for (l1i, (_, t)) in &st.l2 {
            for (i, e) in t.iter().enumerate() {
                if e & OFFSET_MASK != 0 {
                    v.push(l1i * L2_ENTRIES + i as u64);
                }
            }
        }
        Ok(v)
    }

    /// The cluster size of the overlay, in bytes.
    pub fn cluster_size(&self) -> u64 {
        CS
    }

    /// Write everything and close.
    pub fn finish(self) -> Result<(), BlockError> {
        self.flush()
    }

    fn flush_locked(&self, st: &mut State) -> Result<(), BlockError> {
        // Enough refcount blocks for every cluster, themselves included.
        loop {
            let need = st.next_free.div_ceil(REFCOUNTS_PER_BLOCK);
            if st.refblocks.len() as u64 >= need {
                break;
            }
            let off = st.next_free * CS;
            st.next_free += 1;
            st.refblocks.push(off);
        }
        if st.refblocks.len() as u64 > CS / 8 {
            return Err(BlockError::TooLarge {
                path: self.path.clone(),
                what: "qcow2 output refcount table".into(),
                size: st.refblocks.len() as u64 * 8,
                limit: CS,
            });
        }
        for (i, &off) in st.refblocks.iter().enumerate() {
            let first = i as u64 * REFCOUNTS_PER_BLOCK;
            let mut b = vec![0u8; CS as usize];
            for (j, c) in b.chunks_exact_mut(2).enumerate() {
                if first + (j as u64) < st.next_free {
                    c.copy_from_slice(&1u16.to_be_bytes());
                }
            }
            self.file.write_all_at(&b, off).map_err(|e| self.io(e))?;
        }
        let mut rt = vec![0u8; CS as usize];
        for (c, off) in rt.chunks_exact_mut(8).zip(&st.refblocks) {
            c.copy_from_slice(&off.to_be_bytes());
        }
        self.file.write_all_at(&rt, CS).map_err(|e| self.io(e))?;
        for (host, t) in st.l2.values() {
            let b: Vec<u8> = t.iter().flat_map(|e| e.to_be_bytes()).collect();
            self.file.write_all_at(&b, *host).map_err(|e| self.io(e))?;
        }
        let l1: Vec<u8> = st.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
        self.file
            .write_all_at(&l1, 2 * CS)
            .map_err(|e| self.io(e))?;
        let end = st.next_free * CS;
        let cur = self.file.metadata().map_err(|e| self.io(e))?.len();
        if cur < end {
            self.file.set_len(end).map_err(|e| self.io(e))?;
        }
        self.file.sync_data().map_err(|e| self.io(e))?;
        st.dirty = false;
        Ok(())
    }
}

impl BlockDev for Qcow2Writer {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(&self.describe(), self.size, offset, buf.len())?;
        let st = self.lock()?;
        for_each_chunk(offset, buf.len(), CS, |idx, within, pos, n| {
            let dst = buf.get_mut(pos..pos + n).unwrap_or(&mut []);
            match Self::lookup(&st, idx) {
                Some(host) => self
                    .file
                    .read_exact_at(dst, host + within)
                    .map_err(|e| self.io(e)),
                None => match &self.backing {
                    Some(b) => super::read_backing(&**b, idx * CS + within, dst),
                    None => {
                        dst.fill(0);
                        Ok(())
                    }
                },
            }
        })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

impl WritableDev for Qcow2Writer {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(&self.describe(), self.size, offset, buf.len())?;
        let mut st = self.lock()?;
        st.dirty = true;
        for_each_chunk(offset, buf.len(), CS, |idx, within, pos, n| {
            let src = buf.get(pos..pos + n).unwrap_or(&[]);
            if let Some(host) = Self::lookup(&st, idx) {
                return self
                    .file
                    .write_all_at(src, host + within)
                    .map_err(|e| self.io(e));
            }
            // New cluster: copy-on-write from the backing image for a partial write.
            let l1i = idx / L2_ENTRIES;
            if !st.l2.contains_key(&l1i) {
                let host = st.next_free * CS;
                st.next_free += 1;
                if let Some(e) = st.l1.get_mut(l1i as usize) {
                    *e = host | COPIED;
                }
                st.l2.insert(l1i, (host, vec![0u64; L2_ENTRIES as usize]));
            }
            let host = st.next_free * CS;
            st.next_free += 1;
            let mut cluster = vec![0u8; CS as usize];
            if n as u64 != CS {
                if let Some(b) = &self.backing {
                    // The last cluster may extend past the virtual size.
                    let start = idx * CS;
                    let avail = (self.size - start).min(CS) as usize;
                    super::read_backing(&**b, start, cluster.get_mut(..avail).unwrap_or(&mut []))?;
                }
            }
            if let Some(d) = cluster.get_mut(within as usize..within as usize + n) {
                d.copy_from_slice(src);
            }
            self.file
                .write_all_at(&cluster, host)
                .map_err(|e| self.io(e))?;
            if let Some((_, t)) = st.l2.get_mut(&l1i) {
                if let Some(e) = t.get_mut((idx % L2_ENTRIES) as usize) {
                    *e = host | COPIED;
                }
            }
            Ok(())
        })
    }

    fn flush(&self) -> Result<(), BlockError> {
        let mut st = self.lock()?;
        self.flush_locked(&mut st)
    }
}

impl Drop for Qcow2Writer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.state.lock() {
            if st.dirty {
                let _ = self.flush_locked(&mut st);
            }
        }
    }
}
