//! Reading a sparse VMDK extent (monolithicSparse or streamOptimized): grain directory, grain
//! tables, plain and deflate-compressed grains.

use super::sparse::{FLAG_COMPRESSED, GD_AT_END, MAGIC, SparseHeader};
use crate::block::alloc::{self, Extent, ExtentKind};
use crate::block::util::{MAX_TABLE_BYTES, for_each_chunk, le32, le64, read_into, read_vec, sub};
use crate::block::{BlockDev, BlockError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest compressed grain accepted (bytes on disk).
const MAX_COMPRESSED_GRAIN: u64 = 16 << 20;
const GT_CACHE_TABLES: usize = 4096;

pub struct SparseExtent {
    file: Arc<dyn BlockDev>,
    name: String,
    pub header: SparseHeader,
    gd: Vec<u32>,
    gt_cache: Mutex<HashMap<u32, Arc<Vec<u32>>>>,
    grain_cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    /// Embedded descriptor text (monolithicSparse / streamOptimized).
    pub descriptor: Option<Vec<u8>>,
}

impl SparseExtent {
    pub fn open(file: Arc<dyn BlockDev>) -> Result<SparseExtent, BlockError> {
        let name = file.describe();
        let mut hb = [0u8; 512];
        read_into(&*file, 0, &mut hb, "VMDK sparse header")?;
        if sub(&hb, 0, 4) == b"COWD" {
            return Err(BlockError::UnsupportedVmdk {
                path: name.into(),
                create_type: "vmfsSparse (COWD)".into(),
            });
        }
        let mut header = SparseHeader::parse(&hb, &name)?;
        header.validate(&name)?;
        if header.gd_offset == GD_AT_END {
            // Stream-optimized: the real header is the footer, 1024 bytes before the end.
            let flen = file.len();
            if flen < 1536 {
                return Err(BlockError::Truncated {
                    path: name.into(),
                    what: "VMDK footer".into(),
                    offset: 0,
                    len: 1536,
                    file_size: flen,
                });
            }
            let mut fb = [0u8; 512];
            read_into(&*file, flen - 1024, &mut fb, "VMDK footer")?;
            if sub(&fb, 0, 4) != MAGIC {
                return Err(BlockError::corrupt(
                    &name,
                    "VMDK footer (GD_AT_END) has a bad magic",
                ));
            }
            let footer = SparseHeader::parse(&fb, &name)?;
            footer.validate(&name)?;
            if footer.gd_offset == GD_AT_END {
                return Err(BlockError::corrupt(
                    &name,
                    "VMDK footer has no grain directory offset",
                ));
            }
            header.gd_offset = footer.gd_offset;
            header.capacity = footer.capacity;
            header.grain_size = footer.grain_size;
            header.num_gtes_per_gt = footer.num_gtes_per_gt;
            header.flags = footer.flags;
        }
        let gd_entries = header.gd_entries();
        let gd_bytes = gd_entries.saturating_mul(4);
        let gd_off = header.gd_offset.saturating_mul(512);
        let raw = read_vec(
            &*file,
            gd_off,
            gd_bytes,
            MAX_TABLE_BYTES,
            "VMDK grain directory",
        )?;
        let gd = raw.chunks_exact(4).map(|c| le32(c, 0)).collect();
        let descriptor = if header.descriptor_offset != 0 && header.descriptor_size != 0 {
            let len = header.descriptor_size.saturating_mul(512);
            Some(read_vec(
                &*file,
                header.descriptor_offset.saturating_mul(512),
                len,
                super::descriptor::MAX_DESCRIPTOR,
                "VMDK embedded descriptor",
            )?)
        } else {
            None
        };
        Ok(SparseExtent {
            file,
            name,
            header,
            gd,
            gt_cache: Mutex::new(HashMap::new()),
            grain_cache: Mutex::new(None),
            descriptor,
        })
    }

    pub fn file_len(&self) -> u64 {
        self.file.len()
    }

    fn grain_table(&self, gd_idx: u64) -> Result<Option<Arc<Vec<u32>>>, BlockError> {
        let sector = self.gd.get(gd_idx as usize).copied().unwrap_or(0);
        if sector == 0 {
            return Ok(None);
        }
        if let Ok(c) = self.gt_cache.lock() {
            if let Some(t) = c.get(&sector) {
                return Ok(Some(t.clone()));
            }
        }
        let bytes = self.header.num_gtes_per_gt as u64 * 4;
        let raw = read_vec(
            &*self.file,
            sector as u64 * 512,
            bytes,
            MAX_TABLE_BYTES,
            "VMDK grain table",
        )?;
        let t: Arc<Vec<u32>> = Arc::new(raw.chunks_exact(4).map(|c| le32(c, 0)).collect());
        if let Ok(mut c) = self.gt_cache.lock() {
            if c.len() >= GT_CACHE_TABLES {
                c.clear();
            }
            c.insert(sector, t.clone());
        }
        Ok(Some(t))
    }

    /// The grain-table entry (a sector offset, 0 = unallocated, 1 = zero grain) of grain `g`.
    fn grain_sector(&self, g: u64) -> Result<u32, BlockError> {
        let per = self.header.num_gtes_per_gt as u64;
        let Some(gt) = self.grain_table(g / per)? else {
            return Ok(0);
        };
        Ok(gt.get((g % per) as usize).copied().unwrap_or(0))
    }

    fn compressed_grain(&self, g: u64, sector: u64) -> Result<Arc<Vec<u8>>, BlockError> {
        if let Ok(c) = self.grain_cache.lock() {
            if let Some((s, d)) = c.as_ref() {
                if *s == sector {
                    return Ok(d.clone());
                }
            }
        }
        let off = sector.saturating_mul(512);
        let mut mh = [0u8; 12];
        read_into(&*self.file, off, &mut mh, "VMDK compressed grain header")?;
        let _lba = le64(&mh, 0);
        let size = le32(&mh, 8) as u64;
        let src = read_vec(
            &*self.file,
            off + 12,
            size,
            MAX_COMPRESSED_GRAIN,
            "VMDK compressed grain",
        )?;
        let gb = self.header.grain_bytes();
        let mut out = vec![0u8; gb as usize];
        let got = crate::block::util::inflate(&src, &mut out, true).map_err(|e| {
            BlockError::corrupt(&self.name, format!("VMDK grain {g} at offset {off}: {e}"))
        })?;
        // FMT-3: a grain must inflate to exactly one grain (the last grain may be short).
        let last_len = (self.header.capacity * 512).saturating_sub(g * gb).min(gb);
        if got != gb && got != last_len {
            return Err(BlockError::GrainLength {
                path: self.name.clone().into(),
                offset: off,
                got,
                expected: gb,
            });
        }
        let d = Arc::new(out);
        if let Ok(mut c) = self.grain_cache.lock() {
            *c = Some((sector, d.clone()));
        }
        Ok(d)
    }
}

impl BlockDev for SparseExtent {
    fn len(&self) -> u64 {
        self.header.capacity * 512
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        crate::block::check_range(&self.name, self.len(), offset, buf.len())?;
        let gb = self.header.grain_bytes();
        let compressed = self.header.flags & FLAG_COMPRESSED != 0;
        for_each_chunk(offset, buf.len(), gb, |g, within, pos, n| {
            let dst = buf.get_mut(pos..pos + n).unwrap_or(&mut []);
            let sector = self.grain_sector(g)? as u64;
            if sector <= 1 {
                dst.fill(0);
                return Ok(());
            }
            if compressed {
                let d = self.compressed_grain(g, sector)?;
                let s = d.get(within as usize..within as usize + n).unwrap_or(&[]);
                if s.len() == dst.len() {
                    dst.copy_from_slice(s);
                }
                Ok(())
            } else {
                read_into(&*self.file, sector * 512 + within, dst, "VMDK grain")
            }
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    /// From the grain tables: entry 0 is an unallocated grain, 1 a zero grain, others data.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.len(), offset, len, &|| self.name.clone())?;
        alloc::by_unit(offset, len, self.header.grain_bytes(), |g| {
            Ok(match self.grain_sector(g)? {
                0 => ExtentKind::Unallocated,
                1 => ExtentKind::Zero,
                _ => ExtentKind::Data,
            })
        })
    }
}
