//! Short-format (per-AG) B+trees of v5 filesystems: free space by block (bnobt, "AB3B") and by
//! size (cntbt, "AB3C"), inodes (inobt, "IAB3"), free inodes (finobt, "FIB3") and reference
//! counts (refcountbt, "R3FC", read only).
//!
//! A tree is loaded whole (bounded), edited as one sorted record list, and written back: while
//! the records fit the existing leaves (every non-root leaf at least half full) they are
//! spread evenly over them and node keys are recomputed; otherwise the tree is rebuilt
//! ([`SbTree::rebuild`]) with the fewest blocks that hold the records — leaves split or merge,
//! a root level is added or removed — over blocks the AG supplies ([`super::ag`]: the AGFL for
//! the free-space trees, free space for the inode trees) and gives back.

use std::collections::HashSet;

use super::Geo;
use super::be::{get16, get32, get64, put, put16, set_crc};
use super::error::{XfsWriteError, corrupt};
use crate::block::WritableDev;

/// Short-form v5 btree block header: magic, level, numrecs, siblings, blkno, lsn, uuid, owner,
/// crc.
pub const HDR: usize = 56;
const CRC_OFF: usize = 52;
/// Deepest per-AG tree accepted.
const MAX_LEVELS: u32 = 8;
/// Most blocks of one tree held in memory.
const MAX_TREE_BLOCKS: usize = 1 << 16;

/// What distinguishes one tree type from another.
#[derive(Debug)]
pub struct TreeKind {
    pub name: &'static str,
    pub magic: u32,
    pub rec_len: usize,
    pub key_len: usize,
}

pub const BNO: TreeKind = TreeKind {
    name: "bnobt",
    magic: 0x4142_3342,
    rec_len: 8,
    key_len: 8,
};
pub const CNT: TreeKind = TreeKind {
    name: "cntbt",
    magic: 0x4142_3343,
    rec_len: 8,
    key_len: 8,
};
pub const INO: TreeKind = TreeKind {
    name: "inobt",
    magic: 0x4941_4233,
    rec_len: 16,
    key_len: 4,
};
pub const FINO: TreeKind = TreeKind {
    name: "finobt",
    magic: 0x4649_4233,
    rec_len: 16,
    key_len: 4,
};
pub const REFC: TreeKind = TreeKind {
    name: "refcountbt",
    magic: 0x5233_4643,
    rec_len: 12,
    key_len: 4,
};

/// One tree block: where it is and its bytes (as on disk, or as rebuilt).
#[derive(Debug, Clone)]
pub struct Block {
    pub agbno: u32,
    pub raw: Vec<u8>,
    pub dirty: bool,
}

/// A whole per-AG tree.
#[derive(Debug, Clone)]
pub struct SbTree {
    pub kind: &'static TreeKind,
    pub agno: u32,
    /// `levels[0]` holds the leaves left to right; the last level holds the root alone.
    pub levels: Vec<Vec<Block>>,
    /// Every record, in tree order.
    pub recs: Vec<Vec<u8>>,
}

impl SbTree {
    fn what(kind: &TreeKind, agno: u32, agbno: u32) -> String {
        format!("{} block {agbno} of AG {agno}", kind.name)
    }

