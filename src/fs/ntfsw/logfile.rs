//! `$LogFile`: only its two restart pages are read, to tell a clean unmount (or an emptied log,
//! as ntfs-3g and mkntfs leave it) from a log that still holds work (Fast Startup, a crash).
//! It is never written.

use super::record::{r16, r32};

/// Bytes read from the start of `$LogFile` (two restart pages of up to 4 KiB... or 8 KiB).
pub const HEAD: u64 = 16384;
const NO_CLIENT: u16 = 0xFFFF;
const VOLUME_IS_CLEAN: u16 = 0x0002;

/// `Ok(())` when the log is clean; otherwise the reason.
pub fn check(head: &[u8]) -> Result<(), String> {
    if head.len() < 4096 {
        return Err(format!("$LogFile of {} bytes", head.len()));
    }
    if head.iter().all(|&b| b == 0xFF) {
        return Ok(());
    }
    let page = match head.get(..4) {
        Some(b"RSTR") => r32(head, 0x10) as usize,
        Some(b"CHKD") => return Err("chkdsk restart page".into()),
        Some(m) if m == [0xFF; 4] => 4096,
        Some(m) => {
            return Err(format!(
                "restart page signature {:?}",
                String::from_utf8_lossy(m)
            ));
        }
        None => return Err("no restart page".into()),
    };
    let mut seen = 0;
    for p in [0usize, page] {
        let pg = head.get(p..).unwrap_or(&[]);
        match pg.get(..4) {
            Some(b"RSTR") => {}
            Some(m) if m == [0xFF; 4] => continue,
            Some(b"CHKD") => return Err(format!("chkdsk restart page at {p}")),
            Some(m) => {
                return Err(format!(
                    "restart page {p} signature {:?}",
                    String::from_utf8_lossy(m)
                ));
            }
            None => return Err(format!("restart page {p} missing")),
        }
        seen += 1;
        let ra = usize::from(r16(pg, 0x18));
        if ra < 0x1E || ra + 0x10 > 510 {
            return Err(format!("restart area offset {ra}"));
        }
        let in_use = r16(pg, ra + 0x0C);
        let flags = r16(pg, ra + 0x0E);
        if in_use != NO_CLIENT && flags & VOLUME_IS_CLEAN == 0 {
            return Err(format!(
                "restart page {p}: a log client is in use and the clean flag is not set"
            ));
        }
    }
    if seen == 0 {
        return Err("no valid restart page".into());
    }
    Ok(())
}
