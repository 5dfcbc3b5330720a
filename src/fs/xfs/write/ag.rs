//! One allocation group as the writer holds it: the AGF and AGI sectors, the free-space trees
//! (bnobt, cntbt) mirrored as a map of free extents, the inode trees (inobt, finobt) and the
//! reference-count tree (read only: it tells which blocks are shared).

use std::collections::BTreeMap;

use super::Geo;
use super::be::{get32, put32, set_crc};
use super::btree::{self, SbTree};
use super::error::{XfsWriteError, corrupt};
use crate::block::WritableDev;

pub const AGF_CRC_OFF: usize = 216;
pub const AGI_CRC_OFF: usize = 312;

/// A loaded allocation group.
#[derive(Debug, Clone)]
pub struct AgState {
    pub agno: u32,
    pub agf: Vec<u8>,
    pub agi: Vec<u8>,
    pub bno: SbTree,
    pub cnt: SbTree,
    pub ino: SbTree,
    pub fino: Option<SbTree>,
    pub refc: Option<SbTree>,
    /// Free extents `start → length` (AG block numbers), as the bnobt holds them.
    pub free: BTreeMap<u32, u32>,
    pub free_dirty: bool,
    pub ino_dirty: bool,
}

impl AgState {
    /// Read and check AG `agno`'s headers and trees.
    pub fn load(
        dev: &dyn WritableDev,
        geo: &Geo,
        agno: u32,
        finobt: bool,
        reflink: bool,
    ) -> Result<Self, XfsWriteError> {
        let ss = geo.sectsize as usize;
        let base = geo.agb_byte(agno, 0);
        let mut agf = vec![0u8; ss];
        let mut agi = vec![0u8; ss];
        dev.read_at(base + ss as u64, &mut agf)?;
        dev.read_at(base + 2 * ss as u64, &mut agi)?;
        let fw = format!("AGF of AG {agno}");
        let iw = format!("AGI of AG {agno}");
        super::verify_crc(&agf, AGF_CRC_OFF, &fw)?;
        super::verify_crc(&agi, AGI_CRC_OFF, &iw)?;
        if get32(&agf, 0, &fw)? != 0x5841_4746 || get32(&agf, 8, &fw)? != agno {
            return Err(corrupt(&fw, "bad magic or sequence number"));
        }
        if get32(&agi, 0, &iw)? != 0x5841_4749 || get32(&agi, 8, &iw)? != agno {
            return Err(corrupt(&iw, "bad magic or sequence number"));
        }
        for bucket in 0..64 {
            if get32(&agi, 40 + 4 * bucket, &iw)? != 0xffff_ffff {
                return Err(XfsWriteError::UnsupportedFeature(format!(
                    "unlinked (orphan) inodes in AG {agno} awaiting log recovery or repair"
                )));
            }
        }
        let load = |kind, root, levels| SbTree::load(dev, geo, kind, agno, root, levels);
        let bno = load(&btree::BNO, get32(&agf, 16, &fw)?, get32(&agf, 28, &fw)?)?;
        let cnt = load(&btree::CNT, get32(&agf, 20, &fw)?, get32(&agf, 32, &fw)?)?;
        let ino = load(&btree::INO, get32(&agi, 20, &iw)?, get32(&agi, 24, &iw)?)?;
        let fino = if finobt {
            Some(load(
                &btree::FINO,
                get32(&agi, 328, &iw)?,
                get32(&agi, 332, &iw)?,
            )?)
        } else {
            None
        };
        let refc = if reflink {
            Some(load(
                &btree::REFC,
                get32(&agf, 88, &fw)?,
                get32(&agf, 92, &fw)?,
            )?)
        } else {
            None
        };
        let mut free = BTreeMap::new();
        let ag_len = geo.ag_len(agno);
        let mut next = 0u64;
        let mut total = 0u64;
        for r in &bno.recs {
            let s = get32(r, 0, &fw)?;
            let l = get32(r, 4, &fw)?;
            if l == 0 || u64::from(s) < next || u64::from(s) + u64::from(l) > ag_len {
                return Err(corrupt(
                    format!("bnobt of AG {agno}"),
                    format!("free extent {s}+{l} overlaps, is out of order or outside the AG"),
                ));
            }
            next = u64::from(s) + u64::from(l);
            total += u64::from(l);
            free.insert(s, l);
        }
        let mut by_cnt: Vec<Vec<u8>> = cnt.recs.clone();
        by_cnt.sort_by_key(|r| (get32(r, 0, "").unwrap_or(0), get32(r, 4, "").unwrap_or(0)));
        let mut by_bno = bno.recs.clone();
        by_bno.sort();
        if by_cnt != by_bno {
            return Err(corrupt(
                format!("cntbt of AG {agno}"),
                "does not hold the same free extents as the bnobt",
            ));
        }
        if total != u64::from(get32(&agf, 52, &fw)?) {
            return Err(corrupt(&fw, "free block count does not match the bnobt"));
        }
        Ok(AgState {
            agno,
            agf,
            agi,
            bno,
            cnt,
            ino,
            fino,
            refc,
            free,
            free_dirty: false,
            ino_dirty: false,
        })
    }

