//! Big data (`db`) records: value data larger than 16344 bytes in hives of version 1.4 and
//! later, split into segments of at most 16344 bytes each.
//!
//! Layout: `db` @0, segment count (u16) @2, offset of the segment list @4. The segment list is a
//! cell of u32 offsets; each segment is a cell whose data holds the bytes.

use super::Hive;
use super::bytes::{u16_at, u32_at};
use super::cell::Cell;
use super::error::HiveError;

/// Largest data segment.
pub const SEGMENT_MAX: usize = 16344;

/// A parsed big data record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigData {
    /// Offset of the `db` cell, relative to the hive bins data.
    pub cell_offset: u32,
    /// Offset of the cell listing the data segments.
    pub segment_list: u32,
    /// Offsets of the data segment cells.
    pub segments: Vec<u32>,
}

impl BigData {
    /// Parse the `db` record and its segment list.
    pub fn parse(hive: &Hive, cell: &Cell<'_>) -> Result<BigData, HiveError> {
        cell.expect("db")?;
        cell.need(8, "big data")?;
        let count = usize::from(u16_at(cell.data, 2).unwrap_or(0));
        let segment_list = u32_at(cell.data, 4).unwrap_or(0);
        let list = hive.cell(segment_list)?;
        list.need(count * 4, "big data segment list")?;
        let segments = (0..count)
            .map(|i| u32_at(list.data, i * 4).unwrap_or(0))
            .collect();
        Ok(BigData {
            cell_offset: cell.offset,
            segment_list,
            segments,
        })
    }
}

/// Read `size` bytes of value data from the big data record in `cell`.
pub fn read(hive: &Hive, cell: &Cell<'_>, size: u32) -> Result<Vec<u8>, HiveError> {
    let db = BigData::parse(hive, cell)?;
    let size = size as usize;
    if size > hive.bins_data().len() {
        return Err(HiveError::BadBigData {
            offset: cell.offset,
            reason: "data size larger than the hive",
        });
    }
    if db.segments.len().saturating_mul(SEGMENT_MAX) < size {
        return Err(HiveError::BadBigData {
            offset: cell.offset,
            reason: "segments cannot hold the claimed data size",
        });
    }
    let mut out = Vec::with_capacity(size);
    for seg in db.segments {
        let remaining = size - out.len();
        if remaining == 0 {
            break;
        }
        let c = hive.cell(seg)?;
        let take = remaining.min(SEGMENT_MAX);
        let part = c.data.get(..take).ok_or(HiveError::BadBigData {
            offset: cell.offset,
            reason: "data segment shorter than needed",
        })?;
        out.extend_from_slice(part);
    }
    if out.len() != size {
        return Err(HiveError::BadBigData {
            offset: cell.offset,
            reason: "segments end before the claimed data size",
        });
    }
    Ok(out)
}
