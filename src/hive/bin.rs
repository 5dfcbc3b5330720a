//! Hive bins (`hbin`): 4096-byte-multiple containers of cells that follow the base block.
//!
//! Header (32 bytes): `hbin` @0, offset of this bin relative to the hive bins data @4, size @8,
//! reserved @12, FILETIME @20 (first bin only), spare @28.

use super::bytes::{arr4, u32_at, u64_at};
use super::error::HiveError;

/// Size of a hive bin header.
pub const BIN_HEADER_SIZE: u32 = 32;
/// Hive bins are multiples of this size.
pub const BIN_ALIGN: u32 = 4096;

/// One hive bin: where it is (relative to the hive bins data) and how big it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiveBin {
    /// The bin's offset, relative to the hive bins data.
    pub offset: u32,
    /// The bin's size in bytes (a multiple of 4096).
    pub size: u32,
    /// FILETIME from the header (meaningful in the first bin only).
    pub timestamp: u64,
}

impl HiveBin {
    /// End offset (exclusive), relative to the hive bins data.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.size)
    }
}

/// Parse one bin header located at `offset` within `bins` (the hive bins data).
pub fn parse_bin(bins: &[u8], offset: u32) -> Result<HiveBin, HiveError> {
    let off = offset as usize;
    let hdr = off
        .checked_add(BIN_HEADER_SIZE as usize)
        .and_then(|e| bins.get(off..e))
        .ok_or(HiveError::BadBinSize { offset, size: 0 })?;
    if hdr.get(..4) != Some(b"hbin".as_slice()) {
        return Err(HiveError::BadBinSignature {
            offset,
            found: arr4(hdr, 0),
        });
    }
    let stored = u32_at(hdr, 4).unwrap_or(0);
    if stored != offset {
        return Err(HiveError::BadBinOffset { offset, stored });
    }
    let size = u32_at(hdr, 8).unwrap_or(0);
    if size < BIN_ALIGN || size % BIN_ALIGN != 0 {
        return Err(HiveError::BadBinSize { offset, size });
    }
    if u64::from(offset) + u64::from(size) > bins.len() as u64 {
        return Err(HiveError::BadBinSize { offset, size });
    }
    Ok(HiveBin {
        offset,
        size,
        timestamp: u64_at(hdr, 20).unwrap_or(0),
    })
}

/// Walk every hive bin of the hive bins data (exactly `bins.len()` bytes). The count is bounded
/// by `bins.len() / 4096`, since each bin is at least 4096 bytes.
pub fn scan_bins(bins: &[u8]) -> Result<Vec<HiveBin>, HiveError> {
    let mut out = Vec::with_capacity((bins.len() / BIN_ALIGN as usize).min(1 << 16));
    let mut off: u64 = 0;
    while off < bins.len() as u64 {
        let o = u32::try_from(off).map_err(|_| HiveError::CellOutOfRange { offset: u32::MAX })?;
        let bin = parse_bin(bins, o)?;
        off = bin.end();
        out.push(bin);
    }
    Ok(out)
}
