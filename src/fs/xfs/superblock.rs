//! The XFS superblock (`xfs_dsb`), the first sector of allocation group 0. Versions 4 and 5
//! (CRC-enabled) are read; v5 feature bits that change the on-disk layout in ways this reader
//! does not know are refused as `Unsupported` (BOOT-2: XFS is an accepted Linux filesystem).

use super::buf::{Buf, verify_crc};
use super::{FS, corrupt};
use crate::fs::FsError;

pub const XFS_SB_MAGIC: u32 = 0x5846_5342; // "XFSB"

/// Smallest AG the kernel accepts (`XFS_MIN_AG_BLOCKS`).
const XFS_MIN_AG_BLOCKS: u32 = 64;
const VERSION_DIRV2BIT: u16 = 0x2000;
const VERSION_MOREBITSBIT: u16 = 0x8000;
const VERSION_BORGBIT: u16 = 0x4000;
const VERSION2_FTYPE: u32 = 0x0000_0200;

pub const INCOMPAT_FTYPE: u32 = 1 << 0;
pub const INCOMPAT_SPINODES: u32 = 1 << 1;
pub const INCOMPAT_META_UUID: u32 = 1 << 2;
pub const INCOMPAT_BIGTIME: u32 = 1 << 3;
pub const INCOMPAT_NEEDSREPAIR: u32 = 1 << 4;
pub const INCOMPAT_NREXT64: u32 = 1 << 5;
pub const INCOMPAT_EXCHRANGE: u32 = 1 << 6;
pub const INCOMPAT_PARENT: u32 = 1 << 7;
/// Incompatible features whose on-disk changes do not affect reading files and directories.
const INCOMPAT_KNOWN: u32 = INCOMPAT_FTYPE
    | INCOMPAT_SPINODES
    | INCOMPAT_META_UUID
    | INCOMPAT_BIGTIME
    | INCOMPAT_NEEDSREPAIR
    | INCOMPAT_NREXT64
    | INCOMPAT_EXCHRANGE
    | INCOMPAT_PARENT;

/// The superblock fields the reader uses, validated.
#[derive(Debug, Clone)]
pub struct Superblock {
    pub version: u16,
    pub block_size: u32,
    pub dblocks: u64,
    pub uuid: [u8; 16],
    /// The UUID stamped into v5 metadata (differs from `uuid` with META_UUID).
    pub meta_uuid: [u8; 16],
    pub logstart: u64,
    pub rootino: u64,
    pub agblocks: u32,
    pub agcount: u32,
    pub logblocks: u32,
    pub sectsize: u32,
    pub inodesize: u32,
    pub label: Vec<u8>,
    pub blocklog: u8,
    pub inopblog: u8,
    pub agblklog: u8,
    pub fdblocks: u64,
    pub dirblklog: u8,
    pub incompat: u32,
    pub ftype: bool,
    /// ASCII case-insensitive directory names (`mkfs -n version=ci`): lookups scan.
    pub ascii_ci: bool,
}

impl Superblock {
    pub fn is_v5(&self) -> bool {
        self.version == 5
    }

    /// Directory block size in bytes.
    pub fn dir_block_size(&self) -> u32 {
        self.block_size << self.dirblklog
    }

    pub fn has_incompat(&self, bit: u32) -> bool {
        self.is_v5() && self.incompat & bit != 0
    }

