//! The 100-byte database header at the start of page 1 (sqlite fileformat §1.3).

use super::SqliteError;

/// Bytes of the database header.
pub const HEADER_LEN: usize = 100;
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The header fields the reader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbHeader {
    /// Page size in bytes: a power of two, 512..=65536.
    pub page_size: u32,
    /// Bytes at the end of each page reserved for extensions.
    pub reserved: u8,
    /// Database size in pages, when the header says it is valid (else 0).
    pub page_count: u32,
    /// Text encoding: 1 UTF-8, 2 UTF-16le, 3 UTF-16be (0 in an empty file).
    pub text_encoding: u32,
}

impl DbHeader {
    /// Read the header from the first bytes of the file, checking magic, page size and
    /// reserved bytes.
    pub fn parse(b: &[u8]) -> Result<Self, SqliteError> {
        let h = b.get(..HEADER_LEN).ok_or(SqliteError::Truncated(
            "database header shorter than 100 bytes",
        ))?;
        if h.get(..16) != Some(&MAGIC[..]) {
            return Err(SqliteError::NotSqlite);
        }
        let be32 = |o: usize| {
            h.get(o..o + 4)
                .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        let raw = u16::from_be_bytes([h[16], h[17]]);
        let page_size = if raw == 1 { 65536 } else { u32::from(raw) };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(SqliteError::BadPageSize(page_size));
        }
        let reserved = h[20];
        // The usable size must be at least 480 bytes (fileformat §1.3.4).
        if page_size - u32::from(reserved) < 480 {
            return Err(SqliteError::BadReserved(reserved));
        }
        // The in-header size is valid only when "version-valid-for" equals the change counter.
        let page_count = if be32(92) == be32(24) { be32(28) } else { 0 };
        Ok(DbHeader {
            page_size,
            reserved,
            page_count,
            text_encoding: be32(56),
        })
    }

    /// Usable bytes per page (page size minus the reserved tail).
    pub fn usable(&self) -> usize {
        (self.page_size - u32::from(self.reserved)) as usize
    }
}
