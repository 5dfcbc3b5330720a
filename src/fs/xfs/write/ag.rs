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
const AGFL_CRC_OFF: usize = 32;
const AGFL_HDR: usize = 36;

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
    /// The AGFL sector (free list of blocks reserved for the free-space trees).
    pub agfl: Vec<u8>,
    /// Whether the AGI counts inode-tree blocks (inobtcount).
    pub inobtcount: bool,
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
        let mut agfl = vec![0u8; ss];
        dev.read_at(base + 3 * ss as u64, &mut agfl)?;
        let lw = format!("AGFL of AG {agno}");
        super::verify_crc(&agfl, AGFL_CRC_OFF, &lw)?;
        if get32(&agfl, 0, &lw)? != 0x5841_464c || get32(&agfl, 4, &lw)? != agno {
            return Err(corrupt(&lw, "bad magic or sequence number"));
        }
        let flsize = ((ss - AGFL_HDR) / 4) as u32;
        if get32(&agf, 40, &fw)? >= flsize
            || get32(&agf, 44, &fw)? >= flsize
            || get32(&agf, 48, &fw)? > flsize
        {
            return Err(corrupt(&fw, "free list indexes outside the AGFL"));
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
            agfl,
            inobtcount: false,
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

    fn agfl_size(&self) -> u32 {
        ((self.agfl.len() - AGFL_HDR) / 4) as u32
    }

    /// Take the first block of the AGFL, if any.
    fn agfl_get(&mut self) -> Result<Option<u32>, XfsWriteError> {
        let fw = format!("AGF of AG {}", self.agno);
        let (first, count) = (get32(&self.agf, 40, &fw)?, get32(&self.agf, 48, &fw)?);
        if count == 0 {
            return Ok(None);
        }
        let b = get32(&self.agfl, AGFL_HDR + 4 * first as usize, "AGFL")?;
        let size = self.agfl_size();
        put32(&mut self.agf, 40, (first + 1) % size, &fw)?;
        put32(&mut self.agf, 48, count - 1, &fw)?;
        Ok(Some(b))
    }

    /// Append block `b` to the AGFL; false when it is full.
    fn agfl_put(&mut self, b: u32) -> Result<bool, XfsWriteError> {
        let fw = format!("AGF of AG {}", self.agno);
        let (last, count) = (get32(&self.agf, 44, &fw)?, get32(&self.agf, 48, &fw)?);
        if count >= self.agfl_size() {
            return Ok(false);
        }
        let size = self.agfl_size();
        let last = (last + 1) % size;
        put32(&mut self.agfl, AGFL_HDR + 4 * last as usize, b, "AGFL")?;
        put32(&mut self.agf, 44, last, &fw)?;
        put32(&mut self.agf, 48, count + 1, &fw)?;
        set_crc(&mut self.agfl, AGFL_CRC_OFF, "AGFL")?;
        Ok(true)
    }

    /// Rebuild the free-space trees and AGF from the free map, in memory. A tree that must
    /// split, merge or change height gets its new blocks from the AGFL (else free space) and
    /// gives surplus blocks back to the AGFL; `agf_btreeblks` follows.
    pub fn stage_free(&mut self, geo: &Geo) -> Result<(), XfsWriteError> {
        if !self.free_dirty {
            return Ok(());
        }
        let fw = format!("AGF of AG {}", self.agno);
        let shapes = |ag: &Self| {
            let n = ag.free.len();
            (ag.bno.shape_for(geo, n), ag.cnt.shape_for(geo, n))
        };
        let mut pool = Vec::new();
        for _ in 0..64 {
            let (bs, cs) = shapes(self);
            let need: usize = bs.iter().sum::<usize>() + cs.iter().sum::<usize>();
            let have = self.bno.blocks().len() + self.cnt.blocks().len() + pool.len();
            if have >= need {
                break;
            }
            let b = match self.agfl_get()? {
                Some(b) => b,
                None => self
                    .alloc(1, None)
                    .map(|(b, _)| b)
                    .ok_or_else(|| XfsWriteError::NoSpace("free-space tree block".into()))?,
            };
            pool.push(b);
        }
        let (bshape, cshape) = shapes(self);
        let n = self.free.len();
        let rec = |s: u32, l: u32| {
            let mut r = s.to_be_bytes().to_vec();
            r.extend_from_slice(&l.to_be_bytes());
            r
        };
        let by_bno: Vec<Vec<u8>> = self.free.iter().map(|(&s, &l)| rec(s, l)).collect();
        let mut pairs: Vec<(u32, u32)> = self.free.iter().map(|(&s, &l)| (l, s)).collect();
        pairs.sort_unstable();
        let by_cnt: Vec<Vec<u8>> = pairs.iter().map(|&(l, s)| rec(s, l)).collect();
        let bcur: Vec<usize> = self.bno.levels.iter().map(Vec::len).collect();
        let ccur: Vec<usize> = self.cnt.levels.iter().map(Vec::len).collect();
        let mut bb = self.bno.blocks();
        let mut cb = self.cnt.blocks();
        let bneed: usize = bshape.iter().sum();
        let cneed: usize = cshape.iter().sum();
        if bb.len() > bneed {
            pool.extend(bb.drain(bneed..));
        }
        if cb.len() > cneed {
            pool.extend(cb.drain(cneed..));
        }
        while bb.len() < bneed {
            bb.push(pool.pop().ok_or_else(|| corrupt(&fw, "tree block pool"))?);
        }
        while cb.len() < cneed {
            cb.push(pool.pop().ok_or_else(|| corrupt(&fw, "tree block pool"))?);
        }
        for b in pool {
            if !self.agfl_put(b)? {
                return Err(XfsWriteError::TreeShape {
                    tree: "bnobt",
                    agno: self.agno,
                    what: format!("a merge with a full AGFL ({n} records)"),
                });
            }
        }
        if bshape == bcur {
            self.bno.set_records(geo, by_bno)?;
        } else {
            self.bno.rebuild(geo, by_bno, &bshape, &bb)?;
        }
        if cshape == ccur {
            self.cnt.set_records(geo, by_cnt)?;
        } else {
            self.cnt.rebuild(geo, by_cnt, &cshape, &cb)?;
        }
        put32(&mut self.agf, 16, self.bno.root(), &fw)?;
        put32(&mut self.agf, 20, self.cnt.root(), &fw)?;
        put32(&mut self.agf, 28, bshape.len() as u32, &fw)?;
        put32(&mut self.agf, 32, cshape.len() as u32, &fw)?;
        put32(&mut self.agf, 60, (bneed + cneed - 2) as u32, &fw)?;
        let freeblks = u32::try_from(self.freeblks())
            .map_err(|_| corrupt(&fw, "free block count overflows"))?;
        let longest = pairs.last().map_or(0, |&(l, _)| l);
        put32(&mut self.agf, 52, freeblks, &fw)?;
        put32(&mut self.agf, 56, longest, &fw)?;
        set_crc(&mut self.agf, AGF_CRC_OFF, &fw)?;
        Ok(())
    }

    /// Replace the records of the inobt (`fino` false) or finobt, splitting or merging it
    /// (blocks taken from / returned to free space; AGI root, level and, with inobtcount,
    /// block count updated).
    pub fn set_inode_tree(
        &mut self,
        geo: &Geo,
        fino: bool,
        recs: Vec<Vec<u8>>,
    ) -> Result<(), XfsWriteError> {
        let iw = format!("AGI of AG {}", self.agno);
        let tree = if fino {
            self.fino
                .as_ref()
                .ok_or_else(|| corrupt(&iw, "no finobt"))?
        } else {
            &self.ino
        };
        let shape = tree.shape_for(geo, recs.len());
        let cur: Vec<usize> = tree.levels.iter().map(Vec::len).collect();
        let mut bl = tree.blocks();
        let need: usize = shape.iter().sum();
        if shape != cur {
            while bl.len() > need {
                let b = bl.pop().ok_or_else(|| corrupt(&iw, "tree blocks"))?;
                self.free_range(geo, b, 1)?;
            }
            while bl.len() < need {
                let (b, _) = self
                    .alloc(1, None)
                    .ok_or_else(|| XfsWriteError::NoSpace("inode tree block".into()))?;
                bl.push(b);
            }
        }
        let tree = if fino {
            self.fino
                .as_mut()
                .ok_or_else(|| corrupt(&iw, "no finobt"))?
        } else {
            &mut self.ino
        };
        if shape == cur {
            tree.set_records(geo, recs)?;
        } else {
            tree.rebuild(geo, recs, &shape, &bl)?;
        }
        let root = tree.root();
        let (root_off, level_off, count_off) = if fino { (328, 332, 340) } else { (20, 24, 336) };
        put32(&mut self.agi, root_off, root, &iw)?;
        put32(&mut self.agi, level_off, shape.len() as u32, &iw)?;
        if self.inobtcount {
            put32(&mut self.agi, count_off, need as u32, &iw)?;
        }
        set_crc(&mut self.agi, AGI_CRC_OFF, &iw)?;
        self.ino_dirty = true;
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
            dev.write_at(base + 3 * ss, &self.agfl)?;
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
