//! Short-form directories (`xfs_dir2_sf_hdr` + entries), stored inline in the inode's data
//! fork: a count, the parent inode number, then `namelen, offset, name, [ftype], inumber`
//! records with 4- or 8-byte inode numbers.

use super::buf::Buf;
use super::corrupt;
use super::dir::RawEntry;
use crate::fs::FsError;

/// Parse the short-form directory `data` (the inode's inline bytes) of inode `ino`.
pub fn parse(data: &[u8], ino: u64, ftype: bool) -> Result<Vec<RawEntry>, FsError> {
    let what = format!("short-form directory of inode {ino}");
    let b = Buf::new(data, &what);
    let count = usize::from(b.u8(0)?);
    let i8count = b.u8(1)?;
    let inosize = if i8count > 0 { 8 } else { 4 };
    let read_ino = |off: usize| -> Result<u64, FsError> {
        if inosize == 8 {
            b.u64(off)
        } else {
            Ok(u64::from(b.u32(off)?))
        }
    };
    let mut pos = 2 + inosize;
    let parent = read_ino(2)?;
    if parent == 0 {
        return Err(corrupt(&what, "parent inode number 0"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let namelen = usize::from(b.u8(pos)?);
        if namelen == 0 {
            return Err(corrupt(&what, "entry with an empty name"));
        }
        let name = b.slice(pos + 3, namelen)?;
        let mut p = pos + 3 + namelen;
        let ft = if ftype {
            p += 1;
            b.u8(p - 1)?
        } else {
            0
        };
        let child = read_ino(p)?;
        out.push(RawEntry {
            name: name.to_vec(),
            ino: child,
            ftype: ft,
        });
        pos = p + inosize;
    }
    if pos > data.len() {
        return Err(corrupt(&what, "entries run past the inline data"));
    }
    Ok(out)
}
