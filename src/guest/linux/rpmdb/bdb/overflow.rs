//! A Berkeley DB overflow page (`P_OVERFLOW`): one link of the chain holding a key or value too
//! big for its hash page. The header's `hf_offset` is the number of data bytes on this page,
//! which follow the header (and the checksum field when pages are checksummed); `next` is the
//! chain's next page, 0 on the last.

use super::BdbError;
use super::meta::HashMeta;
use super::page::{P_OVERFLOW, PageHeader, overhead};

/// The data bytes of overflow page `pgno` (`page` is the whole page, `h` its header).
pub fn data<'p>(
    page: &'p [u8],
    h: &PageHeader,
    meta: &HashMeta,
    pgno: u32,
) -> Result<&'p [u8], BdbError> {
    if h.kind != P_OVERFLOW {
        return Err(BdbError::BadPageType {
            page: pgno,
            kind: h.kind,
            want: "an overflow page",
        });
    }
    let start = overhead(meta);
    page.get(start..start + usize::from(h.hf_offset))
        .ok_or(BdbError::BadItem {
            page: pgno,
            index: 0,
            reason: "overflow data longer than the page",
        })
}
