//! Bounds-checked little-endian readers over untrusted bytes: every read returns `None` when the
//! field does not fit, so no parser can panic on a short buffer.

pub(crate) use crate::bytes::{le_u16 as u16_at, le_u32 as u32_at, le_u64 as u64_at};

pub(crate) fn arr4(b: &[u8], off: usize) -> [u8; 4] {
    crate::bytes::array(b, off).unwrap_or_default()
}

pub(crate) fn arr2(b: &[u8], off: usize) -> [u8; 2] {
    crate::bytes::array(b, off).unwrap_or_default()
}

/// Decode UTF-16LE, tolerating an odd trailing byte (dropped) and unpaired surrogates
/// (replaced with U+FFFD). Does not stop at NUL.
pub(crate) fn utf16le_lossy(b: &[u8]) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Decode a "compressed" (one byte per character, Latin-1) name.
pub(crate) fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}