    /// Parse and validate the superblock sector(s) `b` (at least `sectsize` bytes, which the
    /// caller learns from a first 512-byte read).
    pub fn parse(b: &[u8]) -> Result<Self, FsError> {
        let w = "superblock";
        let s = Buf::new(b, w);
        if s.u32(0)? != XFS_SB_MAGIC {
            return Err(FsError::Unrecognised("no XFS superblock magic".into()));
        }
        let versionnum = s.u16(100)?;
        let version = versionnum & 0xf;
        if version != 4 && version != 5 {
            return Err(FsError::Unsupported {
                fs: FS,
                what: format!("superblock version {version}"),
            });
        }
        let block_size = s.u32(4)?;
        let blocklog = s.u8(120)?;
        let sectsize = u32::from(s.u16(102)?);
        let sectlog = s.u8(121)?;
        let inodesize = u32::from(s.u16(104)?);
        let inopblock = u32::from(s.u16(106)?);
        let inodelog = s.u8(122)?;
        let inopblog = s.u8(123)?;
        let agblklog = s.u8(124)?;
        let agblocks = s.u32(84)?;
        let agcount = s.u32(88)?;
        let dblocks = s.u64(8)?;
        let dirblklog = s.u8(192)?;

        // Geometry sanity, as xfs_validate_sb_common does: every later computation relies on it.
        if !(9..=16).contains(&blocklog) || block_size != 1u32 << blocklog {
            return Err(corrupt(
                w,
                format!("bad block size {block_size} (log {blocklog})"),
            ));
        }
        if !(9..=15).contains(&sectlog) || sectsize != 1u32 << sectlog || sectsize > block_size {
            return Err(corrupt(w, format!("bad sector size {sectsize}")));
        }
        if !(8..=11).contains(&inodelog)
            || inodesize != 1u32 << inodelog
            || inodesize > block_size
            || u32::from(inopblog) != u32::from(blocklog) - u32::from(inodelog)
            || inopblock != 1u32 << inopblog
        {
            return Err(corrupt(w, format!("bad inode size {inodesize}")));
        }
        if agblocks < XFS_MIN_AG_BLOCKS
            || agblklog > 31
            || agblocks > (1u64 << agblklog) as u32
            || { agblklog > 0 && u64::from(agblocks) <= (1u64 << (agblklog - 1)) }
        {
            return Err(corrupt(
                w,
                format!("bad AG size {agblocks} (log {agblklog})"),
            ));
        }
        if agcount == 0 || dblocks == 0 {
            return Err(corrupt(w, "zero AG count or block count"));
        }
        let full = u64::from(agcount - 1) * u64::from(agblocks);
        if dblocks <= full || dblocks > full + u64::from(agblocks) {
            return Err(corrupt(
                w,
                format!("{dblocks} blocks do not fit {agcount} AGs of {agblocks} blocks"),
            ));
        }
        if u32::from(blocklog) + u32::from(dirblklog) > 16 {
            return Err(corrupt(w, format!("bad directory block log {dirblklog}")));
        }
        // Inode numbers carry agno above agblklog + inopblog bits; they must fit in 64 bits.
        if u32::from(agblklog) + u32::from(inopblog) > 56 {
            return Err(corrupt(w, "inode number layout does not fit 64 bits"));
        }
        if versionnum & VERSION_DIRV2BIT == 0 {
            return Err(FsError::Unsupported {
                fs: FS,
                what: "version 1 directories".into(),
            });
        }
        let features2 = if versionnum & VERSION_MOREBITSBIT != 0 {
            s.u32(200)?
        } else {
            0
        };
        let incompat = if version == 5 { s.u32(216)? } else { 0 };
        if version == 5 {
            verify_crc(s.slice(0, sectsize as usize)?, 224, w)?;
            let unknown = incompat & !INCOMPAT_KNOWN;
            if unknown != 0 {
                return Err(FsError::Unsupported {
                    fs: FS,
                    what: format!("incompatible feature bits {unknown:#x}"),
                });
            }
        }
        let ftype = if version == 5 {
            incompat & INCOMPAT_FTYPE != 0
        } else {
            features2 & VERSION2_FTYPE != 0
        };
        let uuid = s.uuid(32)?;
        let meta_uuid = if version == 5 && incompat & INCOMPAT_META_UUID != 0 {
            s.uuid(248)?
        } else {
            uuid
        };
        let fname = s.slice(108, 12)?;
        let label_len = fname.iter().position(|&c| c == 0).unwrap_or(fname.len());
        Ok(Superblock {
            version,
            block_size,
            dblocks,
            uuid,
            meta_uuid,
            logstart: s.u64(48)?,
            rootino: s.u64(56)?,
            agblocks,
            agcount,
            logblocks: s.u32(96)?,
            sectsize,
            inodesize,
            label: fname.get(..label_len).unwrap_or_default().to_vec(),
            blocklog,
            inopblog,
            agblklog,
            fdblocks: s.u64(144)?,
            dirblklog,
            incompat,
            ftype,
            ascii_ci: versionnum & VERSION_BORGBIT != 0,
        })
    }
}

/// Format a UUID the way blkid prints it (lower-case 8-4-4-4-12).
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
