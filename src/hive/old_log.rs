//! Old-format transaction logs (`.LOG`, Windows XP to 8; also `.LOG1` written by Vista/7).
//!
//! A 512-byte base block copy (file type 1 or 2) is followed at offset 512 by the dirty vector:
//! `DIRT` and a bitmap with one bit per 512-byte page of the hive bins data (bitmap length in
//! bits = hive bins data size / 512). The dirty pages follow from the next 512-byte boundary,
//! one 512-byte page per set bit, in bit order.

use super::base_block::BaseBlock;

/// Dirty vector starts at the second sector.
pub const DIRTY_VECTOR_START: usize = 512;
/// Page granularity of the dirty vector.
pub const PAGE: usize = 512;

/// A parsed old-format log: its base block and the pages it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldLog {
    pub base: BaseBlock,
    /// (destination offset relative to the hive bins data, offset in the log file), 512 bytes.
    pub pages: Vec<(u32, usize)>,
}

/// Whether `log` looks like an old-format log (a `DIRT` signature at offset 512).
pub fn is_old_format(log: &[u8]) -> bool {
    log.get(DIRTY_VECTOR_START..DIRTY_VECTOR_START + 4) == Some(b"DIRT".as_slice())
}

/// Parse an old-format log. `Err` says why it cannot be used.
pub fn parse(log: &[u8]) -> Result<OldLog, String> {
    let base = BaseBlock::parse(log).map_err(|e| format!("base block: {e}"))?;
    if !base.checksum_ok() {
        return Err("base block checksum mismatch".into());
    }
    if base.primary_sequence != base.secondary_sequence {
        return Err(format!(
            "sequence numbers differ ({} / {}): log write was not completed",
            base.primary_sequence, base.secondary_sequence
        ));
    }
    base.validate_common()
        .map_err(|e| format!("base block: {e}"))?;
    if !is_old_format(log) {
        return Err("no DIRT signature at offset 512".into());
    }
    let bits = base.hive_bins_data_size as usize / PAGE;
    let bitmap_len = bits.div_ceil(8);
    let bitmap_start = DIRTY_VECTOR_START + 4;
    let bitmap = log
        .get(bitmap_start..bitmap_start.saturating_add(bitmap_len))
        .ok_or("dirty vector bitmap runs past the log")?;
    let pages_start = (bitmap_start + bitmap_len).div_ceil(PAGE) * PAGE;
    let mut pages = Vec::new();
    let mut next = pages_start;
    for bit in 0..bits {
        let set = bitmap
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0);
        if !set {
            continue;
        }
        if next.saturating_add(PAGE) > log.len() {
            return Err(format!(
                "dirty page for bit {bit} at log offset {next:#x} runs past the log"
            ));
        }
        let dest = u32::try_from(bit * PAGE).map_err(|_| "page offset overflow")?;
        pages.push((dest, next));
        next += PAGE;
    }
    Ok(OldLog { base, pages })
}
