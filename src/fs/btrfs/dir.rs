//! Directory entries (`struct btrfs_dir_item` + name), as stored under DIR_ITEM (keyed by name
//! hash, several entries may share one item) and DIR_INDEX (keyed by sequence number).

use super::le::{bytes, corrupt, u8_at, u16_at};
use super::tree::{KEY_SIZE, Key};
use crate::fs::{FileType, FsError};

/// `BTRFS_DIR_ITEM_KEY`.
pub const DIR_ITEM_KEY: u8 = 84;
/// `BTRFS_DIR_INDEX_KEY`.
pub const DIR_INDEX_KEY: u8 = 96;
const DIR_ITEM_FIXED: usize = 30;
/// Longest name Btrfs allows.
pub const NAME_MAX: usize = 255;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirItem {
    /// Where the entry points: an INODE_ITEM key in the same tree, or a ROOT_ITEM key (a
    /// subvolume crossing).
    pub location: Key,
    pub ftype: u8,
    pub name: Vec<u8>,
}

impl DirItem {
    pub fn file_type(&self) -> FileType {
        match self.ftype {
            1 => FileType::Regular,
            2 => FileType::Directory,
            3 => FileType::CharDevice,
            4 => FileType::BlockDevice,
            5 => FileType::Fifo,
            6 => FileType::Socket,
            7 => FileType::Symlink,
            _ => FileType::Unknown,
        }
    }
}

/// Parse every entry packed in one DIR_ITEM / DIR_INDEX item of directory `dir`.
pub fn parse_dir_items(data: &[u8], dir: u64) -> Result<Vec<DirItem>, FsError> {
    let w = format!("directory entry of inode {dir}");
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let location = Key::parse(data, pos, &w)?;
        let data_len = u16_at(data, pos + KEY_SIZE + 8, &w)? as usize;
        let name_len = u16_at(data, pos + KEY_SIZE + 10, &w)? as usize;
        let ftype = u8_at(data, pos + KEY_SIZE + 12, &w)?;
        if name_len == 0 || name_len > NAME_MAX {
            return Err(corrupt(w, format!("name length {name_len}")));
        }
        let name = bytes(data, pos + DIR_ITEM_FIXED, name_len, &w)?.to_vec();
        if name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
            return Err(corrupt(
                w,
                format!("invalid name {:?}", String::from_utf8_lossy(&name)),
            ));
        }
        // Skip the xattr value (data_len) too; directories have none but stay robust.
        bytes(data, pos + DIR_ITEM_FIXED + name_len, data_len, &w)?;
        out.push(DirItem {
            location,
            ftype,
            name,
        });
        pos += DIR_ITEM_FIXED + name_len + data_len;
    }
    Ok(out)
}

/// `btrfs_name_hash`: crc32c seeded with `~1`, without the final inversion.
pub fn name_hash(name: &[u8]) -> u64 {
    // crc32c_append(c, d) computes !raw(!c, d); we want raw(!1u32, d).
    u64::from(!crc32c::crc32c_append(1, name))
}
