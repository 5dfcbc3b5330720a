//! Linear directory blocks: `ext4_dir_entry_2` records (inode, rec_len, name_len, file_type,
//! name) and, with metadata_csum, the 12-byte `ext4_dir_entry_tail` (file_type 0xDE) whose
//! crc32c covers the block before it.

use super::csum::crc32c_raw;
use super::error::{Ext4WriteError, corrupt};
use super::le::{rd8, rd16, rd32, wr8, wr16, wr32};

pub const TAIL_LEN: usize = 12;

pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;
pub const FT_SYMLINK: u8 = 7;

/// Bytes a record with a name of `name_len` bytes needs.
pub fn rec_size(name_len: usize) -> usize {
    (8 + name_len).div_ceil(4) * 4
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub off: usize,
    pub inode: u32,
    pub rec_len: usize,
    pub name: Vec<u8>,
    pub file_type: u8,
}

/// Whether the block ends with a checksum tail.
pub fn has_tail(buf: &[u8]) -> bool {
    let t = buf.len().saturating_sub(TAIL_LEN);
    buf.len() >= TAIL_LEN
        && rd32(buf, t) == 0
        && rd16(buf, t + 4) == TAIL_LEN as u16
        && rd8(buf, t + 6) == 0
        && rd8(buf, t + 7) == 0xDE
}

/// End of the record area.
pub fn limit(buf: &[u8]) -> usize {
    if has_tail(buf) {
        buf.len() - TAIL_LEN
    } else {
        buf.len()
    }
}

/// Parse the records of one block (the tail excluded). `what` names the directory.
pub fn parse(buf: &[u8], what: &str) -> Result<Vec<Entry>, Ext4WriteError> {
    let end = limit(buf);
    let mut off = 0usize;
    let mut out = Vec::new();
    while off < end {
        if off + 8 > end {
            return Err(corrupt(format!("directory {what}"), "truncated record"));
        }
        let inode = rd32(buf, off);
        let rec_len = usize::from(rd16(buf, off + 4));
        let name_len = usize::from(rd8(buf, off + 6));
        if rec_len < 8 || rec_len % 4 != 0 || off + rec_len > end {
            return Err(corrupt(
                format!("directory {what}"),
                format!("bad rec_len {rec_len} at offset {off}"),
            ));
        }
        if inode != 0 && 8 + name_len > rec_len {
            return Err(corrupt(
                format!("directory {what}"),
                format!("name_len {name_len} exceeds rec_len at offset {off}"),
            ));
        }
        let name = buf
            .get(off + 8..off + 8 + name_len.min(rec_len - 8))
            .unwrap_or(&[])
            .to_vec();
        out.push(Entry {
            off,
            inode,
            rec_len,
            name,
            file_type: rd8(buf, off + 7),
        });
        off += rec_len;
    }
    Ok(out)
}

fn put(buf: &mut [u8], off: usize, inode: u32, rec_len: usize, name: &[u8], ft: u8) {
    wr32(buf, off, inode);
    wr16(buf, off + 4, rec_len as u16);
    wr8(buf, off + 6, name.len() as u8);
    wr8(buf, off + 7, ft);
    if let Some(s) = buf.get_mut(off + 8..off + 8 + name.len()) {
        s.copy_from_slice(name);
    }
    // Clear the rest of the record so stale name bytes never linger.
    let used_end = (off + 8 + name.len()).min(off + rec_len);
    if let Some(s) = buf.get_mut(used_end..off + rec_len) {
        s.fill(0);
    }
}

/// Insert a record if the block has room; returns whether it did.
pub fn insert(
    buf: &mut [u8],
    name: &[u8],
    inode: u32,
    ft: u8,
    what: &str,
) -> Result<bool, Ext4WriteError> {
    let need = rec_size(name.len());
    for e in parse(buf, what)? {
        let used = if e.inode == 0 {
            0
        } else {
            rec_size(e.name.len())
        };
        if e.rec_len >= used + need {
            if used == 0 {
                put(buf, e.off, inode, e.rec_len, name, ft);
            } else {
                wr16(buf, e.off + 4, used as u16);
                put(buf, e.off + used, inode, e.rec_len - used, name, ft);
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// Remove the record named `name`; returns whether it was there.
pub fn remove(buf: &mut [u8], name: &[u8], what: &str) -> Result<bool, Ext4WriteError> {
    let entries = parse(buf, what)?;
    for (i, e) in entries.iter().enumerate() {
        if e.inode != 0 && e.name == name {
            match i.checked_sub(1).and_then(|p| entries.get(p)) {
                Some(prev) => {
                    wr16(buf, prev.off + 4, (prev.rec_len + e.rec_len) as u16);
                    if let Some(s) = buf.get_mut(e.off..e.off + e.rec_len) {
                        s.fill(0);
                    }
                }
                None => {
                    let rl = e.rec_len;
                    put(buf, e.off, 0, rl, &[], 0);
                }
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// Set the inode number of record `name` (used for `..` when a directory moves).
pub fn set_inode(
    buf: &mut [u8],
    name: &[u8],
    inode: u32,
    what: &str,
) -> Result<bool, Ext4WriteError> {
    for e in parse(buf, what)? {
        if e.inode != 0 && e.name == name {
            wr32(buf, e.off, inode);
            return Ok(true);
        }
    }
    Ok(false)
}

/// A fresh block holding no record (one empty record spanning it), with a tail if `csum`.
pub fn empty_block(block_size: usize, csum: bool) -> Vec<u8> {
    let mut b = vec![0u8; block_size];
    let end = if csum {
        block_size - TAIL_LEN
    } else {
        block_size
    };
    put(&mut b, 0, 0, end, &[], 0);
    if csum {
        put_tail(&mut b);
    }
    b
}

/// A block laid out from `entries` (name, inode, file type), packed, the last record spanning
/// to the end. The caller makes sure they fit.
pub fn pack_block(block_size: usize, csum: bool, entries: &[(Vec<u8>, u32, u8)]) -> Vec<u8> {
    let mut b = empty_block(block_size, csum);
    let end = limit(&b);
    let mut off = 0usize;
    for (i, (name, ino, ft)) in entries.iter().enumerate() {
        let rl = if i + 1 == entries.len() {
            end - off
        } else {
            rec_size(name.len())
        };
        put(&mut b, off, *ino, rl, name, *ft);
        off += rl;
    }
    b
}

fn put_tail(b: &mut [u8]) {
    let t = b.len() - TAIL_LEN;
    wr32(b, t, 0);
    wr16(b, t + 4, TAIL_LEN as u16);
    wr8(b, t + 6, 0);
    wr8(b, t + 7, 0xDE);
}

/// Recompute the tail checksum (no-op for a block without tail).
pub fn update_csum(b: &mut [u8], inode_seed: u32) {
    if has_tail(b) {
        let t = b.len() - TAIL_LEN;
        let c = crc32c_raw(inode_seed, b.get(..t).unwrap_or(&[]));
        wr32(b, t + 8, c);
    }
}

/// The first block of a new directory: `.`, `..` (and the tail).
pub fn new_dir_block(
    block_size: usize,
    csum: bool,
    me: u32,
    parent: u32,
    filetype: bool,
) -> Vec<u8> {
    let ft = if filetype { FT_DIR } else { 0 };
    pack_block(
        block_size,
        csum,
        &[(b".".to_vec(), me, ft), (b"..".to_vec(), parent, ft)],
    )
}
