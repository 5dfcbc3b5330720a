//! B+tree-form data forks (bmbt, "BMA3"): the blocks of an existing tree, and a new tree for
//! an extent list too long for the inode — leaves of extent records spread evenly (every leaf
//! below a node at least half full, as xfs_repair demands), node levels until the top level
//! fits the root in the inode's literal area (`xfs_bmdr_block`: level, numrecs, keys, then
//! pointers at the fork size's maximum).

use std::collections::HashSet;

use super::be::{get16, get32, get64, put, put16, put64};
use super::bmap;
use super::error::{XfsWriteError, corrupt};
use crate::fs::xfs::bmbt::Extent;

const MAGIC: u32 = 0x424d_4133; // "BMA3"
/// Long-form v5 btree block header.
const HDR: usize = 72;
const CRC_OFF: usize = 64;
const MAX_LEVELS: u16 = 9;
const MAX_BLOCKS: usize = 1 << 16;

/// Records per leaf (extents) or per node (key + pointer) of a `bs`-byte block.
pub fn block_max(bs: usize) -> usize {
    (bs - HDR) / 16
}

/// Pointers the root in a `fork_size`-byte literal area holds.
pub fn root_max(fork_size: usize) -> usize {
    fork_size.saturating_sub(4) / 16
}

/// Every block of the tree rooted in `fork` (`read` fetches one filesystem block), checked:
/// magic, level, record counts, owner.
pub fn blocks(
    fork: &[u8],
    bs: usize,
    ino: u64,
    mut read: impl FnMut(u64) -> Result<Vec<u8>, XfsWriteError>,
) -> Result<Vec<u64>, XfsWriteError> {
    let what = format!("bmbt root of inode {ino}");
    let level = get16(fork, 0, &what)?;
    let n = usize::from(get16(fork, 2, &what)?);
    let rmax = root_max(fork.len());
    if level == 0 || level > MAX_LEVELS || n == 0 || n > rmax {
        return Err(corrupt(&what, format!("level {level}, {n} records")));
    }
    let mut ptrs = Vec::with_capacity(n);
    for i in 0..n {
        ptrs.push(get64(fork, 4 + rmax * 8 + i * 8, &what)?);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let nmax = block_max(bs);
    for lvl in (0..level).rev() {
        let mut next = Vec::new();
        for p in ptrs {
            let w = format!("bmbt block {p} of inode {ino}");
            if !seen.insert(p) || seen.len() > MAX_BLOCKS {
                return Err(corrupt(&w, "block referenced twice or tree too large"));
            }
            let raw = read(p)?;
            super::verify_crc(&raw, CRC_OFF, &w)?;
            if get32(&raw, 0, &w)? != MAGIC
                || get16(&raw, 4, &w)? != lvl
                || get64(&raw, 56, &w)? != ino
            {
                return Err(corrupt(&w, "bad magic, level or owner"));
            }
            let cnt = usize::from(get16(&raw, 6, &w)?);
            if cnt == 0 || cnt > nmax {
                return Err(corrupt(&w, format!("{cnt} records")));
            }
            if lvl > 0 {
                for i in 0..cnt {
                    next.push(get64(&raw, HDR + nmax * 8 + i * 8, &w)?);
                }
            }
            out.push(p);
        }
        ptrs = next;
    }
    Ok(out)
}

/// One built tree block: its filesystem block number and bytes.
pub type TreeBlock = (u64, Vec<u8>);

/// Blocks per level (leaves first) a tree of `n` extents needs under a root of `rmax`.
pub fn shape(n: usize, bs: usize, rmax: usize) -> Result<Vec<usize>, XfsWriteError> {
    let m = block_max(bs);
    let mut shape = vec![n.div_ceil(m).max(1)];
    while let Some(&last) = shape.last()
        && last > rmax
    {
        shape.push(last.div_ceil(m));
        if shape.len() >= usize::from(MAX_LEVELS) {
            return Err(corrupt("bmbt", "tree too deep"));
        }
    }
    Ok(shape)
}

/// Build the tree for `exts` laid out as `shape` over `blocks` (leaves first): returns the
/// root for the literal area (`fork_size` bytes) and `(block, bytes)` for each block, with
/// `daddr` giving each block's disk address.
#[allow(clippy::too_many_arguments)]
pub fn build(
    exts: &[Extent],
    shape: &[usize],
    blocks: &[u64],
    bs: usize,
    fork_size: usize,
    ino: u64,
    uuid: &[u8; 16],
    daddr: impl Fn(u64) -> u64,
) -> Result<(Vec<u8>, Vec<TreeBlock>), XfsWriteError> {
    let w = format!("bmbt of inode {ino}");
    if shape.iter().sum::<usize>() != blocks.len() {
        return Err(corrupt(&w, "shape does not match its blocks"));
    }
    let m = block_max(bs);
    let mut out = Vec::with_capacity(blocks.len());
    let mut it = blocks.iter();
    // (first key, block) of the level below.
    let mut below: Vec<(u64, u64)> = Vec::new();
    for (lvl, &count) in shape.iter().enumerate() {
        let mine: Vec<u64> = it.by_ref().take(count).copied().collect();
        let items = if lvl == 0 { exts.len() } else { below.len() };
        let (base, extra) = (items / count.max(1), items % count.max(1));
        let mut pos = 0;
        let mut up = Vec::with_capacity(count);
        for (i, &b) in mine.iter().enumerate() {
            let n = base + usize::from(i < extra);
            let mut raw = vec![0u8; bs];
            put(&mut raw, 0, &MAGIC.to_be_bytes(), &w)?;
            put16(&mut raw, 4, lvl as u16, &w)?;
            put16(&mut raw, 6, n as u16, &w)?;
            let left = if i > 0 { mine[i - 1] } else { u64::MAX };
            let right = mine.get(i + 1).copied().unwrap_or(u64::MAX);
            put64(&mut raw, 8, left, &w)?;
            put64(&mut raw, 16, right, &w)?;
            put64(&mut raw, 24, daddr(b), &w)?;
            put(&mut raw, 40, uuid, &w)?;
            put64(&mut raw, 56, ino, &w)?;
            let mut first = 0;
            for j in 0..n {
                if lvl == 0 {
                    let e = exts
                        .get(pos + j)
                        .ok_or_else(|| corrupt(&w, "record count"))?;
                    if j == 0 {
                        first = e.startoff;
                    }
                    put(&mut raw, HDR + 16 * j, &bmap::encode(e), &w)?;
                } else {
                    let (k, c) = below
                        .get(pos + j)
                        .ok_or_else(|| corrupt(&w, "child count"))?;
                    if j == 0 {
                        first = *k;
                    }
                    put64(&mut raw, HDR + 8 * j, *k, &w)?;
                    put64(&mut raw, HDR + m * 8 + 8 * j, *c, &w)?;
                }
            }
            pos += n;
            super::be::set_crc(&mut raw, CRC_OFF, &w)?;
            out.push((b, raw));
            up.push((first, b));
        }
        below = up;
    }
    let rmax = root_max(fork_size);
    if below.len() > rmax {
        return Err(corrupt(&w, "top level does not fit the inode"));
    }
    let mut root = vec![0u8; fork_size];
    put16(&mut root, 0, shape.len() as u16, &w)?;
    put16(&mut root, 2, below.len() as u16, &w)?;
    for (j, (k, c)) in below.iter().enumerate() {
        put64(&mut root, 4 + 8 * j, *k, &w)?;
        put64(&mut root, 4 + rmax * 8 + 8 * j, *c, &w)?;
    }
    Ok((root, out))
}
