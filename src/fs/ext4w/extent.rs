//! Extent trees: the 12-byte header (magic 0xF30A), leaf extents and index entries, in the
//! inode's `i_block` (4 entries) or in tree blocks ((block_size - 12) / 12 entries, followed by
//! the 4-byte `ext4_extent_tail` checksum with metadata_csum).
//!
//! The writer reads trees of any depth (bounded) and writes balanced trees of depth 0 (up to 4
//! extents in the inode) to 3 (see [`max_extents`]); beyond that it refuses with
//! `TooFragmented`.

use super::csum::crc32c_raw;
use super::error::{Ext4WriteError, corrupt};
use super::le::{rd16, rd32, wr16, wr32};

pub const MAGIC: u16 = 0xF30A;
/// Longest initialized extent.
pub const MAX_LEN: u32 = 32768;
const MAX_DEPTH: u16 = 5;
/// Upper bound on extents read from one file (bounds memory on hostile trees).
pub const MAX_READ_EXTENTS: usize = 1 << 20;
/// Upper bound on tree blocks read for one file (bounds time on hostile trees).
pub const MAX_TREE_BLOCKS: usize = 1 << 16;

/// One mapping: `len` blocks from logical `logical` at physical `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub logical: u32,
    pub start: u64,
    pub len: u32,
    pub uninit: bool,
}

/// Everything a tree maps, and the tree blocks it uses.
#[derive(Debug, Default, Clone)]
pub struct ExtentMap {
    pub extents: Vec<Extent>,
    pub tree_blocks: Vec<u64>,
    seen: std::collections::HashSet<u64>,
}

pub fn leaf_capacity(block_size: u64) -> usize {
    ((block_size as usize) - 12) / 12
}

/// Largest number of extents the writer lays out: a tree of depth at most 3 (the kernel
/// allows 5), which is millions of extents with 1 KiB blocks.
pub fn max_extents(block_size: u64) -> usize {
    let cap = leaf_capacity(block_size);
    4usize
        .saturating_mul(cap)
        .saturating_mul(cap)
        .saturating_mul(cap)
}

/// Read a tree. `read_block(n)` returns block `n`; `valid_block(n)` says whether `n` may hold
/// tree data.
/// Tree blocks are checked against their `ext4_extent_tail` when `csum_seed` (the inode's
/// checksum seed) is given.
pub fn read_tree(
    i_block: &[u8],
    what: &str,
    csum_seed: Option<u32>,
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, Ext4WriteError>,
) -> Result<ExtentMap, Ext4WriteError> {
    let mut map = ExtentMap::default();
    walk(i_block, 4, None, what, csum_seed, read_block, &mut map)?;
    Ok(map)
}

fn walk(
    node: &[u8],
    max_cap: usize,
    want_depth: Option<u16>,
    what: &str,
    csum_seed: Option<u32>,
    read_block: &mut dyn FnMut(u64) -> Result<Vec<u8>, Ext4WriteError>,
    map: &mut ExtentMap,
) -> Result<(), Ext4WriteError> {
    let st = || format!("extent tree of {what}");
    if rd16(node, 0) != MAGIC {
        return Err(corrupt(st(), "bad extent header magic"));
    }
    let entries = usize::from(rd16(node, 2));
    let max = usize::from(rd16(node, 4));
    let depth = rd16(node, 6);
    if entries > max || max > max_cap || 12 + 12 * max > node.len() {
        return Err(corrupt(st(), "extent header counts out of range"));
    }
    if depth > MAX_DEPTH || want_depth.is_some_and(|d| d != depth) {
        return Err(corrupt(st(), "inconsistent extent tree depth"));
    }
    for i in 0..entries {
        let e = 12 + 12 * i;
        if depth == 0 {
            let raw_len = u32::from(rd16(node, e + 4));
            let (len, uninit) = if raw_len > MAX_LEN {
                (raw_len - MAX_LEN, true)
            } else {
                (raw_len, false)
            };
            let start = u64::from(rd32(node, e + 8)) | (u64::from(rd16(node, e + 6)) << 32);
            let logical = rd32(node, e);
            if len == 0 || u64::from(logical) + u64::from(len) > 1 << 32 {
                return Err(corrupt(
                    st(),
                    "extent length zero or past the last logical block",
                ));
            }
            if map.extents.len() >= MAX_READ_EXTENTS {
                return Err(corrupt(st(), "too many extents"));
            }
            map.extents.push(Extent {
                logical,
                start,
                len,
                uninit,
            });
        } else {
            let child = u64::from(rd32(node, e + 4)) | (u64::from(rd16(node, e + 8)) << 32);
            if !map.seen.insert(child) || map.tree_blocks.len() >= MAX_TREE_BLOCKS {
                return Err(corrupt(st(), "extent index loop or too many tree blocks"));
            }
            map.tree_blocks.push(child);
            let blk = read_block(child)?;
            let cap = (blk.len() - 12) / 12;
            if let Some(seed) = csum_seed {
                let max = usize::from(rd16(&blk, 4)).min(cap);
                let tail = 12 + 12 * max;
                let want = rd32(&blk, tail);
                let got = crc32c_raw(seed, blk.get(..tail).unwrap_or(&[]));
                if want != got {
                    return Err(Ext4WriteError::Checksum(format!(
                        "extent tree block {child} of {what}"
                    )));
                }
            }
            walk(&blk, cap, Some(depth - 1), what, csum_seed, read_block, map)?;
        }
    }
    Ok(())
}

