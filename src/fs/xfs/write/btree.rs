//! Short-format (per-AG) B+trees of v5 filesystems: free space by block (bnobt, "AB3B") and by
//! size (cntbt, "AB3C"), inodes (inobt, "IAB3"), free inodes (finobt, "FIB3") and reference
//! counts (refcountbt, "R3FC", read only).
//!
//! A tree is loaded whole (bounded), edited as one sorted record list, and written back into
//! the same blocks: records are spread evenly over the existing leaves and node keys are
//! recomputed, so no block is ever allocated or freed for a tree (the AGFL and btreeblks stay
//! as they are). When the records would not fit the leaves, or would leave a non-root leaf
//! under half full, the change is refused with [`XfsWriteError::TreeShape`] before anything is
//! written.

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
