//! Key value (`vk`) records and the decoding of value data.
//!
//! Layout: `vk` @0, name length @2, data size @4 (high bit set = data stored inline in the data
//! offset field, at most 4 bytes), data offset @8, data type @12, flags @16 (bit 0 = name is
//! Latin-1, else UTF-16LE), spare @18, name @20.

use super::Hive;
use super::big_data;
use super::bytes::{latin1, u16_at, u32_at, utf16le_lossy};
use super::cell::Cell;
use super::error::HiveError;

/// VALUE_COMP_NAME: name stored one byte per character.
pub const VALUE_COMP_NAME: u16 = 0x0001;
/// High bit of the data size: data stored inline in the data offset field.
pub const DATA_INLINE: u32 = 0x8000_0000;
/// Size of the fixed part of a value key.
pub const VK_FIXED: usize = 20;

/// No type.
pub const REG_NONE: u32 = 0;
/// A UTF-16LE string, NUL-terminated.
pub const REG_SZ: u32 = 1;
/// A UTF-16LE string with `%VAR%` references.
pub const REG_EXPAND_SZ: u32 = 2;
/// Raw bytes.
pub const REG_BINARY: u32 = 3;
/// A little-endian 32-bit number.
pub const REG_DWORD: u32 = 4;
/// A big-endian 32-bit number.
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
/// A symbolic link (a UTF-16LE key path).
pub const REG_LINK: u32 = 6;
/// UTF-16LE strings, each NUL-terminated, ending with an empty one.
pub const REG_MULTI_SZ: u32 = 7;
/// A hardware resource list.
pub const REG_RESOURCE_LIST: u32 = 8;
/// A hardware resource descriptor.
pub const REG_FULL_RESOURCE_DESCRIPTOR: u32 = 9;
/// A hardware resource requirements list.
pub const REG_RESOURCE_REQUIREMENTS_LIST: u32 = 10;
/// A little-endian 64-bit number.
pub const REG_QWORD: u32 = 11;

/// A parsed value key record (without its data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueKey {
    /// Offset of the `vk` cell, relative to the hive bins data.
    pub cell_offset: u32,
    /// Absolute size of the cell (with its size field).
    pub cell_size: u32,
    /// Length of the name, in bytes as stored.
    pub name_length: u16,
    /// Data size field as stored (including the inline bit).
    pub data_size_raw: u32,
    /// The data's cell offset, or the data itself when it is inline (4 bytes at most).
    pub data_offset: u32,
    /// The value's type (`REG_*`).
    pub data_type: u32,
    /// VALUE_* flags (`VALUE_COMP_NAME` = the name is ASCII).
    pub flags: u16,
    /// Decoded name; empty = the key's default value.
    pub name: String,
}

impl ValueKey {
    /// Parse a value key from its cell.
    pub fn parse(cell: &Cell<'_>) -> Result<ValueKey, HiveError> {
        cell.expect("vk")?;
        cell.need(VK_FIXED, "value key")?;
        let d = cell.data;
        let name_length = u16_at(d, 2).unwrap_or(0);
        let flags = u16_at(d, 16).unwrap_or(0);
        let nlen = usize::from(name_length);
        let raw = d
            .get(VK_FIXED..VK_FIXED + nlen)
            .ok_or(HiveError::RecordTooShort {
                offset: cell.offset,
                what: "value name",
                need: VK_FIXED + nlen,
                have: d.len(),
            })?;
        let name = if flags & VALUE_COMP_NAME != 0 {
            latin1(raw)
        } else {
            utf16le_lossy(raw)
        };
        Ok(ValueKey {
            cell_offset: cell.offset,
            cell_size: cell.size,
            name_length,
            data_size_raw: u32_at(d, 4).unwrap_or(0),
            data_offset: u32_at(d, 8).unwrap_or(0),
            data_type: u32_at(d, 12).unwrap_or(0),
            flags,
            name,
        })
    }

    /// Data size in bytes (inline bit masked off).
    pub fn data_size(&self) -> u32 {
        self.data_size_raw & !DATA_INLINE
    }

    /// Whether the data lives in the data offset field itself.
    pub fn is_inline(&self) -> bool {
        self.data_size_raw & DATA_INLINE != 0
    }
}

