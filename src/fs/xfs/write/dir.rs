//! Directory entries as the writer edits them: short-form directories (inline in the inode)
//! and single-block directories ("XDB3"). A directory is read into a list of entries, changed,
//! and encoded again: short-form while it fits the inode's literal area, else one directory
//! block (entries packed after "." and "..", one free region, the hash-sorted leaf array and
//! the tail; best-free table and CRC recomputed). Leaf and node directories (more than one
//! block) are refused by the caller.

use super::be::{get16, get32, get64, put, put16, put32, put64, set_crc};
use super::error::{XfsWriteError, corrupt};
use crate::fs::xfs::dir2_leaf::hashname;

pub const BLOCK_MAGIC: u32 = 0x5844_4233; // "XDB3"
/// v5 data block header: magic, crc, blkno, lsn, uuid, owner, best-free table, pad.
const DATA_HDR: usize = 64;
pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;

/// One entry (never "." or "..").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub ftype: u8,
}

/// A directory's entries and parent.
#[derive(Debug, Clone)]
pub struct Dir {
    pub parent: u64,
    pub entries: Vec<Entry>,
}

/// Size of a data-block entry with a name of `len` bytes.
fn data_entsize(len: usize, ftype: bool) -> usize {
    (8 + 1 + len + usize::from(ftype) + 2 + 7) & !7
}

/// Parse a short-form directory (the inode's inline bytes).
pub fn parse_sf(data: &[u8], ftype: bool, what: &str) -> Result<Dir, XfsWriteError> {
    let count = usize::from(*data.first().ok_or_else(|| corrupt(what, "empty"))?);
    let i8 = data.get(1).copied().unwrap_or(0) > 0;
    let isz = if i8 { 8 } else { 4 };
    let rd = |off: usize| -> Result<u64, XfsWriteError> {
        if i8 {
            get64(data, off, what)
        } else {
            Ok(u64::from(get32(data, off, what)?))
        }
    };
    let parent = rd(2)?;
    let mut pos = 2 + isz;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(*data.get(pos).ok_or_else(|| corrupt(what, "truncated"))?);
        let name = data
            .get(pos + 3..pos + 3 + len)
            .ok_or_else(|| corrupt(what, "truncated name"))?
            .to_vec();
        let mut p = pos + 3 + len;
        let ft = if ftype {
            p += 1;
            data.get(p - 1).copied().unwrap_or(0)
        } else {
            0
        };
        entries.push(Entry {
            name,
            ino: rd(p)?,
            ftype: ft,
        });
        pos = p + isz;
    }
    Ok(Dir { parent, entries })
}

/// Encode a short-form directory (offsets packed as they would sit in a block).
pub fn encode_sf(d: &Dir, ftype: bool) -> Vec<u8> {
    let big = |i: u64| i > u64::from(u32::MAX);
    let i8count = d.entries.iter().filter(|e| big(e.ino)).count() + usize::from(big(d.parent));
    let mut out = vec![d.entries.len().min(255) as u8, i8count.min(255) as u8];
    let wr = |out: &mut Vec<u8>, ino: u64| {
        if i8count > 0 {
            out.extend_from_slice(&ino.to_be_bytes());
        } else {
            out.extend_from_slice(&(ino as u32).to_be_bytes());
        }
    };
    wr(&mut out, d.parent);
    let mut off = DATA_HDR + 2 * data_entsize(1, ftype);
    // data_entsize(2) == data_entsize(1): "." and ".." take 16 bytes each.
    for e in &d.entries {
        out.push(e.name.len() as u8);
        out.extend_from_slice(&(off as u16).to_be_bytes());
        out.extend_from_slice(&e.name);
        if ftype {
            out.push(e.ftype);
        }
        wr(&mut out, e.ino);
        off += data_entsize(e.name.len(), ftype);
    }
    out
}

/// Parse a single-block directory `raw` of inode `ino`.
pub fn parse_block(raw: &[u8], ino: u64, ftype: bool, what: &str) -> Result<Dir, XfsWriteError> {
    if get32(raw, 0, what)? != BLOCK_MAGIC {
        return Err(corrupt(what, "not a single-block directory"));
    }
    if get64(raw, 40, what)? != ino {
        return Err(corrupt(what, "owned by another inode"));
    }
    let tail = raw
        .len()
        .checked_sub(8)
        .ok_or_else(|| corrupt(what, "too small"))?;
    let count = get32(raw, tail, what)? as usize;
    let end = count
        .checked_mul(8)
        .and_then(|l| tail.checked_sub(l))
        .filter(|&e| e >= DATA_HDR)
        .ok_or_else(|| corrupt(what, "leaf entries do not fit"))?;
    let mut pos = DATA_HDR;
    let mut parent = None;
    let mut entries = Vec::new();
    while pos < end {
        if get16(raw, pos, what)? == 0xffff {
            let len = usize::from(get16(raw, pos + 2, what)?);
            if len < 8 || len % 8 != 0 {
                return Err(corrupt(
                    what,
                    format!("free region of {len} bytes at {pos}"),
                ));
            }
            pos += len;
            continue;
        }
        let e_ino = get64(raw, pos, what)?;
        let len = usize::from(*raw.get(pos + 8).ok_or_else(|| corrupt(what, "truncated"))?);
        let name = raw
            .get(pos + 9..pos + 9 + len)
            .ok_or_else(|| corrupt(what, "truncated name"))?
            .to_vec();
        let ft = if ftype {
            raw.get(pos + 9 + len).copied().unwrap_or(0)
        } else {
            0
        };
        if len == 0 {
            return Err(corrupt(what, format!("empty name at {pos}")));
        }
        pos += data_entsize(len, ftype);
        if name == b"." {
            continue;
        }
        if name == b".." {
            parent = Some(e_ino);
            continue;
        }
        entries.push(Entry {
            name,
            ino: e_ino,
            ftype: ft,
        });
    }
    if pos != end {
        return Err(corrupt(what, "entries run past the leaf array"));
    }
    Ok(Dir {
        parent: parent.ok_or_else(|| corrupt(what, "no \"..\" entry"))?,
        entries,
    })
}

