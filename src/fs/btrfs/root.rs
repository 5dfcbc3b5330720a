//! Root items (`struct btrfs_root_item`) and root refs/backrefs (`struct btrfs_root_ref`):
//! where each tree (subvolume, snapshot) lives, and how subvolumes link into each other.

use super::le::{bytes, corrupt, u8_at, u16_at, u64_at, uuid_at};
use crate::fs::FsError;

/// `BTRFS_ROOT_ITEM_KEY`.
pub const ROOT_ITEM_KEY: u8 = 132;
/// `BTRFS_ROOT_BACKREF_KEY`.
pub const ROOT_BACKREF_KEY: u8 = 144;
/// `BTRFS_ROOT_REF_KEY`.
pub const ROOT_REF_KEY: u8 = 156;

/// Well-known tree ids.
#[allow(dead_code)] // unused since the module became crate-private (issue 24); part of the on-disk format
pub const ROOT_TREE_OBJECTID: u64 = 1;
#[allow(dead_code)] // unused since the module became crate-private (issue 24); part of the on-disk format
pub const CHUNK_TREE_OBJECTID: u64 = 3;
pub const FS_TREE_OBJECTID: u64 = 5;
pub const ROOT_TREE_DIR_OBJECTID: u64 = 6;
pub const FIRST_FREE_OBJECTID: u64 = 256;
/// `BTRFS_LAST_FREE_OBJECTID` (-256).
pub const LAST_FREE_OBJECTID: u64 = u64::MAX - 255;

/// `BTRFS_ROOT_SUBVOL_RDONLY`.
pub const ROOT_SUBVOL_RDONLY: u64 = 1;
const ROOT_ITEM_V1: usize = 239;
const ROOT_ITEM_V2_UUIDS_END: usize = 295;

/// The fields of a root item this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootItem {
    pub generation: u64,
    pub root_dirid: u64,
    pub bytenr: u64,
    pub flags: u64,
    pub refs: u32,
    pub level: u8,
    /// Zero unless the item is the extended (v2) form.
    pub uuid: [u8; 16],
    pub parent_uuid: [u8; 16],
    pub received_uuid: [u8; 16],
}

impl RootItem {
    pub fn parse(data: &[u8], id: u64) -> Result<Self, FsError> {
        let w = format!("root item of tree {id}");
        if data.len() < ROOT_ITEM_V1 {
            return Err(corrupt(w, format!("{} bytes, expected ≥ 239", data.len())));
        }
        let generation = u64_at(data, 160, &w)?;
        let level = u8_at(data, 238, &w)?;
        if level > super::tree::MAX_LEVEL {
            return Err(corrupt(w, format!("level {level}")));
        }
        let mut item = RootItem {
            generation,
            root_dirid: u64_at(data, 168, &w)?,
            bytenr: u64_at(data, 176, &w)?,
            flags: u64_at(data, 208, &w)?,
            refs: u32_at_checked(data, 216, &w)?,
            level,
            uuid: [0; 16],
            parent_uuid: [0; 16],
            received_uuid: [0; 16],
        };
        // The v2 fields are valid only when generation_v2 matches generation.
        if data.len() >= ROOT_ITEM_V2_UUIDS_END && u64_at(data, 239, &w)? == generation {
            item.uuid = uuid_at(data, 247, &w)?;
            item.parent_uuid = uuid_at(data, 263, &w)?;
            item.received_uuid = uuid_at(data, 279, &w)?;
        }
        Ok(item)
    }

    pub fn readonly(&self) -> bool {
        self.flags & ROOT_SUBVOL_RDONLY != 0
    }
}

fn u32_at_checked(data: &[u8], off: usize, w: &str) -> Result<u32, FsError> {
    super::le::u32_at(data, off, w)
}

/// A ROOT_REF / ROOT_BACKREF payload: `name` of the subvolume inside directory `dirid` of
/// its parent tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRef {
    pub dirid: u64,
    pub sequence: u64,
    pub name: Vec<u8>,
}

impl RootRef {
    pub fn parse(data: &[u8], id: u64) -> Result<Self, FsError> {
        let w = format!("root backref of tree {id}");
        let dirid = u64_at(data, 0, &w)?;
        let sequence = u64_at(data, 8, &w)?;
        let len = u16_at(data, 16, &w)? as usize;
        let name = bytes(data, 18, len, &w)?.to_vec();
        if name.is_empty() || name.contains(&b'/') {
            return Err(corrupt(w, "invalid subvolume name"));
        }
        Ok(RootRef {
            dirid,
            sequence,
            name,
        })
    }
}
