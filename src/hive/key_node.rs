//! Key node (`nk`) records.
//!
//! Layout of the cell data: `nk` @0, flags @2, last-written FILETIME @4, access bits @12, parent
//! @16, subkey count @20, volatile subkey count @24, subkey list @28, volatile subkey list @32,
//! value count @36, value list @40, security (sk) @44, class name @48, largest subkey name @52,
//! largest subkey class @56, largest value name @60, largest value data @64, work var @68, name
//! length @72, class name length @74, name @76.

use super::bytes::{latin1, u16_at, u32_at, u64_at, utf16le_lossy};
use super::cell::Cell;
use super::error::HiveError;

/// KEY_VOLATILE
pub const KEY_VOLATILE: u16 = 0x0001;
/// KEY_HIVE_EXIT: mount point of another hive.
pub const KEY_HIVE_EXIT: u16 = 0x0002;
/// KEY_HIVE_ENTRY: root key of the hive.
pub const KEY_HIVE_ENTRY: u16 = 0x0004;
/// KEY_NO_DELETE
pub const KEY_NO_DELETE: u16 = 0x0008;
/// KEY_SYM_LINK
pub const KEY_SYM_LINK: u16 = 0x0010;
/// KEY_COMP_NAME: the name is stored one byte per character (Latin-1), else UTF-16LE.
pub const KEY_COMP_NAME: u16 = 0x0020;
/// KEY_PREDEF_HANDLE
pub const KEY_PREDEF_HANDLE: u16 = 0x0040;

/// Size of the fixed part of a key node.
pub const NK_FIXED: usize = 76;

/// A parsed key node. All offsets are relative to the hive bins data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyNode {
    /// Offset of the cell holding this record.
    pub cell_offset: u32,
    /// Absolute size of the cell (with its size field).
    pub cell_size: u32,
    /// KEY_* flags (`KEY_COMP_NAME` = the name is ASCII).
    pub flags: u16,
    /// Last written time, FILETIME.
    pub last_written: u64,
    /// Access bits (Windows 8+).
    pub access_bits: u32,
    /// Offset of the parent key node.
    pub parent: u32,
    /// Number of subkeys.
    pub subkey_count: u32,
    /// Number of volatile subkeys (always 0 on disk).
    pub volatile_subkey_count: u32,
    /// Offset of the subkey list (0xFFFFFFFF: none).
    pub subkey_list: u32,
    /// Offset of the volatile subkey list (meaningless on disk).
    pub volatile_subkey_list: u32,
    /// Number of values.
    pub value_count: u32,
    /// Offset of the value list (0xFFFFFFFF: none).
    pub value_list: u32,
    /// Offset of the key security (`sk`) cell.
    pub security: u32,
    /// Offset of the class name (0xFFFFFFFF: none).
    pub class_name_offset: u32,
    /// Length of the longest subkey name, in bytes (UTF-16).
    pub largest_subkey_name: u32,
    /// Length of the longest subkey class name, in bytes.
    pub largest_subkey_class: u32,
    /// Length of the longest value name, in bytes (UTF-16).
    pub largest_value_name: u32,
    /// Size of the largest value data, in bytes.
    pub largest_value_data: u32,
    /// Length of the key name, in bytes as stored.
    pub name_length: u16,
    /// Length of the class name, in bytes.
    pub class_name_length: u16,
    /// Decoded name.
    pub name: String,
}

impl KeyNode {
    /// Parse a key node from its cell.
    pub fn parse(cell: &Cell<'_>) -> Result<KeyNode, HiveError> {
        cell.expect("nk")?;
        cell.need(NK_FIXED, "key node")?;
        let d = cell.data;
        let f = |off| u32_at(d, off).unwrap_or(0);
        let flags = u16_at(d, 2).unwrap_or(0);
        let name_length = u16_at(d, 72).unwrap_or(0);
        let nlen = usize::from(name_length);
        let raw = d
            .get(NK_FIXED..NK_FIXED + nlen)
            .ok_or(HiveError::RecordTooShort {
                offset: cell.offset,
                what: "key node name",
                need: NK_FIXED + nlen,
                have: d.len(),
            })?;
        let name = if flags & KEY_COMP_NAME != 0 {
            latin1(raw)
        } else {
            utf16le_lossy(raw)
        };
        Ok(KeyNode {
            cell_offset: cell.offset,
            cell_size: cell.size,
            flags,
            last_written: u64_at(d, 4).unwrap_or(0),
            access_bits: f(12),
            parent: f(16),
            subkey_count: f(20),
            volatile_subkey_count: f(24),
            subkey_list: f(28),
            volatile_subkey_list: f(32),
            value_count: f(36),
            value_list: f(40),
            security: f(44),
            class_name_offset: f(48),
            largest_subkey_name: f(52),
            largest_subkey_class: f(56),
            largest_value_name: f(60),
            largest_value_data: f(64),
            name_length,
            class_name_length: u16_at(d, 74).unwrap_or(0),
            name,
        })
    }

    /// Whether this is the hive's root key (KEY_HIVE_ENTRY).
    pub fn is_root(&self) -> bool {
        self.flags & KEY_HIVE_ENTRY != 0
    }

    /// Whether this key is a symbolic link (KEY_SYM_LINK).
    pub fn is_symlink(&self) -> bool {
        self.flags & KEY_SYM_LINK != 0
    }
}
