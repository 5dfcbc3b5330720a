//! Leaf and node directories (more than one directory block) as the writer edits them.
//!
//! The data blocks ("XDD3", the first 32 GiB of the directory's logical space) hold the
//! entries; they are edited in place: a new entry goes into the first free region that holds
//! it (else a new data block at the lowest unused data block number), a removed entry becomes
//! free space merged with its free neighbours, and the best-free table is recomputed as
//! `xfs_dir2_data_freeinsert` orders it (longest first, lower offset first among equals). A
//! data block other than block 0 left empty is dropped, as the kernel drops it.
//!
//! The hash index is derived data and is rebuilt from the data blocks after every change:
//! one leaf block ("LEAF1", at 32 GiB, with the bests table) when everything fits it, else
//! node form: "LEAFN" blocks in hash order under a da-tree of "DA3_NODE" blocks whose root
//! sits at the first leaf-space block (or a single LEAFN there), and free-index blocks
//! ("XDF3", at 64 GiB) holding each data block's longest free region.

use std::collections::BTreeMap;

use super::be::{get16, get32, get64, put, put16, put32, put64, set_crc};
use super::dir::{Entry, FT_DIR};
use super::error::{XfsWriteError, corrupt};
use crate::fs::xfs::dir2_leaf::hashname;

pub const DATA_MAGIC: u32 = 0x5844_4433; // "XDD3"
const FREE_MAGIC: u32 = 0x5844_4633; // "XDF3"
const LEAF1_MAGIC: u16 = 0x3df1;
const LEAFN_MAGIC: u16 = 0x3dff;
const NODE_MAGIC: u16 = 0x3ebe;
/// Header of v5 data, leaf, node and free blocks.
pub const HDR: usize = 64;
const NULLDATAOFF: u16 = 0xffff;
const FREE_TAG: u16 = 0xffff;
/// Deepest da-tree the kernel accepts (`XFS_DA_NODE_MAXDEPTH`).
const MAX_DEPTH: usize = 5;

/// Where a block's self-describing header keeps its disk address and CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Data and free-index blocks (`xfs_dir3_blk_hdr`).
    Blk,
    /// Leaf and node blocks (`xfs_da3_blkinfo`).
    Da,
}

impl Kind {
    fn blkno_off(self) -> usize {
        match self {
            Kind::Blk => 8,
            Kind::Da => 16,
        }
    }
    fn crc_off(self) -> usize {
        match self {
            Kind::Blk => 4,
            Kind::Da => 12,
        }
    }
}

/// Stamp disk address `daddr` and the CRC into a block built with a zero address.
pub fn seal(raw: &mut [u8], kind: Kind, daddr: u64, what: &str) -> Result<(), XfsWriteError> {
    put64(raw, kind.blkno_off(), daddr, what)?;
    set_crc(raw, kind.crc_off(), what)
}

/// Directory geometry.
#[derive(Debug, Clone, Copy)]
pub struct DGeo {
    /// Directory block size in bytes.
    pub dbs: usize,
    /// Filesystem blocks per directory block.
    pub fsbcount: u64,
    /// Whether entries carry a file type byte.
    pub ftype: bool,
    /// First directory block (in directory-block units) of the leaf space.
    pub leaf_db: u64,
    /// First directory block of the free-index space.
    pub free_db: u64,
}

impl DGeo {
    /// Geometry for directory blocks of `dbs` bytes made of `fsbcount` filesystem blocks.
    pub fn new(dbs: usize, fsbcount: u64, ftype: bool) -> Self {
        DGeo {
            dbs,
            fsbcount,
            ftype,
            leaf_db: (1u64 << 35) / dbs as u64,
            free_db: (1u64 << 36) / dbs as u64,
        }
    }
    fn leaf_max(&self) -> usize {
        (self.dbs - HDR) / 8
    }
    fn free_max(&self) -> usize {
        (self.dbs - HDR) / 2
    }
    /// Directory block `db` as a da block number (filesystem blocks).
    fn da(&self, db: u64) -> u32 {
        (db * self.fsbcount) as u32
    }
}

/// Size of a data entry with a name of `len` bytes.
pub fn entsize(len: usize, ftype: bool) -> usize {
    (8 + 1 + len + usize::from(ftype) + 2 + 7) & !7
}

