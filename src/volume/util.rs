//! Bounds-checked little/big-endian readers over byte slices (image data is untrusted: a short
//! slice yields 0 rather than a panic; callers check lengths where it matters).

use crate::bytes::{self as by, or_zero};

pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    or_zero(by::le_u16(b, off))
}

pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    or_zero(by::le_u32(b, off))
}

pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    or_zero(by::le_u64(b, off))
}

/// `len` bytes at `off`, or an empty slice when out of range.
pub(crate) fn slice(b: &[u8], off: usize, len: usize) -> &[u8] {
    by::slice(b, off, len).unwrap_or(&[])
}

/// Format 16 bytes as a UUID in the plain big-endian order (`8c1f…-…`, as blkid prints
/// ext4/XFS/LUKS UUIDs).
pub(crate) fn uuid_be(b: &[u8]) -> Option<String> {
    if b.len() < 16 {
        return None;
    }
    let h = hex::encode(&b[..16]);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Format a GUID stored in the mixed-endian Microsoft layout (GPT), lower case.
pub(crate) fn guid_mixed(b: &[u8]) -> Option<String> {
    if b.len() < 16 {
        return None;
    }
    let mut r = [0u8; 16];
    r[0] = b[3];
    r[1] = b[2];
    r[2] = b[1];
    r[3] = b[0];
    r[4] = b[5];
    r[5] = b[4];
    r[6] = b[7];
    r[7] = b[6];
    r[8..16].copy_from_slice(&b[8..16]);
    uuid_be(&r)
}

/// A NUL-padded byte string as UTF-8 (lossy), trimmed; `None` when empty.
pub(crate) fn cstr(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim().to_string();
    if s.is_empty() { None } else { Some(s) }
}

/// UTF-16LE, NUL-terminated, lossy.
pub(crate) fn utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}
