//! New-format transaction logs (`.LOG1` / `.LOG2`, Windows 8.1 and later).
//!
//! A 512-byte base block copy (file type 6) is followed, from offset 512, by log entries at
//! 512-byte-aligned offsets. Log entry: `HvLE` @0, size @4, flags @8, sequence number @12, hive
//! bins data size @16, dirty page count @20, Hash-1 @24 (Marvin32 of bytes 40..size), Hash-2
//! @32 (Marvin32 of bytes 0..32), dirty page references (offset, size) @40, then the pages
//! themselves, back to back.

use super::bytes::{u32_at, u64_at};
use super::marvin::{REGISTRY_SEED, marvin32};

/// Log entries start at the second sector.
pub const ENTRIES_START: usize = 512;
/// Fixed header size of a log entry.
pub const ENTRY_HEADER: usize = 40;

/// One dirty page carried by a log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyPage {
    /// Destination offset, relative to the hive bins data.
    pub offset: u32,
    /// Where the bytes are in the log file.
    pub log_offset: usize,
    /// Number of bytes to copy.
    pub size: u32,
}

/// A log entry whose header, bounds and both hashes were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Offset of the entry in the log file.
    pub log_offset: usize,
    /// The entry's size in bytes (a multiple of 512).
    pub size: u32,
    /// The entry's flags (the base block's flags).
    pub flags: u32,
    /// The entry's sequence number.
    pub sequence: u32,
    /// The hive bins data size after the entry is applied.
    pub hive_bins_data_size: u32,
    /// The dirty pages it writes.
    pub pages: Vec<DirtyPage>,
}

/// The verified entries of one log file and why the scan stopped (if not at a clean end).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogScan {
    /// The verified entries, in log order.
    pub entries: Vec<LogEntry>,
    /// Why the scan stopped before a clean end, if it did.
    pub stopped: Option<String>,
}

/// Parse one entry at `off`; `Err` explains why it is not a valid entry.
pub fn parse_entry(log: &[u8], off: usize) -> Result<LogEntry, String> {
    let hdr = log
        .get(off..off.saturating_add(ENTRY_HEADER))
        .ok_or_else(|| format!("entry at {off:#x}: truncated header"))?;
    if hdr.get(..4) != Some(b"HvLE".as_slice()) {
        return Err(format!("entry at {off:#x}: no HvLE signature"));
    }
    let f = |o| u32_at(hdr, o).unwrap_or(0);
    let size = f(4);
    let (flags, sequence, hbsize, count) = (f(8), f(12), f(16), f(20));
    let usize_size = size as usize;
    if usize_size < ENTRY_HEADER || usize_size % 512 != 0 {
        return Err(format!("entry at {off:#x}: bad size {size:#x}"));
    }
    let entry = log
        .get(off..off.saturating_add(usize_size))
        .ok_or_else(|| format!("entry at {off:#x}: size {size:#x} runs past the log"))?;
    if hbsize == 0 || hbsize % 4096 != 0 {
        return Err(format!(
            "entry at {off:#x}: hive bins data size {hbsize:#x} not a multiple of 4096"
        ));
    }
    let stored1 = u64_at(hdr, 24).unwrap_or(0);
    let stored2 = u64_at(hdr, 32).unwrap_or(0);
    let h1 = marvin32(REGISTRY_SEED, entry.get(ENTRY_HEADER..).unwrap_or(&[]));
    if h1 != stored1 {
        return Err(format!(
            "entry at {off:#x} (seq {sequence}): Hash-1 mismatch"
        ));
    }
    let h2 = marvin32(REGISTRY_SEED, hdr.get(..32).unwrap_or(&[]));
    if h2 != stored2 {
        return Err(format!(
            "entry at {off:#x} (seq {sequence}): Hash-2 mismatch"
        ));
    }
    let count = count as usize;
    let refs_end = (count)
        .checked_mul(8)
        .and_then(|n| n.checked_add(ENTRY_HEADER))
        .filter(|&e| e <= usize_size)
        .ok_or_else(|| format!("entry at {off:#x}: {count} page references do not fit"))?;
    let mut pages = Vec::with_capacity(count);
    let mut data_at = refs_end;
    for i in 0..count {
        let r = ENTRY_HEADER + i * 8;
        let poff = u32_at(entry, r).unwrap_or(0);
        let psize = u32_at(entry, r + 4).unwrap_or(0);
        let end = data_at
            .checked_add(psize as usize)
            .filter(|&e| e <= usize_size)
            .ok_or_else(|| format!("entry at {off:#x}: page {i} runs past the entry"))?;
        if u64::from(poff) + u64::from(psize) > u64::from(hbsize) {
            return Err(format!(
                "entry at {off:#x}: page {i} at {poff:#x}+{psize:#x} is beyond the hive bins data"
            ));
        }
        pages.push(DirtyPage {
            offset: poff,
            log_offset: off + data_at,
            size: psize,
        });
        data_at = end;
    }
    Ok(LogEntry {
        log_offset: off,
        size,
        flags,
        sequence,
        hive_bins_data_size: hbsize,
        pages,
    })
}

/// Scan all verified entries of a new-format log, stopping at the first invalid one (as
/// Windows does: only entries before a bogus one are usable).
pub fn scan(log: &[u8]) -> LogScan {
    let mut out = LogScan::default();
    let mut off = ENTRIES_START;
    while off < log.len() {
        match parse_entry(log, off) {
            Ok(e) => {
                off = off.saturating_add(e.size as usize);
                out.entries.push(e);
            }
            Err(reason) => {
                // Zero padding after the last entry is the normal end of a log.
                let rest_zero = log
                    .get(off..off.saturating_add(4))
                    .is_none_or(|s| s.iter().all(|&b| b == 0));
                if !rest_zero {
                    out.stopped = Some(reason);
                }
                break;
            }
        }
    }
    out
}
