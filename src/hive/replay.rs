//! Transaction log replay, in memory only: recover a dirty hive as Windows would before loading
//! it, from new-format logs (LOG1 then LOG2, entries applied in sequence order across both) or
//! from an old-format log (dirty vector). Nothing is ever written back to the files.

use super::base_block::{self, BASE_BLOCK_SIZE, BaseBlock, FILE_TYPE_PRIMARY, LOG_BASE_BLOCK_SIZE};
use super::bytes::u64_at;
use super::error::HiveError;
use super::{log, old_log};

/// Which log format was used for recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `.LOG1`/`.LOG2` with HvLE entries (Windows 8.1+).
    New,
    /// `.LOG` with a DIRT dirty vector.
    Old,
}

/// One new-format log entry applied during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEntry {
    /// Index of the log in the slice given to the reader.
    pub log_index: usize,
    /// Its sequence number.
    pub sequence: u32,
    /// Dirty pages it wrote.
    pub pages: usize,
}

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Whether the primary base block said the hive was dirty.
    pub was_dirty: bool,
    /// The format of the log that was used (`None` if no log was applied).
    pub format: Option<LogFormat>,
    /// Whether the base block was restored from a log (primary checksum was wrong).
    pub base_block_recovered: bool,
    /// New-format entries applied, in order.
    pub applied: Vec<AppliedEntry>,
    /// Index of the old-format log used, if any.
    pub old_log_used: Option<usize>,
    /// 512-byte pages written from an old-format log.
    pub old_log_pages: usize,
    /// Sequence numbers of the primary base block before and after recovery.
    pub sequence_before: (u32, u32),
    /// Sequence numbers of the primary base block after recovery.
    pub sequence_after: (u32, u32),
    /// Problems met on the way (a log skipped, recovery stopped early and why).
    pub notes: Vec<String>,
}

/// Hard cap on the recovered hive bins data size (Windows hives are limited to 2 GiB).
const MAX_HIVE_BINS: u64 = 0x8000_0000;

fn grow(data: &mut Vec<u8>, new_bins_size: u32, budget: u64) -> Result<(), String> {
    let want = BASE_BLOCK_SIZE as u64 + u64::from(new_bins_size);
    if u64::from(new_bins_size) > MAX_HIVE_BINS {
        return Err(format!(
            "hive bins data size {new_bins_size:#x} over the cap"
        ));
    }
    if want > data.len() as u64 {
        if want - data.len() as u64 > budget {
            return Err(format!(
                "hive bins data size {new_bins_size:#x} grows the hive by more than the logs hold"
            ));
        }
        data.resize(want as usize, 0);
    }
    Ok(())
}

fn copy_page(data: &mut [u8], dest: u64, src: &[u8]) -> Result<(), String> {
    let start = BASE_BLOCK_SIZE as u64 + dest;
    let end = start + src.len() as u64;
    let slot = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| data.get_mut(s..e))
        .ok_or_else(|| format!("dirty page at {dest:#x} is outside the hive"))?;
    slot.copy_from_slice(src);
    Ok(())
}