    pub fn freeblks(&self) -> u64 {
        self.free.values().map(|&l| u64::from(l)).sum()
    }

    /// Blocks the superblock's free count includes for this AG beyond the free extents: the
    /// AGFL and the free-space tree blocks past their roots.
    pub fn fd_extra(&self) -> u64 {
        u64::from(get32(&self.agf, 48, "AGF").unwrap_or(0))
            + u64::from(get32(&self.agf, 60, "AGF").unwrap_or(0))
    }

    pub fn icount(&self) -> u64 {
        u64::from(get32(&self.agi, 16, "AGI").unwrap_or(0))
    }

    pub fn ifree(&self) -> u64 {
        u64::from(get32(&self.agi, 28, "AGI").unwrap_or(0))
    }

    /// Whether any of `[start, start+len)` is recorded in the reference-count tree (shared
    /// with another file, or a copy-on-write staging extent).
    pub fn shared(&self, start: u32, len: u32) -> bool {
        let Some(t) = &self.refc else {
            return false;
        };
        let end = u64::from(start) + u64::from(len);
        t.recs.iter().any(|r| {
            let s = u64::from(get32(r, 0, "").unwrap_or(0) & 0x7fff_ffff);
            let l = u64::from(get32(r, 4, "").unwrap_or(0));
            s < end && u64::from(start) < s + l
        })
    }

    /// Take up to `want` blocks: from `near` if a free extent starts there, else the smallest
    /// free extent that holds them all, else the largest. Returns `(agbno, count)`.
    pub fn alloc(&mut self, want: u32, near: Option<u32>) -> Option<(u32, u32)> {
        if want == 0 {
            return None;
        }
        let pick = near
            .and_then(|n| self.free.get(&n).map(|&l| (n, l)))
            .or_else(|| {
                self.free
                    .iter()
                    .filter(|&(_, &l)| l >= want)
                    .min_by_key(|&(&s, &l)| (l, s))
                    .map(|(&s, &l)| (s, l))
            })
            .or_else(|| {
                self.free
                    .iter()
                    .max_by_key(|&(&s, &l)| (l, std::cmp::Reverse(s)))
                    .map(|(&s, &l)| (s, l))
            })?;
        let (s, l) = pick;
        let take = want.min(l);
        self.free.remove(&s);
        if take < l {
            self.free.insert(s + take, l - take);
        }
        self.free_dirty = true;
        Some((s, take))
    }

    /// Take `len` blocks starting at a multiple of `align` (first fit by block number).
    pub fn alloc_aligned(&mut self, len: u32, align: u32) -> Option<u32> {
        let align = u64::from(align.max(1));
        let (s, l, a) = self.free.iter().find_map(|(&s, &l)| {
            let a = u64::from(s).div_ceil(align) * align;
            (a + u64::from(len) <= u64::from(s) + u64::from(l)).then_some((s, l, a as u32))
        })?;
        self.free.remove(&s);
        if a > s {
            self.free.insert(s, a - s);
        }
        let (end, aend) = (s + l, a + len);
        if aend < end {
            self.free.insert(aend, end - aend);
        }
        self.free_dirty = true;
        Some(a)
    }