/// One region of a data block.
#[derive(Debug, Clone)]
enum Region {
    Free { off: usize, len: usize },
    Used { off: usize, len: usize, e: Entry },
}

/// A data block's regions, checked.
fn regions(raw: &[u8], g: &DGeo, what: &str) -> Result<Vec<Region>, XfsWriteError> {
    let mut out = Vec::new();
    let mut pos = HDR;
    let mut last_free = false;
    while pos < raw.len() {
        if get16(raw, pos, what)? == FREE_TAG {
            let len = usize::from(get16(raw, pos + 2, what)?);
            if len < 8 || len % 8 != 0 || pos + len > raw.len() || last_free {
                return Err(corrupt(
                    what,
                    format!("free region of {len} bytes at {pos}"),
                ));
            }
            if usize::from(get16(raw, pos + len - 2, what)?) != pos {
                return Err(corrupt(what, format!("free region at {pos} has a bad tag")));
            }
            out.push(Region::Free { off: pos, len });
            pos += len;
            last_free = true;
            continue;
        }
        last_free = false;
        let ino = get64(raw, pos, what)?;
        let nl = usize::from(*raw.get(pos + 8).ok_or_else(|| corrupt(what, "truncated"))?);
        let name = raw
            .get(pos + 9..pos + 9 + nl)
            .ok_or_else(|| corrupt(what, "truncated name"))?
            .to_vec();
        if nl == 0 || name.iter().any(|&c| c == 0 || c == b'/') {
            return Err(corrupt(what, format!("bad entry name at {pos}")));
        }
        let ftype = if g.ftype {
            raw.get(pos + 9 + nl).copied().unwrap_or(0)
        } else {
            0
        };
        let len = entsize(nl, g.ftype);
        if pos + len > raw.len() || usize::from(get16(raw, pos + len - 2, what)?) != pos {
            return Err(corrupt(
                what,
                format!("entry at {pos} has a bad tag or size"),
            ));
        }
        out.push(Region::Used {
            off: pos,
            len,
            e: Entry { name, ino, ftype },
        });
        pos += len;
    }
    Ok(out)
}

/// Recompute the best-free table of data block `raw`; returns its longest free region.
fn bestfree(raw: &mut [u8], g: &DGeo, what: &str) -> Result<u16, XfsWriteError> {
    let mut free: Vec<(usize, usize)> = regions(raw, g, what)?
        .into_iter()
        .filter_map(|r| match r {
            Region::Free { off, len } => Some((len, off)),
            Region::Used { .. } => None,
        })
        .collect();
    free.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for i in 0..3 {
        let (len, off) = free.get(i).copied().unwrap_or((0, 0));
        put16(raw, 48 + 4 * i, off as u16, what)?;
        put16(raw, 50 + 4 * i, len as u16, what)?;
    }
    Ok(free.first().map_or(0, |f| f.0 as u16))
}

fn write_free(raw: &mut [u8], off: usize, len: usize, what: &str) -> Result<(), XfsWriteError> {
    raw.get_mut(off..off + len)
        .ok_or_else(|| corrupt(what, "free region outside the block"))?
        .fill(0);
    put16(raw, off, FREE_TAG, what)?;
    put16(raw, off + 2, len as u16, what)?;
    put16(raw, off + len - 2, off as u16, what)
}

fn write_entry(
    raw: &mut [u8],
    off: usize,
    e: &Entry,
    g: &DGeo,
    what: &str,
) -> Result<usize, XfsWriteError> {
    let len = entsize(e.name.len(), g.ftype);
    raw.get_mut(off..off + len)
        .ok_or_else(|| corrupt(what, "entry outside the block"))?
        .fill(0);
    put64(raw, off, e.ino, what)?;
    put(raw, off + 8, &[e.name.len() as u8], what)?;
    put(raw, off + 9, &e.name, what)?;
    if g.ftype {
        put(raw, off + 9 + e.name.len(), &[e.ftype], what)?;
    }
    put16(raw, off + len - 2, off as u16, what)?;
    Ok(len)
}

