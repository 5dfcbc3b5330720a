//! Symbolic links: "local" targets inline in the inode, and "remote" targets in data blocks.
//! On v5 every mapped buffer of a remote target starts with `xfs_dsymlink_hdr` (magic "XSLM",
//! offset, byte count, CRC, UUID, owner, block number, LSN).

use super::buf::{Buf, verify_crc};
use super::inode::{ForkFormat, Inode};
use super::{XfsFs, bmbt, corrupt};
use crate::fs::FsError;

const XFS_SYMLINK_MAGIC: u32 = 0x5853_4c4d; // "XSLM"
/// Longest symlink target XFS stores.
pub const XFS_SYMLINK_MAXLEN: u64 = 1024;
const HDR: usize = 56;
const CRC_OFF: usize = 12;

/// The target of symlink `inode`.
pub fn target(fs: &XfsFs, inode: &Inode) -> Result<Vec<u8>, FsError> {
    let what = format!("symlink inode {}", inode.ino);
    if inode.size == 0 || inode.size > XFS_SYMLINK_MAXLEN {
        return Err(corrupt(&what, format!("target length {}", inode.size)));
    }
    let len = inode.size as usize;
    if inode.format == ForkFormat::Local {
        return Ok(inode.inline_data().to_vec());
    }
    let exts = bmbt::data_extents(fs, inode)?;
    let sb = &fs.sb;
    let mut out = Vec::with_capacity(len);
    let mut next_fblock = 0u64;
    for e in &exts {
        if out.len() >= len {
            break;
        }
        if e.startoff != next_fblock || e.unwritten {
            return Err(corrupt(
                &what,
                "hole or unwritten extent in the target blocks",
            ));
        }
        // The target needs at most a couple of blocks; anything longer is corrupt.
        if e.count > 4 {
            return Err(corrupt(&what, format!("extent of {} blocks", e.count)));
        }
        next_fblock += e.count;
        let buf = fs.read_fsblocks(e.startblock, e.count)?;
        let chunk = if sb.is_v5() {
            let b = Buf::new(&buf, &what);
            if b.u32(0)? != XFS_SYMLINK_MAGIC {
                return Err(corrupt(&what, "bad remote block magic number"));
            }
            verify_crc(&buf, CRC_OFF, &what)?;
            let space = buf.len() - HDR;
            let want = (len - out.len()).min(space);
            if b.u32(4)? as usize != out.len() || b.u32(8)? as usize != want {
                return Err(corrupt(&what, "remote block header offset/length mismatch"));
            }
            if b.uuid(16)? != sb.meta_uuid {
                return Err(corrupt(&what, "UUID does not match the superblock"));
            }
            if b.u64(32)? != inode.ino {
                return Err(corrupt(&what, format!("owned by inode {}", b.u64(32)?)));
            }
            if b.u64(40)? != fs.fsblock_to_daddr(e.startblock) {
                return Err(corrupt(
                    &what,
                    "block number field does not match its location",
                ));
            }
            b.slice(HDR, want)?
        } else {
            let want = (len - out.len()).min(buf.len());
            Buf::new(&buf, &what).slice(0, want)?
        };
        out.extend_from_slice(chunk);
    }
    if out.len() != len {
        return Err(corrupt(&what, "target blocks shorter than the link"));
    }
    if out.contains(&0) {
        return Err(corrupt(&what, "target contains NUL"));
    }
    Ok(out)
}
