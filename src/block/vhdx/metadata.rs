//! VHDX metadata region: file parameters, virtual disk size, logical sector size.

use super::guid;
use super::region::Region;
use crate::block::util::{le16, le32, le64, read_vec, sub};
use crate::block::{BlockDev, BlockError};

#[derive(Debug, Clone)]
pub struct Metadata {
    pub block_size: u32,
    pub has_parent: bool,
    /// "LeaveBlockAllocated": set on fixed disks.
    pub leave_blocks_allocated: bool,
    pub virtual_size: u64,
    pub logical_sector_size: u32,
}

pub fn read(file: &dyn BlockDev, r: Region) -> Result<Metadata, BlockError> {
    let name = file.describe();
    let b = read_vec(
        file,
        r.offset,
        r.length as u64,
        64 << 20,
        "VHDX metadata region",
    )?;
    if sub(&b, 0, 8) != b"metadata" {
        return Err(BlockError::corrupt(
            &name,
            "VHDX metadata table: bad signature",
        ));
    }
    let count = le16(&b, 10) as usize;
    if count > 2047 {
        return Err(BlockError::corrupt(
            &name,
            format!("VHDX metadata table has {count} entries"),
        ));
    }
    let item = |want: &[u8; 16], len: usize| -> Option<&[u8]> {
        (0..count).find_map(|i| {
            let e = sub(&b, 32 + i * 32, 32);
            if sub(e, 0, 16) != want {
                return None;
            }
            let off = le32(e, 16) as usize;
            let l = le32(e, 20) as usize;
            if l < len {
                return None;
            }
            let d = sub(&b, off, len);
            (d.len() == len).then_some(d)
        })
    };
    let missing = |what: &str| {
        BlockError::corrupt(
            &name,
            format!("VHDX metadata: {what} missing or outside the region"),
        )
    };
    let fp = item(&guid::FILE_PARAMETERS, 8).ok_or_else(|| missing("file parameters"))?;
    let vs = item(&guid::VIRTUAL_DISK_SIZE, 8).ok_or_else(|| missing("virtual disk size"))?;
    let ls = item(&guid::LOGICAL_SECTOR_SIZE, 4).ok_or_else(|| missing("logical sector size"))?;
    let m = Metadata {
        block_size: le32(fp, 0),
        has_parent: le32(fp, 4) & 2 != 0,
        leave_blocks_allocated: le32(fp, 4) & 1 != 0,
        virtual_size: le64(vs, 0),
        logical_sector_size: le32(ls, 0),
    };
    if m.block_size < (1 << 20) || m.block_size > (256 << 20) || !m.block_size.is_power_of_two() {
        return Err(BlockError::corrupt(
            &name,
            format!("VHDX block size {}", m.block_size),
        ));
    }
    if m.logical_sector_size != 512 && m.logical_sector_size != 4096 {
        return Err(BlockError::corrupt(
            &name,
            format!("VHDX logical sector size {}", m.logical_sector_size),
        ));
    }
    if m.virtual_size > 64u64 << 40 {
        return Err(BlockError::TooLarge {
            path: name.into(),
            what: "VHDX virtual size".into(),
            size: m.virtual_size,
            limit: 64u64 << 40,
        });
    }
    Ok(m)
}
