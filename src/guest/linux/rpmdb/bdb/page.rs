//! A Berkeley DB page header (`PAGE`, 26 bytes: LSN, page number, previous and next page,
//! entry count, high-free offset, level, type) and the items of a hash bucket page: after the
//! header (and the checksum field when pages are checksummed) an index of `entries` u16
//! offsets, keys and values alternating, each item running from its offset to the previous
//! item's offset (the first to the end of the page). An item's first byte is its type:
//! `H_KEYDATA` (the bytes follow), `H_OFFPAGE` (an overflow chain: first page and total
//! length), `H_DUPLICATE`/`H_OFFDUP` (duplicate sets, which rpm's Packages never holds).

use super::BdbError;
use super::checksum::CHKSUM_PAGE_OVERHEAD;
use super::meta::{HashMeta, Order};

/// Size of the page header.
pub const SIZEOF_PAGE: usize = 26;
/// Page type: hash bucket page with unsorted items (old writers).
pub const P_HASH_UNSORTED: u8 = 2;
/// Page type: overflow page.
pub const P_OVERFLOW: u8 = 7;
/// Page type: hash bucket page.
pub const P_HASH: u8 = 13;
/// Item type: the key or value bytes follow.
pub const H_KEYDATA: u8 = 1;
/// Item type: on-page duplicate set.
pub const H_DUPLICATE: u8 = 2;
/// Item type: overflow chain (`HOFFPAGE`: type, 3 unused bytes, first page, total length).
pub const H_OFFPAGE: u8 = 3;
/// Item type: off-page duplicate tree.
pub const H_OFFDUP: u8 = 4;
/// Size of an `HOFFPAGE` item.
pub const HOFFPAGE_SIZE: usize = 12;

/// The page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// The page's own number.
    pub pgno: u32,
    /// Previous page of its chain.
    pub prev: u32,
    /// Next page of its chain (0: the last).
    pub next: u32,
    /// Item count (hash pages); reference count (overflow pages).
    pub entries: u16,
    /// Start of the free area (hash pages); bytes of data (overflow pages).
    pub hf_offset: u16,
    /// B-tree level (unused by hash pages).
    pub level: u8,
    /// Page type.
    pub kind: u8,
}

impl PageHeader {
    /// Parse the first 26 bytes of a page.
    pub fn parse(b: &[u8], order: Order) -> Result<Self, BdbError> {
        let short = || BdbError::Truncated("page header");
        Ok(PageHeader {
            pgno: order.u32(b, 8).ok_or_else(short)?,
            prev: order.u32(b, 12).ok_or_else(short)?,
            next: order.u32(b, 16).ok_or_else(short)?,
            entries: order.u16(b, 20).ok_or_else(short)?,
            hf_offset: order.u16(b, 22).ok_or_else(short)?,
            level: *b.get(24).ok_or_else(short)?,
            kind: *b.get(25).ok_or_else(short)?,
        })
    }
}

/// Where the item index (hash pages) or the data (overflow pages) starts.
pub fn overhead(meta: &HashMeta) -> usize {
    if meta.checksummed {
        CHKSUM_PAGE_OVERHEAD
    } else {
        SIZEOF_PAGE
    }
}

/// One key or value of a hash page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The bytes `start..end` of the page.
    Inline {
        /// First byte (after the type byte).
        start: usize,
        /// One past the last byte.
        end: usize,
    },
    /// An overflow chain.
    OffPage {
        /// Its first page.
        pgno: u32,
        /// The item's total length.
        len: u32,
    },
}

/// The items of a hash bucket page, in index order (key, value, key, value, …).
pub fn hash_items(page: &[u8], h: &PageHeader, meta: &HashMeta) -> Result<Vec<Item>, BdbError> {
    let pgno = h.pgno;
    let base = overhead(meta);
    let n = usize::from(h.entries);
    let size = page.len();
    if n % 2 != 0 || base + 2 * n > size {
        return Err(BdbError::BadEntries {
            page: pgno,
            entries: h.entries,
        });
    }
    let index_end = base + 2 * n;
    let mut items = Vec::with_capacity(n);
    let mut prev = size;
    for i in 0..n {
        let bad = |reason| BdbError::BadItem {
            page: pgno,
            index: i,
            reason,
        };
        let off = usize::from(
            meta.order
                .u16(page, base + 2 * i)
                .ok_or(BdbError::Truncated("item index"))?,
        );
        if off < index_end || off >= prev {
            return Err(bad("offset outside the page's item area or out of order"));
        }
        let item = &page[off..prev];
        prev = off;
        items.push(match item[0] {
            H_KEYDATA => Item::Inline {
                start: off + 1,
                end: off + item.len(),
            },
            H_OFFPAGE => {
                if item.len() != HOFFPAGE_SIZE {
                    return Err(bad("overflow reference is not 12 bytes"));
                }
                Item::OffPage {
                    pgno: meta.order.u32(item, 4).ok_or_else(|| bad("short"))?,
                    len: meta.order.u32(item, 8).ok_or_else(|| bad("short"))?,
                }
            }
            H_DUPLICATE | H_OFFDUP => return Err(BdbError::Duplicates(pgno)),
            _ => return Err(bad("unknown item type")),
        });
    }
    Ok(items)
}
