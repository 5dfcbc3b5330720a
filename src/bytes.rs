//! One home for fixed-width integer fields in untrusted bytes, used by every format module
//! (containers, partition tables, filesystems, hives, rpm headers).
//!
//! One behaviour on short input: a reader returns `None` when the field does not lie wholly
//! inside the buffer (offset overflow included), and a writer writes nothing and returns `None`.
//! Nothing here panics. Each format module decides what a missing field means where it reads
//! it — a typed error naming the on-disk structure (`.ok_or_else(..)`), or, for the lenient
//! probes of the block and volume layers that bound their buffers first, zero
//! ([`or_zero`] wrappers in `block::util`, `volume::util`, `fs::ext4w::le`).

/// The `N` bytes at `off`, or `None` when they do not fit in `b`.
pub fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let s = b.get(off..off.checked_add(N)?)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Some(a)
}

/// `b[off..off + len]`, or `None` when it does not fit.
pub fn slice(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

/// Little-endian `u16` at `off`.
pub fn le_u16(b: &[u8], off: usize) -> Option<u16> {
    array(b, off).map(u16::from_le_bytes)
}

/// Little-endian `u32` at `off`.
pub fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    array(b, off).map(u32::from_le_bytes)
}

/// Little-endian `u64` at `off`.
pub fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    array(b, off).map(u64::from_le_bytes)
}

/// Big-endian `u16` at `off`.
pub fn be_u16(b: &[u8], off: usize) -> Option<u16> {
    array(b, off).map(u16::from_be_bytes)
}

/// Big-endian `u32` at `off`.
pub fn be_u32(b: &[u8], off: usize) -> Option<u32> {
    array(b, off).map(u32::from_be_bytes)
}

/// Big-endian `u64` at `off`.
pub fn be_u64(b: &[u8], off: usize) -> Option<u64> {
    array(b, off).map(u64::from_be_bytes)
}

/// Copy `v` to `b[off..]`; `None` (and nothing written) when it does not fit.
pub fn put(b: &mut [u8], off: usize, v: &[u8]) -> Option<()> {
    b.get_mut(off..off.checked_add(v.len())?)?
        .copy_from_slice(v);
    Some(())
}

/// Write a little-endian `u16` at `off`.
pub fn put_le16(b: &mut [u8], off: usize, v: u16) -> Option<()> {
    put(b, off, &v.to_le_bytes())
}

/// Write a little-endian `u32` at `off`.
pub fn put_le32(b: &mut [u8], off: usize, v: u32) -> Option<()> {
    put(b, off, &v.to_le_bytes())
}

/// Write a little-endian `u64` at `off`.
pub fn put_le64(b: &mut [u8], off: usize, v: u64) -> Option<()> {
    put(b, off, &v.to_le_bytes())
}

/// Write a big-endian `u16` at `off`.
pub fn put_be16(b: &mut [u8], off: usize, v: u16) -> Option<()> {
    put(b, off, &v.to_be_bytes())
}

/// Write a big-endian `u32` at `off`.
pub fn put_be32(b: &mut [u8], off: usize, v: u32) -> Option<()> {
    put(b, off, &v.to_be_bytes())
}

/// Write a big-endian `u64` at `off`.
pub fn put_be64(b: &mut [u8], off: usize, v: u64) -> Option<()> {
    put(b, off, &v.to_be_bytes())
}

/// The lenient reading the block and volume probes use on buffers they have already bounded:
/// a field that does not fit reads as 0.
pub fn or_zero<T: Default>(v: Option<T>) -> T {
    v.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_none_and_never_panics() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(le_u32(&b, 0), Some(0x0403_0201));
        assert_eq!(be_u32(&b, 1), Some(0x0203_0405));
        assert_eq!(le_u32(&b, 2), None);
        assert_eq!(le_u64(&b, 0), None);
        assert_eq!(le_u16(&b, usize::MAX), None);
        assert_eq!(slice(&b, usize::MAX, 2), None);
        let mut w = [0u8; 4];
        assert_eq!(put_be32(&mut w, 0, 0x0102_0304), Some(()));
        assert_eq!(w, [1, 2, 3, 4]);
        assert_eq!(put_le32(&mut w, 1, 7), None);
        assert_eq!(w, [1, 2, 3, 4], "a write that does not fit writes nothing");
        assert_eq!(put_le16(&mut w, usize::MAX, 7), None);
        assert_eq!(or_zero(le_u64(&b, 0)), 0);
    }
}
