//! Cell storage of the writer: the hive image in memory, bounds-checked field access inside
//! allocated cells, and the allocator.
//!
//! Allocation is first fit over the free cells in offset order; a larger free cell is split
//! (sizes stay multiples of 8) and its remainder stays free. When nothing fits, a new hive bin
//! (a multiple of 4 KiB, large enough for the cell) is appended and its tail is one free cell.
//! Freeing marks the cell free (positive size) and merges it with a free neighbour before and
//! after it (adjacent cells are always in the same bin, since bins start with a header).

use super::error::WriteError;
use crate::hive::base_block::BASE_BLOCK_SIZE;
use crate::hive::bin::{BIN_ALIGN, BIN_HEADER_SIZE, HiveBin};
use crate::hive::cell::{Cell, NO_CELL};
use std::collections::BTreeMap;

/// Largest hive bins data size the writer grows a hive to (Windows refuses hives of 2 GiB).
pub const MAX_BINS_SIZE: u64 = 0x7FF0_0000;

/// The hive image and its cell bookkeeping.
#[derive(Debug, Clone)]
pub(super) struct Store {
    /// Base block (4096 bytes) followed by exactly the hive bins data.
    pub(super) data: Vec<u8>,
    /// Hive bins in offset order.
    pub(super) bins: Vec<HiveBin>,
    /// Free cells: offset → size.
    pub(super) free: BTreeMap<u32, u32>,
    /// Number of changes made to `data` (to tell whether a failed edit touched anything).
    pub(super) changes: u64,
}

fn align8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

impl Store {
    /// Size of the hive bins data.
    pub(super) fn bins_size(&self) -> u32 {
        self.bins
            .last()
            .map_or(0, |b| b.offset.saturating_add(b.size))
    }

    fn bin_of(&self, offset: u32) -> Option<HiveBin> {
        let idx = self.bins.partition_point(|b| b.end() <= u64::from(offset));
        self.bins
            .get(idx)
            .copied()
            .filter(|b| offset >= b.offset.saturating_add(BIN_HEADER_SIZE))
    }

