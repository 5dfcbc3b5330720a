//! Data fork block maps: the packed 128-bit extent record (`xfs_bmbt_rec`) and the block-map
//! B+tree (`bmbt`, root in the inode, long-format nodes and leaves in blocks "BMAP"/"BMA3").
//!
//! The tree walk is bounded: levels must strictly decrease by one per step (so no cycle can be
//! followed downwards), every block is visited at most once, and the number of blocks and
//! extents is capped.

use std::collections::HashSet;

use super::buf::{Buf, verify_crc};
use super::inode::{ForkFormat, Inode};
use super::{XfsFs, corrupt};
use crate::fs::FsError;

const BMAP_MAGIC: u32 = 0x424d_4150; // "BMAP"
const BMAP_CRC_MAGIC: u32 = 0x424d_4133; // "BMA3"
const V4_HDR: usize = 24;
const V5_HDR: usize = 72;
const V5_CRC_OFF: usize = 64;
/// Deepest bmbt the kernel can build is well under this.
const MAX_LEVELS: u16 = 12;
/// Cap on the extents of one fork held in memory (32 bytes each).
pub const MAX_EXTENTS: u64 = 1 << 20;
/// Cap on the tree blocks visited for one fork.
const MAX_TREE_BLOCKS: usize = 1 << 18;

/// One mapping of file blocks `[startoff, startoff+count)` to filesystem blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// File offset in filesystem blocks.
    pub startoff: u64,
    /// Filesystem block number (AG number in the high bits).
    pub startblock: u64,
    pub count: u64,
    /// Preallocated but never written: reads as zeros.
    pub unwritten: bool,
}

/// Decode one 16-byte extent record.
pub fn decode_extent(rec: &[u8], what: &str) -> Result<Extent, FsError> {
    let b = Buf::new(rec, what);
    let l0 = b.u64(0)?;
    let l1 = b.u64(8)?;
    Ok(Extent {
        unwritten: l0 >> 63 != 0,
        startoff: (l0 & ((1u64 << 63) - 1)) >> 9,
        startblock: ((l0 & 0x1ff) << 43) | (l1 >> 21),
        count: l1 & ((1u64 << 21) - 1),
    })
}

/// All extents of `inode`'s data fork, sorted by file offset and checked to lie inside the
/// filesystem and not to overlap.
pub fn data_extents(fs: &XfsFs, inode: &Inode) -> Result<Vec<Extent>, FsError> {
    let what = format!("extent list of inode {}", inode.ino);
    if inode.nextents > MAX_EXTENTS {
        return Err(FsError::Unsupported {
            fs: super::FS,
            what: format!(
                "inode {} has {} extents (limit {MAX_EXTENTS})",
                inode.ino, inode.nextents
            ),
        });
    }
    let mut out = Vec::new();
    match inode.format {
        ForkFormat::Extents => {
            let b = Buf::new(&inode.fork, &what);
            for i in 0..inode.nextents as usize {
                out.push(decode_extent(b.slice(i * 16, 16)?, &what)?);
            }
        }
        ForkFormat::Btree => {
            let mut walk = Walk {
                fs,
                ino: inode.ino,
                visited: HashSet::new(),
                limit: inode.nextents,
                out: &mut out,
            };
            walk.root(&inode.fork)?;
        }
        ForkFormat::Local | ForkFormat::Dev => {
            return Err(corrupt(&what, "fork has no extents"));
        }
    }
    check_extents(fs, &out, &what)?;
    Ok(out)
}

fn check_extents(fs: &XfsFs, exts: &[Extent], what: &str) -> Result<(), FsError> {
    let mut next_off = 0u64;
    for e in exts {
        if e.count == 0 {
            return Err(corrupt(what, "zero-length extent"));
        }
        if e.startoff < next_off {
            return Err(corrupt(
                what,
                format!(
                    "extent at file block {} overlaps or is out of order",
                    e.startoff
                ),
            ));
        }
        next_off = e
            .startoff
            .checked_add(e.count)
            .filter(|&n| n < (1u64 << 54))
            .ok_or_else(|| corrupt(what, "extent past the maximum file offset"))?;
        fs.check_fsblock_range(e.startblock, e.count, what)?;
    }
    Ok(())
}

