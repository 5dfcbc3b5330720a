//! qcow2 (versions 2 and 3): header, L1/L2 tables, zero and compressed clusters (deflate, zstd),
//! backing files; and the qcow2 writer (copy-on-write overlay and full copy).

pub mod header;
pub mod l1l2;
pub mod writer;

use super::alloc::{self, Extent, ExtentKind};
use super::util::{MAX_TABLE_BYTES, be64, for_each_chunk, read_into, read_vec};
use super::{BlockDev, BlockError, ContainerInfo, Ctx};
use header::{Compression, Header};
use l1l2::{Mapping, OFFSET_MASK, decode_l2};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of L2 tables kept in memory per image.
const L2_CACHE_BYTES: u64 = 16 << 20;
/// L2 tables announced to the file at open (a remote file fetches them together).
const MAX_PREFETCH_L2: usize = 64;

/// A qcow2 image read through its container file.
pub struct Qcow2 {
    file: Arc<dyn BlockDev>,
    name: String,
    pub header: Header,
    l1: Vec<u64>,
    backing: Option<Arc<dyn BlockDev>>,
    l2_cache: Mutex<HashMap<u64, Arc<Vec<u64>>>>,
    zcache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

impl Qcow2 {
    /// Open the qcow2 image held by `file`; backing files are resolved through `ctx`.
    pub(crate) fn open(file: Arc<dyn BlockDev>, ctx: &Ctx) -> Result<Qcow2, BlockError> {
        let name = file.describe();
        let first = file.len().min(2 << 20);
        let buf = read_vec(&*file, 0, first, MAX_TABLE_BYTES, "qcow2 header")?;
        let header = Header::parse(&buf, &name)?;
        let cs = header.cluster_size();
        // L1 must cover the virtual size.
        let l2_entries = cs / 8;
        let need = header.size.div_ceil(cs * l2_entries);
        if (header.l1_size as u64) < need {
            return Err(BlockError::corrupt(
                &name,
                format!(
                    "qcow2 L1 table has {} entries, {} needed for the virtual size",
                    header.l1_size, need
                ),
            ));
        }
        let l1_bytes = header.l1_size as u64 * 8;
        if header.l1_table_offset % cs != 0 && header.l1_size != 0 {
            return Err(BlockError::corrupt(
                &name,
                "qcow2 L1 table offset not cluster aligned",
            ));
        }
        let raw = read_vec(
            &*file,
            header.l1_table_offset,
            l1_bytes,
            32 << 20,
            "qcow2 L1 table",
        )?;
        let l1: Vec<u64> = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
        // The L2 tables are what every read needs next: let a remote file fetch them together.
        let l2s: Vec<(u64, u64)> = l1
            .iter()
            .map(|e| e & OFFSET_MASK)
            .filter(|&o| o != 0)
            .take(MAX_PREFETCH_L2)
            .map(|o| (o, cs))
            .collect();
        file.prefetch(&l2s);
        check_in_use_end(&*file, &header, &name)?;
        let backing = match &header.backing_file {
            Some(b) => Some(ctx.open_backing(&name, b)?),
            None => None,
        };
        Ok(Qcow2 {
            file,
            name,
            header,
            l1,
            backing,
            l2_cache: Mutex::new(HashMap::new()),
            zcache: Mutex::new(None),
        })
    }

    pub(crate) fn info(&self) -> ContainerInfo {
        ContainerInfo {
            format: "qcow2".into(),
            subformat: Some(format!("v{}", self.header.version)),
            virtual_size: self.header.size,
            file_size: self.file.len(),
            backing_file: self.header.backing_file.clone(),
            backing_format: self.header.backing_format.clone(),
            disks: Vec::new(),
        }
    }

    fn cluster_size(&self) -> u64 {
        self.header.cluster_size()
    }

