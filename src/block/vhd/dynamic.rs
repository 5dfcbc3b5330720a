//! The VHD dynamic disk header ("cxsparse") and block allocation table.

use crate::block::BlockError;
use crate::block::util::{be32, be64, sub};

pub const COOKIE: &[u8; 8] = b"cxsparse";
/// Largest block accepted (VHD uses 2 MiB; allow up to 256 MiB).
pub const MAX_BLOCK_SIZE: u32 = 256 << 20;

#[derive(Debug, Clone)]
pub struct DynHeader {
    pub table_offset: u64,
    pub max_table_entries: u32,
    pub block_size: u32,
    pub parent_name: String,
}

impl DynHeader {
    pub fn parse(b: &[u8], path: &str) -> Result<DynHeader, BlockError> {
        if sub(b, 0, 8) != COOKIE {
            return Err(BlockError::corrupt(path, "VHD dynamic header: bad cookie"));
        }
        if super::footer::checksum(sub(b, 0, 1024), 36) != be32(b, 36) {
            return Err(BlockError::Checksum {
                path: path.into(),
                what: "VHD dynamic header".into(),
            });
        }
        let block_size = be32(b, 32);
        if block_size < 512 || !block_size.is_power_of_two() || block_size > MAX_BLOCK_SIZE {
            return Err(BlockError::corrupt(
                path,
                format!("VHD block size {block_size}"),
            ));
        }
        let name16: Vec<u16> = sub(b, 64, 512)
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        Ok(DynHeader {
            table_offset: be64(b, 16),
            max_table_entries: be32(b, 28),
            block_size,
            parent_name: String::from_utf16_lossy(&name16),
        })
    }

    /// Bytes of the sector bitmap in front of each block (whole sectors).
    pub fn bitmap_bytes(&self) -> u64 {
        ((self.block_size as u64 / 512).div_ceil(8)).div_ceil(512) * 512
    }
}