fn put_header(buf: &mut [u8], entries: usize, max: usize, depth: u16) {
    wr16(buf, 0, MAGIC);
    wr16(buf, 2, entries as u16);
    wr16(buf, 4, max as u16);
    wr16(buf, 6, depth);
    wr32(buf, 8, 0);
}

fn put_extent(buf: &mut [u8], off: usize, e: &Extent) {
    wr32(buf, off, e.logical);
    let raw_len = if e.uninit { e.len + MAX_LEN } else { e.len };
    wr16(buf, off + 4, raw_len as u16);
    wr16(buf, off + 6, (e.start >> 32) as u16);
    wr32(buf, off + 8, e.start as u32);
}

/// Split runs longer than [`MAX_LEN`] and merge adjacent ones.
pub fn normalise(extents: &[Extent]) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::new();
    for e in extents {
        let mut e = *e;
        if let Some(last) = out.last_mut()
            && !last.uninit
            && !e.uninit
            && last.logical.checked_add(last.len) == Some(e.logical)
            && last.start.checked_add(u64::from(last.len)) == Some(e.start)
            && last.len < MAX_LEN
        {
            let take = (MAX_LEN - last.len).min(e.len);
            last.len += take;
            e.logical = e.logical.saturating_add(take);
            e.start = e.start.saturating_add(u64::from(take));
            e.len -= take;
        }
        while e.len > 0 {
            let take = e.len.min(MAX_LEN);
            out.push(Extent {
                logical: e.logical,
                start: e.start,
                len: take,
                uninit: e.uninit,
            });
            e.logical = e.logical.saturating_add(take);
            e.start = e.start.saturating_add(u64::from(take));
            e.len -= take;
        }
    }
    out
}

/// Tree blocks per level (leaves first) [`build`] lays out for `n` extents; empty when they
/// fit in the inode.
pub fn tree_shape(n: usize, block_size: u64) -> Vec<usize> {
    let cap = leaf_capacity(block_size);
    let mut levels = Vec::new();
    let mut k = n;
    while k > 4 {
        k = k.div_ceil(cap);
        levels.push(k);
    }
    levels
}

/// Number of tree blocks [`build`] needs for `n` extents.
pub fn tree_blocks_needed(n: usize, block_size: u64) -> usize {
    tree_shape(n, block_size).iter().sum()
}

fn put_index(buf: &mut [u8], off: usize, first: u32, child: u64) {
    wr32(buf, off, first);
    wr32(buf, off + 4, child as u32);
    wr16(buf, off + 8, (child >> 32) as u16);
    wr16(buf, off + 10, 0);
}

fn seal(buf: &mut [u8], cap: usize, csum_seed: Option<u32>) {
    if let Some(seed) = csum_seed {
        let tail = 12 + 12 * cap;
        let c = crc32c_raw(seed, buf.get(..tail).unwrap_or(&[]));
        wr32(buf, tail, c);
    }
}

/// Lay out `extents` (already normalised) as `i_block` plus tree blocks placed at `blocks`
/// (exactly [`tree_blocks_needed`] of them: leaves first, then each index level). Returns
/// `i_block` and `(block, bytes)` to write. `csum_seed` is the inode's checksum seed when
/// metadata_csum is on (each tree block then ends with its `ext4_extent_tail`).
pub fn build(
    extents: &[Extent],
    blocks: &[u64],
    block_size: u64,
    csum_seed: Option<u32>,
) -> ([u8; 60], Vec<(u64, Vec<u8>)>) {
    let mut ib = [0u8; 60];
    let cap = leaf_capacity(block_size);
    let mut out = Vec::new();
    let mut spare = blocks.iter().copied();
    // (first logical block, physical block) of the nodes of the level just built.
    let mut level: Vec<(u32, u64)> = Vec::new();
    if extents.len() > 4 {
        for chunk in extents.chunks(cap) {
            let Some(at) = spare.next() else { break };
            let mut buf = vec![0u8; block_size as usize];
            put_header(&mut buf, chunk.len(), cap, 0);
            for (j, e) in chunk.iter().enumerate() {
                put_extent(&mut buf, 12 + 12 * j, e);
            }
            seal(&mut buf, cap, csum_seed);
            level.push((chunk.first().map(|e| e.logical).unwrap_or(0), at));
            out.push((at, buf));
        }
        let mut depth: u16 = 1;
        while level.len() > 4 {
            let mut next = Vec::new();
            for chunk in level.chunks(cap) {
                let Some(at) = spare.next() else { break };
                let mut buf = vec![0u8; block_size as usize];
                put_header(&mut buf, chunk.len(), cap, depth);
                for (j, (first, child)) in chunk.iter().enumerate() {
                    put_index(&mut buf, 12 + 12 * j, *first, *child);
                }
                seal(&mut buf, cap, csum_seed);
                next.push((chunk.first().map(|c| c.0).unwrap_or(0), at));
                out.push((at, buf));
            }
            level = next;
            depth += 1;
        }
        put_header(&mut ib, level.len(), 4, depth);
        for (i, (first, child)) in level.iter().enumerate() {
            put_index(&mut ib, 12 + 12 * i, *first, *child);
        }
    } else {
        put_header(&mut ib, extents.len(), 4, 0);
        for (i, e) in extents.iter().enumerate() {
            put_extent(&mut ib, 12 + 12 * i, e);
        }
    }
    (ib, out)
}

/// Physical block of logical block `lblk`, if mapped.
pub fn map_block(extents: &[Extent], lblk: u32) -> Option<u64> {
    extents.iter().find_map(|e| {
        (lblk >= e.logical && lblk - e.logical < e.len)
            .then(|| e.start + u64::from(lblk - e.logical))
    })
}
