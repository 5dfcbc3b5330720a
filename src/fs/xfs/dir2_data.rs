//! Directory data blocks (`xfs_dir2_data_hdr` / v5 `xfs_dir3_data_hdr`, magic "XD2D"/"XDD3",
//! and the data part of single-block directories "XD2B"/"XDB3"): a header with the best-free
//! table, then 8-byte-aligned entries `inumber, namelen, name, [ftype], tag` and unused regions
//! `0xffff, length, …, tag`.

use super::buf::{Buf, verify_crc};
use super::corrupt;
use super::dir::RawEntry;
use super::dir2_block;
use crate::fs::FsError;

pub const XFS_DIR2_DATA_MAGIC: u32 = 0x5844_3244; // "XD2D"
pub const XFS_DIR3_DATA_MAGIC: u32 = 0x5844_4433; // "XDD3"
pub const XFS_DIR2_BLOCK_MAGIC: u32 = 0x5844_3242; // "XD2B"
pub const XFS_DIR3_BLOCK_MAGIC: u32 = 0x5844_4233; // "XDB3"
const V4_HDR: usize = 16;
const V5_HDR: usize = 64;
const V5_CRC_OFF: usize = 4;
const FREE_TAG: u16 = 0xffff;

/// What the reader needs to check a v5 block's self-describing header.
pub struct Owner<'a> {
    pub ino: u64,
    pub daddr: u64,
    pub uuid: &'a [u8; 16],
    pub v5: bool,
    pub ftype: bool,
}

/// Check the header of directory data (or single-block directory) block `raw` at directory
/// file block `dablk`; returns where entries start and end.
pub fn check_header(raw: &[u8], own: &Owner<'_>, dablk: u64) -> Result<(usize, usize), FsError> {
    let what = format!("directory block {dablk} of inode {}", own.ino);
    let b = Buf::new(raw, &what);
    let magic = b.u32(0)?;
    let (hdr, is_block) = match (own.v5, magic) {
        (false, XFS_DIR2_DATA_MAGIC) => (V4_HDR, false),
        (false, XFS_DIR2_BLOCK_MAGIC) => (V4_HDR, true),
        (true, XFS_DIR3_DATA_MAGIC) => (V5_HDR, false),
        (true, XFS_DIR3_BLOCK_MAGIC) => (V5_HDR, true),
        _ => return Err(corrupt(&what, format!("bad magic number {magic:#010x}"))),
    };
    if own.v5 {
        verify_crc(raw, V5_CRC_OFF, &what)?;
        if b.u64(8)? != own.daddr {
            return Err(corrupt(
                &what,
                "block number field does not match its location",
            ));
        }
        if &b.uuid(24)? != own.uuid {
            return Err(corrupt(&what, "UUID does not match the superblock"));
        }
        if b.u64(40)? != own.ino {
            return Err(corrupt(&what, format!("owned by inode {}", b.u64(40)?)));
        }
    }
    let end = if is_block {
        if dablk != 0 {
            return Err(corrupt(&what, "single-block directory header past block 0"));
        }
        dir2_block::data_end(raw, hdr, &what)?
    } else {
        raw.len()
    };
    Ok((hdr, end))
}

/// Decode the used entry at `pos` (below `end`); returns it and its 8-byte-aligned size.
pub(crate) fn decode_entry(
    b: &Buf<'_>,
    pos: usize,
    end: usize,
    ftype: bool,
) -> Result<(RawEntry, usize), FsError> {
    let ino = b.u64(pos)?;
    let namelen = usize::from(b.u8(pos + 8)?);
    if namelen == 0 {
        return Err(corrupt(b.what, format!("entry at {pos} has an empty name")));
    }
    let name = b.slice(pos + 9, namelen)?;
    let ft = if ftype { b.u8(pos + 9 + namelen)? } else { 0 };
    let raw_len = 8 + 1 + namelen + usize::from(ftype) + 2;
    let entsize = (raw_len + 7) & !7;
    if pos + entsize > end {
        return Err(corrupt(
            b.what,
            format!("entry at {pos} runs past the data"),
        ));
    }
    let tag = usize::from(b.u16(pos + entsize - 2)?);
    if tag != pos {
        return Err(corrupt(b.what, format!("entry at {pos} carries tag {tag}")));
    }
    Ok((
        RawEntry {
            name: name.to_vec(),
            ino,
            ftype: ft,
        },
        entsize,
    ))
}

/// The entry at byte `off` of data block `raw` (a hash index points there).
pub fn entry_at(raw: &[u8], own: &Owner<'_>, dablk: u64, off: usize) -> Result<RawEntry, FsError> {
    let (hdr, end) = check_header(raw, own, dablk)?;
    let what = format!("directory block {dablk} of inode {}", own.ino);
    let b = Buf::new(raw, &what);
    if off < hdr || off >= end || off % 8 != 0 || b.u16(off)? == FREE_TAG {
        return Err(corrupt(
            &what,
            format!("hash index points to byte {off}, not an entry"),
        ));
    }
    Ok(decode_entry(&b, off, end, own.ftype)?.0)
}

/// Parse one directory data (or single-block directory) block `raw` and append its entries
/// (including "." and "..", which the caller drops) to `out`.
pub fn parse(
    raw: &[u8],
    own: &Owner<'_>,
    dablk: u64,
    out: &mut Vec<RawEntry>,
    max_entries: usize,
) -> Result<(), FsError> {
    let (hdr, end) = check_header(raw, own, dablk)?;
    let what = format!("directory block {dablk} of inode {}", own.ino);
    let b = Buf::new(raw, &what);
    let mut pos = hdr;
    while pos < end {
        if b.u16(pos)? == FREE_TAG {
            let len = usize::from(b.u16(pos + 2)?);
            if len < 8 || len % 8 != 0 || pos + len > end {
                return Err(corrupt(
                    &what,
                    format!("unused region of {len} bytes at {pos}"),
                ));
            }
            pos += len;
            continue;
        }
        let (e, entsize) = decode_entry(&b, pos, end, own.ftype)?;
        if out.len() >= max_entries {
            return Err(corrupt(&what, "too many directory entries"));
        }
        out.push(e);
        pos += entsize;
    }
    Ok(())
}