impl Hive {
    /// Read the raw data bytes of a value: inline, one data cell, or big data segments.
    pub fn value_data(&self, vk: &ValueKey) -> Result<Vec<u8>, HiveError> {
        let size = vk.data_size();
        if vk.is_inline() {
            if size > 4 {
                return Err(HiveError::BadInlineSize {
                    offset: vk.cell_offset,
                    size,
                });
            }
            let bytes = vk.data_offset.to_le_bytes();
            return Ok(bytes.get(..size as usize).unwrap_or(&[]).to_vec());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let cell = self.cell(vk.data_offset)?;
        if self.base_block().minor_version >= 4
            && size as usize > big_data::SEGMENT_MAX
            && cell.data.get(..2) == Some(b"db".as_slice())
        {
            return big_data::read(self, &cell, size);
        }
        match cell.data.get(..size as usize) {
            Some(d) => Ok(d.to_vec()),
            None => Err(HiveError::ValueDataTruncated {
                offset: vk.cell_offset,
                claimed: size,
                available: cell.data.len(),
            }),
        }
    }
}

/// Decoded value data. Strings are decoded from UTF-16LE; odd trailing bytes are dropped, a
/// missing terminator is tolerated, and the string stops at the first NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegData {
    /// `REG_NONE`: raw bytes.
    None(Vec<u8>),
    /// `REG_SZ`.
    Sz(String),
    /// `REG_EXPAND_SZ`, unexpanded.
    ExpandSz(String),
    /// `REG_BINARY`.
    Binary(Vec<u8>),
    /// `REG_DWORD`.
    Dword(u32),
    /// `REG_DWORD_BIG_ENDIAN`.
    DwordBigEndian(u32),
    /// Symbolic link target (UTF-16LE, kept raw as stored).
    Link(Vec<u8>),
    /// `REG_MULTI_SZ`: the strings before the empty one.
    MultiSz(Vec<String>),
    /// `REG_RESOURCE_LIST`, raw.
    ResourceList(Vec<u8>),
    /// `REG_FULL_RESOURCE_DESCRIPTOR`, raw.
    FullResourceDescriptor(Vec<u8>),
    /// `REG_RESOURCE_REQUIREMENTS_LIST`, raw.
    ResourceRequirementsList(Vec<u8>),
    /// `REG_QWORD`.
    Qword(u64),
    /// A DWORD/QWORD whose data has the wrong length: raw bytes.
    Malformed {
        /// The declared type.
        data_type: u32,
        /// The data as stored.
        data: Vec<u8>,
    },
    /// A type this reader does not know: raw bytes.
    Unknown {
        /// The type number.
        data_type: u32,
        /// The data as stored.
        data: Vec<u8>,
    },
}

/// Decode a UTF-16LE registry string up to the first NUL (or the end).
pub fn decode_sz(data: &[u8]) -> String {
    let mut s = utf16le_lossy(data);
    if let Some(p) = s.find('\0') {
        s.truncate(p);
    }
    s
}

/// Decode a REG_MULTI_SZ: NUL-separated strings ended by an empty string; a missing final
/// terminator is tolerated.
pub fn decode_multi_sz(data: &[u8]) -> Vec<String> {
    let s = utf16le_lossy(data);
    let mut out = Vec::new();
    for part in s.split('\0') {
        if part.is_empty() {
            break;
        }
        out.push(part.to_string());
    }
    out
}

impl RegData {
    /// Decode `data` of registry type `data_type`.
    pub fn decode(data_type: u32, data: &[u8]) -> RegData {
        let raw = || data.to_vec();
        match data_type {
            REG_NONE => RegData::None(raw()),
            REG_SZ => RegData::Sz(decode_sz(data)),
            REG_EXPAND_SZ => RegData::ExpandSz(decode_sz(data)),
            REG_BINARY => RegData::Binary(raw()),
            REG_DWORD | REG_DWORD_BIG_ENDIAN | REG_QWORD => {
                let n = if data_type == REG_QWORD { 8 } else { 4 };
                if data.len() != n {
                    return RegData::Malformed {
                        data_type,
                        data: raw(),
                    };
                }
                let mut b8 = [0u8; 8];
                b8[..n].copy_from_slice(data);
                match data_type {
                    REG_DWORD => RegData::Dword(u32::from_le_bytes([b8[0], b8[1], b8[2], b8[3]])),
                    REG_DWORD_BIG_ENDIAN => {
                        RegData::DwordBigEndian(u32::from_be_bytes([b8[0], b8[1], b8[2], b8[3]]))
                    }
                    _ => RegData::Qword(u64::from_le_bytes(b8)),
                }
            }
            REG_LINK => RegData::Link(raw()),
            REG_MULTI_SZ => RegData::MultiSz(decode_multi_sz(data)),
            REG_RESOURCE_LIST => RegData::ResourceList(raw()),
            REG_FULL_RESOURCE_DESCRIPTOR => RegData::FullResourceDescriptor(raw()),
            REG_RESOURCE_REQUIREMENTS_LIST => RegData::ResourceRequirementsList(raw()),
            _ => RegData::Unknown {
                data_type,
                data: raw(),
            },
        }
    }
}

/// A value of a key: its record, raw bytes and decoded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Name; empty for the default value.
    pub name: String,
    /// Registry data type (REG_*), as stored.
    pub data_type: u32,
    /// Raw data bytes, exactly `data_size` long.
    pub raw: Vec<u8>,
    /// Decoded data.
    pub decoded: RegData,
    /// The value key record (cell offset, sizes, flags) for in-place writers.
    pub record: ValueKey,
}

impl Value {
    /// REG_SZ / REG_EXPAND_SZ as a string (REG_LINK decoded too).
    pub fn as_string(&self) -> Option<String> {
        match &self.decoded {
            RegData::Sz(s) | RegData::ExpandSz(s) => Some(s.clone()),
            RegData::Link(b) => Some(decode_sz(b)),
            _ => None,
        }
    }

    /// REG_DWORD (little- or big-endian) as a number.
    pub fn as_dword(&self) -> Option<u32> {
        match self.decoded {
            RegData::Dword(v) | RegData::DwordBigEndian(v) => Some(v),
            _ => None,
        }
    }

    /// REG_QWORD as a number (REG_DWORD widened).
    pub fn as_qword(&self) -> Option<u64> {
        match self.decoded {
            RegData::Qword(v) => Some(v),
            RegData::Dword(v) | RegData::DwordBigEndian(v) => Some(u64::from(v)),
            _ => None,
        }
    }

    /// REG_MULTI_SZ as strings (a REG_SZ gives one string).
    pub fn as_multi_string(&self) -> Option<Vec<String>> {
        match &self.decoded {
            RegData::MultiSz(v) => Some(v.clone()),
            RegData::Sz(s) | RegData::ExpandSz(s) => Some(vec![s.clone()]),
            _ => None,
        }
    }
}