/// A leaf or node directory's data blocks, by directory block number.
#[derive(Debug, Clone)]
pub struct LongDir {
    pub ino: u64,
    pub g: DGeo,
    pub uuid: [u8; 16],
    /// Data block bytes (with the address and CRC as read; resealed when written).
    pub data: BTreeMap<u64, Vec<u8>>,
    /// Data blocks changed (or new).
    pub dirty: std::collections::BTreeSet<u64>,
}

impl LongDir {
    fn what(&self, db: u64) -> String {
        format!("directory data block {db} of inode {}", self.ino)
    }

    /// Check the data blocks read from disk (headers were checked by the reader's parser).
    pub fn check(&self) -> Result<(), XfsWriteError> {
        if !self.data.contains_key(&0) {
            return Err(corrupt(
                format!("directory inode {}", self.ino),
                "no data block 0",
            ));
        }
        for (&db, raw) in &self.data {
            let w = self.what(db);
            if get32(raw, 0, &w)? != DATA_MAGIC || raw.len() != self.g.dbs {
                return Err(corrupt(&w, "not a directory data block"));
            }
            let mut copy = raw.clone();
            let want = copy.get(48..60).map(<[u8]>::to_vec);
            bestfree(&mut copy, &self.g, &w)?;
            if copy.get(48..60).map(<[u8]>::to_vec) != want {
                return Err(corrupt(&w, "best-free table does not match the block"));
            }
        }
        Ok(())
    }

    /// Build a directory from scratch: ".", ".." and `entries` packed into data blocks.
    pub fn build(
        ino: u64,
        parent: u64,
        entries: &[Entry],
        g: DGeo,
        uuid: [u8; 16],
    ) -> Result<Self, XfsWriteError> {
        let mut d = LongDir {
            ino,
            g,
            uuid,
            data: BTreeMap::new(),
            dirty: Default::default(),
        };
        let dot = |name: &[u8], i| Entry {
            name: name.to_vec(),
            ino: i,
            ftype: if g.ftype { FT_DIR } else { 0 },
        };
        let all = [dot(b".", ino), dot(b"..", parent)];
        let mut db = 0u64;
        let mut raw = d.empty_block(db)?;
        let mut pos = HDR;
        for e in all.iter().chain(entries) {
            let len = entsize(e.name.len(), g.ftype);
            if pos + len > g.dbs {
                d.close_block(db, raw, pos)?;
                db += 1;
                raw = d.empty_block(db)?;
                pos = HDR;
            }
            let w = d.what(db);
            pos += write_entry(&mut raw, pos, e, &g, &w)?;
        }
        d.close_block(db, raw, pos)?;
        Ok(d)
    }

    fn empty_block(&self, db: u64) -> Result<Vec<u8>, XfsWriteError> {
        let w = self.what(db);
        let mut raw = vec![0u8; self.g.dbs];
        put32(&mut raw, 0, DATA_MAGIC, &w)?;
        put(&mut raw, 24, &self.uuid, &w)?;
        put64(&mut raw, 40, self.ino, &w)?;
        write_free(&mut raw, HDR, self.g.dbs - HDR, &w)?;
        Ok(raw)
    }

    fn close_block(&mut self, db: u64, mut raw: Vec<u8>, pos: usize) -> Result<(), XfsWriteError> {
        let w = self.what(db);
        if pos < self.g.dbs {
            write_free(&mut raw, pos, self.g.dbs - pos, &w)?;
        }
        bestfree(&mut raw, &self.g, &w)?;
        self.data.insert(db, raw);
        self.dirty.insert(db);
        Ok(())
    }

    /// Every entry but "." and "..", and the parent.
    pub fn entries(&self) -> Result<(u64, Vec<Entry>), XfsWriteError> {
        let mut parent = None;
        let mut out = Vec::new();
        for (&db, raw) in &self.data {
            for r in regions(raw, &self.g, &self.what(db))? {
                if let Region::Used { e, .. } = r {
                    if e.name == b"." {
                        continue;
                    }
                    if e.name == b".." {
                        parent = Some(e.ino);
                        continue;
                    }
                    out.push(e);
                }
            }
        }
        let parent = parent
            .ok_or_else(|| corrupt(format!("directory inode {}", self.ino), "no \"..\" entry"))?;
        Ok((parent, out))
    }

