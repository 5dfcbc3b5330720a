//! The internal log, read only far enough to tell whether the filesystem was unmounted cleanly
//! (GEN-5): find the log head from the cycle numbers stamped into every 512-byte log block
//! (binary search, as the kernel's `xlog_find_head`), find the last record header
//! (`xlog_rec_header`, magic 0xFEEDBABE) before it, and check that this record is a lone
//! unmount record (`XLOG_UNMOUNT_TRANS`) ending exactly at the head. The log is not replayed.

use super::buf::Buf;
use super::{XfsFs, corrupt};
use crate::fs::{DirtyState, FsError};

const XLOG_HEADER_MAGIC: u32 = 0xfeed_babe;
const XLOG_UNMOUNT_TRANS: u8 = 0x20;
const XLOG_HEADER_CYCLE_SIZE: u32 = 32 * 1024;
const BB: u64 = 512;
/// How far back from the head the last record header may be (a record is at most 256 KiB plus
/// its header blocks).
const MAX_BACK_SCAN: u64 = 1024;

fn needs_recovery(detail: String) -> DirtyState {
    DirtyState::NeedsRecovery {
        replayed: false,
        detail,
    }
}

struct Log<'a> {
    fs: &'a XfsFs,
    start: u64,
    bbs: u64,
}

impl Log<'_> {
    fn read_bb(&self, blk: u64) -> Result<[u8; 512], FsError> {
        let mut b = [0u8; 512];
        self.fs
            .dev
            .read_at(self.start + (blk % self.bbs) * BB, &mut b)?;
        Ok(b)
    }

    fn cycle(&self, blk: u64) -> Result<u32, FsError> {
        let b = self.read_bb(blk)?;
        let s = Buf::new(&b, "log block");
        let w0 = s.u32(0)?;
        if w0 == XLOG_HEADER_MAGIC {
            s.u32(4)
        } else {
            Ok(w0)
        }
    }
}

/// Whether the internal log of `fs` is clean.
pub fn state(fs: &XfsFs) -> Result<DirtyState, FsError> {
    let sb = &fs.sb;
    if sb.logstart == 0 {
        return Ok(needs_recovery(
            "external log device is not available; clean unmount cannot be verified".into(),
        ));
    }
    fs.check_fsblock_range(sb.logstart, u64::from(sb.logblocks), "internal log")?;
    let bbs = u64::from(sb.logblocks) * (u64::from(sb.block_size) / BB);
    if bbs < 2 {
        return Err(corrupt("internal log", format!("{} blocks", sb.logblocks)));
    }
    let log = Log {
        fs,
        start: fs.fsblock_to_byte(sb.logstart),
        bbs,
    };
    let first = log.cycle(0)?;
    let last = log.cycle(bbs - 1)?;
    if first == 0 {
        // A zeroed log (xfs_repair -L, old mkfs): nothing to recover.
        return Ok(DirtyState::Clean);
    }
    let head = if first == last {
        bbs
    } else {
        if last.wrapping_add(1) != first {
            return Ok(needs_recovery(format!(
                "log cycle numbers inconsistent (first block {first}, last block {last})"
            )));
        }
        let (mut lo, mut hi) = (0u64, bbs - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if log.cycle(mid)? == first {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    // Last record header before the head (wrapping round the end of the log).
    let mut rec = None;
    for back in 1..=MAX_BACK_SCAN.min(bbs) {
        let blk = (head + bbs - back) % bbs;
        let b = log.read_bb(blk)?;
        if Buf::new(&b, "log block").u32(0)? == XLOG_HEADER_MAGIC {
            rec = Some((blk, b));
            break;
        }
    }
    let Some((rblk, rb)) = rec else {
        return Ok(needs_recovery(format!(
            "no log record header found before the log head (block {head})"
        )));
    };
    let h = Buf::new(&rb, "log record header");
    let version = h.u32(8)?;
    let len = u64::from(h.u32(12)?);
    let num_ops = h.u32(40)?;
    let hsize = h.u32(320)?;
    let hblks = if version == 2 && hsize > XLOG_HEADER_CYCLE_SIZE {
        u64::from(hsize.div_ceil(XLOG_HEADER_CYCLE_SIZE))
    } else {
        1
    };
    let end = (rblk + hblks + len.div_ceil(BB)) % bbs;
    if end != head % bbs {
        return Ok(needs_recovery(format!(
            "log head at block {head} but the last record (block {rblk}) ends at {end}"
        )));
    }
    let data = log.read_bb(rblk + hblks)?;
    let flags = Buf::new(&data, "log operation header").u8(9)?;
    if num_ops == 1 && flags & XLOG_UNMOUNT_TRANS != 0 {
        Ok(DirtyState::Clean)
    } else {
        Ok(needs_recovery(format!(
            "log has transactions after the last unmount (head block {head}, last record at \
             block {rblk} with {num_ops} operations, no unmount record)"
        )))
    }
}
