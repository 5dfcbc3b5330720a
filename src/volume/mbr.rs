//! The MBR partition table: four primary entries at byte 446, the 0x55AA signature, the disk
//! signature at 440, and extended partitions holding a chain of EBRs (logical partitions 5…).
//! Parsed by hand (not with mbrman) so that hostile chains are bounded: at most
//! [`MAX_LOGICAL`] logical partitions, every EBR visited once.

use super::error::{VolumeError, corrupt};
use super::util::{le32, slice};
use crate::block::BlockDev;

/// Most logical partitions followed in one extended partition.
pub const MAX_LOGICAL: usize = 128;

/// One entry of a partition table sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrEntry {
    /// 1–4 for primary, 5… for logical partitions (Linux numbering).
    pub number: u32,
    pub bootable: bool,
    pub type_byte: u8,
    /// Absolute start sector (512-byte sectors) on the disk.
    pub start_lba: u64,
    pub sectors: u64,
    pub logical: bool,
}

impl MbrEntry {
    pub fn is_extended(&self) -> bool {
        matches!(self.type_byte, 0x05 | 0x0f | 0x85)
    }
}

/// A parsed MBR.
#[derive(Debug, Clone)]
pub struct Mbr {
    pub disk_signature: u32,
    /// Any non-zero byte in the 440-byte boot code area.
    pub boot_code_present: bool,
    /// Primary entries (non-empty ones), then logical ones.
    pub entries: Vec<MbrEntry>,
    /// Problems found while reading the extended chain (the partitions before the problem are
    /// kept).
    pub warnings: Vec<String>,
}

impl Mbr {
    /// Non-empty primary entries (including the extended container).
    pub fn primaries(&self) -> impl Iterator<Item = &MbrEntry> {
        self.entries.iter().filter(|e| !e.logical)
    }
    /// Has a 0xEE (GPT protective) entry.
    pub fn has_gpt_protective(&self) -> bool {
        self.primaries().any(|e| e.type_byte == 0xee)
    }
}

/// Parse the four entries of one table sector (empty entries skipped).
fn table_entries(sector: &[u8]) -> Vec<(usize, u8, bool, u64, u64)> {
    (0..4)
        .filter_map(|i| {
            let e = slice(sector, 446 + i * 16, 16);
            if e.len() < 16 {
                return None;
            }
            let ty = e[4];
            let start = le32(e, 8) as u64;
            let n = le32(e, 12) as u64;
            if ty == 0 || n == 0 {
                return None;
            }
            Some((i, ty, e[0] == 0x80, start, n))
        })
        .collect()
}