    /// Whether an entry named `name` exists.
    pub fn has(&self, name: &[u8]) -> Result<bool, XfsWriteError> {
        Ok(self.entries()?.1.iter().any(|e| e.name == name))
    }

    /// Add `e` (its name must not exist yet).
    pub fn add(&mut self, e: &Entry) -> Result<(), XfsWriteError> {
        let need = entsize(e.name.len(), self.g.ftype);
        let mut target = None;
        for (&db, raw) in &self.data {
            // bestfree[0] is the longest free region of the block.
            if usize::from(get16(raw, 50, &self.what(db))?) >= need {
                target = Some(db);
                break;
            }
        }
        let db = match target {
            Some(db) => db,
            None => {
                let db = (0u64..)
                    .find(|d| !self.data.contains_key(d))
                    .unwrap_or_default();
                if db >= self.g.leaf_db {
                    return Err(corrupt(
                        format!("directory inode {}", self.ino),
                        "data space full",
                    ));
                }
                let raw = self.empty_block(db)?;
                self.data.insert(db, raw);
                db
            }
        };
        let w = self.what(db);
        let g = self.g;
        let raw = self
            .data
            .get_mut(&db)
            .ok_or_else(|| corrupt(&w, "missing"))?;
        let slot = regions(raw, &g, &w)?.into_iter().find_map(|r| match r {
            Region::Free { off, len } if len >= need => Some((off, len)),
            _ => None,
        });
        let (off, len) = slot.ok_or_else(|| corrupt(&w, "best-free table promises room"))?;
        write_entry(raw, off, e, &g, &w)?;
        if len > need {
            write_free(raw, off + need, len - need, &w)?;
        }
        bestfree(raw, &g, &w)?;
        self.dirty.insert(db);
        Ok(())
    }

    /// Remove the entry named `name`; returns it.
    pub fn remove(&mut self, name: &[u8]) -> Result<Option<Entry>, XfsWriteError> {
        let g = self.g;
        let mut hit = None;
        for (&db, raw) in &self.data {
            let regs = regions(raw, &g, &self.what(db))?;
            for (i, r) in regs.iter().enumerate() {
                if let Region::Used { e, .. } = r
                    && e.name == name
                {
                    hit = Some((db, regs.clone(), i));
                }
            }
            if hit.is_some() {
                break;
            }
        }
        let Some((db, regs, i)) = hit else {
            return Ok(None);
        };
        let w = self.what(db);
        let Some(Region::Used { off, len, e }) = regs.get(i).cloned() else {
            return Err(corrupt(&w, "region index"));
        };
        let (mut start, mut end) = (off, off + len);
        if let Some(Region::Free { off: po, .. }) = i.checked_sub(1).and_then(|p| regs.get(p)) {
            start = *po;
        }
        if let Some(Region::Free { off: no, len: nl }) = regs.get(i + 1) {
            end = no + nl;
        }
        let raw = self
            .data
            .get_mut(&db)
            .ok_or_else(|| corrupt(&w, "missing"))?;
        write_free(raw, start, end - start, &w)?;
        bestfree(raw, &g, &w)?;
        if db != 0 && start == HDR && end == g.dbs {
            self.data.remove(&db);
            self.dirty.remove(&db);
        } else {
            self.dirty.insert(db);
        }
        Ok(Some(e))
    }

    /// Directory size: the end of the last data block.
    pub fn size(&self) -> u64 {
        self.data
            .keys()
            .next_back()
            .map_or(0, |&db| (db + 1) * self.g.dbs as u64)
    }

