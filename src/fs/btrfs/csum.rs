//! Data checksums: EXTENT_CSUM items of the checksum tree (tree 7). Each item, keyed by the
//! logical address of its first sector, holds one crc32c per data sector that follows.

use super::le::{corrupt, u32_at};
use super::superblock::crc32c;
use super::tree::{Key, TreeReader};
use crate::fs::FsError;
use std::ops::ControlFlow;

/// `BTRFS_CSUM_TREE_OBJECTID`.
pub const CSUM_TREE_OBJECTID: u64 = 7;
/// `BTRFS_EXTENT_CSUM_OBJECTID` (-10).
pub const EXTENT_CSUM_OBJECTID: u64 = u64::MAX - 9;
/// `BTRFS_EXTENT_CSUM_KEY`.
pub const EXTENT_CSUM_KEY: u8 = 128;
const CSUM_SIZE: usize = 4;

/// The checksums of the sectors `[start, start + count*sectorsize)`; `None` where no item
/// covers a sector (nodatasum data, or data written without checksums).
pub fn lookup(
    reader: &TreeReader,
    root: (u64, u8),
    sectorsize: u32,
    start: u64,
    count: usize,
) -> Result<Vec<Option<u32>>, FsError> {
    let ss = u64::from(sectorsize);
    let mut out = vec![None; count];
    if count == 0 {
        return Ok(out);
    }
    let end = start.saturating_add(count as u64 * ss);
    // One item spans at most a node's worth of checksums.
    let span = u64::from(reader.nodesize) / CSUM_SIZE as u64 * ss;
    reader.walk(
        root.0,
        root.1,
        Key::new(
            EXTENT_CSUM_OBJECTID,
            EXTENT_CSUM_KEY,
            start.saturating_sub(span),
        ),
        Key::new(EXTENT_CSUM_OBJECTID, EXTENT_CSUM_KEY, end.saturating_sub(1)),
        &mut |k, d| {
            if d.len() % CSUM_SIZE != 0 || k.offset % ss != 0 {
                return Err(corrupt(
                    "checksum tree",
                    format!("csum item at {:#x} of {} bytes", k.offset, d.len()),
                ));
            }
            for i in 0..d.len() / CSUM_SIZE {
                let sector = k.offset.saturating_add(i as u64 * ss);
                if sector < start || sector >= end {
                    continue;
                }
                let idx = ((sector - start) / ss) as usize;
                if let Some(slot) = out.get_mut(idx) {
                    *slot = Some(u32_at(d, i * CSUM_SIZE, "checksum item")?);
                }
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(out)
}

/// Verify `data` (whole sectors from logical `start`) against `sums`.
pub fn verify(
    data: &[u8],
    start: u64,
    sectorsize: u32,
    sums: &[Option<u32>],
) -> Result<(), FsError> {
    for (i, (sector, want)) in data.chunks(sectorsize as usize).zip(sums).enumerate() {
        if let Some(want) = want {
            let got = crc32c(sector);
            if got != *want {
                let at = start + i as u64 * u64::from(sectorsize);
                return Err(corrupt(
                    format!("data sector at logical {at:#x}"),
                    format!("data checksum mismatch: stored {want:#010x}, computed {got:#010x}"),
                ));
            }
        }
    }
    Ok(())
}
