//! Big-endian field access on buffers the writer owns (every offset is checked; a short buffer
//! is a typed error, never a panic) and the v5 CRC32C stamp.

use super::error::{XfsWriteError, corrupt};

fn field<'a>(b: &'a [u8], off: usize, len: usize, what: &str) -> Result<&'a [u8], XfsWriteError> {
    off.checked_add(len)
        .and_then(|e| b.get(off..e))
        .ok_or_else(|| {
            corrupt(
                what,
                format!("field at byte {off} lies outside the structure"),
            )
        })
}

fn field_mut<'a>(
    b: &'a mut [u8],
    off: usize,
    len: usize,
    what: &str,
) -> Result<&'a mut [u8], XfsWriteError> {
    off.checked_add(len)
        .and_then(|e| b.get_mut(off..e))
        .ok_or_else(|| {
            corrupt(
                what,
                format!("field at byte {off} lies outside the structure"),
            )
        })
}

pub fn get16(b: &[u8], off: usize, what: &str) -> Result<u16, XfsWriteError> {
    let s = field(b, off, 2, what)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

pub fn get32(b: &[u8], off: usize, what: &str) -> Result<u32, XfsWriteError> {
    let s = field(b, off, 4, what)?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub fn get64(b: &[u8], off: usize, what: &str) -> Result<u64, XfsWriteError> {
    let s = field(b, off, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_be_bytes(a))
}

pub fn put(b: &mut [u8], off: usize, v: &[u8], what: &str) -> Result<(), XfsWriteError> {
    field_mut(b, off, v.len(), what)?.copy_from_slice(v);
    Ok(())
}

pub fn put16(b: &mut [u8], off: usize, v: u16, what: &str) -> Result<(), XfsWriteError> {
    put(b, off, &v.to_be_bytes(), what)
}

pub fn put32(b: &mut [u8], off: usize, v: u32, what: &str) -> Result<(), XfsWriteError> {
    put(b, off, &v.to_be_bytes(), what)
}

pub fn put64(b: &mut [u8], off: usize, v: u64, what: &str) -> Result<(), XfsWriteError> {
    put(b, off, &v.to_be_bytes(), what)
}

/// Stamp the CRC32C of `b` (computed with the 4-byte field at `crc_off` zeroed, stored
/// little-endian), as every v5 metadata structure carries it.
pub fn set_crc(b: &mut [u8], crc_off: usize, what: &str) -> Result<(), XfsWriteError> {
    put(b, crc_off, &[0; 4], what)?;
    let crc = crc32c::crc32c(b);
    put(b, crc_off, &crc.to_le_bytes(), what)
}
