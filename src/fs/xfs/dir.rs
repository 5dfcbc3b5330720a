//! Directory listing across every XFS directory format. Short-form directories live in the
//! inode; block, leaf, node and B+tree-mapped directories keep all their entries in the data
//! blocks of the first 32 GiB "data space" of the directory's fork, so listing (and name lookup
//! by scan) reads exactly those blocks; leaf (hash index) and free-space blocks above it are not
//! needed to enumerate names.

use super::bmbt::{self, Extent};
use super::buf::Buf;
use super::dir2_data::{self, Owner};
use super::inode::{ForkFormat, Inode};
use super::{XfsFs, corrupt, dir2_sf};
use super::{dir2_block, dir2_leaf};
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

const XFS_DA_NODE_MAGIC: u16 = 0xfebe;
const XFS_DA3_NODE_MAGIC: u16 = 0x3ebe;
/// Deepest directory B+tree (`XFS_DA_NODE_MAXDEPTH`).
const MAX_DA_DEPTH: usize = 5;
/// Cap on leaves followed for one run of colliding hashes.
const MAX_LEAF_CHAIN: usize = 64;

/// Find `name` in directory `inode`: short-form directories are scanned; block, leaf, node
/// and B+tree-mapped directories are searched through their hash index (single-block leaf
/// array, LEAF1 block, or DA node tree down to LEAFN blocks), reading only the blocks on the
/// way and the data blocks the index points to.
pub fn lookup(fs: &XfsFs, inode: &Inode, name: &[u8]) -> Result<Option<u64>, FsError> {
    let sb = &fs.sb;
    let dirwhat = || format!("directory inode {}", inode.ino);
    if inode.format == ForkFormat::Local || sb.ascii_ci {
        return Ok(entries(fs, inode)?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.ino));
    }
    let exts = bmbt::data_extents(fs, inode)?;
    let hash = dir2_leaf::hashname(name);
    let leaf_fsb = XFS_DIR2_LEAF_OFFSET >> sb.blocklog;
    let v5 = sb.is_v5();
    let has_leaf = exts
        .iter()
        .any(|e| e.startoff + e.count > leaf_fsb && e.startoff < 2 * leaf_fsb);
    let mut candidates = Vec::new();
    if !has_leaf {
        // Single-block directory: the leaf array sits before the block tail.
        let (raw, _) = read_dir_block(fs, inode.ino, &exts, 0)?;
        let what = format!("directory block 0 of inode {}", inode.ino);
        let magic = Buf::new(&raw, &what).u32(0)?;
        if magic != dir2_data::XFS_DIR2_BLOCK_MAGIC && magic != dir2_data::XFS_DIR3_BLOCK_MAGIC {
            return Err(corrupt(
                &what,
                "directory without hash index is not a single block",
            ));
        }
        let hdr = if v5 { 64 } else { 16 };
        let end = dir2_block::data_end(&raw, hdr, &what)?;
        let count = (raw.len() - 8 - end) / 8;
        let ents = dir2_leaf::pairs(&raw, end, count, &what)?;
        candidates = dir2_leaf::matches(&ents, hash).0;
    } else {
        let mut d = leaf_fsb;
        let mut depth = 0;
        let mut level: Option<u16> = None;
        let mut chained = 0;
        loop {
            let (raw, daddr) = read_dir_block(fs, inode.ino, &exts, d)?;
            let what = format!("directory index block {d} of inode {}", inode.ino);
            let info = dir2_leaf::blkinfo(&raw, v5, inode.ino, daddr, &sb.meta_uuid, &what)?;
            let ents = dir2_leaf::pairs(&raw, info.hdr, info.count, &what)?;
            let (leaf1, leafn, node) = if v5 {
                (
                    dir2_leaf::XFS_DIR3_LEAF1_MAGIC,
                    dir2_leaf::XFS_DIR3_LEAFN_MAGIC,
                    XFS_DA3_NODE_MAGIC,
                )
            } else {
                (
                    dir2_leaf::XFS_DIR2_LEAF1_MAGIC,
                    dir2_leaf::XFS_DIR2_LEAFN_MAGIC,
                    XFS_DA_NODE_MAGIC,
                )
            };
            if info.magic == leaf1 || info.magic == leafn {
                if info.magic == leaf1 && depth > 0 {
                    return Err(corrupt(&what, "LEAF1 block below a node"));
                }
                let (m, more) = dir2_leaf::matches(&ents, hash);
                candidates.extend(m);
                if more && info.forw != 0 && info.magic == leafn {
                    chained += 1;
                    if chained > MAX_LEAF_CHAIN {
                        return Err(corrupt(&what, "too many leaves with one hash"));
                    }
                    d = u64::from(info.forw);
                    continue;
                }
                break;
            } else if info.magic == node {
                depth += 1;
                let lvl = info.extra;
                if depth > MAX_DA_DEPTH || lvl == 0 || level.is_some_and(|l| lvl + 1 != l) {
                    return Err(corrupt(&what, format!("node level {lvl} at depth {depth}")));
                }
                level = Some(lvl);
                match ents.iter().find(|&&(h, _)| hash <= h) {
                    Some(&(_, before)) => d = u64::from(before),
                    None => return Ok(None),
                }
                if d < leaf_fsb {
                    return Err(corrupt(
                        &what,
                        format!("child block {d} is in the data space"),
                    ));
                }
            } else {
                return Err(corrupt(
                    &what,
                    format!("bad magic number {:#06x}", info.magic),
                ));
            }
        }
    }
    let dbs = u64::from(sb.dir_block_size());
    for addr in candidates {
        let byte = u64::from(addr) * 8;
        let d = (byte / dbs) << sb.dirblklog;
        let off = (byte % dbs) as usize;
        let (raw, daddr) = read_dir_block(fs, inode.ino, &exts, d)?;
        let own = Owner {
            ino: inode.ino,
            daddr,
            uuid: &sb.meta_uuid,
            v5,
            ftype: sb.ftype,
        };
        let e = dir2_data::entry_at(&raw, &own, d, off)?;
        if e.name == name {
            if e.ino == inode.ino {
                return Err(corrupt(
                    dirwhat(),
                    format!(
                        "entry {:?} points to the directory itself",
                        String::from_utf8_lossy(name)
                    ),
                ));
            }
            return Ok(Some(e.ino));
        }
    }
    Ok(None)
}
