//! Bounds-checked little-endian readers over untrusted bytes: every read returns `None` when the
//! field does not fit, so no parser can panic on a short buffer.

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

pub(crate) fn arr4(b: &[u8], off: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    if let Some(s) = off.checked_add(4).and_then(|e| b.get(off..e)) {
        a.copy_from_slice(s);
    }
    a
}

pub(crate) fn arr2(b: &[u8], off: usize) -> [u8; 2] {
    let mut a = [0u8; 2];
    if let Some(s) = off.checked_add(2).and_then(|e| b.get(off..e)) {
        a.copy_from_slice(s);
    }
    a
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
