//! The tail of a single-block directory (`xfs_dir2_block_tail`): the last 8 bytes of the block
//! hold the leaf entry count and stale count; the hash leaf entries (8 bytes each) sit just
//! before it, and the data entries end where they start.

use super::buf::Buf;
use super::corrupt;
use crate::fs::FsError;

/// Byte offset where the data entries of single-block directory `raw` end.
pub fn data_end(raw: &[u8], hdr: usize, what: &str) -> Result<usize, FsError> {
    let b = Buf::new(raw, what);
    let tail = raw
        .len()
        .checked_sub(8)
        .ok_or_else(|| corrupt(what, "block too small for its tail"))?;
    let count = b.u32(tail)? as usize;
    let stale = b.u32(tail + 4)? as usize;
    if stale > count {
        return Err(corrupt(
            what,
            format!("{stale} stale of {count} leaf entries"),
        ));
    }
    count
        .checked_mul(8)
        .and_then(|l| tail.checked_sub(l))
        .filter(|&e| e >= hdr)
        .ok_or_else(|| corrupt(what, format!("{count} leaf entries do not fit the block")))
}