/// Read the MBR of `dev`. `Ok(None)` when sector 0 has no 0x55AA signature.
pub fn read(dev: &dyn BlockDev) -> Result<Option<Mbr>, VolumeError> {
    let name = dev.describe();
    if dev.len() < 512 {
        return Ok(None);
    }
    let mut s = vec![0u8; 512];
    dev.read_at(0, &mut s)?;
    if s[510] != 0x55 || s[511] != 0xaa {
        return Ok(None);
    }
    // A filesystem boot sector (unpartitioned NTFS/FAT) also ends in 55AA.
    if slice(&s, 3, 8) == b"NTFS    "
        || slice(&s, 54, 5) == b"FAT12"
        || slice(&s, 54, 5) == b"FAT16"
        || slice(&s, 82, 5) == b"FAT32"
        || slice(&s, 3, 8) == b"-FVE-FS-"
    {
        return Ok(None);
    }
    let disk_sectors = dev.len() / 512;
    let mut m = Mbr {
        disk_signature: le32(&s, 440),
        boot_code_present: s[..440].iter().any(|&b| b != 0),
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    let prim = table_entries(&s);
    // A boot sector of a filesystem (FAT/NTFS without a table) also ends in 55AA; entries
    // with a status byte other than 0x00/0x80 mean this is not a partition table.
    for i in 0..4 {
        let st = s[446 + i * 16];
        if st != 0 && st != 0x80 {
            return Ok(None);
        }
    }
    for (i, ty, boot, start, n) in prim {
        m.entries.push(MbrEntry {
            number: i as u32 + 1,
            bootable: boot,
            type_byte: ty,
            start_lba: start,
            sectors: n,
            logical: false,
        });
    }
    let ext: Vec<MbrEntry> = m
        .entries
        .iter()
        .filter(|e| e.is_extended())
        .cloned()
        .collect();
    if ext.len() > 1 {
        m.warnings.push(format!(
            "{name}: {} extended partitions, only the first is read",
            ext.len()
        ));
    }
    if let Some(ext) = ext.first() {
        read_logical(dev, ext, disk_sectors, &mut m)?;
    }
    Ok(Some(m))
}

fn read_logical(
    dev: &dyn BlockDev,
    ext: &MbrEntry,
    disk_sectors: u64,
    m: &mut Mbr,
) -> Result<(), VolumeError> {
    let name = dev.describe();
    let mut visited = std::collections::HashSet::new();
    let mut ebr = ext.start_lba;
    let mut number = 5u32;
    let mut s = vec![0u8; 512];
    loop {
        if m.entries.iter().filter(|e| e.logical).count() >= MAX_LOGICAL {
            m.warnings.push(format!(
                "{name}: more than {MAX_LOGICAL} logical partitions; rest ignored"
            ));
            break;
        }
        if !visited.insert(ebr) {
            m.warnings.push(format!(
                "{name}: EBR chain loops back to sector {ebr}; chain cut"
            ));
            break;
        }
        if ebr >= disk_sectors {
            m.warnings
                .push(format!("{name}: EBR at sector {ebr} is past the disk end"));
            break;
        }
        dev.read_at(ebr * 512, &mut s)?;
        if s[510] != 0x55 || s[511] != 0xaa {
            if number == 5 {
                // An empty extended partition: no logical partitions at all.
                break;
            }
            return Err(corrupt(
                &name,
                "EBR",
                format!("sector {ebr} lacks the 0x55AA signature"),
            ));
        }
        let es = table_entries(&s);
        let mut next = None;
        let mut got = false;
        for (_idx, ty, boot, start, n) in es {
            if matches!(ty, 0x05 | 0x0f | 0x85) {
                if next.is_none() {
                    next = ext.start_lba.checked_add(start);
                }
            } else if !got {
                got = true;
                match ebr.checked_add(start) {
                    Some(abs) => {
                        m.entries.push(MbrEntry {
                            number,
                            bootable: boot,
                            type_byte: ty,
                            start_lba: abs,
                            sectors: n,
                            logical: true,
                        });
                        number += 1;
                    }
                    None => m
                        .warnings
                        .push(format!("{name}: logical partition start overflows")),
                }
            }
        }
        match next {
            Some(n) => ebr = n,
            None => break,
        }
    }
    Ok(())
}

/// Human name of an MBR partition type byte.
pub fn type_name(t: u8) -> &'static str {
    match t {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0e => "FAT16",
        0x05 | 0x0f | 0x85 => "Extended",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b | 0x0c => "W95 FAT32",
        0x27 => "Windows recovery (hidden NTFS)",
        0x42 => "Windows dynamic disk (LDM)",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xee => "GPT protective",
        0xef => "EFI System",
        0xfd => "Linux raid autodetect",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::raw::MemDisk;

    fn entry(buf: &mut [u8], slot: usize, boot: bool, ty: u8, start: u32, n: u32) {
        let o = 446 + slot * 16;
        buf[o] = if boot { 0x80 } else { 0 };
        buf[o + 4] = ty;
        buf[o + 8..o + 12].copy_from_slice(&start.to_le_bytes());
        buf[o + 12..o + 16].copy_from_slice(&n.to_le_bytes());
    }

    #[test]
    fn ebr_loop_is_cut_not_followed_forever() {
        let mut d = vec![0u8; 64 * 512];
        d[510] = 0x55;
        d[511] = 0xaa;
        entry(&mut d, 0, false, 0x05, 10, 50);
        // EBR at 10: logical at +1, next EBR at ext+0 (itself) → loop
        let e = 10 * 512;
        d[e + 510] = 0x55;
        d[e + 511] = 0xaa;
        entry(&mut d[e..], 0, false, 0x83, 1, 5);
        entry(&mut d[e..], 1, false, 0x05, 0, 10);
        let disk = MemDisk::new("m", d);
        let m = read(&disk).unwrap().unwrap();
        assert_eq!(m.entries.iter().filter(|e| e.logical).count(), 1);
        assert!(m.warnings.iter().any(|w| w.contains("loops")));
    }
}
