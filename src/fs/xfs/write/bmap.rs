//! Data forks in extents form: encoding the packed 128-bit extent record, and the new map of a
//! file whose content is replaced (kept blocks, blocks to free, holes to fill).

use crate::fs::xfs::bmbt::Extent;

/// Longest extent one record can hold (`XFS_MAX_BMBT_EXTLEN`).
pub const MAX_EXTLEN: u64 = (1 << 21) - 1;

/// Encode one extent record.
pub fn encode(e: &Extent) -> [u8; 16] {
    let l0 = (u64::from(e.unwritten) << 63)
        | ((e.startoff & ((1u64 << 54) - 1)) << 9)
        | ((e.startblock >> 43) & 0x1ff);
    let l1 = (e.startblock << 21) | (e.count & MAX_EXTLEN);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&l0.to_be_bytes());
    out[8..].copy_from_slice(&l1.to_be_bytes());
    out
}

/// Encode an extent list into a fork image.
pub fn encode_all(exts: &[Extent]) -> Vec<u8> {
    exts.iter().flat_map(encode).collect()
}

/// Split an old map at file block `n`: extents (written) covering `[0, n)` that are kept, and
/// `(fsblock, count)` runs to free (everything at or past `n`).
pub fn truncate(old: &[Extent], n: u64) -> (Vec<Extent>, Vec<(u64, u64)>) {
    let mut keep = Vec::new();
    let mut free = Vec::new();
    for e in old {
        let end = e.startoff + e.count;
        if e.startoff >= n {
            free.push((e.startblock, e.count));
        } else if end > n {
            let k = n - e.startoff;
            keep.push(Extent {
                count: k,
                unwritten: false,
                ..*e
            });
            free.push((e.startblock + k, e.count - k));
        } else {
            keep.push(Extent {
                unwritten: false,
                ..*e
            });
        }
    }
    (keep, free)
}

/// Holes of a sorted map inside `[0, n)`, as `(startoff, count)`.
pub fn holes(map: &[Extent], n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for e in map {
        if e.startoff > pos {
            out.push((pos, e.startoff - pos));
        }
        pos = pos.max(e.startoff + e.count);
    }
    if pos < n {
        out.push((pos, n - pos));
    }
    out
}

/// Sort and merge extents that continue each other on disk and in the file (never across
/// an AG boundary).
pub fn merge(mut exts: Vec<Extent>, agblklog: u8) -> Vec<Extent> {
    exts.sort_by_key(|e| e.startoff);
    let mut out: Vec<Extent> = Vec::with_capacity(exts.len());
    for e in exts {
        if let Some(last) = out.last_mut()
            && last.startoff + last.count == e.startoff
            && last.startblock + last.count == e.startblock
            && last.unwritten == e.unwritten
            && last.startblock >> agblklog == e.startblock >> agblklog
            && last.count + e.count <= MAX_EXTLEN
        {
            last.count += e.count;
            continue;
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::xfs::bmbt::decode_extent;

    fn ext(startoff: u64, startblock: u64, count: u64) -> Extent {
        Extent {
            startoff,
            startblock,
            count,
            unwritten: false,
        }
    }

    #[test]
    fn encode_round_trips_through_the_reader() {
        for e in [
            ext(0, 1, 1),
            ext((1 << 54) - 2, (1 << 52) - 1, MAX_EXTLEN),
            Extent {
                unwritten: true,
                ..ext(77, 1234567, 99)
            },
        ] {
            assert_eq!(decode_extent(&encode(&e), "t").ok(), Some(e));
        }
    }

    #[test]
    fn truncate_holes_merge() {
        let old = [ext(0, 100, 4), ext(6, 200, 4)];
        let (keep, free) = truncate(&old, 7);
        assert_eq!(keep, vec![ext(0, 100, 4), ext(6, 200, 1)]);
        assert_eq!(free, vec![(201, 3)]);
        assert_eq!(holes(&keep, 9), vec![(4, 2), (7, 2)]);
        let merged = merge(vec![ext(4, 104, 2), ext(0, 100, 4), ext(6, 200, 1)], 16);
        assert_eq!(merged, vec![ext(0, 100, 6), ext(6, 200, 1)]);
        // Never across an AG boundary (AG size a power of two: block numbers touch).
        assert_eq!(merge(vec![ext(0, 14, 2), ext(2, 16, 2)], 4).len(), 2);
    }
}