    fn raw_size(&self, offset: u32) -> Option<i32> {
        let at = BASE_BLOCK_SIZE.checked_add(offset as usize)?;
        let s = self.data.get(at..at.checked_add(4)?)?;
        Some(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn set_raw_size(&mut self, offset: u32, size: i32) {
        let at = BASE_BLOCK_SIZE + offset as usize;
        if let Some(s) = self.data.get_mut(at..at + 4) {
            s.copy_from_slice(&size.to_le_bytes());
            self.changes += 1;
        }
    }

    /// The allocated cell starting at `offset`; `what` names the record for the error.
    pub(super) fn cell_for(&self, offset: u32, what: &'static str) -> Result<Cell<'_>, WriteError> {
        let bad = || WriteError::NotACellStart { offset, what };
        if offset == NO_CELL || offset % 8 != 0 {
            return Err(bad());
        }
        let bin = self.bin_of(offset).ok_or_else(bad)?;
        let raw = self.raw_size(offset).ok_or_else(bad)?;
        let size = raw.unsigned_abs();
        if raw >= 0 || size < 8 || u64::from(offset) + u64::from(size) > bin.end() {
            return Err(bad());
        }
        let start = BASE_BLOCK_SIZE + offset as usize;
        let data = self
            .data
            .get(start + 4..start + size as usize)
            .ok_or_else(bad)?;
        Ok(Cell {
            offset,
            size,
            allocated: true,
            data,
        })
    }

    /// The allocated cell at `offset`.
    pub(super) fn cell(&self, offset: u32) -> Result<Cell<'_>, WriteError> {
        self.cell_for(offset, "cell")
    }

    /// Overwrite bytes of an allocated cell's data at `at`.
    pub(super) fn write(&mut self, offset: u32, at: usize, bytes: &[u8]) -> Result<(), WriteError> {
        let c = self.cell(offset)?;
        let have = c.data.len();
        let end = at.checked_add(bytes.len()).filter(|&e| e <= have).ok_or(
            crate::hive::HiveError::RecordTooShort {
                offset,
                what: "cell written",
                need: at.saturating_add(bytes.len()),
                have,
            },
        )?;
        let start = BASE_BLOCK_SIZE + offset as usize + 4;
        if let Some(s) = self.data.get_mut(start + at..start + end) {
            s.copy_from_slice(bytes);
            self.changes += 1;
        }
        Ok(())
    }

    pub(super) fn put_u32(&mut self, offset: u32, at: usize, v: u32) -> Result<(), WriteError> {
        self.write(offset, at, &v.to_le_bytes())
    }

    pub(super) fn get_u32(&self, offset: u32, at: usize) -> Result<u32, WriteError> {
        let c = self.cell(offset)?;
        crate::hive::bytes::u32_at(c.data, at).ok_or(WriteError::Read(
            crate::hive::HiveError::RecordTooShort {
                offset,
                what: "cell field",
                need: at.saturating_add(4),
                have: c.data.len(),
            },
        ))
    }

    /// Allocate a cell with room for `len` data bytes (zeroed); returns its offset.
    pub(super) fn alloc(&mut self, len: usize) -> Result<u32, WriteError> {
        let total = align8(len as u64 + 4).max(8);
        if total > MAX_BINS_SIZE {
            return Err(WriteError::HiveTooLarge {
                size: u64::from(self.bins_size()) + total,
            });
        }
        let total = total as u32;
        let found = self
            .free
            .iter()
            .find(|(_, s)| **s >= total)
            .map(|(o, s)| (*o, *s));
        let (off, size) = match found {
            Some(f) => f,
            None => self.append_bin(total)?,
        };
        self.free.remove(&off);
        let used = if size - total >= 8 {
            let rest = off + total;
            self.set_raw_size(rest, (size - total) as i32);
            self.free.insert(rest, size - total);
            total
        } else {
            size
        };
        self.set_raw_size(off, -(used as i32));
        let start = BASE_BLOCK_SIZE + off as usize + 4;
        if let Some(s) = self.data.get_mut(start..start + used as usize - 4) {
            s.fill(0);
        }
        Ok(off)
    }

    /// Append a hive bin holding at least one free cell of `total` bytes; returns that cell.
    fn append_bin(&mut self, total: u32) -> Result<(u32, u32), WriteError> {
        let off = self.bins_size();
        let need = u64::from(total) + u64::from(BIN_HEADER_SIZE);
        let size = need.div_ceil(u64::from(BIN_ALIGN)) * u64::from(BIN_ALIGN);
        let new_end = u64::from(off) + size;
        if new_end > MAX_BINS_SIZE {
            return Err(WriteError::HiveTooLarge { size: new_end });
        }
        let size = size as u32;
        self.data.resize(BASE_BLOCK_SIZE + new_end as usize, 0);
        let at = BASE_BLOCK_SIZE + off as usize;
        let mut hdr = [0u8; BIN_HEADER_SIZE as usize];
        hdr[..4].copy_from_slice(b"hbin");
        hdr[4..8].copy_from_slice(&off.to_le_bytes());
        hdr[8..12].copy_from_slice(&size.to_le_bytes());
        if let Some(s) = self.data.get_mut(at..at + BIN_HEADER_SIZE as usize) {
            s.copy_from_slice(&hdr);
        }
        self.changes += 1;
        self.bins.push(HiveBin {
            offset: off,
            size,
            timestamp: 0,
        });
        let cell = off + BIN_HEADER_SIZE;
        let cell_size = size - BIN_HEADER_SIZE;
        self.set_raw_size(cell, cell_size as i32);
        self.free.insert(cell, cell_size);
        Ok((cell, cell_size))
    }

    /// Free the allocated cell at `offset`, merging it with free neighbours.
    pub(super) fn free(&mut self, offset: u32) -> Result<(), WriteError> {
        let mut size = self.cell(offset)?.size;
        let mut start = offset;
        let next = offset.saturating_add(size);
        if let Some(n) = self.free.remove(&next) {
            size += n;
        }
        if let Some((&p, &ps)) = self.free.range(..offset).next_back() {
            if p.checked_add(ps) == Some(offset) {
                self.free.remove(&p);
                start = p;
                size += ps;
            }
        }
        self.set_raw_size(start, size as i32);
        self.free.insert(start, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_one_bin() -> Store {
        let mut s = Store {
            data: vec![0; BASE_BLOCK_SIZE],
            bins: Vec::new(),
            free: BTreeMap::new(),
            changes: 0,
        };
        let (c, _) = s.append_bin(8).unwrap();
        assert_eq!(c, 32);
        s
    }

    #[test]
    fn alloc_splits_and_free_merges() {
        let mut s = store_with_one_bin();
        let a = s.alloc(10).unwrap(); // 16 bytes
        let b = s.alloc(20).unwrap(); // 24 bytes
        let c = s.alloc(1).unwrap(); // 8 bytes
        assert_eq!((a, b, c), (32, 48, 72));
        assert_eq!(s.cell(b).unwrap().size, 24);
        assert_eq!(s.free.len(), 1);
        s.free(b).unwrap();
        assert_eq!(s.free.get(&48), Some(&24));
        // First fit: a 16-byte cell goes into the hole, leaving an 8-byte free remainder.
        let d = s.alloc(12).unwrap();
        assert_eq!(d, 48);
        assert_eq!(s.free.get(&64), Some(&8));
        s.free(a).unwrap();
        s.free(d).unwrap();
        // a, d and the remainder merged into one free cell.
        assert_eq!(s.free.get(&32), Some(&40));
        s.free(c).unwrap();
        assert_eq!(s.free.len(), 1);
        assert_eq!(s.free.get(&32), Some(&(4096 - 32)));
    }

    #[test]
    fn big_cell_gets_its_own_bin() {
        let mut s = store_with_one_bin();
        let a = s.alloc(9000).unwrap();
        assert_eq!(a, 4096 + 32);
        assert_eq!(s.bins.len(), 2);
        assert_eq!(s.bins[1].size, 12288);
        assert_eq!(s.bins_size(), 4096 + 12288);
        assert!(s.cell(a).unwrap().data.len() >= 9000);
        assert!(s.cell(a + 8).is_err());
        assert!(s.cell(NO_CELL).is_err());
        // The tail of the bin is one free cell.
        let tail = a + s.cell(a).unwrap().size;
        assert_eq!(s.free.get(&tail), Some(&(4096 + 12288 - tail)));
    }
}
