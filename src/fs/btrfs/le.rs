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
    off.checked_add(len)
        .and_then(|end| b.get(off..end))
        .ok_or_else(|| {
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

pub(crate) fn u16_at(b: &[u8], off: usize, what: &str) -> Result<u16, FsError> {
    let s = bytes(b, off, 2, what)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize, what: &str) -> Result<u32, FsError> {
    let s = bytes(b, off, 4, what)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn u64_at(b: &[u8], off: usize, what: &str) -> Result<u64, FsError> {
    let s = bytes(b, off, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

pub(crate) fn uuid_at(b: &[u8], off: usize, what: &str) -> Result<[u8; 16], FsError> {
    let s = bytes(b, off, 16, what)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    Ok(a)
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