    /// The hash index blocks for the current data blocks: `(directory block, bytes, kind)`,
    /// addresses and CRCs not yet stamped ([`seal`]).
    pub fn index(&self) -> Result<Vec<(u64, Vec<u8>, Kind)>, XfsWriteError> {
        let g = self.g;
        let dbs = g.dbs as u64;
        let mut ents: Vec<(u32, u32)> = Vec::new();
        let nents = self.data.keys().next_back().map_or(0, |&d| d + 1) as usize;
        let mut bests = vec![NULLDATAOFF; nents];
        for (&db, raw) in &self.data {
            let w = self.what(db);
            for r in regions(raw, &g, &w)? {
                if let Region::Used { off, e, .. } = r {
                    let addr = (db * dbs + off as u64) / 8;
                    let addr = u32::try_from(addr).map_err(|_| corrupt(&w, "address"))?;
                    ents.push((hashname(&e.name), addr));
                }
            }
            if let Some(b) = bests.get_mut(db as usize) {
                *b = get16(raw, 50, &w)?;
            }
        }
        ents.sort_unstable();
        let own = format!("directory inode {}", self.ino);
        let mut out = Vec::new();
        // Leaf form: entries and bests in one block.
        if HDR + 8 * ents.len() + 2 * nents + 4 <= g.dbs {
            let mut raw = self.da_block(LEAF1_MAGIC, 0, 0)?;
            put16(&mut raw, 56, ents.len() as u16, &own)?;
            for (i, (h, a)) in ents.iter().enumerate() {
                put32(&mut raw, HDR + 8 * i, *h, &own)?;
                put32(&mut raw, HDR + 8 * i + 4, *a, &own)?;
            }
            let tail = g.dbs - 4;
            put32(&mut raw, tail, nents as u32, &own)?;
            for (i, b) in bests.iter().enumerate() {
                put16(&mut raw, tail - 2 * nents + 2 * i, *b, &own)?;
            }
            out.push((g.leaf_db, raw, Kind::Da));
            return Ok(out);
        }
        // Node form: LEAFN blocks, evenly filled, then node levels above them.
        let per = g.leaf_max();
        let nleaves = ents.len().div_ceil(per).max(1);
        let mut next_db = g.leaf_db + u64::from(nleaves > 1);
        // (directory block, last hash) of every block of the level being built.
        let mut level: Vec<(u64, u32)> = Vec::new();
        let mut blocks: Vec<(u64, Vec<u8>)> = Vec::new();
        let base = ents.len() / nleaves;
        let extra = ents.len() % nleaves;
        let mut it = ents.iter();
        let mut dbs_of: Vec<u64> = Vec::new();
        for i in 0..nleaves {
            dbs_of.push(if nleaves == 1 { g.leaf_db } else { next_db });
            if nleaves > 1 {
                next_db += 1;
            }
            let _ = i;
        }
        for i in 0..nleaves {
            let n = base + usize::from(i < extra);
            let back = if i > 0 { g.da(dbs_of[i - 1]) } else { 0 };
            let forw = dbs_of.get(i + 1).map_or(0, |&d| g.da(d));
            let mut raw = self.da_block(LEAFN_MAGIC, forw, back)?;
            put16(&mut raw, 56, n as u16, &own)?;
            let mut last = 0;
            for j in 0..n {
                let (h, a) = it.next().ok_or_else(|| corrupt(&own, "leaf count"))?;
                put32(&mut raw, HDR + 8 * j, *h, &own)?;
                put32(&mut raw, HDR + 8 * j + 4, *a, &own)?;
                last = *h;
            }
            level.push((dbs_of[i], last));
            blocks.push((dbs_of[i], raw));
        }
        let nmax = g.leaf_max();
        let mut depth = 1;
        while level.len() > 1 {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(corrupt(
                    &own,
                    "directory index deeper than the kernel allows",
                ));
            }
            let nnodes = level.len().div_ceil(nmax);
            let root = nnodes == 1;
            let mut ndbs = Vec::new();
            for _ in 0..nnodes {
                if root {
                    ndbs.push(g.leaf_db);
                } else {
                    ndbs.push(next_db);
                    next_db += 1;
                }
            }
            let base = level.len() / nnodes;
            let extra = level.len() % nnodes;
            let mut children = level.iter();
            let mut up = Vec::new();
            for i in 0..nnodes {
                let n = base + usize::from(i < extra);
                let back = if i > 0 { g.da(ndbs[i - 1]) } else { 0 };
                let forw = ndbs.get(i + 1).map_or(0, |&d| g.da(d));
                let mut raw = self.da_block(NODE_MAGIC, forw, back)?;
                put16(&mut raw, 56, n as u16, &own)?;
                put16(&mut raw, 58, (depth - 1) as u16, &own)?;
                let mut last = 0;
                for j in 0..n {
                    let (cdb, h) = children.next().ok_or_else(|| corrupt(&own, "node count"))?;
                    put32(&mut raw, HDR + 8 * j, *h, &own)?;
                    put32(&mut raw, HDR + 8 * j + 4, g.da(*cdb), &own)?;
                    last = *h;
                }
                up.push((ndbs[i], last));
                blocks.push((ndbs[i], raw));
            }
            level = up;
        }
        for (db, raw) in blocks {
            out.push((db, raw, Kind::Da));
        }
        // Free-index blocks.
        let fmax = g.free_max();
        for (k, chunk) in bests.chunks(fmax).enumerate() {
            let used = chunk.iter().filter(|&&b| b != NULLDATAOFF).count();
            if used == 0 {
                continue;
            }
            let mut raw = vec![0u8; g.dbs];
            put32(&mut raw, 0, FREE_MAGIC, &own)?;
            put(&mut raw, 24, &self.uuid, &own)?;
            put64(&mut raw, 40, self.ino, &own)?;
            put32(&mut raw, 48, (k * fmax) as u32, &own)?;
            put32(&mut raw, 52, chunk.len() as u32, &own)?;
            put32(&mut raw, 56, used as u32, &own)?;
            for (i, b) in chunk.iter().enumerate() {
                put16(&mut raw, HDR + 2 * i, *b, &own)?;
            }
            out.push((g.free_db + k as u64, raw, Kind::Blk));
        }
        Ok(out)
    }

    fn da_block(&self, magic: u16, forw: u32, back: u32) -> Result<Vec<u8>, XfsWriteError> {
        let own = format!("directory inode {}", self.ino);
        let mut raw = vec![0u8; self.g.dbs];
        put32(&mut raw, 0, forw, &own)?;
        put32(&mut raw, 4, back, &own)?;
        put16(&mut raw, 8, magic, &own)?;
        put(&mut raw, 32, &self.uuid, &own)?;
        put64(&mut raw, 48, self.ino, &own)?;
        Ok(raw)
    }
}