    /// Load the tree of `kind` rooted at `root` with `nlevels` levels in AG `agno`.
    pub fn load(
        dev: &dyn WritableDev,
        geo: &Geo,
        kind: &'static TreeKind,
        agno: u32,
        root: u32,
        nlevels: u32,
    ) -> Result<Self, XfsWriteError> {
        if nlevels == 0 || nlevels > MAX_LEVELS {
            return Err(corrupt(
                format!("{} of AG {agno}", kind.name),
                format!("{nlevels} levels"),
            ));
        }
        let mut seen = HashSet::new();
        let mut levels: Vec<Vec<Block>> = Vec::new();
        let mut ptrs = vec![root];
        for level in (0..nlevels).rev() {
            let mut blocks = Vec::with_capacity(ptrs.len());
            let mut next = Vec::new();
            for &agbno in &ptrs {
                let what = Self::what(kind, agno, agbno);
                if !seen.insert(agbno) || seen.len() > MAX_TREE_BLOCKS {
                    return Err(corrupt(&what, "block referenced twice or tree too large"));
                }
                if agbno == 0 || u64::from(agbno) >= geo.ag_len(agno) {
                    return Err(corrupt(&what, "block lies outside the AG"));
                }
                let mut raw = vec![0u8; geo.bs as usize];
                dev.read_at(geo.agb_byte(agno, agbno), &mut raw)?;
                let n = check_block(&raw, geo, kind, agno, agbno, level)?;
                if level > 0 {
                    if n == 0 {
                        return Err(corrupt(&what, "node without records"));
                    }
                    let mr = node_max(geo, kind);
                    for i in 0..n {
                        next.push(get32(&raw, HDR + mr * kind.key_len + i * 4, &what)?);
                    }
                }
                blocks.push(Block {
                    agbno,
                    raw,
                    dirty: false,
                });
            }
            levels.push(blocks);
            ptrs = next;
        }
        levels.reverse();
        let mut recs = Vec::new();
        for leaf in levels.first().map(Vec::as_slice).unwrap_or_default() {
            let what = Self::what(kind, agno, leaf.agbno);
            let n = usize::from(get16(&leaf.raw, 6, &what)?);
            for i in 0..n {
                let off = HDR + i * kind.rec_len;
                let r = leaf
                    .raw
                    .get(off..off + kind.rec_len)
                    .ok_or_else(|| corrupt(&what, "record outside the block"))?;
                recs.push(r.to_vec());
            }
        }
        Ok(SbTree {
            kind,
            agno,
            levels,
            recs,
        })
    }

    /// Whether `n` records can be stored in this tree's existing leaves.
    pub fn check_fits(&self, geo: &Geo, n: usize) -> Result<(), XfsWriteError> {
        let leaves = self.levels.first().map_or(0, Vec::len);
        let max = leaf_max(geo, self.kind);
        let min = if leaves > 1 { max / 2 } else { 0 };
        if n > leaves * max {
            return Err(XfsWriteError::TreeShape {
                tree: self.kind.name,
                agno: self.agno,
                what: format!("{n} records in {leaves} leaves (a split)"),
            });
        }
        if n < leaves * min {
            return Err(XfsWriteError::TreeShape {
                tree: self.kind.name,
                agno: self.agno,
                what: format!("{n} records in {leaves} leaves (a merge)"),
            });
        }
        Ok(())
    }

    /// Replace every record (already sorted in tree order) and rebuild the blocks in memory.
    pub fn set_records(&mut self, geo: &Geo, recs: Vec<Vec<u8>>) -> Result<(), XfsWriteError> {
        self.check_fits(geo, recs.len())?;
        let kind = self.kind;
        let agno = self.agno;
        let nleaves = self.levels.first().map_or(0, Vec::len);
        let base = recs.len() / nleaves.max(1);
        let extra = recs.len() % nleaves.max(1);
        let mut it = recs.iter();
        // First key of every block of the level being built, for the level above.
        let mut first_keys: Vec<Vec<u8>> = Vec::new();
        if let Some(leaves) = self.levels.first_mut() {
            for (i, leaf) in leaves.iter_mut().enumerate() {
                let what = Self::what(kind, agno, leaf.agbno);
                let n = base + usize::from(i < extra);
                let mut raw = leaf.raw.clone();
                raw.get_mut(HDR..)
                    .ok_or_else(|| corrupt(&what, "block shorter than its header"))?
                    .fill(0);
                put16(&mut raw, 6, n as u16, &what)?;
                let mut first = Vec::new();
                for j in 0..n {
                    let r = it
                        .next()
                        .ok_or_else(|| corrupt(&what, "record count mismatch"))?;
                    if j == 0 {
                        first = r.get(..kind.key_len).unwrap_or_default().to_vec();
                    }
                    put(&mut raw, HDR + j * kind.rec_len, r, &what)?;
                }
                set_crc(&mut raw, CRC_OFF, &what)?;
                if raw != leaf.raw {
                    leaf.raw = raw;
                    leaf.dirty = true;
                }
                first_keys.push(first);
            }
        }
        for level in self.levels.iter_mut().skip(1) {
            let mut keys = first_keys.into_iter();
            let mut next_first = Vec::new();
            for node in level.iter_mut() {
                let what = Self::what(kind, agno, node.agbno);
                let n = usize::from(get16(&node.raw, 6, &what)?);
                let mut raw = node.raw.clone();
                let mut first = Vec::new();
                for j in 0..n {
                    let k = keys
                        .next()
                        .ok_or_else(|| corrupt(&what, "child count mismatch"))?;
                    if j == 0 {
                        first = k.clone();
                    }
                    put(&mut raw, HDR + j * kind.key_len, &k, &what)?;
                }
                set_crc(&mut raw, CRC_OFF, &what)?;
                if raw != node.raw {
                    node.raw = raw;
                    node.dirty = true;
                }
                next_first.push(first);
            }
            first_keys = next_first;
        }
        self.recs = recs;
        Ok(())
    }

