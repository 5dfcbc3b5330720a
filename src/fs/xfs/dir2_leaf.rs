//! Directory hash index: the name hash (`xfs_da_hashname`), leaf blocks (`xfs_dir2_leaf`, magic
//! LEAF1 0xd2f1 / v5 0x3df1 for leaf directories, LEAFN 0xd2ff / 0x3dff under a node), and the
//! leaf array at the end of a single-block directory. Entries are `(hashval, address)` pairs
//! sorted by hash; `address` is the entry's byte offset in the directory data space / 8, and 0
//! marks a stale entry.

use super::buf::{Buf, verify_crc};
use super::corrupt;
use crate::fs::FsError;

pub const XFS_DIR2_LEAF1_MAGIC: u16 = 0xd2f1;
pub const XFS_DIR3_LEAF1_MAGIC: u16 = 0x3df1;
pub const XFS_DIR2_LEAFN_MAGIC: u16 = 0xd2ff;
pub const XFS_DIR3_LEAFN_MAGIC: u16 = 0x3dff;

/// The XFS directory name hash.
pub fn hashname(name: &[u8]) -> u32 {
    let mut hash: u32 = 0;
    let mut chunks = name.chunks_exact(4);
    for c in &mut chunks {
        hash = (u32::from(c[0]) << 21)
            ^ (u32::from(c[1]) << 14)
            ^ (u32::from(c[2]) << 7)
            ^ u32::from(c[3])
            ^ hash.rotate_left(7 * 4);
    }
    match *chunks.remainder() {
        [a, b, c] => {
            (u32::from(a) << 14) ^ (u32::from(b) << 7) ^ u32::from(c) ^ hash.rotate_left(7 * 3)
        }
        [a, b] => (u32::from(a) << 7) ^ u32::from(b) ^ hash.rotate_left(7 * 2),
        [a] => u32::from(a) ^ hash.rotate_left(7),
        _ => hash,
    }
}

/// Common header of directory/attribute B+tree blocks (`xfs_da_blkinfo` / `xfs_da3_blkinfo`).
pub struct BlkInfo {
    pub forw: u32,
    pub magic: u16,
    /// Size of the header this block type starts with (blkinfo + count/stale or count/level).
    pub hdr: usize,
    pub count: usize,
    /// `stale` for leaves, `level` for nodes.
    pub extra: u16,
}

/// Parse and check (v5: CRC, block number, UUID, owner) a leaf or node block header.
pub fn blkinfo(
    raw: &[u8],
    v5: bool,
    ino: u64,
    daddr: u64,
    uuid: &[u8; 16],
    what: &str,
) -> Result<BlkInfo, FsError> {
    let b = Buf::new(raw, what);
    let forw = b.u32(0)?;
    let magic = b.u16(8)?;
    let hdr = if v5 {
        verify_crc(raw, 12, what)?;
        if b.u64(16)? != daddr {
            return Err(corrupt(
                what,
                "block number field does not match its location",
            ));
        }
        if &b.uuid(32)? != uuid {
            return Err(corrupt(what, "UUID does not match the superblock"));
        }
        if b.u64(48)? != ino {
            return Err(corrupt(what, format!("owned by inode {}", b.u64(48)?)));
        }
        64
    } else {
        16
    };
    let count = usize::from(b.u16(hdr - if v5 { 8 } else { 4 })?);
    let extra = b.u16(hdr - if v5 { 6 } else { 2 })?;
    if hdr + count * 8 > raw.len() {
        return Err(corrupt(
            what,
            format!("{count} entries do not fit the block"),
        ));
    }
    Ok(BlkInfo {
        forw,
        magic,
        hdr,
        count,
        extra,
    })
}

/// `(hashval, address)` pairs at `off`, `count` of them.
pub fn pairs(raw: &[u8], off: usize, count: usize, what: &str) -> Result<Vec<(u32, u32)>, FsError> {
    let b = Buf::new(raw, what);
    (0..count)
        .map(|i| Ok((b.u32(off + i * 8)?, b.u32(off + i * 8 + 4)?)))
        .collect()
}

/// Addresses of the live entries with hash `hash` in sorted `ents`, and whether the run of
/// equal hashes reaches the end of the block (so it may continue in the next leaf).
pub fn matches(ents: &[(u32, u32)], hash: u32) -> (Vec<u32>, bool) {
    let start = ents.partition_point(|&(h, _)| h < hash);
    let mut out = Vec::new();
    let mut i = start;
    while let Some(&(h, addr)) = ents.get(i) {
        if h != hash {
            return (out, false);
        }
        if addr != 0 {
            out.push(addr);
        }
        i += 1;
    }
    (out, true)
}
