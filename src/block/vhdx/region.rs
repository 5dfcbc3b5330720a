//! VHDX region table (at 192 KiB, copy at 256 KiB): where the BAT and metadata live.

use super::guid;
use crate::block::util::{le32, le64, read_into, sub};
use crate::block::{BlockDev, BlockError};

#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub offset: u64,
    pub length: u32,
}

#[derive(Debug, Clone)]
pub struct Regions {
    pub bat: Region,
    pub metadata: Region,
}

const MAX_ENTRIES: u32 = 2047;

pub fn read(file: &dyn BlockDev) -> Result<Regions, BlockError> {
    let name = file.describe();
    let mut last_err = None;
    for off in [192u64 << 10, 256 << 10] {
        let mut b = vec![0u8; 64 << 10];
        read_into(file, off, &mut b, "VHDX region table")?;
        if sub(&b, 0, 4) != b"regi" || super::header::crc_with_zero_field(&b, 4) != le32(&b, 4) {
            last_err = Some(BlockError::Checksum {
                path: name.clone().into(),
                what: "VHDX region table".into(),
            });
            continue;
        }
        let count = le32(&b, 8);
        if count > MAX_ENTRIES {
            return Err(BlockError::corrupt(
                &name,
                format!("VHDX region table has {count} entries"),
            ));
        }
        let (mut bat, mut meta) = (None, None);
        for i in 0..count as usize {
            let e = sub(&b, 16 + i * 32, 32);
            let id = sub(e, 0, 16);
            let r = Region {
                offset: le64(e, 16),
                length: le32(e, 24),
            };
            let required = le32(e, 28) & 1 != 0;
            if id == guid::BAT {
                bat = Some(r);
            } else if id == guid::METADATA {
                meta = Some(r);
            } else if required {
                return Err(BlockError::unsupported(
                    &name,
                    "VHDX: unknown required region",
                ));
            }
        }
        return match (bat, meta) {
            (Some(bat), Some(metadata)) => Ok(Regions { bat, metadata }),
            _ => Err(BlockError::corrupt(
                &name,
                "VHDX: region table lacks the BAT or metadata region",
            )),
        };
    }
    Err(last_err.unwrap_or_else(|| BlockError::corrupt(&name, "VHDX: no region table")))
}