    fn l2_table(&self, l2_off: u64) -> Result<Arc<Vec<u64>>, BlockError> {
        if let Ok(c) = self.l2_cache.lock() {
            if let Some(t) = c.get(&l2_off) {
                return Ok(t.clone());
            }
        }
        let cs = self.cluster_size();
        if l2_off % cs != 0 {
            return Err(BlockError::corrupt(
                &self.name,
                format!("qcow2 L2 table offset {l2_off:#x} not cluster aligned"),
            ));
        }
        let raw = read_vec(&*self.file, l2_off, cs, MAX_TABLE_BYTES, "qcow2 L2 table")?;
        let t: Arc<Vec<u64>> = Arc::new(raw.chunks_exact(8).map(|c| be64(c, 0)).collect());
        if let Ok(mut c) = self.l2_cache.lock() {
            if (c.len() as u64 + 1) * cs > L2_CACHE_BYTES {
                c.clear();
            }
            c.insert(l2_off, t.clone());
        }
        Ok(t)
    }

    /// What guest cluster `idx` maps to.
    pub fn mapping(&self, idx: u64) -> Result<Mapping, BlockError> {
        let l2_entries = self.cluster_size() / 8;
        let l1_idx = (idx / l2_entries) as usize;
        let l1e = self.l1.get(l1_idx).copied().unwrap_or(0);
        let l2_off = l1e & OFFSET_MASK;
        if l2_off == 0 {
            return Ok(Mapping::Unallocated);
        }
        let t = self.l2_table(l2_off)?;
        let e = t.get((idx % l2_entries) as usize).copied().unwrap_or(0);
        let m = decode_l2(e, self.header.cluster_bits, self.header.version);
        if let Mapping::Data(off) = m {
            if off % self.cluster_size() != 0 {
                return Err(BlockError::corrupt(
                    &self.name,
                    format!(
                        "qcow2 L2 entry for cluster {idx}: data offset {off:#x} not cluster aligned"
                    ),
                ));
            }
        }
        Ok(m)
    }

