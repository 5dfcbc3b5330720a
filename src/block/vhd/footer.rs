//! The VHD footer (512 bytes at the end of every VHD, copied at offset 0 of dynamic disks).

use crate::block::BlockError;
use crate::block::util::{be16, be32, be64, sub};

pub const COOKIE: &[u8; 8] = b"conectix";
pub const TYPE_FIXED: u32 = 2;
pub const TYPE_DYNAMIC: u32 = 3;
pub const TYPE_DIFFERENCING: u32 = 4;
/// 65535 cylinders × 16 heads × 255 sectors: the "maximum geometry" marker.
const MAX_GEOMETRY_SECTORS: u64 = 65535 * 16 * 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    pub raw: [u8; 512],
    pub data_offset: u64,
    pub creator_app: [u8; 4],
    pub current_size: u64,
    pub cylinders: u16,
    pub heads: u8,
    pub sectors_per_track: u8,
    pub disk_type: u32,
    pub checksum: u32,
}

/// VHD checksum: ones' complement of the byte sum, the checksum field counted as zero.
pub fn checksum(b: &[u8], field: usize) -> u32 {
    let mut sum: u32 = 0;
    for (i, x) in b.iter().enumerate() {
        if i < field || i >= field + 4 {
            sum = sum.wrapping_add(*x as u32);
        }
    }
    !sum
}

impl Footer {
    pub fn parse(b: &[u8; 512], path: &str) -> Result<Footer, BlockError> {
        if sub(b, 0, 8) != COOKIE {
            return Err(BlockError::corrupt(path, "VHD footer: bad cookie"));
        }
        let f = Footer {
            raw: *b,
            data_offset: be64(b, 16),
            creator_app: {
                let mut a = [0u8; 4];
                a.copy_from_slice(sub(b, 28, 4));
                a
            },
            current_size: be64(b, 48),
            cylinders: be16(b, 56),
            heads: b.get(58).copied().unwrap_or(0),
            sectors_per_track: b.get(59).copied().unwrap_or(0),
            disk_type: be32(b, 60),
            checksum: be32(b, 64),
        };
        if checksum(b, 64) != f.checksum {
            return Err(BlockError::Checksum {
                path: path.into(),
                what: "VHD footer".into(),
            });
        }
        Ok(f)
    }

    /// Virtual size, the way QEMU's vpc driver reads it: CHS geometry for images made by
    /// Virtual PC / old QEMU, the current_size field for Hyper-V, disk2vhd, XenServer and new
    /// QEMU, and for images at the maximum geometry.
    pub fn virtual_size(&self) -> u64 {
        let chs = self.cylinders as u64 * self.heads as u64 * self.sectors_per_track as u64;
        let by_size = matches!(
            &self.creator_app,
            b"win " | b"qem2" | b"d2v " | b"CTXS" | b"tap\0"
        );
        if by_size || chs == MAX_GEOMETRY_SECTORS {
            self.current_size
        } else {
            chs * 512
        }
    }
}
