//! The ndb database header: the first 32 bytes of `Packages.db` (in place of its first two
//! slots): magic `RpmP`, version 0, generation, number of slot pages, next package index; the
//! rest is zero. Little-endian.

use super::NdbError;

/// Size of the header.
pub const HEADER_SIZE: usize = 32;
/// `'R' | 'p' << 8 | 'm' << 16 | 'P' << 24`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"RpmP");

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbHeader {
    /// Bumped on every change of the slot area.
    pub generation: u32,
    /// 4096-byte pages of slots at the start of the file.
    pub slot_npages: u32,
    /// The package index the next install gets.
    pub next_pkgidx: u32,
}

/// The little-endian u32 at `off`.
pub(super) fn le32(b: &[u8], off: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

impl DbHeader {
    /// Parse the first [`HEADER_SIZE`] bytes of the file.
    pub fn parse(b: &[u8]) -> Result<Self, NdbError> {
        let short = || NdbError::Truncated("database header");
        let magic = le32(b, 0).ok_or_else(short)?;
        if magic != MAGIC {
            return Err(NdbError::NotNdb(magic));
        }
        let version = le32(b, 4).ok_or_else(short)?;
        if version != 0 {
            return Err(NdbError::Version(version));
        }
        Ok(DbHeader {
            generation: le32(b, 8).ok_or_else(short)?,
            slot_npages: le32(b, 12).ok_or_else(short)?,
            next_pkgidx: le32(b, 16).ok_or_else(short)?,
        })
    }
}
