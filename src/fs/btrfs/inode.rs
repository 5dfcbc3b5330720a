//! Inode items (`struct btrfs_inode_item`, 160 bytes) and inode refs (`btrfs_inode_ref`).

use super::le::{bytes, corrupt, u16_at, u32_at, u64_at};
use crate::fs::{FileType, FsError};

/// `BTRFS_INODE_ITEM_KEY`.
pub const INODE_ITEM_KEY: u8 = 1;
/// `BTRFS_INODE_REF_KEY`.
pub const INODE_REF_KEY: u8 = 12;
/// Size of the on-disk inode item.
pub const INODE_ITEM_SIZE: usize = 160;

/// The fields of an inode this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeItem {
    pub size: u64,
    pub nbytes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub rdev: u64,
    pub flags: u64,
    pub mtime: i64,
}

impl InodeItem {
    pub fn parse(data: &[u8], ino: u64) -> Result<Self, FsError> {
        let w = format!("inode item {ino}");
        if data.len() < INODE_ITEM_SIZE {
            return Err(corrupt(w, format!("{} bytes, expected 160", data.len())));
        }
        Ok(InodeItem {
            size: u64_at(data, 16, &w)?,
            nbytes: u64_at(data, 24, &w)?,
            nlink: u32_at(data, 40, &w)?,
            uid: u32_at(data, 44, &w)?,
            gid: u32_at(data, 48, &w)?,
            mode: u32_at(data, 52, &w)?,
            rdev: u64_at(data, 56, &w)?,
            flags: u64_at(data, 64, &w)?,
            mtime: u64_at(data, 136, &w)? as i64,
        })
    }

    /// The file type from the `S_IFMT` bits of `mode`.
    pub fn file_type(&self) -> FileType {
        match self.mode & 0o170000 {
            0o100000 => FileType::Regular,
            0o040000 => FileType::Directory,
            0o120000 => FileType::Symlink,
            0o020000 => FileType::CharDevice,
            0o060000 => FileType::BlockDevice,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// One `btrfs_inode_ref`: the name of an inode in its parent directory (key offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeRef {
    pub index: u64,
    pub name: Vec<u8>,
}

/// Parse all refs packed in one INODE_REF item.
pub fn parse_inode_refs(data: &[u8], ino: u64) -> Result<Vec<InodeRef>, FsError> {
    let w = format!("inode ref of {ino}");
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let index = u64_at(data, pos, &w)?;
        let len = u16_at(data, pos + 8, &w)? as usize;
        let name = bytes(data, pos + 10, len, &w)?.to_vec();
        out.push(InodeRef { index, name });
        pos += 10 + len;
    }
    Ok(out)
}
