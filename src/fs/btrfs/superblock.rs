//! The Btrfs superblock (`struct btrfs_super_block`): 4 KiB at 64 KiB, mirrored at 64 MiB and
//! 256 GiB when the device is that large. Its crc32c covers bytes 32..4096.

use super::le::{bytes, corrupt, u8_at, u16_at, u32_at, u64_at, unsupported, uuid_at};
use crate::block::BlockDev;
use crate::fs::FsError;

/// Offsets of the primary superblock and its two mirrors.
pub const SUPER_OFFSETS: [u64; 3] = [0x1_0000, 0x400_0000, 0x40_0000_0000];
/// Size of the on-disk superblock.
pub const SUPER_SIZE: usize = 4096;
/// `_BHRfS_M`.
pub const MAGIC: &[u8; 8] = b"_BHRfS_M";
/// Size of `sys_chunk_array`.
pub const SYS_CHUNK_ARRAY_MAX: usize = 2048;

/// `csum_type` values.
pub const CSUM_CRC32C: u16 = 0;

/// Incompat feature bits this reader understands.
pub mod incompat {
    pub const MIXED_BACKREF: u64 = 1 << 0;
    pub const DEFAULT_SUBVOL: u64 = 1 << 1;
    pub const MIXED_GROUPS: u64 = 1 << 2;
    pub const COMPRESS_LZO: u64 = 1 << 3;
    pub const COMPRESS_ZSTD: u64 = 1 << 4;
    pub const BIG_METADATA: u64 = 1 << 5;
    pub const EXTENDED_IREF: u64 = 1 << 6;
    pub const RAID56: u64 = 1 << 7;
    pub const SKINNY_METADATA: u64 = 1 << 8;
    pub const NO_HOLES: u64 = 1 << 9;
    pub const METADATA_UUID: u64 = 1 << 10;
    pub const RAID1C34: u64 = 1 << 11;
    /// Everything above that a read-only reader of single/DUP filesystems can handle.
    pub const SUPPORTED: u64 = MIXED_BACKREF
        | DEFAULT_SUBVOL
        | MIXED_GROUPS
        | COMPRESS_LZO
        | COMPRESS_ZSTD
        | BIG_METADATA
        | EXTENDED_IREF
        | RAID56
        | SKINNY_METADATA
        | NO_HOLES
        | METADATA_UUID
        | RAID1C34;
}

/// The fields of the superblock this reader uses.
#[derive(Debug, Clone)]
pub struct Superblock {
    pub fsid: [u8; 16],
    /// The fsid stamped in tree-block headers (differs from `fsid` with METADATA_UUID).
    pub metadata_uuid: [u8; 16],
    pub bytenr: u64,
    pub generation: u64,
    pub root: u64,
    pub chunk_root: u64,
    pub log_root: u64,
    pub total_bytes: u64,
    pub bytes_used: u64,
    pub num_devices: u64,
    pub sectorsize: u32,
    pub nodesize: u32,
    pub sys_chunk_array: Vec<u8>,
    pub chunk_root_generation: u64,
    pub compat_ro_flags: u64,
    pub incompat_flags: u64,
    pub csum_type: u16,
    pub root_level: u8,
    pub chunk_root_level: u8,
    pub log_root_level: u8,
    /// `dev_item.devid` and `dev_item.uuid` of the device this superblock was read from.
    pub devid: u64,
    pub dev_uuid: [u8; 16],
    pub label: String,
}

