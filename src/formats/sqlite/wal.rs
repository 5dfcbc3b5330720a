//! The write-ahead log (sqlite fileformat §4): a 32-byte header, then frames of a 24-byte header
//! and one page. Only frames up to the last valid commit frame count; a frame is valid when its
//! salts equal the header's and its cumulative checksum matches. The committed pages are applied
//! in memory over the main file, the way a reader that opens the database would see them.

use std::collections::BTreeMap;

use super::SqliteError;
use super::btree::be32;

const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// The committed pages of a WAL: page number → page bytes, and the database size (in pages)
/// that the last commit recorded.
#[derive(Debug, Default)]
pub struct WalPages {
    /// The newest committed copy of each page, by page number.
    pub pages: BTreeMap<u32, Vec<u8>>,
    /// The database size in pages recorded by the last commit.
    pub db_pages: u32,
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
fn checksum(data: &[u8], big_endian: bool, mut s: (u32, u32)) -> (u32, u32) {
    for w in data.chunks_exact(8) {
        let word = |a: &[u8]| {
            let b = [a[0], a[1], a[2], a[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (x0, x1) = (word(&w[..4]), word(&w[4..]));
        s.0 = s.0.wrapping_add(x0).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(x1).wrapping_add(s.0);
    }
    s
}

/// Parse a WAL for a database of page size `page_size`. An empty WAL has no pages. A WAL whose
/// header is invalid is ignored by SQLite too (it is reset on the next write): that is an
/// error here so that the caller can say why the facts may be stale.
pub fn parse(wal: &[u8], page_size: u32) -> Result<WalPages, SqliteError> {
    if wal.is_empty() {
        return Ok(WalPages::default());
    }
    let h = wal
        .get(..HEADER)
        .ok_or(SqliteError::BadWal("header shorter than 32 bytes"))?;
    let magic = be32(h, 0).unwrap_or(0);
    let big_endian = match magic {
        0x377f_0682 => false,
        0x377f_0683 => true,
        _ => return Err(SqliteError::BadWal("bad magic")),
    };
    if be32(h, 8) != Some(page_size) {
        return Err(SqliteError::BadWal("page size differs from the database's"));
    }
    let salt = (be32(h, 16), be32(h, 20));
    let mut s = checksum(&h[..24], big_endian, (0, 0));
    if (Some(s.0), Some(s.1)) != (be32(h, 24), be32(h, 28)) {
        return Err(SqliteError::BadWal("header checksum mismatch"));
    }
    let psize = page_size as usize;
    let mut pending: Vec<(u32, usize)> = Vec::new();
    let mut out = WalPages::default();
    let mut off = HEADER;
    while let Some(frame) = wal.get(off..off + FRAME_HEADER + psize) {
        let (fh, page) = frame.split_at(FRAME_HEADER);
        if (be32(fh, 8), be32(fh, 12)) != salt {
            break;
        }
        s = checksum(&fh[..8], big_endian, s);
        s = checksum(page, big_endian, s);
        if (Some(s.0), Some(s.1)) != (be32(fh, 16), be32(fh, 20)) {
            break;
        }
        let pgno = be32(fh, 0).unwrap_or(0);
        if pgno == 0 {
            break;
        }
        pending.push((pgno, off + FRAME_HEADER));
        let commit = be32(fh, 4).unwrap_or(0);
        if commit != 0 {
            for (p, o) in pending.drain(..) {
                if let Some(bytes) = wal.get(o..o + psize) {
                    out.pages.insert(p, bytes.to_vec());
                }
            }
            out.db_pages = commit;
        }
        off += FRAME_HEADER + psize;
    }
    Ok(out)
}
