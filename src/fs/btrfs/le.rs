//! Bounds-checked little-endian field access for on-disk Btrfs structures. Every getter names
//! the structure it reads so that a short buffer becomes a typed [`FsError::Corrupt`].

use crate::fs::FsError;

/// Build the `Corrupt` error every Btrfs parser returns.
pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> FsError {
    FsError::Corrupt {
        fs: "btrfs",
        structure: structure.into(),
        reason: reason.into(),
    }
}

/// Build the `Unsupported` error.
pub(crate) fn unsupported(what: impl Into<String>) -> FsError {
    FsError::Unsupported {
        fs: "btrfs",
        what: what.into(),
    }
}

/// `len` bytes of `b` at `off`, or a `Corrupt` error naming `what`.
pub(crate) fn bytes<'a>(
    b: &'a [u8],
    off: usize,
    len: usize,
    what: &str,
) -> Result<&'a [u8], FsError> {
    crate::bytes::slice(b, off, len).ok_or_else(|| {
        corrupt(
            what,
            format!(
                "{len} bytes at offset {off} run past the {}-byte buffer",
                b.len()
            ),
        )
    })
}

pub(crate) fn u8_at(b: &[u8], off: usize, what: &str) -> Result<u8, FsError> {
    Ok(bytes(b, off, 1, what)?[0])
}

fn array<const N: usize>(b: &[u8], off: usize, what: &str) -> Result<[u8; N], FsError> {
    // `bytes` returned exactly N bytes (or the named error), so the copy cannot mismatch.
    let mut a = [0u8; N];
    a.copy_from_slice(bytes(b, off, N, what)?);
    Ok(a)
}

pub(crate) fn u16_at(b: &[u8], off: usize, what: &str) -> Result<u16, FsError> {
    array(b, off, what).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(b: &[u8], off: usize, what: &str) -> Result<u32, FsError> {
    array(b, off, what).map(u32::from_le_bytes)
}

pub(crate) fn u64_at(b: &[u8], off: usize, what: &str) -> Result<u64, FsError> {
    array(b, off, what).map(u64::from_le_bytes)
}

pub(crate) fn uuid_at(b: &[u8], off: usize, what: &str) -> Result<[u8; 16], FsError> {
    array(b, off, what)
}

/// A UUID in the form blkid prints (`8-4-4-4-12` lowercase hex).
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