    /// Blocks per level (leaves first, root last) the tree needs for `n` records: its current
    /// shape when the records fit it, else the fewest blocks that hold them (every non-root
    /// block then at least half full, as xfs_repair demands).
    pub fn shape_for(&self, geo: &Geo, n: usize) -> Vec<usize> {
        if self.check_fits(geo, n).is_ok() {
            return self.levels.iter().map(Vec::len).collect();
        }
        let lmax = leaf_max(geo, self.kind);
        let nmax = node_max(geo, self.kind);
        let mut shape = vec![n.div_ceil(lmax).max(1)];
        while let Some(&last) = shape.last()
            && last > 1
        {
            shape.push(last.div_ceil(nmax));
        }
        shape
    }

    /// Every block of the tree, leaves first and the root last.
    pub fn blocks(&self) -> Vec<u32> {
        self.levels
            .iter()
            .flat_map(|l| l.iter().map(|b| b.agbno))
            .collect()
    }

    /// The root block.
    pub fn root(&self) -> u32 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .map_or(0, |b| b.agbno)
    }

    /// Rebuild the whole tree in memory with `recs` (sorted) laid out as `shape` over
    /// `blocks` (one per block of the shape, leaves first): headers with sibling pointers,
    /// records spread evenly, node keys and pointers. Blocks whose bytes change are dirty.
    pub fn rebuild(
        &mut self,
        geo: &Geo,
        recs: Vec<Vec<u8>>,
        shape: &[usize],
        blocks: &[u32],
    ) -> Result<(), XfsWriteError> {
        let kind = self.kind;
        let agno = self.agno;
        let tree = format!("{} of AG {agno}", kind.name);
        if shape.iter().sum::<usize>() != blocks.len()
            || shape.last() != Some(&1)
            || shape.len() > MAX_LEVELS as usize
        {
            return Err(corrupt(&tree, "rebuild shape does not match its blocks"));
        }
        let old: std::collections::HashMap<u32, Vec<u8>> = self
            .levels
            .iter()
            .flatten()
            .map(|b| (b.agbno, b.raw.clone()))
            .collect();
        let nmax = node_max(geo, kind);
        let mut levels: Vec<Vec<Block>> = Vec::new();
        let mut it_blocks = blocks.iter();
        // Children of the level being built: (first key, block).
        let mut below: Vec<(Vec<u8>, u32)> = Vec::new();
        for (level, &count) in shape.iter().enumerate() {
            let mine: Vec<u32> = it_blocks.by_ref().take(count).copied().collect();
            let items = if level == 0 { recs.len() } else { below.len() };
            let base = items / count.max(1);
            let extra = items % count.max(1);
            let mut pos = 0usize;
            let mut out = Vec::with_capacity(count);
            let mut next_below = Vec::with_capacity(count);
            for (i, &agbno) in mine.iter().enumerate() {
                let what = Self::what(kind, agno, agbno);
                let n = base + usize::from(i < extra);
                let mut raw = vec![0u8; geo.bs as usize];
                put(&mut raw, 0, &kind.magic.to_be_bytes(), &what)?;
                put16(&mut raw, 4, level as u16, &what)?;
                put16(&mut raw, 6, n as u16, &what)?;
                let left = if i > 0 { mine[i - 1] } else { u32::MAX };
                let right = mine.get(i + 1).copied().unwrap_or(u32::MAX);
                put(&mut raw, 8, &left.to_be_bytes(), &what)?;
                put(&mut raw, 12, &right.to_be_bytes(), &what)?;
                put(
                    &mut raw,
                    16,
                    &(geo.agb_byte(agno, agbno) >> 9).to_be_bytes(),
                    &what,
                )?;
                put(&mut raw, 32, &geo.meta_uuid, &what)?;
                put(&mut raw, 48, &agno.to_be_bytes(), &what)?;
                let mut first = Vec::new();
                for j in 0..n {
                    if level == 0 {
                        let r = recs
                            .get(pos + j)
                            .ok_or_else(|| corrupt(&what, "record count mismatch"))?;
                        if j == 0 {
                            first = r.get(..kind.key_len).unwrap_or_default().to_vec();
                        }
                        put(&mut raw, HDR + j * kind.rec_len, r, &what)?;
                    } else {
                        let (k, child) = below
                            .get(pos + j)
                            .ok_or_else(|| corrupt(&what, "child count mismatch"))?;
                        if j == 0 {
                            first = k.clone();
                        }
                        put(&mut raw, HDR + j * kind.key_len, k, &what)?;
                        put(
                            &mut raw,
                            HDR + nmax * kind.key_len + j * 4,
                            &child.to_be_bytes(),
                            &what,
                        )?;
                    }
                }
                pos += n;
                set_crc(&mut raw, CRC_OFF, &what)?;
                let dirty = old.get(&agbno) != Some(&raw);
                out.push(Block { agbno, raw, dirty });
                next_below.push((first, agbno));
            }
            levels.push(out);
            below = next_below;
        }
        self.levels = levels;
        self.recs = recs;
        Ok(())
    }

    /// Write every changed block.
    pub fn write(&mut self, dev: &dyn WritableDev, geo: &Geo) -> Result<(), XfsWriteError> {
        for level in &mut self.levels {
            for b in level.iter_mut().filter(|b| b.dirty) {
                dev.write_at(geo.agb_byte(self.agno, b.agbno), &b.raw)?;
                b.dirty = false;
            }
        }
        Ok(())
    }
}

