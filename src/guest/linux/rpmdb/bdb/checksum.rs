//! Page checksums of a Berkeley DB opened with `DB_CHKSUM` (the meta page's `metaflags` bit
//! 0x01, no encryption): a 32-bit hash (Chris Torek's, `h = h * 33 + byte`) of the page with
//! its checksum field zeroed, stored in the file's byte order. The meta page sums its first
//! 512 bytes and keeps the sum at byte 492; every other page sums the whole page and keeps it
//! at bytes 28–31, which moves its item index from byte 26 to byte 32.

use super::BdbError;
use super::meta::{META_CHKSUM_OFFSET, META_SIZE, Order};

/// Offset of a data page's checksum (after the 26-byte header and 2 bytes of padding).
pub const PAGE_CHKSUM_OFFSET: usize = 28;
/// Size of a data page's header when pages are checksummed.
pub const CHKSUM_PAGE_OVERHEAD: usize = 32;

/// The hash of `data` with the four bytes at `hole` taken as zero.
fn sum(data: &[u8], hole: usize) -> u32 {
    data.iter().enumerate().fold(0u32, |h, (i, &c)| {
        let c = if (hole..hole + 4).contains(&i) { 0 } else { c };
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

fn check(data: &[u8], hole: usize, order: Order, page: u32) -> Result<(), BdbError> {
    let stored = order
        .u32(data, hole)
        .ok_or(BdbError::Truncated("page shorter than its checksum"))?;
    let computed = sum(data, hole);
    if stored != computed {
        return Err(BdbError::Checksum {
            page,
            stored,
            computed,
        });
    }
    Ok(())
}

/// Verify the meta page's checksum (`meta` holds at least its first 512 bytes).
pub fn verify_meta(meta: &[u8], order: Order) -> Result<(), BdbError> {
    let m = meta
        .get(..META_SIZE)
        .ok_or(BdbError::Truncated("meta page"))?;
    check(m, META_CHKSUM_OFFSET, order, 0)
}

/// Verify a data page's checksum.
pub fn verify_page(page: &[u8], order: Order, pgno: u32) -> Result<(), BdbError> {
    check(page, PAGE_CHKSUM_OFFSET, order, pgno)
}

/// Store the right checksum into a data page (tests and fuzzing make pages with it).
pub fn seal_page(page: &mut [u8], order: Order) {
    let s = sum(page, PAGE_CHKSUM_OFFSET);
    if let Some(f) = page.get_mut(PAGE_CHKSUM_OFFSET..PAGE_CHKSUM_OFFSET + 4) {
        f.copy_from_slice(&order.bytes32(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torek_hash() {
        // h = ((0 * 33 + 'a') * 33 + 'b') * 33 + 'c'; a hole past the end changes nothing
        assert_eq!(sum(b"abc", 8), ((97 * 33) + 98) * 33 + 99);
        // the hole's bytes count as zero
        assert_eq!(sum(b"abXYZWc", 2), sum(b"ab\0\0\0\0c", 9));
        let mut p = vec![7u8; 512];
        seal_page(&mut p, Order::Big);
        assert!(verify_page(&p, Order::Big, 3).is_ok());
        p[100] ^= 1;
        assert!(matches!(
            verify_page(&p, Order::Big, 3),
            Err(BdbError::Checksum { page: 3, .. })
        ));
    }
}
