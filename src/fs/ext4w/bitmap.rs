//! Block and inode bitmaps (one block each per group) and their metadata_csum checksums
//! (crc32c over `clusters_per_group / 8` resp. `inodes_per_group / 8` bytes).

use super::csum::crc32c_raw;

pub fn test(b: &[u8], i: u64) -> bool {
    let byte = usize::try_from(i / 8).unwrap_or(usize::MAX);
    b.get(byte).is_some_and(|x| x & (1 << (i % 8)) != 0)
}

pub fn set(b: &mut [u8], i: u64) {
    let byte = usize::try_from(i / 8).unwrap_or(usize::MAX);
    if let Some(x) = b.get_mut(byte) {
        *x |= 1 << (i % 8);
    }
}

pub fn clear(b: &mut [u8], i: u64) {
    let byte = usize::try_from(i / 8).unwrap_or(usize::MAX);
    if let Some(x) = b.get_mut(byte) {
        *x &= !(1 << (i % 8));
    }
}

/// Set every bit from `from` to the end of the block (padding past the group's last item).
pub fn set_padding(b: &mut [u8], from: u64) {
    let total = b.len() as u64 * 8;
    for i in from..total {
        set(b, i);
    }
}

/// Number of set bits among the first `n`.
pub fn count_set(b: &[u8], n: u64) -> u64 {
    (0..n).filter(|&i| test(b, i)).count() as u64
}

/// First clear bit in `[from, n)`.
pub fn first_clear(b: &[u8], from: u64, n: u64) -> Option<u64> {
    (from..n).find(|&i| !test(b, i))
}

/// metadata_csum of a bitmap covering `nbits` items.
pub fn csum(seed: u32, b: &[u8], nbits: u32) -> u32 {
    let n = (nbits / 8) as usize;
    crc32c_raw(seed, b.get(..n).unwrap_or(b))
}
