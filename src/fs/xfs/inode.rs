//! On-disk inodes (`xfs_dinode`): inode number split into AG / block / slot, the inode core
//! (versions 1–3; v3 carries a CRC, its own number and the filesystem UUID), big-time
//! timestamps and nrext64 extent counters, and the data fork's literal area.

use super::buf::{Buf, verify_crc};
use super::corrupt;
use super::superblock::{INCOMPAT_BIGTIME, INCOMPAT_NREXT64, Superblock};
use crate::fs::{FileType, FsError};

const XFS_DINODE_MAGIC: u16 = 0x494e; // "IN"
const V2_CORE_SIZE: usize = 100;
const V3_CORE_SIZE: usize = 176;
const V3_CRC_OFF: usize = 100;
/// `XFS_DIFLAG_REALTIME`: the data lives on the realtime device, which this reader lacks.
const DIFLAG_REALTIME: u16 = 0x1;
const DIFLAG2_BIGTIME: u64 = 1 << 3;
const DIFLAG2_NREXT64: u64 = 1 << 4;
/// Seconds between the big-time epoch (1901-12-13T20:45:52Z) and the Unix epoch.
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;

/// Data fork formats (`xfs_dinode_fmt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkFormat {
    Dev,
    Local,
    Extents,
    Btree,
}

/// A parsed, validated inode.
#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u64,
    pub mode: u16,
    pub file_type: FileType,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: i64,
    pub size: u64,
    pub format: ForkFormat,
    /// Number of data fork extents (bmbt leaf records).
    pub nextents: u64,
    /// The data fork literal area (inline data, extent list or bmbt root).
    pub fork: Vec<u8>,
}

/// Where an inode number lives: (AG number, block inside the AG, slot inside the block).
pub fn split_ino(sb: &Superblock, ino: u64) -> Result<(u32, u32, u32), FsError> {
    let bad = |why: &str| corrupt("inode number", format!("{ino}: {why}"));
    let slot_bits = u32::from(sb.inopblog);
    let agbno_bits = u32::from(sb.agblklog);
    let agino_bits = slot_bits + agbno_bits;
    let agno = ino
        .checked_shr(agino_bits)
        .ok_or_else(|| bad("bad geometry"))?;
    if agno >= u64::from(sb.agcount) {
        return Err(bad("AG number out of range"));
    }
    let agbno = (ino >> slot_bits) & ((1u64 << agbno_bits) - 1);
    let slot = ino & ((1u64 << slot_bits) - 1);
    if agbno >= super::ag::ag_length(sb, agno as u32) {
        return Err(bad("block out of range"));
    }
    Ok((agno as u32, agbno as u32, slot as u32))
}

fn file_type_of(mode: u16) -> FileType {
    match mode & 0o170000 {
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

impl Inode {
    /// Parse the `inodesize` bytes of inode `ino`.
    pub fn parse(sb: &Superblock, ino: u64, raw: &[u8]) -> Result<Self, FsError> {
        let what = format!("inode {ino}");
        let b = Buf::new(raw, &what);
        if b.u16(0)? != XFS_DINODE_MAGIC {
            return Err(corrupt(&what, "bad magic number"));
        }
        let version = b.u8(4)?;
        let core = match version {
            1 | 2 if !sb.is_v5() => V2_CORE_SIZE,
            3 if sb.is_v5() => V3_CORE_SIZE,
            v => {
                return Err(corrupt(
                    &what,
                    format!("version {v} on a v{} fs", sb.version),
                ));
            }
        };
        let mut flags2 = 0;
        if version == 3 {
            verify_crc(raw, V3_CRC_OFF, &what)?;
            if b.u64(152)? != ino {
                return Err(corrupt(
                    &what,
                    format!("records inode number {}", b.u64(152)?),
                ));
            }
            if b.uuid(160)? != sb.meta_uuid {
                return Err(corrupt(&what, "UUID does not match the superblock"));
            }
            flags2 = b.u64(120)?;
        }
        let mode = b.u16(2)?;
        let file_type = file_type_of(mode);
        if file_type == FileType::Unknown {
            return Err(corrupt(&what, format!("mode {mode:#o} has no file type")));
        }
        let format = match b.u8(5)? {
            0 => ForkFormat::Dev,
            1 => ForkFormat::Local,
            2 => ForkFormat::Extents,
            3 => ForkFormat::Btree,
            f => return Err(corrupt(&what, format!("data fork format {f}"))),
        };
        let nlink = if version == 1 {
            u32::from(b.u16(6)?)
        } else {
            b.u32(16)?
        };
        let bigtime = flags2 & DIFLAG2_BIGTIME != 0;
        if bigtime && !sb.has_incompat(INCOMPAT_BIGTIME) {
            return Err(corrupt(&what, "big-time timestamp on a fs without bigtime"));
        }
        let mtime = if bigtime {
            (b.u64(40)? / 1_000_000_000) as i64 - BIGTIME_EPOCH_OFFSET
        } else {
            i64::from(b.u32(40)? as i32)
        };
        let size = b.u64(56)?;
        if size > i64::MAX as u64 {
            return Err(corrupt(&what, format!("size {size}")));
        }
        let nrext64 = flags2 & DIFLAG2_NREXT64 != 0;
        if nrext64 && !sb.has_incompat(INCOMPAT_NREXT64) {
            return Err(corrupt(&what, "nrext64 counters on a fs without nrext64"));
        }
        let nextents = if nrext64 {
            b.u64(24)?
        } else {
            u64::from(b.u32(76)?)
        };
        if file_type == FileType::Regular && b.u16(90)? & DIFLAG_REALTIME != 0 {
            return Err(FsError::Unsupported {
                fs: super::FS,
                what: format!("inode {ino} keeps its data on the realtime device"),
            });
        }
        let forkoff = usize::from(b.u8(82)?) * 8;
        let isize = sb.inodesize as usize;
        let lit_end = if forkoff == 0 { isize } else { core + forkoff };
        if lit_end > isize || lit_end <= core {
            return Err(corrupt(&what, format!("attribute fork offset {forkoff}")));
        }
        let fork = b.slice(core, lit_end - core)?.to_vec();
        // Formats each file type may use.
        let ok = match file_type {
            FileType::Regular => matches!(format, ForkFormat::Extents | ForkFormat::Btree),
            FileType::Directory | FileType::Symlink => matches!(
                format,
                ForkFormat::Local | ForkFormat::Extents | ForkFormat::Btree
            ),
            _ => format == ForkFormat::Dev,
        };
        if !ok {
            return Err(corrupt(
                &what,
                format!("data fork format {format:?} for a {file_type:?}"),
            ));
        }
        if format == ForkFormat::Extents && nextents.saturating_mul(16) > fork.len() as u64 {
            return Err(corrupt(
                &what,
                format!("{nextents} extents do not fit the inode"),
            ));
        }
        if format == ForkFormat::Local && size > fork.len() as u64 {
            return Err(corrupt(
                &what,
                format!("inline size {size} exceeds the {}-byte fork", fork.len()),
            ));
        }
        Ok(Inode {
            ino,
            mode,
            file_type,
            uid: b.u32(8)?,
            gid: b.u32(12)?,
            nlink,
            mtime,
            size,
            format,
            nextents,
            fork,
        })
    }

    /// The inline bytes of a local-format fork (`size` bytes, checked at parse time).
    pub fn inline_data(&self) -> &[u8] {
        self.fork.get(..self.size as usize).unwrap_or(&self.fork)
    }
}
