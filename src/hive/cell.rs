//! Cells: the variable-size storage units inside hive bins. A cell starts with a signed 32-bit
//! size (including the size field): negative = allocated, positive = free. Cell offsets are
//! relative to the start of the hive bins data (file offset = 4096 + cell offset).

use super::Hive;
use super::bytes::{arr2, u32_at};
use super::error::HiveError;

/// "No cell" marker used by offsets in key nodes and values.
pub const NO_CELL: u32 = 0xFFFF_FFFF;

/// A cell located in the hive: its offset, total size (with the size field), allocation state
/// and the data bytes that follow the size field.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'h> {
    pub offset: u32,
    /// Absolute size, including the 4-byte size field.
    pub size: u32,
    pub allocated: bool,
    pub data: &'h [u8],
}

impl<'h> Cell<'h> {
    /// The two-byte record signature (`nk`, `vk`, `lf`, …), zeros if the cell is too short.
    pub fn signature(&self) -> [u8; 2] {
        arr2(self.data, 0)
    }

    /// Require a given record signature.
    pub fn expect(&self, sig: &'static str) -> Result<(), HiveError> {
        if self.data.get(..2) == Some(sig.as_bytes()) {
            Ok(())
        } else {
            Err(HiveError::BadRecordSignature {
                offset: self.offset,
                expected: sig,
                found: self.signature(),
            })
        }
    }

    /// Require at least `need` data bytes for the record `what`.
    pub fn need(&self, need: usize, what: &'static str) -> Result<(), HiveError> {
        if self.data.len() < need {
            Err(HiveError::RecordTooShort {
                offset: self.offset,
                what,
                need,
                have: self.data.len(),
            })
        } else {
            Ok(())
        }
    }
}

impl Hive {
    /// Locate the allocated cell at `offset` (relative to the hive bins data). The cell must lie
    /// inside one hive bin's cell area and be allocated.
    pub fn cell(&self, offset: u32) -> Result<Cell<'_>, HiveError> {
        let c = self.cell_any(offset)?;
        if !c.allocated {
            return Err(HiveError::UnallocatedCell { offset });
        }
        Ok(c)
    }

    /// Locate the cell at `offset`, allocated or free.
    pub fn cell_any(&self, offset: u32) -> Result<Cell<'_>, HiveError> {
        if offset == NO_CELL {
            return Err(HiveError::CellOutOfRange { offset });
        }
        let idx = self.bins.partition_point(|b| b.end() <= u64::from(offset));
        let bin = self
            .bins
            .get(idx)
            .ok_or(HiveError::CellOutOfRange { offset })?;
        if offset < bin.offset.saturating_add(super::bin::BIN_HEADER_SIZE) {
            return Err(HiveError::CellOutOfRange { offset });
        }
        let bins = self.bins_data();
        let raw = u32_at(bins, offset as usize).ok_or(HiveError::CellOutOfRange { offset })?;
        let signed = raw as i32;
        let size = signed.unsigned_abs();
        if size < 8 || u64::from(offset) + u64::from(size) > bin.end() {
            return Err(HiveError::BadCellSize {
                offset,
                size: signed,
            });
        }
        let start = offset as usize + 4;
        let end = offset as usize + size as usize;
        let data = bins
            .get(start..end)
            .ok_or(HiveError::CellOutOfRange { offset })?;
        Ok(Cell {
            offset,
            size,
            allocated: signed < 0,
            data,
        })
    }
}
