//! Allocation bitmaps: `$Bitmap` (one bit per cluster) and `$MFT`'s `$BITMAP` (one bit per
//! record), held in memory; changed 512-byte chunks are written back through the run list.

use std::collections::BTreeSet;

/// Dirty-tracking granularity (bytes).
pub const CHUNK: usize = 512;

#[derive(Debug, Clone)]
pub struct Bitmap {
    pub bytes: Vec<u8>,
    /// Bits that may be allocated (clusters or records).
    pub bits: u64,
    pub dirty: BTreeSet<usize>,
}

impl Bitmap {
    pub fn new(bytes: Vec<u8>, bits: u64) -> Bitmap {
        Bitmap {
            bytes,
            bits,
            dirty: BTreeSet::new(),
        }
    }
    pub fn get(&self, i: u64) -> bool {
        usize::try_from(i / 8)
            .ok()
            .and_then(|b| self.bytes.get(b))
            .is_some_and(|&x| x & (1 << (i % 8)) != 0)
    }
    pub fn set(&mut self, i: u64, v: bool) {
        let Ok(b) = usize::try_from(i / 8) else {
            return;
        };
        if let Some(x) = self.bytes.get_mut(b) {
            if v {
                *x |= 1 << (i % 8);
            } else {
                *x &= !(1 << (i % 8));
            }
            self.dirty.insert(b / CHUNK);
        }
    }
    pub fn set_range(&mut self, start: u64, len: u64, v: bool) {
        for i in start..start.saturating_add(len) {
            self.set(i, v);
        }
    }
    /// First clear bit at or after `from`, below `bits`.
    pub fn first_free(&self, from: u64) -> Option<u64> {
        let mut i = from;
        while i < self.bits {
            if i % 8 == 0 && self.bytes.get((i / 8) as usize) == Some(&0xFF) {
                i += 8;
                continue;
            }
            if !self.get(i) {
                return Some(i);
            }
            i += 1;
        }
        None
    }
    /// Free extents totalling `count` bits, searching from `hint` and wrapping around;
    /// marks them used. `None` (nothing marked) when there are not enough.
    pub fn alloc(&mut self, count: u64, hint: u64) -> Option<Vec<(u64, u64)>> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut need = count;
        let starts = [hint.min(self.bits), 0];
        for (pass, &start) in starts.iter().enumerate() {
            let end = if pass == 0 {
                self.bits
            } else {
                hint.min(self.bits)
            };
            let mut i = start;
            while need > 0 && i < end {
                let Some(f) = self.first_free(i) else { break };
                if f >= end {
                    break;
                }
                let mut l = 0;
                while l < need && f + l < end && !self.get(f + l) {
                    l += 1;
                }
                out.push((f, l));
                need -= l;
                i = f + l;
            }
        }
        if need > 0 {
            return None;
        }
        for &(s, l) in &out {
            self.set_range(s, l, true);
        }
        Some(out)
    }
    /// Byte ranges `(offset, len)` that changed, and forget them.
    pub fn take_dirty(&mut self) -> Vec<(usize, usize)> {
        let out = self
            .dirty
            .iter()
            .map(|&c| {
                let s = c * CHUNK;
                (s, CHUNK.min(self.bytes.len().saturating_sub(s)))
            })
            .collect();
        self.dirty.clear();
        out
    }
}