/// Encode `d` as the single-block directory of inode `ino` whose first block is at disk
/// address `daddr`; `None` when the entries do not fit `dbs` bytes.
pub fn encode_block(
    d: &Dir,
    ino: u64,
    daddr: u64,
    lsn: u64,
    uuid: &[u8; 16],
    dbs: usize,
    ftype: bool,
) -> Result<Option<Vec<u8>>, XfsWriteError> {
    let what = format!("directory block of inode {ino}");
    let w = what.as_str();
    let mut all: Vec<(&[u8], u64, u8)> = vec![(b".", ino, FT_DIR), (b"..", d.parent, FT_DIR)];
    all.extend(
        d.entries
            .iter()
            .map(|e| (e.name.as_slice(), e.ino, e.ftype)),
    );
    let data_len: usize = all.iter().map(|e| data_entsize(e.0.len(), ftype)).sum();
    let leaf_start = match dbs.checked_sub(8 + 8 * all.len()) {
        Some(l) if DATA_HDR + data_len <= l => l,
        _ => return Ok(None),
    };
    let mut raw = vec![0u8; dbs];
    put32(&mut raw, 0, BLOCK_MAGIC, w)?;
    put64(&mut raw, 8, daddr, w)?;
    put64(&mut raw, 16, lsn, w)?;
    put(&mut raw, 24, uuid, w)?;
    put64(&mut raw, 40, ino, w)?;
    let mut pos = DATA_HDR;
    let mut leaf = Vec::with_capacity(all.len());
    for (name, e_ino, ft) in &all {
        put64(&mut raw, pos, *e_ino, w)?;
        put(&mut raw, pos + 8, &[name.len() as u8], w)?;
        put(&mut raw, pos + 9, name, w)?;
        if ftype {
            put(&mut raw, pos + 9 + name.len(), &[*ft], w)?;
        }
        let sz = data_entsize(name.len(), ftype);
        put16(&mut raw, pos + sz - 2, pos as u16, w)?;
        leaf.push((hashname(name), (pos / 8) as u32));
        pos += sz;
    }
    let free = leaf_start - pos;
    if free > 0 {
        put16(&mut raw, pos, 0xffff, w)?;
        put16(&mut raw, pos + 2, free as u16, w)?;
        put16(&mut raw, leaf_start - 2, pos as u16, w)?;
        put16(&mut raw, 48, pos as u16, w)?;
        put16(&mut raw, 50, free as u16, w)?;
    }
    leaf.sort_unstable();
    for (i, (h, a)) in leaf.iter().enumerate() {
        put32(&mut raw, leaf_start + i * 8, *h, w)?;
        put32(&mut raw, leaf_start + i * 8 + 4, *a, w)?;
    }
    put32(&mut raw, dbs - 8, all.len() as u32, w)?;
    put32(&mut raw, dbs - 4, 0, w)?;
    set_crc(&mut raw, 4, w)?;
    Ok(Some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Dir {
        Dir {
            parent: 128,
            entries: (0..n)
                .map(|i| Entry {
                    name: format!("name-{i}").into_bytes(),
                    ino: 131 + i as u64,
                    ftype: FT_REG,
                })
                .collect(),
        }
    }

    #[test]
    fn short_form_round_trips() {
        let d = sample(5);
        let raw = encode_sf(&d, true);
        let back = parse_sf(&raw, true, "t")
            .ok()
            .map(|b| (b.parent, b.entries));
        assert_eq!(back, Some((d.parent, d.entries)));
        // 8-byte inode numbers when one does not fit 32 bits.
        let mut big = sample(2);
        big.entries[1].ino = 1 << 40;
        let raw = encode_sf(&big, false);
        assert_eq!(raw[1], 1);
        let back = parse_sf(&raw, false, "t").ok().map(|b| b.entries[1].ino);
        assert_eq!(back, Some(1 << 40));
    }

    #[test]
    fn block_round_trips_and_is_checked_by_the_reader() {
        let d = sample(40);
        let uuid = [7u8; 16];
        let raw = encode_block(&d, 300, 1000, 0, &uuid, 4096, true)
            .ok()
            .flatten()
            .unwrap_or_default();
        let back = parse_block(&raw, 300, true, "t").ok().map(|b| b.entries);
        assert_eq!(back, Some(d.entries.clone()));
        let own = crate::fs::xfs::dir2_data::Owner {
            ino: 300,
            daddr: 1000,
            uuid: &uuid,
            v5: true,
            ftype: true,
        };
        let mut out = Vec::new();
        assert!(crate::fs::xfs::dir2_data::parse(&raw, &own, 0, &mut out, 100).is_ok());
        assert_eq!(out.len(), 42);
        // Too many entries for one block: None, not a corrupt block.
        assert!(matches!(
            encode_block(&sample(400), 300, 1000, 0, &uuid, 4096, true),
            Ok(None)
        ));
    }
}
