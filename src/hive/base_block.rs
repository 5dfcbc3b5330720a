//! The regf base block (file header): the first 4096 bytes of a primary file, and the first
//! sector (512 bytes) of a transaction log file.
//!
//! Layout (little-endian): `regf` signature @0, primary sequence @4, secondary sequence @8,
//! last-written FILETIME @12, major @20, minor @24, file type @28, file format @32, root cell
//! offset @36, hive bins data size @40, clustering factor @44, file name (UTF-16LE, 64 bytes)
//! @48, flags @144 (Windows 10), XOR-32 checksum of bytes 0..508 @508.

use super::bytes::{arr4, u32_at, u64_at, utf16le_lossy};
use super::error::HiveError;

/// Size of the base block in a primary file.
pub const BASE_BLOCK_SIZE: usize = 4096;
/// Bytes covered by the checksum.
pub const CHECKSUM_COVERED: usize = 508;
/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = 508;
/// Size of the base-block copy at the start of a transaction log (one sector).
pub const LOG_BASE_BLOCK_SIZE: usize = 512;

/// File type: primary file.
pub const FILE_TYPE_PRIMARY: u32 = 0;
/// File type: old-format transaction log (`.LOG`).
pub const FILE_TYPE_LOG_OLD: u32 = 1;
/// File type: old-format transaction log variant written by some Vista-era kernels.
pub const FILE_TYPE_LOG_OLD2: u32 = 2;
/// File type: new-format transaction log (`.LOG1`/`.LOG2`, Windows 8.1+).
pub const FILE_TYPE_LOG_NEW: u32 = 6;

/// A parsed base block. Field offsets are fixed; a writer can patch them in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBlock {
    /// Primary sequence number (offset 4): bumped when a write starts.
    pub primary_sequence: u32,
    /// Secondary sequence number (offset 8): set equal when the write ends; unequal = dirty.
    pub secondary_sequence: u32,
    /// Last written timestamp, FILETIME (100 ns since 1601-01-01 UTC).
    pub last_written: u64,
    /// Major format version (offset 20, always 1).
    pub major_version: u32,
    /// Minor format version (offset 24: 3 to 6).
    pub minor_version: u32,
    /// File type (offset 28): 0 primary, 1/2 old logs, 6 new log.
    pub file_type: u32,
    /// File format (offset 32, 1 = direct memory load).
    pub file_format: u32,
    /// Offset of the root key node, relative to the start of the hive bins data.
    pub root_cell_offset: u32,
    /// Size of the hive bins data in bytes.
    pub hive_bins_data_size: u32,
    /// Clustering factor (offset 44, always 1).
    pub clustering_factor: u32,
    /// Debugging file name (partial path), decoded from UTF-16LE up to the first NUL.
    pub file_name: String,
    /// Windows 10 flags field (offset 144).
    pub flags: u32,
    /// Stored checksum.
    pub checksum: u32,
    /// Checksum computed over the first 508 bytes.
    pub computed_checksum: u32,
}

/// XOR-32 of the first 508 bytes, with the two values Windows never stores remapped
/// (0 becomes 1 and 0xFFFFFFFF becomes 0xFFFFFFFE).
pub fn checksum(block: &[u8]) -> u32 {
    let mut c = 0u32;
    for i in 0..CHECKSUM_COVERED / 4 {
        c ^= u32_at(block, i * 4).unwrap_or(0);
    }
    match c {
        0 => 1,
        0xFFFF_FFFF => 0xFFFF_FFFE,
        x => x,
    }
}