    fn compressed_cluster(&self, offset: u64, len: u64) -> Result<Arc<Vec<u8>>, BlockError> {
        if let Ok(z) = self.zcache.lock() {
            if let Some((o, d)) = z.as_ref() {
                if *o == offset {
                    return Ok(d.clone());
                }
            }
        }
        let cs = self.cluster_size();
        // The stored length is an upper bound that may run past the end of the file.
        let avail = self.file.len().saturating_sub(offset);
        if avail == 0 {
            return Err(BlockError::Truncated {
                path: self.name.clone().into(),
                what: "qcow2 compressed cluster".into(),
                offset,
                len,
                file_size: self.file.len(),
            });
        }
        let src = read_vec(
            &*self.file,
            offset,
            len.min(avail),
            4 << 20,
            "qcow2 compressed cluster",
        )?;
        let mut out = vec![0u8; cs as usize];
        let got = match self.header.compression {
            Compression::Deflate => super::util::inflate(&src, &mut out, false).map_err(|e| {
                BlockError::corrupt(
                    &self.name,
                    format!("qcow2 compressed cluster at {offset:#x}: {e}"),
                )
            })?,
            Compression::Zstd => zstd_into(&src, &mut out).map_err(|e| {
                BlockError::corrupt(
                    &self.name,
                    format!("qcow2 zstd cluster at {offset:#x}: {e}"),
                )
            })?,
        };
        if got != cs {
            return Err(BlockError::corrupt(
                &self.name,
                format!(
                    "qcow2 compressed cluster at {offset:#x} inflates to {got} bytes, expected {cs}"
                ),
            ));
        }
        let d = Arc::new(out);
        if let Ok(mut z) = self.zcache.lock() {
            *z = Some((offset, d.clone()));
        }
        Ok(d)
    }
}

/// Largest zstd window a compressed cluster may ask for (the decoder allocates it).
const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// The window size a zstd frame header declares (RFC 8878 §3.1.1.1), without decoding.
fn zstd_window(src: &[u8]) -> Result<u64, String> {
    use super::util::{le16, le32, le64};
    if super::util::sub(src, 0, 4) != [0x28, 0xb5, 0x2f, 0xfd] {
        return Err("not a zstd frame".into());
    }
    let fhd = src.get(4).copied().ok_or("truncated zstd frame header")?;
    let single_segment = fhd & 0x20 != 0;
    let fcs_flag = fhd >> 6;
    let dict_len = [0usize, 1, 2, 4][(fhd & 3) as usize];
    if !single_segment {
        let wd = src.get(5).copied().ok_or("truncated zstd frame header")?;
        let base = 1u64 << (10 + (wd >> 3));
        return Ok(base + (base / 8) * (wd & 7) as u64);
    }
    let at = 5 + dict_len;
    let fcs = match fcs_flag {
        0 => src.get(at).copied().map(u64::from),
        1 => (src.len() >= at + 2).then(|| le16(src, at) as u64 + 256),
        2 => (src.len() >= at + 4).then(|| le32(src, at) as u64),
        _ => (src.len() >= at + 8).then(|| le64(src, at)),
    };
    fcs.ok_or_else(|| "truncated zstd frame header".into())
}

/// Decompress one zstd frame into `out`; returns the number of bytes it holds.
fn zstd_into(src: &[u8], out: &mut [u8]) -> Result<u64, String> {
    use std::io::Read;
    let window = zstd_window(src)?;
    if window > MAX_ZSTD_WINDOW {
        return Err(format!(
            "zstd window of {window} bytes (limit {MAX_ZSTD_WINDOW})"
        ));
    }
    let mut dec = ruzstd::decoding::StreamingDecoder::new(src).map_err(|e| e.to_string())?;
    let mut n = 0usize;
    while let Some(dst) = out.get_mut(n..) {
        if dst.is_empty() {
            // Check whether more data follows.
            let mut one = [0u8; 1];
            let extra = dec.read(&mut one).map_err(|e| e.to_string())?;
            return Ok(n as u64 + extra as u64);
        }
        let r = dec.read(dst).map_err(|e| e.to_string())?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n as u64)
}

impl BlockDev for Qcow2 {
    fn len(&self) -> u64 {
        self.header.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        super::check_range(&self.name, self.header.size, offset, buf.len())?;
        let cs = self.cluster_size();
        // Runs of data clusters that are contiguous in the file are read with one call.
        let mut run: Option<(u64, usize, usize)> = None; // (host offset, buffer position, length)
        let flush_run = |run: &mut Option<(u64, usize, usize)>, buf: &mut [u8]| {
            if let Some((host, pos, len)) = run.take() {
                let dst = buf.get_mut(pos..pos + len).unwrap_or(&mut []);
                read_into(&*self.file, host, dst, "qcow2 data cluster")?;
            }
            Ok::<(), BlockError>(())
        };
        let mut pieces = Vec::new();
        for_each_chunk(offset, buf.len(), cs, |idx, within, pos, n| {
            pieces.push((idx, within, pos, n));
            Ok(())
        })?;
        for (idx, within, pos, n) in pieces {
            let m = self.mapping(idx)?;
            if let Mapping::Data(host) = m {
                let h = host + within;
                match &mut run {
                    Some((rh, rp, rl)) if *rh + *rl as u64 == h && *rp + *rl == pos => *rl += n,
                    _ => {
                        flush_run(&mut run, buf)?;
                        run = Some((h, pos, n));
                    }
                }
                continue;
            }
            flush_run(&mut run, buf)?;
            let dst = buf.get_mut(pos..pos + n).unwrap_or(&mut []);
            match m {
                Mapping::Unallocated => match &self.backing {
                    Some(b) => read_backing(&**b, idx * cs + within, dst)?,
                    None => dst.fill(0),
                },
                Mapping::Zero => dst.fill(0),
                Mapping::Compressed { offset, len } => {
                    let d = self.compressed_cluster(offset, len)?;
                    let s = d.get(within as usize..within as usize + n).unwrap_or(&[]);
                    if s.len() == dst.len() {
                        dst.copy_from_slice(s);
                    }
                }
                Mapping::Data(_) => {}
            }
        }
        flush_run(&mut run, buf)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    /// From the L2 tables: data and compressed clusters are data, zero-flagged clusters zero,
    /// unallocated clusters what the backing file says there (beyond a shorter backing file,
    /// and without one, unallocated).
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.header.size, offset, len, &|| self.name.clone())?;
        let own = alloc::by_unit(offset, len, self.cluster_size(), |idx| {
            Ok(match self.mapping(idx)? {
                Mapping::Data(_) | Mapping::Compressed { .. } => ExtentKind::Data,
                Mapping::Zero => ExtentKind::Zero,
                Mapping::Unallocated => ExtentKind::Unallocated,
            })
        })?;
        let Some(b) = &self.backing else {
            return Ok(own);
        };
        let mut v = Vec::with_capacity(own.len());
        for e in own {
            if e.kind != ExtentKind::Unallocated {
                alloc::push(&mut v, e.offset, e.len, e.kind);
                continue;
            }
            let blen = b.len();
            let inside = blen.saturating_sub(e.offset).min(e.len);
            if inside > 0 {
                let under = b.extents(e.offset, inside)?;
                alloc::push_shifted(&mut v, &under, e.offset, e.offset);
            }
            alloc::push(
                &mut v,
                e.offset + inside,
                e.len - inside,
                ExtentKind::Unallocated,
            );
        }
        Ok(v)
    }
}

