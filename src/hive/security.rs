//! Key security (`sk`) records: a reference-counted, doubly linked list of self-relative
//! security descriptors shared between keys.
//!
//! Layout: `sk` @0, reserved @2, flink @4, blink @8, reference count @12, descriptor size @16,
//! descriptor @20.

use super::bytes::u32_at;
use super::cell::Cell;
use super::error::HiveError;

/// A parsed key security record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySecurity {
    /// Offset of the `sk` cell, relative to the hive bins data.
    pub cell_offset: u32,
    /// Offset of the next `sk` cell in the hive's circular list.
    pub flink: u32,
    /// Offset of the previous `sk` cell in the list.
    pub blink: u32,
    /// Number of keys using this security descriptor.
    pub reference_count: u32,
    /// The self-relative SECURITY_DESCRIPTOR bytes.
    pub descriptor: Vec<u8>,
}

impl KeySecurity {
    /// Parse a key security record from its cell.
    pub fn parse(cell: &Cell<'_>) -> Result<KeySecurity, HiveError> {
        cell.expect("sk")?;
        cell.need(20, "key security")?;
        let d = cell.data;
        let size = u32_at(d, 16).unwrap_or(0) as usize;
        let descriptor = d
            .get(20..20usize.saturating_add(size))
            .ok_or(HiveError::RecordTooShort {
                offset: cell.offset,
                what: "security descriptor",
                need: 20usize.saturating_add(size),
                have: d.len(),
            })?
            .to_vec();
        Ok(KeySecurity {
            cell_offset: cell.offset,
            flink: u32_at(d, 4).unwrap_or(0),
            blink: u32_at(d, 8).unwrap_or(0),
            reference_count: u32_at(d, 12).unwrap_or(0),
            descriptor,
        })
    }
}
