//! An ndb slot: 16 bytes — magic `Slot`, package index, first block and block count of the
//! package's blob (little-endian). A slot whose first block is 0 is free. Slot pages are 4096
//! bytes, 256 slots each; slots 0 and 1 of page 0 hold the database header instead.

use super::NdbError;
use super::dbheader::{HEADER_SIZE, le32};

/// Size of a slot.
pub const SLOT_SIZE: usize = 16;
/// `'S' | 'l' << 8 | 'o' << 16 | 't' << 24`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"Slot");

/// A used slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The slot's number in the file (page * 256 + place; the header takes 0 and 1).
    pub slotno: u32,
    /// The package index (rpm's header number).
    pub pkgidx: u32,
    /// First 16-byte block of the blob.
    pub blkoff: u32,
    /// Blocks of the blob.
    pub blkcnt: u32,
}

/// The used slots of slot page `page` (its 4096 bytes in `b`).
pub fn parse_page(b: &[u8], page: u32) -> Result<Vec<Slot>, NdbError> {
    let per_page = (b.len() / SLOT_SIZE) as u32;
    let first = if page == 0 {
        HEADER_SIZE / SLOT_SIZE
    } else {
        0
    };
    let mut out = Vec::new();
    for (i, s) in b.chunks_exact(SLOT_SIZE).enumerate().skip(first) {
        let slotno = page.saturating_mul(per_page).saturating_add(i as u32);
        let bad = |reason| NdbError::BadSlot {
            slot: slotno,
            reason,
        };
        let f = |off| le32(s, off).ok_or_else(|| bad("short"));
        if f(0)? != MAGIC {
            return Err(bad("bad slot magic"));
        }
        let (pkgidx, blkoff, blkcnt) = (f(4)?, f(8)?, f(12)?);
        if blkoff == 0 {
            continue;
        }
        if pkgidx == 0 || blkcnt == 0 {
            return Err(bad("used slot without a package index or blocks"));
        }
        out.push(Slot {
            slotno,
            pkgidx,
            blkoff,
            blkcnt,
        });
    }
    Ok(out)
}
