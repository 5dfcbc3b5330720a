//! Cell payloads that spill past the page (sqlite fileformat §1.6): the local part, then a
//! chain of overflow pages, each a 4-byte next-page number and `usable - 4` bytes of payload.

use std::collections::HashSet;

use super::{Database, MAX_PAYLOAD, PageSource, SqliteError, btree};

/// Assemble the whole payload of the leaf cell whose payload starts at `start` in `page`.
/// `seen` holds every page already used by the walk: an overflow page seen twice is a loop.
pub fn payload<S: PageSource + ?Sized>(
    db: &Database<'_, S>,
    page: &[u8],
    start: usize,
    size: u64,
    usable: usize,
    seen: &mut HashSet<u32>,
) -> Result<Vec<u8>, SqliteError> {
    // A payload cannot be larger than the whole database (nor than the fixed limit).
    if size > MAX_PAYLOAD || size > u64::from(db.page_count()) * usable as u64 {
        return Err(SqliteError::PayloadTooLarge(size));
    }
    let local = btree::local_payload(size, usable);
    let end = start
        .checked_add(local)
        .filter(|&e| e <= usable)
        .ok_or(SqliteError::BadRecord("local payload runs past the page"))?;
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(
        page.get(start..end)
            .ok_or(SqliteError::BadRecord("local payload runs past the page"))?,
    );
    if out.len() as u64 == size {
        return Ok(out);
    }
    let mut next = btree::be32(page, end)
        .ok_or(SqliteError::BadRecord("overflow page number past the page"))?;
    while (out.len() as u64) < size {
        if next == 0 {
            return Err(SqliteError::OverflowShort(size - out.len() as u64));
        }
        if !seen.insert(next) {
            return Err(SqliteError::OverflowLoop(next));
        }
        let ov = db.page(next)?;
        let want = usize::try_from(size - out.len() as u64)
            .unwrap_or(usize::MAX)
            .min(usable - 4);
        out.extend_from_slice(
            ov.get(4..4 + want)
                .ok_or(SqliteError::Truncated("overflow page"))?,
        );
        next = btree::be32(&ov, 0).unwrap_or(0);
    }
    Ok(out)
}