/// A truncated image (a cut-short upload or copy) is refused at open: the highest host cluster
/// the refcounts mark in use must lie inside the file (qemu-img check reports the same image as
/// "N errors were found"). Two reads: the refcount table and its last refcount block. Skipped
/// for a dirty image (lazy refcounts may be stale).
fn check_in_use_end(file: &dyn BlockDev, h: &Header, name: &str) -> Result<(), BlockError> {
    if h.incompatible & header::INCOMPAT_DIRTY != 0
        || h.refcount_table_clusters == 0
        || h.refcount_order > 6
    {
        return Ok(());
    }
    let cs = h.cluster_size();
    let table = read_vec(
        file,
        h.refcount_table_offset,
        h.refcount_table_clusters as u64 * cs,
        32 << 20,
        "qcow2 refcount table",
    )?;
    let Some((ti, block_off)) = table
        .chunks_exact(8)
        .map(|c| be64(c, 0) & !0x1ff)
        .enumerate()
        .rfind(|(_, o)| *o != 0)
    else {
        return Ok(());
    };
    let block = read_vec(file, block_off, cs, MAX_TABLE_BYTES, "qcow2 refcount block")?;
    let Some(last_byte) = block.iter().rposition(|b| *b != 0) else {
        return Ok(());
    };
    let bits = 1u64 << h.refcount_order;
    // Sub-byte refcounts are packed from the least significant bit.
    let entry = if bits >= 8 {
        last_byte as u64 / (bits / 8)
    } else {
        let top = 7 - block[last_byte].leading_zeros() as u64;
        last_byte as u64 * (8 / bits) + top / bits
    };
    let per_block = cs * 8 / bits;
    let cluster = (ti as u64).saturating_mul(per_block).saturating_add(entry);
    let offset = cluster.saturating_mul(cs);
    // The last cluster may be partly in the file (qemu's compressed images end so): only a
    // cluster that starts past the end is missing.
    if offset >= file.len() {
        return Err(BlockError::Truncated {
            path: name.into(),
            what: "qcow2 cluster in use (refcount table)".into(),
            offset,
            len: cs,
            file_size: file.len(),
        });
    }
    Ok(())
}

/// Read from a backing file that may be shorter than the overlay (the rest reads as zeros).
pub(crate) fn read_backing(
    b: &dyn BlockDev,
    offset: u64,
    dst: &mut [u8],
) -> Result<(), BlockError> {
    let blen = b.len();
    if offset >= blen {
        dst.fill(0);
        return Ok(());
    }
    let n = ((blen - offset) as usize).min(dst.len());
    let (head, tail) = dst.split_at_mut(n);
    b.read_at(offset, head)?;
    tail.fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_window_bound_is_checked_before_decoding() {
        // Frame header asking for a 2 GiB window (exponent 21): refused without allocating.
        let hostile = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0, 0, 0];
        let mut out = vec![0u8; 65536];
        let e = zstd_into(&hostile, &mut out).unwrap_err();
        assert!(e.contains("zstd window of 2147483648"), "{e}");
        // Single-segment frame: the window is the content size (FCS flag 1: two bytes
        // little-endian, plus 256).
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0xff]).unwrap(),
            0xff00 + 256
        );
        assert!(zstd_window(&[0x28, 0xb5, 0x2f]).is_err());
    }
}