    /// Return `[start, start+len)` to the free space, merging with its neighbours.
    pub fn free_range(&mut self, geo: &Geo, start: u32, len: u32) -> Result<(), XfsWriteError> {
        let what = || format!("free space of AG {}", self.agno);
        let end = u64::from(start) + u64::from(len);
        if len == 0 || end > geo.ag_len(self.agno) {
            return Err(corrupt(
                what(),
                format!("freeing {start}+{len} outside the AG"),
            ));
        }
        let prev = self.free.range(..=start).next_back().map(|(&s, &l)| (s, l));
        let next = self.free.range(start..).next().map(|(&s, &l)| (s, l));
        if let Some((s, l)) = prev
            && u64::from(s) + u64::from(l) > u64::from(start)
        {
            return Err(corrupt(what(), format!("block {start} is already free")));
        }
        if let Some((s, _)) = next
            && u64::from(s) < end
        {
            return Err(corrupt(what(), format!("block {s} is already free")));
        }
        let mut ns = start;
        let mut nl = len;
        if let Some((s, l)) = prev
            && s + l == start
        {
            self.free.remove(&s);
            ns = s;
            nl += l;
        }
        if let Some((s, l)) = next
            && u64::from(s) == end
        {
            self.free.remove(&s);
            nl += l;
        }
        self.free.insert(ns, nl);
        self.free_dirty = true;
        Ok(())
    }

    /// Rebuild the free-space trees and AGF from the free map, in memory; refuses (before
    /// anything is written) when a tree would change shape.
    pub fn stage_free(&mut self, geo: &Geo) -> Result<(), XfsWriteError> {
        if !self.free_dirty {
            return Ok(());
        }
        let n = self.free.len();
        self.bno.check_fits(geo, n)?;
        self.cnt.check_fits(geo, n)?;
        let rec = |s: u32, l: u32| {
            let mut r = s.to_be_bytes().to_vec();
            r.extend_from_slice(&l.to_be_bytes());
            r
        };
        let by_bno: Vec<Vec<u8>> = self.free.iter().map(|(&s, &l)| rec(s, l)).collect();
        let mut pairs: Vec<(u32, u32)> = self.free.iter().map(|(&s, &l)| (l, s)).collect();
        pairs.sort_unstable();
        let by_cnt: Vec<Vec<u8>> = pairs.iter().map(|&(l, s)| rec(s, l)).collect();
        self.bno.set_records(geo, by_bno)?;
        self.cnt.set_records(geo, by_cnt)?;
        let fw = format!("AGF of AG {}", self.agno);
        let freeblks = u32::try_from(self.freeblks())
            .map_err(|_| corrupt(&fw, "free block count overflows"))?;
        let longest = pairs.last().map_or(0, |&(l, _)| l);
        put32(&mut self.agf, 52, freeblks, &fw)?;
        put32(&mut self.agf, 56, longest, &fw)?;
        set_crc(&mut self.agf, AGF_CRC_OFF, &fw)?;
        Ok(())
    }

    /// Write whatever [`AgState::stage_free`] and the inode allocator changed.
    pub fn write(&mut self, dev: &dyn WritableDev, geo: &Geo) -> Result<(), XfsWriteError> {
        let ss = u64::from(geo.sectsize);
        let base = geo.agb_byte(self.agno, 0);
        if self.free_dirty {
            self.bno.write(dev, geo)?;
            self.cnt.write(dev, geo)?;
            dev.write_at(base + ss, &self.agf)?;
            self.free_dirty = false;
        }
        if self.ino_dirty {
            self.ino.write(dev, geo)?;
            if let Some(f) = &mut self.fino {
                f.write(dev, geo)?;
            }
            dev.write_at(base + 2 * ss, &self.agi)?;
            self.ino_dirty = false;
        }
        Ok(())
    }
}