/// crc32c as Btrfs stores it (little-endian in the first 4 bytes of the 32-byte csum field).
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Whether `buf` (4096 bytes) carries the magic and a correct crc32c.
fn verify(buf: &[u8], at: u64) -> Result<(), FsError> {
    let what = format!("superblock at {at:#x}");
    if bytes(buf, 0x40, 8, &what)? != MAGIC {
        return Err(corrupt(what, "bad magic (not btrfs)"));
    }
    let csum_type = u16_at(buf, 0xc4, &what)?;
    if csum_type != CSUM_CRC32C {
        let name = match csum_type {
            1 => "xxhash64",
            2 => "sha256",
            3 => "blake2b",
            _ => "unknown",
        };
        return Err(unsupported(format!(
            "checksum type {csum_type} ({name}); only crc32c is supported"
        )));
    }
    let stored = u32_at(buf, 0, &what)?;
    let computed = crc32c(bytes(buf, 0x20, SUPER_SIZE - 0x20, &what)?);
    if stored != computed {
        return Err(corrupt(
            what,
            format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    Ok(())
}

impl Superblock {
    /// Parse and validate one 4096-byte superblock read from device offset `at`.
    pub fn parse(buf: &[u8], at: u64) -> Result<Self, FsError> {
        verify(buf, at)?;
        let w = format!("superblock at {at:#x}");
        let w = w.as_str();
        let fsid = uuid_at(buf, 0x20, w)?;
        let incompat_flags = u64_at(buf, 0xbc, w)?;
        let metadata_uuid = if incompat_flags & incompat::METADATA_UUID != 0 {
            uuid_at(buf, 0x23b, w)?
        } else {
            fsid
        };
        let sys_size = u32_at(buf, 0xa0, w)? as usize;
        if sys_size > SYS_CHUNK_ARRAY_MAX {
            return Err(corrupt(
                w,
                format!("sys_chunk_array_size {sys_size} exceeds {SYS_CHUNK_ARRAY_MAX}"),
            ));
        }
        let label_raw = bytes(buf, 0x12b, 256, w)?;
        let label_len = label_raw.iter().position(|&c| c == 0).unwrap_or(256);
        let label = String::from_utf8_lossy(bytes(label_raw, 0, label_len, w)?).into_owned();
        let sb = Superblock {
            fsid,
            metadata_uuid,
            bytenr: u64_at(buf, 0x30, w)?,
            generation: u64_at(buf, 0x48, w)?,
            root: u64_at(buf, 0x50, w)?,
            chunk_root: u64_at(buf, 0x58, w)?,
            log_root: u64_at(buf, 0x60, w)?,
            total_bytes: u64_at(buf, 0x70, w)?,
            bytes_used: u64_at(buf, 0x78, w)?,
            num_devices: u64_at(buf, 0x88, w)?,
            sectorsize: u32_at(buf, 0x90, w)?,
            nodesize: u32_at(buf, 0x94, w)?,
            sys_chunk_array: bytes(buf, 0x32b, sys_size, w)?.to_vec(),
            chunk_root_generation: u64_at(buf, 0xa4, w)?,
            compat_ro_flags: u64_at(buf, 0xb4, w)?,
            incompat_flags,
            csum_type: u16_at(buf, 0xc4, w)?,
            root_level: u8_at(buf, 0xc6, w)?,
            chunk_root_level: u8_at(buf, 0xc7, w)?,
            log_root_level: u8_at(buf, 0xc8, w)?,
            devid: u64_at(buf, 0xc9, w)?,
            dev_uuid: uuid_at(buf, 0xc9 + 66, w)?,
            label,
        };
        sb.validate(at)?;
        Ok(sb)
    }

    fn validate(&self, at: u64) -> Result<(), FsError> {
        let w = format!("superblock at {at:#x}");
        if self.bytenr != at {
            return Err(corrupt(
                w,
                format!("records its own offset as {:#x}", self.bytenr),
            ));
        }
        let pow2_in = |v: u32, lo: u32, hi: u32| v.is_power_of_two() && (lo..=hi).contains(&v);
        if !pow2_in(self.sectorsize, 4096, 65536) {
            return Err(corrupt(
                w,
                format!("sectorsize {} invalid", self.sectorsize),
            ));
        }
        if !pow2_in(self.nodesize, 4096, 65536) || self.nodesize < self.sectorsize {
            return Err(corrupt(w, format!("nodesize {} invalid", self.nodesize)));
        }
        const MAX_LEVEL: u8 = 7;
        for (name, l) in [
            ("root_level", self.root_level),
            ("chunk_root_level", self.chunk_root_level),
            ("log_root_level", self.log_root_level),
        ] {
            if l > MAX_LEVEL {
                return Err(corrupt(w, format!("{name} {l} exceeds {MAX_LEVEL}")));
            }
        }
        let unknown = self.incompat_flags & !incompat::SUPPORTED;
        if unknown != 0 {
            return Err(unsupported(format!(
                "incompat feature bits {unknown:#x} (extent-tree-v2, zoned, raid-stripe-tree, …)"
            )));
        }
        if self.num_devices != 1 {
            return Err(unsupported(format!(
                "multi-device filesystem ({} devices)",
                self.num_devices
            )));
        }
        Ok(())
    }

    /// Read the primary superblock; when it is damaged, fall back to the newest valid mirror
    /// that fits on the device. Returns the superblock and the offset it came from.
    pub fn read(dev: &dyn BlockDev) -> Result<(Self, u64), FsError> {
        let mut first_err = None;
        let mut best: Option<(Superblock, u64)> = None;
        for (i, &at) in SUPER_OFFSETS.iter().enumerate() {
            let fits = at
                .checked_add(SUPER_SIZE as u64)
                .is_some_and(|end| end <= dev.len());
            if !fits {
                if i == 0 {
                    return Err(FsError::Unrecognised(format!(
                        "{}: too small for a btrfs superblock",
                        dev.describe()
                    )));
                }
                break;
            }
            let mut buf = vec![0u8; SUPER_SIZE];
            dev.read_at(at, &mut buf)?;
            match Superblock::parse(&buf, at) {
                Ok(sb) => {
                    if i == 0 {
                        // The primary is authoritative, as for the kernel.
                        return Ok((sb, at));
                    }
                    if best
                        .as_ref()
                        .is_none_or(|(b, _)| sb.generation > b.generation)
                    {
                        best = Some((sb, at));
                    }
                }
                Err(e) => {
                    if i == 0 {
                        if let FsError::Unsupported { .. } = e {
                            return Err(e);
                        }
                        if buf.get(0x40..0x48) != Some(&MAGIC[..]) {
                            return Err(FsError::Unrecognised(format!(
                                "{}: no btrfs magic at 64 KiB",
                                dev.describe()
                            )));
                        }
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        match (best, first_err) {
            (Some(b), _) => Ok(b),
            (None, Some(e)) => Err(e),
            (None, None) => Err(corrupt("superblock", "no valid copy")),
        }
    }
}
