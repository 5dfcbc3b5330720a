//! B-tree pages (sqlite fileformat §1.6): the page header, the cell pointer array and the table
//! cells. Only table b-trees are walked (interior type 5, leaf type 13); index pages are an
//! error where a table is expected.

use super::{SqliteError, varint};

/// Page type byte of an interior table b-tree page.
pub const INTERIOR_TABLE: u8 = 5;
/// Page type byte of a leaf table b-tree page.
pub const LEAF_TABLE: u8 = 13;

/// A parsed b-tree page header.
#[derive(Debug, Clone, Copy)]
pub struct PageHeader {
    /// The page type byte ([`INTERIOR_TABLE`], [`LEAF_TABLE`], or an index type).
    pub kind: u8,
    /// Cells on the page.
    pub cell_count: u16,
    /// Right-most child (interior pages only).
    pub right_child: u32,
    /// Offset of the cell pointer array within the page.
    pub cell_ptrs: usize,
}

fn be16(b: &[u8], o: usize) -> Option<u16> {
    b.get(o..o.checked_add(2)?)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
}

pub(crate) fn be32(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o.checked_add(4)?)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse the header of table b-tree page `page` (number, for errors); `hdr_off` is 100 on page 1.
pub fn parse_header(
    data: &[u8],
    hdr_off: usize,
    page: u32,
    usable: usize,
) -> Result<PageHeader, SqliteError> {
    let kind = *data
        .get(hdr_off)
        .ok_or(SqliteError::Truncated("b-tree page header"))?;
    let hlen = match kind {
        INTERIOR_TABLE => 12,
        LEAF_TABLE => 8,
        k => return Err(SqliteError::BadPageType { page, kind: k }),
    };
    let cell_count = be16(data, hdr_off + 3).ok_or(SqliteError::Truncated("b-tree page header"))?;
    let right_child = if kind == INTERIOR_TABLE {
        be32(data, hdr_off + 8).ok_or(SqliteError::Truncated("b-tree page header"))?
    } else {
        0
    };
    let cell_ptrs = hdr_off + hlen;
    // Every cell needs a 2-byte pointer inside the usable area.
    if cell_ptrs + 2 * usize::from(cell_count) > usable {
        return Err(SqliteError::BadCellCount {
            page,
            cells: cell_count,
        });
    }
    Ok(PageHeader {
        kind,
        cell_count,
        right_child,
        cell_ptrs,
    })
}

/// Offset within the page of cell `i`, checked to lie past the pointer array and in the
/// usable area.
pub fn cell_offset(
    data: &[u8],
    h: &PageHeader,
    i: u16,
    page: u32,
    usable: usize,
) -> Result<usize, SqliteError> {
    let o = be16(data, h.cell_ptrs + 2 * usize::from(i))
        .ok_or(SqliteError::Truncated("cell pointer array"))?;
    let o = usize::from(o);
    if o < h.cell_ptrs + 2 * usize::from(h.cell_count) || o >= usable {
        return Err(SqliteError::CellOutOfPage {
            page,
            cell: i,
            offset: o,
        });
    }
    Ok(o)
}

/// An interior table cell: the left child page (keys ≤ the cell's key).
pub fn interior_child(data: &[u8], off: usize, page: u32) -> Result<u32, SqliteError> {
    be32(data, off).ok_or(SqliteError::CellOutOfPage {
        page,
        cell: 0,
        offset: off,
    })
}

/// A leaf table cell's start: (payload size, rowid, offset of the payload's first byte).
pub fn leaf_cell(data: &[u8], off: usize) -> Result<(u64, i64, usize), SqliteError> {
    let (size, n1) = varint::read(data, off)?;
    let (rowid, n2) = varint::read(data, off + n1)?;
    Ok((size, rowid as i64, off + n1 + n2))
}

/// How many of a table leaf cell's `payload` bytes are stored on the page itself
/// (fileformat §1.6, "cell payload overflow pages"); the rest spills to overflow pages.
pub fn local_payload(payload: u64, usable: usize) -> usize {
    let u = usable as u64;
    let x = u - 35;
    if payload <= x {
        return payload as usize;
    }
    let m = ((u - 12) * 32 / 255) - 23;
    let k = m + ((payload - m) % (u - 4));
    (if k <= x { k } else { m }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_thresholds_match_the_spec() {
        // U = 4096: X = 4061; M = ((4096-12)*32/255)-23 = 489.
        assert_eq!(local_payload(100, 4096), 100);
        assert_eq!(local_payload(4061, 4096), 4061);
        // P = 4062: K = 489 + (3573 % 4092) = 4062 > X, so only M bytes stay local.
        assert_eq!(local_payload(4062, 4096), 489);
        // P = 10000: K = 489 + (9511 % 4092) = 1816 <= X: K bytes stay local.
        assert_eq!(local_payload(10_000, 4096), 1816);
    }
}
