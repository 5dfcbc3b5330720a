//! GPT: the primary header at LBA 1 and the backup header at the last LBA, both CRC32-checked
//! together with their partition entry arrays. A bad primary falls back to the backup, and the
//! result says so. Parsed by hand so that a hostile entry count or size cannot allocate without
//! bound (at most [`MAX_ENTRY_BYTES`] of entries are read).

use super::error::{VolumeError, corrupt};
use super::util::{guid_mixed, le32, le64, slice, utf16le};
use crate::block::BlockDev;

/// Largest partition entry array read (the usual one is 128 × 128 = 16 KiB).
pub const MAX_ENTRY_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    /// 1-based index in the entry array (the Linux partition number).
    pub number: u32,
    /// Lower-case type GUID.
    pub type_guid: String,
    /// Lower-case unique partition GUID (PARTUUID).
    pub part_guid: String,
    pub first_lba: u64,
    pub last_lba: u64,
    pub attributes: u64,
    /// PARTLABEL.
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Gpt {
    pub sector_size: u64,
    pub disk_guid: String,
    pub entries: Vec<GptEntry>,
    /// The primary header or its entries were bad and the backup was used.
    pub used_backup: bool,
    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub primary_ok: bool,
    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub backup_ok: bool,
    pub warnings: Vec<String>,
}

struct Header {
    disk_guid: String,
    entries_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entries_crc: u32,
    alternate_lba: u64,
}

fn read_header(dev: &dyn BlockDev, lba: u64, ss: u64) -> Result<Header, String> {
    let off = lba.checked_mul(ss).ok_or("header offset overflows")?;
    if off.checked_add(ss).is_none_or(|e| e > dev.len()) {
        return Err(format!("header LBA {lba} is past the disk end"));
    }
    let mut h = vec![0u8; ss as usize];
    dev.read_at(off, &mut h).map_err(|e| e.to_string())?;
    if &h[..8] != b"EFI PART" {
        return Err(format!("no \"EFI PART\" signature at LBA {lba}"));
    }
    let hsize = le32(&h, 12) as usize;
    if !(92..=ss as usize).contains(&hsize) {
        return Err(format!("header size {hsize} is invalid"));
    }
    let stored = le32(&h, 16);
    let mut c = h[..hsize].to_vec();
    c[16..20].copy_from_slice(&[0; 4]);
    let calc = crc32fast::hash(&c);
    if calc != stored {
        return Err(format!(
            "header CRC32 mismatch at LBA {lba} (stored {stored:08x}, computed {calc:08x})"
        ));
    }
    let my = le64(&h, 24);
    if my != lba {
        return Err(format!("header at LBA {lba} says it is at LBA {my}"));
    }
    Ok(Header {
        disk_guid: guid_mixed(slice(&h, 56, 16)).unwrap_or_default(),
        entries_lba: le64(&h, 72),
        num_entries: le32(&h, 80),
        entry_size: le32(&h, 84),
        entries_crc: le32(&h, 88),
        alternate_lba: le64(&h, 32),
    })
}

fn read_entries(dev: &dyn BlockDev, h: &Header, ss: u64) -> Result<Vec<GptEntry>, String> {
    if h.entry_size < 128 || h.entry_size % 8 != 0 {
        return Err(format!("entry size {} is invalid", h.entry_size));
    }
    let total = h.num_entries as u64 * h.entry_size as u64;
    if total > MAX_ENTRY_BYTES {
        return Err(format!(
            "entry array of {total} bytes exceeds {MAX_ENTRY_BYTES}"
        ));
    }
    let off = h
        .entries_lba
        .checked_mul(ss)
        .ok_or("entry array offset overflows")?;
    if off.checked_add(total).is_none_or(|e| e > dev.len()) {
        return Err("entry array lies past the disk end".into());
    }
    let mut buf = vec![0u8; total as usize];
    dev.read_at(off, &mut buf).map_err(|e| e.to_string())?;
    let calc = crc32fast::hash(&buf);
    if calc != h.entries_crc {
        return Err(format!(
            "entry array CRC32 mismatch (stored {:08x}, computed {calc:08x})",
            h.entries_crc
        ));
    }
    let mut out = Vec::new();
    for (i, e) in buf.chunks_exact(h.entry_size as usize).enumerate() {
        let ty = slice(e, 0, 16);
        if ty.iter().all(|&b| b == 0) {
            continue;
        }
        out.push(GptEntry {
            number: i as u32 + 1,
            type_guid: guid_mixed(ty).unwrap_or_default(),
            part_guid: guid_mixed(slice(e, 16, 16)).unwrap_or_default(),
            first_lba: le64(e, 32),
            last_lba: le64(e, 40),
            attributes: le64(e, 48),
            name: utf16le(slice(e, 56, 72)),
        });
    }
    Ok(out)
}