fn leaf_max(geo: &Geo, kind: &TreeKind) -> usize {
    (geo.bs as usize - HDR) / kind.rec_len
}

fn node_max(geo: &Geo, kind: &TreeKind) -> usize {
    (geo.bs as usize - HDR) / (kind.key_len + 4)
}

/// Check one block's self-describing header; returns its record count.
fn check_block(
    raw: &[u8],
    geo: &Geo,
    kind: &TreeKind,
    agno: u32,
    agbno: u32,
    level: u32,
) -> Result<usize, XfsWriteError> {
    let what = SbTree::what(kind, agno, agbno);
    if get32(raw, 0, &what)? != kind.magic {
        return Err(corrupt(&what, "bad magic number"));
    }
    super::verify_crc(raw, CRC_OFF, &what)?;
    if u32::from(get16(raw, 4, &what)?) != level {
        return Err(corrupt(
            &what,
            format!("level {} where {level} was expected", get16(raw, 4, &what)?),
        ));
    }
    if get64(raw, 16, &what)? != geo.agb_byte(agno, agbno) >> 9 {
        return Err(corrupt(
            &what,
            "block number field does not match its location",
        ));
    }
    if raw.get(32..48) != Some(&geo.meta_uuid[..]) {
        return Err(corrupt(&what, "UUID does not match the superblock"));
    }
    if get32(raw, 48, &what)? != agno {
        return Err(corrupt(&what, "owner is another AG"));
    }
    let n = usize::from(get16(raw, 6, &what)?);
    let max = if level == 0 {
        leaf_max(geo, kind)
    } else {
        node_max(geo, kind)
    };
    if n > max {
        return Err(corrupt(&what, format!("{n} records (max {max})")));
    }
    Ok(n)
}
