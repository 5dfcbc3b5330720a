//! Signatures of the things a volume can hold that this crate reports but does not open:
//! LUKS1/LUKS2 (GEN-3), BitLocker (`-FVE-FS-`, GEN-3), MD RAID member superblocks (0.90 and
//! 1.x), and Linux swap (with UUID and label).

use super::util::{cstr, le32, slice, uuid_be};
use crate::block::{BlockDev, BlockError};

/// What [`detect`] recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    Luks {
        version: u16,
        uuid: Option<String>,
    },
    BitLocker,
    MdRaid {
        version: String,
        uuid: Option<String>,
        level: Option<i32>,
    },
    Swap {
        uuid: Option<String>,
        label: Option<String>,
    },
}

const MD_MAGIC: u32 = 0xa92b_4efc;

fn read_opt(dev: &dyn BlockDev, off: u64, len: usize) -> Result<Option<Vec<u8>>, BlockError> {
    match off.checked_add(len as u64) {
        Some(end) if end <= dev.len() => {
            let mut b = vec![0u8; len];
            dev.read_at(off, &mut b)?;
            Ok(Some(b))
        }
        _ => Ok(None),
    }
}

/// Look for LUKS, BitLocker, MD and swap signatures.
pub fn detect(dev: &dyn BlockDev) -> Result<Option<Signature>, BlockError> {
    let Some(head) = read_opt(dev, 0, 4096)? else {
        return Ok(None);
    };
    if head.starts_with(b"LUKS\xba\xbe") {
        let version = u16::from_be_bytes([head[6], head[7]]);
        return Ok(Some(Signature::Luks {
            version,
            uuid: cstr(slice(&head, 168, 40)),
        }));
    }
    if slice(&head, 3, 8) == b"-FVE-FS-" {
        return Ok(Some(Signature::BitLocker));
    }
    // Swap: the magic ends the first page (page sizes 4 KiB … 64 KiB).
    for page in [4096u64, 8192, 16384, 65536] {
        if let Some(m) = read_opt(dev, page - 10, 10)? {
            if m == b"SWAPSPACE2" || m == b"SWAP-SPACE" {
                let uuid = slice(&head, 1036, 16);
                return Ok(Some(Signature::Swap {
                    uuid: if uuid.iter().all(|&b| b == 0) {
                        None
                    } else {
                        uuid_be(uuid)
                    },
                    label: cstr(slice(&head, 1052, 16)),
                }));
            }
        }
    }
    // MD 1.1 (offset 0), 1.2 (4 KiB), 1.0 (8 KiB before the end, 4 KiB aligned).
    let end_v1 = dev.len().saturating_sub(8192) & !4095;
    for (off, v) in [(0u64, "1.1"), (4096, "1.2"), (end_v1, "1.0")] {
        if let Some(sb) = read_opt(dev, off, 256)? {
            if le32(&sb, 0) == MD_MAGIC && le32(&sb, 4) == 1 {
                return Ok(Some(Signature::MdRaid {
                    version: v.into(),
                    uuid: uuid_be(slice(&sb, 16, 16)),
                    level: Some(le32(&sb, 72) as i32),
                }));
            }
        }
    }
    // MD 0.90: 64 KiB before the end, 64 KiB aligned.
    if dev.len() >= 128 * 1024 {
        let off = (dev.len() & !(65536 - 1)) - 65536;
        if let Some(sb) = read_opt(dev, off, 128)? {
            if le32(&sb, 0) == MD_MAGIC && le32(&sb, 4) == 0 {
                let mut u = Vec::with_capacity(16);
                u.extend_from_slice(slice(&sb, 20, 4));
                u.extend_from_slice(slice(&sb, 104, 12));
                return Ok(Some(Signature::MdRaid {
                    version: "0.90".into(),
                    uuid: uuid_be(&u),
                    level: Some(le32(&sb, 28) as i32),
                }));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::raw::MemDisk;

    #[test]
    fn luks_and_bitlocker_headers() {
        let mut d = vec![0u8; 8192];
        d[..6].copy_from_slice(b"LUKS\xba\xbe");
        d[7] = 2;
        d[168..168 + 36].copy_from_slice(b"0a8b1c55-1111-4222-8333-444455556666");
        let s = detect(&MemDisk::new("l", d)).unwrap().unwrap();
        assert_eq!(
            s,
            Signature::Luks {
                version: 2,
                uuid: Some("0a8b1c55-1111-4222-8333-444455556666".into())
            }
        );
        let mut b = vec![0u8; 8192];
        b[3..11].copy_from_slice(b"-FVE-FS-");
        assert_eq!(
            detect(&MemDisk::new("b", b)).unwrap(),
            Some(Signature::BitLocker)
        );
        assert_eq!(detect(&MemDisk::new("z", vec![0u8; 100])).unwrap(), None);
    }
}
