//! File extents (`struct btrfs_file_extent_item`, EXTENT_DATA items): inline data, regular
//! extents (possibly compressed, `disk_bytenr == 0` for an explicit hole) and prealloc.

use super::le::{corrupt, u8_at, u16_at, u64_at, unsupported};
use crate::fs::FsError;

/// `BTRFS_EXTENT_DATA_KEY`.
pub const EXTENT_DATA_KEY: u8 = 108;
const INLINE_HEADER: usize = 21;
const REG_SIZE: usize = 53;

/// Compression of an extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zlib,
    Lzo,
    Zstd,
}

/// What an extent item holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtentKind {
    /// Data stored in the item itself (always at file offset 0).
    Inline { data: Vec<u8> },
    /// Data on disk at `disk_bytenr` (0 = hole); the file sees `num_bytes` bytes starting
    /// `offset` bytes into the (decompressed) extent.
    Regular {
        disk_bytenr: u64,
        disk_num_bytes: u64,
        offset: u64,
        num_bytes: u64,
    },
    /// Allocated but never written: reads as zeros.
    Prealloc { num_bytes: u64 },
}

/// One parsed EXTENT_DATA item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExtent {
    pub ram_bytes: u64,
    pub compression: Compression,
    pub kind: ExtentKind,
}

impl FileExtent {
    pub fn parse(data: &[u8], ino: u64, file_off: u64) -> Result<Self, FsError> {
        let w = format!("file extent of inode {ino} at {file_off}");
        let ram_bytes = u64_at(data, 8, &w)?;
        let compression = match u8_at(data, 16, &w)? {
            0 => Compression::None,
            1 => Compression::Zlib,
            2 => Compression::Lzo,
            3 => Compression::Zstd,
            c => return Err(unsupported(format!("{w}: compression type {c}"))),
        };
        if u8_at(data, 17, &w)? != 0 {
            return Err(unsupported(format!("{w}: encrypted extent")));
        }
        if u16_at(data, 18, &w)? != 0 {
            return Err(unsupported(format!("{w}: other_encoding")));
        }
        let kind = match u8_at(data, 20, &w)? {
            0 => ExtentKind::Inline {
                data: data.get(INLINE_HEADER..).unwrap_or(&[]).to_vec(),
            },
            t @ (1 | 2) => {
                if data.len() < REG_SIZE {
                    return Err(corrupt(w, format!("{} bytes, expected 53", data.len())));
                }
                let num_bytes = u64_at(data, 45, &w)?;
                if t == 2 {
                    ExtentKind::Prealloc { num_bytes }
                } else {
                    ExtentKind::Regular {
                        disk_bytenr: u64_at(data, 21, &w)?,
                        disk_num_bytes: u64_at(data, 29, &w)?,
                        offset: u64_at(data, 37, &w)?,
                        num_bytes,
                    }
                }
            }
            t => return Err(corrupt(w, format!("extent type {t}"))),
        };
        Ok(FileExtent {
            ram_bytes,
            compression,
            kind,
        })
    }

    /// How many bytes of the file this extent covers.
    pub fn file_len(&self) -> u64 {
        match &self.kind {
            ExtentKind::Inline { .. } => self.ram_bytes,
            ExtentKind::Regular { num_bytes, .. } | ExtentKind::Prealloc { num_bytes } => {
                *num_bytes
            }
        }
    }
}
