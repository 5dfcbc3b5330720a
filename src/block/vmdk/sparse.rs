//! The VMDK sparse extent header ("KDMV", hosted sparse / stream-optimized), its footer copy
//! at the end of stream-optimized files (GD_AT_END), grain directory and grain tables.

use crate::block::BlockError;
use crate::block::util::{le16, le32, le64, sub};

pub const MAGIC: &[u8; 4] = b"KDMV";
pub const GD_AT_END: u64 = u64::MAX;
pub const FLAG_COMPRESSED: u32 = 1 << 16;
pub const FLAG_MARKERS: u32 = 1 << 17;
/// Largest grain accepted (8 MiB).
pub const MAX_GRAIN_SECTORS: u64 = 16384;
/// Largest grain table accepted.
pub const MAX_GTES: u32 = 4096;
/// Largest capacity accepted (64 TiB, beyond FMT-4's 16 TiB).
pub const MAX_CAPACITY_SECTORS: u64 = (64u64 << 40) / 512;

#[derive(Debug, Clone)]
pub struct SparseHeader {
    pub version: u32,
    pub flags: u32,
    pub capacity: u64,
    pub grain_size: u64,
    pub descriptor_offset: u64,
    pub descriptor_size: u64,
    pub num_gtes_per_gt: u32,
    pub gd_offset: u64,
    pub compress_algorithm: u16,
}

impl SparseHeader {
    pub fn parse(b: &[u8], path: &str) -> Result<SparseHeader, BlockError> {
        if sub(b, 0, 4) != MAGIC {
            return Err(BlockError::corrupt(path, "VMDK sparse header: bad magic"));
        }
        Ok(SparseHeader {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_size: le64(b, 20),
            descriptor_offset: le64(b, 28),
            descriptor_size: le64(b, 36),
            num_gtes_per_gt: le32(b, 44),
            gd_offset: le64(b, 56),
            compress_algorithm: le16(b, 77),
        })
    }

    /// Bound every size the header claims.
    pub fn validate(&self, path: &str) -> Result<(), BlockError> {
        let bad = |r: String| BlockError::corrupt(path, format!("VMDK sparse header: {r}"));
        if self.version == 0 || self.version > 3 {
            return Err(BlockError::unsupported(
                path,
                format!("VMDK sparse version {}", self.version),
            ));
        }
        if self.grain_size == 0
            || !self.grain_size.is_power_of_two()
            || self.grain_size > MAX_GRAIN_SECTORS
        {
            return Err(bad(format!("grain size {} sectors", self.grain_size)));
        }
        if self.num_gtes_per_gt == 0 || self.num_gtes_per_gt > MAX_GTES {
            return Err(bad(format!(
                "{} entries per grain table",
                self.num_gtes_per_gt
            )));
        }
        if self.capacity > MAX_CAPACITY_SECTORS {
            return Err(BlockError::TooLarge {
                path: path.into(),
                what: "VMDK capacity".into(),
                size: self.capacity.saturating_mul(512),
                limit: MAX_CAPACITY_SECTORS * 512,
            });
        }
        if self.flags & FLAG_COMPRESSED != 0 && self.compress_algorithm != 1 {
            return Err(BlockError::unsupported(
                path,
                format!("VMDK compression algorithm {}", self.compress_algorithm),
            ));
        }
        Ok(())
    }

    pub fn grain_bytes(&self) -> u64 {
        self.grain_size * 512
    }

    /// Number of grain directory entries.
    pub fn gd_entries(&self) -> u64 {
        self.capacity.div_ceil(
            self.grain_size
                .saturating_mul(self.num_gtes_per_gt as u64)
                .max(1),
        )
    }
}
