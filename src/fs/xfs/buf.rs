//! Bounds-checked big-endian field access on untrusted on-disk bytes, and the CRC32C check that
//! every v5 (CRC-enabled) metadata structure carries.

use super::corrupt;
use crate::fs::FsError;

/// A view of one on-disk structure; every accessor fails with `Corrupt` naming the structure
/// instead of panicking when a field lies outside the bytes read.
#[derive(Clone, Copy)]
pub(crate) struct Buf<'a> {
    pub bytes: &'a [u8],
    pub what: &'a str,
}

impl<'a> Buf<'a> {
    pub fn new(bytes: &'a [u8], what: &'a str) -> Self {
        Buf { bytes, what }
    }

    pub fn slice(&self, off: usize, len: usize) -> Result<&'a [u8], FsError> {
        off.checked_add(len)
            .and_then(|end| self.bytes.get(off..end))
            .ok_or_else(|| {
                corrupt(
                    self.what,
                    format!(
                        "field at byte {off} (+{len}) lies outside the {}-byte structure",
                        self.bytes.len()
                    ),
                )
            })
    }

    pub fn u8(&self, off: usize) -> Result<u8, FsError> {
        Ok(self.slice(off, 1)?[0])
    }

    pub fn u16(&self, off: usize) -> Result<u16, FsError> {
        Ok(u16::from_be_bytes(self.array(off)?))
    }

    pub fn u32(&self, off: usize) -> Result<u32, FsError> {
        Ok(u32::from_be_bytes(self.array(off)?))
    }

    fn array<const N: usize>(&self, off: usize) -> Result<[u8; N], FsError> {
        // `slice` returned exactly N bytes (or the named error), so the copy cannot mismatch.
        let mut a = [0u8; N];
        a.copy_from_slice(self.slice(off, N)?);
        Ok(a)
    }

    pub fn u64(&self, off: usize) -> Result<u64, FsError> {
        Ok(u64::from_be_bytes(self.array(off)?))
    }

    pub fn uuid(&self, off: usize) -> Result<[u8; 16], FsError> {
        let s = self.slice(off, 16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(a)
    }
}

/// Verify the CRC32C of a v5 metadata structure: the checksum is computed over all of `bytes`
/// with the 4-byte field at `crc_off` taken as zero, and stored little-endian.
pub(crate) fn verify_crc(bytes: &[u8], crc_off: usize, what: &str) -> Result<(), FsError> {
    let end = crc_off
        .checked_add(4)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| corrupt(what, "too short to hold its CRC"))?;
    let (head, rest) = bytes.split_at(crc_off);
    let (field, tail) = rest.split_at(end - crc_off);
    let stored = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
    let mut crc = crc32c::crc32c(head);
    crc = crc32c::crc32c_append(crc, &[0u8; 4]);
    crc = crc32c::crc32c_append(crc, tail);
    if crc != stored {
        return Err(corrupt(
            what,
            format!("CRC mismatch (stored {stored:#010x}, computed {crc:#010x})"),
        ));
    }
    Ok(())
}