/// Read the GPT of `dev`, trying 512- then 4096-byte sectors. `Ok(None)` when neither header is
/// valid and there is no "EFI PART" signature at all; an error when a signature exists but both
/// copies are bad.
pub fn read(dev: &dyn BlockDev) -> Result<Option<Gpt>, VolumeError> {
    let name = dev.describe();
    for ss in [512u64, 4096] {
        if dev.len() < ss * 3 {
            continue;
        }
        let mut sig = [0u8; 8];
        dev.read_at(ss, &mut sig)?;
        let last = dev.len() / ss - 1;
        let mut bsig = [0u8; 8];
        dev.read_at(last * ss, &mut bsig)?;
        if &sig != b"EFI PART" && &bsig != b"EFI PART" {
            continue;
        }
        let mut warnings = Vec::new();
        let primary =
            read_header(dev, 1, ss).and_then(|h| read_entries(dev, &h, ss).map(|e| (h, e)));
        // The backup is where the primary says, else at the last LBA.
        let alt = match &primary {
            Ok((h, _)) if h.alternate_lba > 1 && h.alternate_lba <= last => h.alternate_lba,
            _ => last,
        };
        let backup =
            read_header(dev, alt, ss).and_then(|h| read_entries(dev, &h, ss).map(|e| (h, e)));
        let primary_ok = primary.is_ok();
        let backup_ok = backup.is_ok();
        if let Err(e) = &backup {
            warnings.push(format!("{name}: backup GPT is bad: {e}"));
        }
        let (h, entries, used_backup) = match (primary, backup) {
            (Ok((h, e)), _) => (h, e, false),
            (Err(pe), Ok((h, e))) => {
                warnings.push(format!(
                    "{name}: primary GPT is bad ({pe}); using the backup GPT at LBA {alt}"
                ));
                (h, e, true)
            }
            (Err(pe), Err(be)) => {
                return Err(corrupt(
                    &name,
                    "GPT",
                    format!("primary: {pe}; backup: {be}"),
                ));
            }
        };
        let mut g = Gpt {
            sector_size: ss,
            disk_guid: h.disk_guid,
            entries: Vec::new(),
            used_backup,
            primary_ok,
            backup_ok,
            warnings,
        };
        for e in entries {
            if e.last_lba < e.first_lba || e.last_lba > last {
                g.warnings.push(format!(
                    "{name}: GPT partition {} spans LBA {}..{} outside the disk (last LBA {last}); skipped",
                    e.number, e.first_lba, e.last_lba
                ));
                continue;
            }
            g.entries.push(e);
        }
        return Ok(Some(g));
    }
    Ok(None)
}

/// Name of a GPT partition type GUID (lower case input).
pub fn type_name(guid: &str) -> &'static str {
    match guid.to_ascii_lowercase().as_str() {
        ESP => "EFI System",
        BIOS_BOOT => "BIOS boot",
        LINUX_FS => "Linux filesystem",
        "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" => "Linux swap",
        LINUX_LVM => "Linux LVM",
        "a19d880f-05fc-4d3b-a006-743f0f84911e" => "Linux RAID",
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" => "Linux root (x86-64)",
        "44479540-f297-41b2-9af7-d131d5f0458a" => "Linux root (x86)",
        "b921b045-1df0-41c3-af44-4c6f280d3fae" => "Linux root (ARM64)",
        "933ac7e1-2eb4-4f13-b844-0e14e2aef915" => "Linux home",
        "bc13c2ff-59e6-4262-a352-b275fd6f7172" => "Linux extended boot",
        "ca7d7ccb-63ed-4c53-861c-1742536059cc" => "Linux LUKS",
        "8da63339-0007-60c0-c436-083ac8230908" => "Linux reserved",
        MS_BASIC_DATA => "Microsoft basic data",
        "e3c9e316-0b5c-4db8-817d-f92df00215ae" => "Microsoft reserved",
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac" => "Windows recovery environment",
        LDM_METADATA => "Windows LDM metadata",
        LDM_DATA => "Windows LDM data",
        "37affc90-ef7d-4e96-91c3-2d7ae055b174" => "IBM GPFS",
        "6a898cc3-1dd2-11b2-99a6-080020736631" => "Solaris /usr & Apple ZFS",
        _ => "unknown",
    }
}

pub const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
pub const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";
pub const LINUX_FS: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
pub const LINUX_LVM: &str = "e6d6d379-f507-44c2-a23c-238f2a3df928";
pub const MS_BASIC_DATA: &str = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7";
pub const LDM_METADATA: &str = "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3";
pub const LDM_DATA: &str = "af9b60a0-1431-4f62-bc68-3311714a69ad";