/// Recover `primary` with `logs` (empty logs are skipped). Returns the recovered image.
pub(crate) fn recover(
    mut data: Vec<u8>,
    logs: &[Vec<u8>],
) -> Result<(Vec<u8>, ReplayReport), HiveError> {
    let base = BaseBlock::parse(&data)?;
    if data.len() < BASE_BLOCK_SIZE {
        return Err(HiveError::TooShort {
            len: data.len(),
            need: BASE_BLOCK_SIZE,
        });
    }
    let mut report = ReplayReport {
        was_dirty: base.is_dirty(),
        sequence_before: (base.primary_sequence, base.secondary_sequence),
        sequence_after: (base.primary_sequence, base.secondary_sequence),
        ..ReplayReport::default()
    };
    if !report.was_dirty {
        return Ok((data, report));
    }
    let budget: u64 = logs.iter().map(|l| l.len() as u64).sum();
    let mut new_logs = Vec::new();
    let mut old_logs = Vec::new();
    for (i, l) in logs.iter().enumerate() {
        if l.is_empty() {
            report.notes.push(format!("log #{i}: empty, skipped"));
        } else if old_log::is_old_format(l) {
            old_logs.push(i);
        } else if l.get(log::ENTRIES_START..log::ENTRIES_START + 4) == Some(b"HvLE".as_slice())
            || BaseBlock::parse(l).is_ok_and(|b| b.file_type == base_block::FILE_TYPE_LOG_NEW)
        {
            // A new-format log is valid only with an intact base block copy.
            match BaseBlock::parse(l) {
                Ok(b) if b.checksum_ok() => new_logs.push(i),
                Ok(b) => report.notes.push(format!(
                    "log #{i}: base block checksum {:#010x} != {:#010x}, log invalid",
                    b.checksum, b.computed_checksum
                )),
                Err(e) => report.notes.push(format!("log #{i}: base block: {e}")),
            }
        } else {
            report.notes.push(format!(
                "log #{i}: neither an old nor a new format log, skipped"
            ));
        }
    }

    // The base block: when its checksum is wrong it comes from a log (new format first).
    let mut base = base;
    if !base.checksum_ok() {
        let candidates = new_logs.iter().chain(old_logs.iter());
        let mut restored = false;
        for &i in candidates {
            let Some(l) = logs.get(i) else { continue };
            match BaseBlock::parse(l) {
                Ok(b) if b.checksum_ok() && b.validate_common().is_ok() => {
                    if let (Some(dst), Some(src)) = (
                        data.get_mut(..LOG_BASE_BLOCK_SIZE),
                        l.get(..LOG_BASE_BLOCK_SIZE),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    base_block::BaseBlock::patch(
                        &mut data,
                        b.primary_sequence,
                        b.hive_bins_data_size,
                        FILE_TYPE_PRIMARY,
                    );
                    // Keep the log's secondary sequence: entries from it on are applied.
                    if let Some(s) = data.get_mut(8..12) {
                        s.copy_from_slice(&b.secondary_sequence.to_le_bytes());
                    }
                    let c = base_block::checksum(&data);
                    if let Some(s) = data.get_mut(508..512) {
                        s.copy_from_slice(&c.to_le_bytes());
                    }
                    restored = true;
                    report
                        .notes
                        .push(format!("log #{i}: base block restored from it"));
                    break;
                }
                _ => report
                    .notes
                    .push(format!("log #{i}: base block unusable for recovery")),
            }
        }
        if !restored {
            return Err(HiveError::Unrecoverable(format!(
                "primary checksum {:#010x} != {:#010x}",
                base.checksum, base.computed_checksum
            )));
        }
        report.base_block_recovered = true;
        base = BaseBlock::parse(&data)?;
    }

    if !new_logs.is_empty() {
        replay_new(&mut data, &base, logs, &new_logs, budget, &mut report);
    } else if !old_logs.is_empty() {
        replay_old(&mut data, &base, logs, &old_logs, budget, &mut report);
    } else {
        report.notes.push("no usable transaction log".into());
    }
    if let Ok(b) = BaseBlock::parse(&data) {
        report.sequence_after = (b.primary_sequence, b.secondary_sequence);
    }
    Ok((data, report))
}

fn replay_new(
    data: &mut Vec<u8>,
    base: &BaseBlock,
    logs: &[Vec<u8>],
    which: &[usize],
    budget: u64,
    report: &mut ReplayReport,
) {
    let mut scans = Vec::new();
    for &i in which {
        let Some(l) = logs.get(i) else { continue };
        let s = log::scan(l);
        if let Some(why) = &s.stopped {
            report.notes.push(format!("log #{i}: scan stopped: {why}"));
        }
        scans.push((i, l, s));
    }
    let mut expected = base.secondary_sequence;
    let has = |seq: u32| {
        scans
            .iter()
            .any(|(_, _, s)| s.entries.iter().any(|e| e.sequence == seq))
    };
    if !has(expected) {
        // Missing log entries (Windows 8.1+ "partial reconcile"): the primary already holds
        // the data of the overwritten entries, but its base block was not updated. The
        // subsequent entries (sequence > secondary) that remain are applied from the lowest.
        let lowest = scans
            .iter()
            .flat_map(|(_, _, s)| s.entries.iter().map(|e| e.sequence))
            .filter(|&q| q > expected)
            .min();
        if let Some(q) = lowest {
            report.notes.push(format!(
                "no log entry with sequence {expected}: entries {expected}..{q} were \
                 reconciled already; applying from {q}"
            ));
            expected = q;
        }
    }
    let mut last: Option<(u32, u32, u32)> = None;
    loop {
        let found = scans.iter().find_map(|(i, l, s)| {
            s.entries
                .iter()
                .find(|e| e.sequence == expected)
                .map(|e| (*i, *l, e))
        });
        let Some((i, l, e)) = found else { break };
        let mut applied = || -> Result<(), String> {
            grow(data, e.hive_bins_data_size, budget)?;
            for p in &e.pages {
                let src = l
                    .get(p.log_offset..p.log_offset + p.size as usize)
                    .ok_or("page outside the log")?;
                copy_page(data, u64::from(p.offset), src)?;
            }
            Ok(())
        };
        if let Err(why) = applied() {
            report.notes.push(format!(
                "log #{i}: entry seq {}: {why}; recovery stopped",
                e.sequence
            ));
            break;
        }
        report.applied.push(AppliedEntry {
            log_index: i,
            sequence: e.sequence,
            pages: e.pages.len(),
        });
        last = Some((e.sequence, e.hive_bins_data_size, e.flags));
        expected = expected.wrapping_add(1);
    }
    match last {
        Some((seq, hbsize, flags)) => {
            report.format = Some(LogFormat::New);
            if let Some(s) = data.get_mut(144..148) {
                s.copy_from_slice(&flags.to_le_bytes());
            }
            BaseBlock::patch(data, seq, hbsize, FILE_TYPE_PRIMARY);
        }
        None => report.notes.push(format!(
            "no log entry with the expected sequence number {}",
            base.secondary_sequence
        )),
    }
}

fn replay_old(
    data: &mut Vec<u8>,
    base: &BaseBlock,
    logs: &[Vec<u8>],
    which: &[usize],
    budget: u64,
    report: &mut ReplayReport,
) {
    // The log applies when its timestamp equals the primary's (or, with a restored base
    // block, the first hive bin's timestamp).
    let reference = if report.base_block_recovered {
        u64_at(data, BASE_BLOCK_SIZE + 20).unwrap_or(0)
    } else {
        base.last_written
    };
    for &i in which {
        let Some(l) = logs.get(i) else { continue };
        let parsed = match old_log::parse(l) {
            Ok(p) => p,
            Err(why) => {
                report.notes.push(format!("log #{i}: {why}"));
                continue;
            }
        };
        if parsed.base.last_written != reference && !report.base_block_recovered {
            report.notes.push(format!(
                "log #{i}: timestamp differs from the primary, not applicable"
            ));
            continue;
        }
        let mut work = data.clone();
        let mut apply = || -> Result<(), String> {
            grow(&mut work, parsed.base.hive_bins_data_size, budget)?;
            for &(dest, src_off) in &parsed.pages {
                let src = l
                    .get(src_off..src_off + old_log::PAGE)
                    .ok_or("page outside the log")?;
                copy_page(&mut work, u64::from(dest), src)?;
            }
            Ok(())
        };
        if let Err(why) = apply() {
            report.notes.push(format!("log #{i}: {why}"));
            continue;
        }
        let seq = base.primary_sequence.max(parsed.base.primary_sequence);
        BaseBlock::patch(
            &mut work,
            seq,
            parsed.base.hive_bins_data_size,
            FILE_TYPE_PRIMARY,
        );
        *data = work;
        report.format = Some(LogFormat::Old);
        report.old_log_used = Some(i);
        report.old_log_pages = parsed.pages.len();
        return;
    }
}