/// Whether the block at the start of the leaf space looks like a leaf or node directory's
/// index (LEAF1, LEAFN or DA3_NODE magic).
pub fn is_index_magic(raw: &[u8]) -> bool {
    matches!(
        raw.get(8..10).map(|m| u16::from_be_bytes([m[0], m[1]])),
        Some(LEAF1_MAGIC | LEAFN_MAGIC | NODE_MAGIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(i: usize) -> Entry {
        Entry {
            name: format!("a-rather-long-entry-name-{i:05}").into_bytes(),
            ino: 200 + i as u64,
            ftype: 1,
        }
    }

    #[test]
    fn build_add_remove_keep_every_entry() {
        let g = DGeo::new(1024, 1, true);
        let ents: Vec<Entry> = (0..300).map(ent).collect();
        let mut d = LongDir::build(128, 64, &ents, g, [3; 16]).unwrap();
        d.check().unwrap();
        assert_eq!(d.entries().unwrap().1, ents);
        for i in (0..300).step_by(3) {
            assert_eq!(d.remove(&ent(i).name).unwrap(), Some(ent(i)));
        }
        d.add(&ent(1000)).unwrap();
        d.check().unwrap();
        let (p, now) = d.entries().unwrap();
        assert_eq!(p, 64);
        assert_eq!(now.len(), 201);
        assert!(now.contains(&ent(1000)));
        // 300 entries at 1 KiB blocks: node form (a root node, leaves, a free block).
        let idx = d.index().unwrap();
        assert!(
            idx.iter()
                .any(|(db, _, k)| *db == g.free_db && *k == Kind::Blk)
        );
        assert!(
            idx.iter().any(|(db, raw, _)| *db == g.leaf_db
                && u16::from_be_bytes([raw[8], raw[9]]) == NODE_MAGIC)
        );
        // Removing everything from a block other than 0 drops the block.
        let mut small = LongDir::build(128, 64, &ents[..40], g, [3; 16]).unwrap();
        let before = small.data.len();
        for e in &ents[..40] {
            small.remove(&e.name).unwrap();
        }
        assert_eq!(small.data.len(), 1);
        assert!(before > 1);
        let idx = small.index().unwrap();
        assert_eq!(idx.len(), 1);
        assert_eq!(u16::from_be_bytes([idx[0].1[8], idx[0].1[9]]), LEAF1_MAGIC);
    }
}