/// Name the kind of a non-regf input from its first bytes, so that it is refused by name.
pub fn identify_foreign(data: &[u8]) -> Option<HiveError> {
    if data.is_empty() {
        return Some(HiveError::Empty);
    }
    match data.get(..4) {
        Some(b"CREG") => Some(HiveError::Windows9xCreg),
        Some(b"hbin") => Some(HiveError::HiveBinFragment),
        Some(b"regf") => None,
        _ if data.starts_with(b"MZ") => Some(HiveError::PeExecutable),
        Some(_) => Some(HiveError::BadSignature {
            found: arr4(data, 0),
        }),
        None => Some(HiveError::TooShort {
            len: data.len(),
            need: LOG_BASE_BLOCK_SIZE,
        }),
    }
}

impl BaseBlock {
    /// Parse the first 512 bytes (all fields that matter live there). Checks the signature
    /// only; use [`BaseBlock::validate_primary`] for the full primary-file checks.
    pub fn parse(data: &[u8]) -> Result<BaseBlock, HiveError> {
        if let Some(e) = identify_foreign(data) {
            return Err(e);
        }
        let b = data.get(..LOG_BASE_BLOCK_SIZE).ok_or(HiveError::TooShort {
            len: data.len(),
            need: LOG_BASE_BLOCK_SIZE,
        })?;
        let f = |off| u32_at(b, off).unwrap_or(0);
        let name_bytes = b.get(48..112).unwrap_or(&[]);
        let mut name = utf16le_lossy(name_bytes);
        if let Some(p) = name.find('\0') {
            name.truncate(p);
        }
        Ok(BaseBlock {
            primary_sequence: f(4),
            secondary_sequence: f(8),
            last_written: u64_at(b, 12).unwrap_or(0),
            major_version: f(20),
            minor_version: f(24),
            file_type: f(28),
            file_format: f(32),
            root_cell_offset: f(36),
            hive_bins_data_size: f(40),
            clustering_factor: f(44),
            file_name: name,
            flags: f(144),
            checksum: f(CHECKSUM_OFFSET),
            computed_checksum: checksum(b),
        })
    }

    /// Whether the stored checksum matches.
    pub fn checksum_ok(&self) -> bool {
        self.checksum == self.computed_checksum
    }

    /// Dirty: the sequence numbers differ or the checksum is wrong (as Windows decides).
    pub fn is_dirty(&self) -> bool {
        self.primary_sequence != self.secondary_sequence || !self.checksum_ok()
    }

    /// Version, type, format and size checks for a primary file (checksum not included).
    pub fn validate_primary(&self) -> Result<(), HiveError> {
        self.validate_common()?;
        if self.file_type != FILE_TYPE_PRIMARY {
            return Err(HiveError::NotPrimaryFile {
                file_type: self.file_type,
            });
        }
        Ok(())
    }

    /// Checks shared by primary files and log base blocks.
    pub fn validate_common(&self) -> Result<(), HiveError> {
        if self.major_version != 1 || !(3..=6).contains(&self.minor_version) {
            return Err(HiveError::UnsupportedVersion {
                major: self.major_version,
                minor: self.minor_version,
            });
        }
        if self.file_format != 1 {
            return Err(HiveError::UnsupportedFormat {
                format: self.file_format,
            });
        }
        if self.hive_bins_data_size == 0 || self.hive_bins_data_size % 4096 != 0 {
            return Err(HiveError::BadHiveBinsSize {
                size: self.hive_bins_data_size,
            });
        }
        Ok(())
    }

    /// Write the sequence numbers, hive bins size and checksum back into a 4096-byte block
    /// (used in memory after log replay, never written to disk by this module).
    pub(crate) fn patch(block: &mut [u8], sequence: u32, hive_bins_data_size: u32, file_type: u32) {
        let mut put = |off: usize, v: u32| {
            if let Some(s) = block.get_mut(off..off + 4) {
                s.copy_from_slice(&v.to_le_bytes());
            }
        };
        put(4, sequence);
        put(8, sequence);
        put(28, file_type);
        put(40, hive_bins_data_size);
        let c = checksum(block);
        if let Some(s) = block.get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4) {
            s.copy_from_slice(&c.to_le_bytes());
        }
    }
}
