//! Directory listing across every XFS directory format. Short-form directories live in the
//! inode; block, leaf, node and B+tree-mapped directories keep all their entries in the data
//! blocks of the first 32 GiB "data space" of the directory's fork, so listing (and name lookup
//! by scan) reads exactly those blocks; leaf (hash index) and free-space blocks above it are not
//! needed to enumerate names.

use super::bmbt::{self, Extent};
use super::dir2_data::{self, Owner};
use super::inode::{ForkFormat, Inode};
use super::{XfsFs, corrupt, dir2_sf};
use crate::fs::{FileType, FsError};

/// Byte offset where the leaf space (hash index) of a directory fork starts.
const XFS_DIR2_LEAF_OFFSET: u64 = 1 << 35;
/// Cap on the entries of one directory held in memory.
pub const MAX_ENTRIES: usize = 1 << 21;
/// Cap on the directory data bytes read to list one directory.
const MAX_DIR_DATA_BYTES: u64 = 256 << 20;

/// One directory entry as stored: name, inode number, and the ftype byte (0 when the
/// filesystem does not record file types in directories).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub ftype: u8,
}

/// Map a directory ftype byte (`XFS_DIR3_FT_*`) to a file type; `None` for "unknown".
pub fn ftype_to_file_type(ft: u8) -> Option<FileType> {
    Some(match ft {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => return None,
    })
}

/// All entries of directory `inode` except "." and "..".
pub fn entries(fs: &XfsFs, inode: &Inode) -> Result<Vec<RawEntry>, FsError> {
    let sb = &fs.sb;
    let mut out = match inode.format {
        ForkFormat::Local => dir2_sf::parse(inode.inline_data(), inode.ino, sb.ftype)?,
        ForkFormat::Extents | ForkFormat::Btree => {
            let exts = bmbt::data_extents(fs, inode)?;
            block_entries(fs, inode, &exts)?
        }
        ForkFormat::Dev => {
            return Err(corrupt(
                format!("directory inode {}", inode.ino),
                "device fork",
            ));
        }
    };
    out.retain(|e| e.name != b"." && e.name != b"..");
    for e in &out {
        if e.ino == inode.ino {
            return Err(corrupt(
                format!("directory inode {}", inode.ino),
                format!(
                    "entry {:?} points to the directory itself",
                    String::from_utf8_lossy(&e.name)
                ),
            ));
        }
        if e.name.contains(&b'/') || e.name.contains(&0) {
            return Err(corrupt(
                format!("directory inode {}", inode.ino),
                format!(
                    "entry name {:?} contains '/' or NUL",
                    String::from_utf8_lossy(&e.name)
                ),
            ));
        }
    }
    Ok(out)
}

fn block_entries(fs: &XfsFs, inode: &Inode, exts: &[Extent]) -> Result<Vec<RawEntry>, FsError> {
    let sb = &fs.sb;
    let fsb_per_dblk = 1u64 << sb.dirblklog;
    let leaf_fsb = XFS_DIR2_LEAF_OFFSET >> sb.blocklog;
    let own_base = |daddr| Owner {
        ino: inode.ino,
        daddr,
        uuid: &sb.meta_uuid,
        v5: sb.is_v5(),
        ftype: sb.ftype,
    };
    let mut out = Vec::new();
    let mut last: Option<u64> = None;
    let mut total = 0u64;
    for e in exts {
        if e.startoff >= leaf_fsb {
            break;
        }
        let end = (e.startoff + e.count).min(leaf_fsb);
        let mut d = e.startoff & !(fsb_per_dblk - 1);
        while d < end {
            if last != Some(d) {
                last = Some(d);
                total += u64::from(sb.dir_block_size());
                if total > MAX_DIR_DATA_BYTES {
                    return Err(corrupt(
                        format!("directory inode {}", inode.ino),
                        "directory data larger than the reader's limit",
                    ));
                }
                let (raw, daddr) = read_dir_block(fs, inode.ino, exts, d)?;
                dir2_data::parse(&raw, &own_base(daddr), d, &mut out, MAX_ENTRIES)?;
            }
            d += fsb_per_dblk;
        }
    }
    Ok(out)
}

/// Read directory block starting at file block `d` (possibly several filesystem blocks, each
/// mapped separately); returns the bytes and the 512-byte address of its first block.
fn read_dir_block(
    fs: &XfsFs,
    ino: u64,
    exts: &[Extent],
    d: u64,
) -> Result<(Vec<u8>, u64), FsError> {
    let sb = &fs.sb;
    let n = 1u64 << sb.dirblklog;
    let bs = sb.block_size as usize;
    let mut raw = vec![0u8; sb.dir_block_size() as usize];
    let mut daddr = 0;
    for (i, chunk) in (0..n).zip(raw.chunks_mut(bs)) {
        let fb = d + i;
        let e = bmbt::lookup(exts, fb).map_err(|_| {
            corrupt(
                format!("directory inode {ino}"),
                format!("hole inside directory block {d}"),
            )
        })?;
        if e.unwritten {
            return Err(corrupt(
                format!("directory inode {ino}"),
                format!("unwritten extent in directory block {d}"),
            ));
        }
        let fsb = e.startblock + (fb - e.startoff);
        if i == 0 {
            daddr = fs.fsblock_to_daddr(fsb);
        }
        fs.read_fsblocks_into(fsb, chunk)?;
    }
    Ok((raw, daddr))
}