struct Walk<'a> {
    fs: &'a XfsFs,
    ino: u64,
    visited: HashSet<u64>,
    limit: u64,
    out: &'a mut Vec<Extent>,
}

impl Walk<'_> {
    fn root(&mut self, fork: &[u8]) -> Result<(), FsError> {
        let what = format!("bmbt root of inode {}", self.ino);
        let b = Buf::new(fork, &what);
        let level = b.u16(0)?;
        let numrecs = usize::from(b.u16(2)?);
        let maxrecs = fork.len().saturating_sub(4) / 16;
        if level == 0 || level > MAX_LEVELS {
            return Err(corrupt(&what, format!("level {level}")));
        }
        if numrecs == 0 || numrecs > maxrecs {
            return Err(corrupt(&what, format!("{numrecs} records (max {maxrecs})")));
        }
        for i in 0..numrecs {
            let ptr = b.u64(4 + maxrecs * 8 + i * 8)?;
            self.block(ptr, level - 1)?;
        }
        Ok(())
    }

    fn block(&mut self, fsblock: u64, level: u16) -> Result<(), FsError> {
        let what = format!("bmbt block {fsblock} of inode {}", self.ino);
        self.fs.check_fsblock_range(fsblock, 1, &what)?;
        if !self.visited.insert(fsblock) {
            return Err(corrupt(&what, "block referenced twice (cycle)"));
        }
        if self.visited.len() > MAX_TREE_BLOCKS {
            return Err(corrupt(&what, "too many tree blocks"));
        }
        let raw = self.fs.read_fsblocks(fsblock, 1)?;
        let b = Buf::new(&raw, &what);
        let sb = &self.fs.sb;
        let hdr = if sb.is_v5() {
            if b.u32(0)? != BMAP_CRC_MAGIC {
                return Err(corrupt(&what, "bad magic number"));
            }
            verify_crc(&raw, V5_CRC_OFF, &what)?;
            if b.u64(24)? != self.fs.fsblock_to_daddr(fsblock) {
                return Err(corrupt(
                    &what,
                    "block number field does not match its location",
                ));
            }
            if b.uuid(40)? != sb.meta_uuid {
                return Err(corrupt(&what, "UUID does not match the superblock"));
            }
            if b.u64(56)? != self.ino {
                return Err(corrupt(&what, format!("owned by inode {}", b.u64(56)?)));
            }
            V5_HDR
        } else {
            if b.u32(0)? != BMAP_MAGIC {
                return Err(corrupt(&what, "bad magic number"));
            }
            V4_HDR
        };
        if b.u16(4)? != level {
            return Err(corrupt(
                &what,
                format!("level {} where {level} was expected", b.u16(4)?),
            ));
        }
        let numrecs = usize::from(b.u16(6)?);
        let maxrecs = (raw.len() - hdr) / 16;
        if numrecs == 0 || numrecs > maxrecs {
            return Err(corrupt(&what, format!("{numrecs} records (max {maxrecs})")));
        }
        if level == 0 {
            if (self.out.len() + numrecs) as u64 > self.limit {
                return Err(corrupt(
                    &what,
                    format!("more extents than the inode's {}", self.limit),
                ));
            }
            for i in 0..numrecs {
                self.out
                    .push(decode_extent(b.slice(hdr + i * 16, 16)?, &what)?);
            }
        } else {
            for i in 0..numrecs {
                let ptr = b.u64(hdr + maxrecs * 8 + i * 8)?;
                self.block(ptr, level - 1)?;
            }
        }
        Ok(())
    }
}

/// Find the extent containing file block `fblock`, or the first one after it.
pub fn lookup(exts: &[Extent], fblock: u64) -> Result<&Extent, usize> {
    let i = exts.partition_point(|e| e.startoff + e.count <= fblock);
    match exts.get(i) {
        Some(e) if e.startoff <= fblock => Ok(e),
        _ => Err(i),
    }
}
