//! The ext4 superblock (1024 bytes at byte 1024): geometry, features, free counts, checksum.

use super::csum::crc32c_raw;
use super::error::{Ext4WriteError, corrupt};
use super::le::{rd8, rd16, rd32, wr32};

pub const SB_OFFSET: u64 = 1024;
pub const SB_SIZE: usize = 1024;
const MAGIC: u16 = 0xEF53;
/// Largest number of block groups accepted (bounds the in-memory descriptor table).
pub const MAX_GROUPS: u64 = 1 << 20;

pub mod compat {
    pub const DIR_PREALLOC: u32 = 0x1;
    pub const IMAGIC_INODES: u32 = 0x2;
    pub const HAS_JOURNAL: u32 = 0x4;
    pub const EXT_ATTR: u32 = 0x8;
    pub const RESIZE_INODE: u32 = 0x10;
    pub const DIR_INDEX: u32 = 0x20;
    pub const FAST_COMMIT: u32 = 0x400;
    pub const STABLE_INODES: u32 = 0x800;
    pub const ORPHAN_FILE: u32 = 0x1000;
}
pub mod incompat {
    pub const FILETYPE: u32 = 0x2;
    pub const RECOVER: u32 = 0x4;
    pub const EXTENTS: u32 = 0x40;
    pub const BIT64: u32 = 0x80;
    pub const FLEX_BG: u32 = 0x200;
    pub const CSUM_SEED: u32 = 0x2000;
    pub const LARGEDIR: u32 = 0x4000;
}
pub mod ro_compat {
    pub const SPARSE_SUPER: u32 = 0x1;
    pub const LARGE_FILE: u32 = 0x2;
    pub const HUGE_FILE: u32 = 0x8;
    pub const GDT_CSUM: u32 = 0x10;
    pub const DIR_NLINK: u32 = 0x20;
    pub const EXTRA_ISIZE: u32 = 0x40;
    pub const METADATA_CSUM: u32 = 0x400;
    pub const ORPHAN_PRESENT: u32 = 0x10000;
}

const COMPAT_OK: u32 = compat::DIR_PREALLOC
    | compat::IMAGIC_INODES
    | compat::HAS_JOURNAL
    | compat::EXT_ATTR
    | compat::RESIZE_INODE
    | compat::DIR_INDEX
    | compat::FAST_COMMIT
    | compat::STABLE_INODES
    | compat::ORPHAN_FILE;
const INCOMPAT_OK: u32 = incompat::FILETYPE
    | incompat::EXTENTS
    | incompat::BIT64
    | incompat::FLEX_BG
    | incompat::CSUM_SEED
    | incompat::LARGEDIR;
const RO_COMPAT_OK: u32 = ro_compat::SPARSE_SUPER
    | ro_compat::LARGE_FILE
    | ro_compat::HUGE_FILE
    | ro_compat::GDT_CSUM
    | ro_compat::DIR_NLINK
    | ro_compat::EXTRA_ISIZE
    | ro_compat::METADATA_CSUM;

fn feature_name(kind: u8, bit: u32) -> String {
    let n = match (kind, bit) {
        (0, 0x40) => "lazy_bg",
        (0, 0x80) => "exclude_inode",
        (0, 0x100) => "exclude_bitmap",
        (0, 0x200) => "sparse_super2",
        (1, 0x1) => "compression",
        (1, 0x8) => "journal_dev",
        (1, 0x10) => "meta_bg",
        (1, 0x100) => "mmp",
        (1, 0x400) => "ea_inode",
        (1, 0x1000) => "dirdata",
        (1, 0x8000) => "inline_data",
        (1, 0x10000) => "encrypt",
        (1, 0x20000) => "casefold",
        (2, 0x4) => "btree_dir",
        (2, 0x80) => "snapshot",
        (2, 0x100) => "quota",
        (2, 0x200) => "bigalloc",
        (2, 0x800) => "replica",
        (2, 0x1000) => "read-only",
        (2, 0x2000) => "project",
        (2, 0x4000) => "shared_blocks",
        (2, 0x8000) => "verity",
        _ => "",
    };
    if n.is_empty() {
        let k = ["compat", "incompat", "ro_compat"]
            .get(usize::from(kind))
            .copied()
            .unwrap_or("?");
        format!("unknown {k} feature {bit:#x}")
    } else {
        n.to_string()
    }
}

/// The parsed superblock plus its raw bytes (written back with only counts and checksum changed).
#[derive(Debug, Clone)]
pub struct Superblock {
    pub raw: Vec<u8>,
    pub block_size: u64,
    pub blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub inodes_count: u32,
    pub inode_size: usize,
    pub first_ino: u32,
    pub desc_size: usize,
    pub group_count: u32,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub csum_seed: u32,
    pub uuid: [u8; 16],
    pub hash_seed: [u32; 4],
    pub unsigned_hash: bool,
    pub reserved_gdt_blocks: u32,
    pub extra_isize: u16,
}

impl Superblock {
    /// Parse and validate, refusing every feature the writer cannot keep consistent.
    pub fn parse(raw: Vec<u8>) -> Result<Self, Ext4WriteError> {
        if raw.len() != SB_SIZE {
            return Err(corrupt("superblock", "short read"));
        }
        let magic = rd16(&raw, 0x38);
        if magic != MAGIC {
            return Err(Ext4WriteError::BadMagic(magic));
        }
        let compat = rd32(&raw, 0x5C);
        let incompat = rd32(&raw, 0x60);
        let ro_compat = rd32(&raw, 0x64);
        // Journal not replayed: writing around it would be undone/clobbered by a later replay.
        if incompat & incompat::RECOVER != 0 {
            return Err(Ext4WriteError::NeedsRecovery);
        }
        if ro_compat & ro_compat::ORPHAN_PRESENT != 0 {
            return Err(Ext4WriteError::OrphansPresent(
                "orphan_present flag set in the orphan file".into(),
            ));
        }
        for (kind, have, ok) in [
            (0u8, compat, COMPAT_OK),
            (1, incompat, INCOMPAT_OK),
            (2, ro_compat, RO_COMPAT_OK),
        ] {
            let bad = have & !ok;
            if bad != 0 {
                let bit = 1u32 << bad.trailing_zeros();
                return Err(Ext4WriteError::UnsupportedFeature(feature_name(kind, bit)));
            }
        }
        if incompat & incompat::EXTENTS == 0 {
            return Err(Ext4WriteError::UnsupportedFeature(
                "no 'extent' feature: block-mapped (ext2/ext3-style) files are not written".into(),
            ));
        }
        if ro_compat & ro_compat::METADATA_CSUM != 0 && ro_compat & ro_compat::GDT_CSUM != 0 {
            return Err(corrupt(
                "superblock",
                "both metadata_csum and gdt_csum are set",
            ));
        }
        let last_orphan = rd32(&raw, 0xE8);
        if last_orphan != 0 {
            return Err(Ext4WriteError::OrphansPresent(format!(
                "s_last_orphan = inode {last_orphan}"
            )));
        }
        let state = rd16(&raw, 0x3A);
        if state & 0x1 == 0 || state & 0x2 != 0 {
            return Err(Ext4WriteError::HasErrors(state));
        }
        let log_bs = rd32(&raw, 0x18);
        if log_bs > 6 {
            return Err(corrupt(
                "superblock",
                format!("s_log_block_size {log_bs} too large"),
            ));
        }
        if rd32(&raw, 0x1C) != log_bs {
            return Err(corrupt(
                "superblock",
                "cluster size differs from block size",
            ));
        }
        let block_size = 1024u64 << log_bs;
        let bit64 = incompat & incompat::BIT64 != 0;
        let mut blocks_count = u64::from(rd32(&raw, 0x4));
        if bit64 {
            blocks_count |= u64::from(rd32(&raw, 0x150)) << 32;
        }
        let first_data_block = u64::from(rd32(&raw, 0x14));
        let blocks_per_group = rd32(&raw, 0x20);
        let inodes_per_group = rd32(&raw, 0x28);
        let inodes_count = rd32(&raw, 0x0);
        let bits_per_block = block_size * 8;
        if blocks_per_group == 0
            || u64::from(blocks_per_group) > bits_per_block
            || blocks_per_group % 8 != 0
        {
            return Err(corrupt(
                "superblock",
                format!("s_blocks_per_group {blocks_per_group} invalid"),
            ));
        }
        if inodes_per_group == 0
            || u64::from(inodes_per_group) > bits_per_block
            || inodes_per_group % 8 != 0
        {
            return Err(corrupt(
                "superblock",
                format!("s_inodes_per_group {inodes_per_group} invalid"),
            ));
        }
        if first_data_block >= blocks_count || first_data_block > 1 {
            return Err(corrupt("superblock", "s_first_data_block invalid"));
        }
        let groups = (blocks_count - first_data_block).div_ceil(u64::from(blocks_per_group));
        if groups == 0 || groups > MAX_GROUPS {
            return Err(corrupt(
                "superblock",
                format!("{groups} block groups (limit {MAX_GROUPS})"),
            ));
        }
        if u64::from(inodes_count) != groups * u64::from(inodes_per_group) {
            return Err(corrupt(
                "superblock",
                "s_inodes_count != groups * s_inodes_per_group",
            ));
        }
        let rev = rd32(&raw, 0x4C);
        let (inode_size, first_ino) = if rev == 0 {
            (128usize, 11u32)
        } else {
            (usize::from(rd16(&raw, 0x58)), rd32(&raw, 0x54))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size as u64 > block_size {
            return Err(corrupt(
                "superblock",
                format!("s_inode_size {inode_size} invalid"),
            ));
        }
        if first_ino < 11 || first_ino > inodes_count {
            return Err(corrupt("superblock", "s_first_ino invalid"));
        }
        let desc_size = if bit64 {
            let d = usize::from(rd16(&raw, 0xFE));
            if !(64..=1024).contains(&d) || !d.is_power_of_two() {
                return Err(corrupt("superblock", format!("s_desc_size {d} invalid")));
            }
            d
        } else {
            32
        };
        let mut uuid = [0u8; 16];
        if let Some(u) = raw.get(0x68..0x78) {
            uuid.copy_from_slice(u);
        }
        let metadata_csum = ro_compat & ro_compat::METADATA_CSUM != 0;
        if metadata_csum {
            if rd8(&raw, 0x175) != 1 {
                return Err(corrupt("superblock", "s_checksum_type is not crc32c"));
            }
            let want = rd32(&raw, 0x3FC);
            let got = crc32c_raw(!0, raw.get(..0x3FC).unwrap_or(&[]));
            if want != got {
                return Err(Ext4WriteError::Checksum(format!(
                    "superblock (stored {want:#010x}, computed {got:#010x})"
                )));
            }
        }
        let csum_seed = if incompat & incompat::CSUM_SEED != 0 {
            rd32(&raw, 0x270)
        } else {
            crc32c_raw(!0, &uuid)
        };
        let hash_seed = [
            rd32(&raw, 0xEC),
            rd32(&raw, 0xF0),
            rd32(&raw, 0xF4),
            rd32(&raw, 0xF8),
        ];
        let reserved_gdt_blocks = if compat & compat::RESIZE_INODE != 0 {
            u32::from(rd16(&raw, 0xCE))
        } else {
            0
        };
        let want = rd16(&raw, 0x15E).max(rd16(&raw, 0x15C));
        let max_extra = (inode_size - 128) as u16;
        let extra_isize = if inode_size <= 128 {
            0
        } else if want == 0 || want > max_extra || want % 4 != 0 {
            32.min(max_extra)
        } else {
            want
        };
        Ok(Superblock {
            block_size,
            blocks_count,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            inodes_count,
            inode_size,
            first_ino,
            desc_size,
            group_count: groups as u32,
            compat,
            incompat,
            ro_compat,
            csum_seed,
            uuid,
            hash_seed,
            unsigned_hash: rd32(&raw, 0x160) & 0x2 != 0,
            reserved_gdt_blocks,
            extra_isize,
            raw,
        })
    }

    pub fn metadata_csum(&self) -> bool {
        self.ro_compat & ro_compat::METADATA_CSUM != 0
    }
    pub fn gdt_csum(&self) -> bool {
        self.ro_compat & ro_compat::GDT_CSUM != 0
    }
    pub fn has(&self, which: u8, bit: u32) -> bool {
        match which {
            0 => self.compat & bit != 0,
            1 => self.incompat & bit != 0,
            _ => self.ro_compat & bit != 0,
        }
    }
    pub fn is_64bit(&self) -> bool {
        self.incompat & incompat::BIT64 != 0
    }
    pub fn filetype(&self) -> bool {
        self.incompat & incompat::FILETYPE != 0
    }
    pub fn dir_index(&self) -> bool {
        self.compat & compat::DIR_INDEX != 0
    }

    pub fn free_blocks(&self) -> u64 {
        let mut v = u64::from(rd32(&self.raw, 0xC));
        if self.is_64bit() {
            v |= u64::from(rd32(&self.raw, 0x158)) << 32;
        }
        v
    }
    pub fn set_free_blocks(&mut self, v: u64) {
        wr32(&mut self.raw, 0xC, v as u32);
        if self.is_64bit() {
            wr32(&mut self.raw, 0x158, (v >> 32) as u32);
        }
    }
    pub fn free_inodes(&self) -> u32 {
        rd32(&self.raw, 0x10)
    }
    pub fn set_free_inodes(&mut self, v: u32) {
        wr32(&mut self.raw, 0x10, v);
    }

    /// Number of blocks of the group descriptor table.
    pub fn gdt_blocks(&self) -> u64 {
        (u64::from(self.group_count) * self.desc_size as u64).div_ceil(self.block_size)
    }

    /// First block of group `g`.
    pub fn group_first_block(&self, g: u32) -> u64 {
        self.first_data_block + u64::from(g) * u64::from(self.blocks_per_group)
    }

    /// Number of blocks in group `g` (the last one may be short).
    pub fn blocks_in_group(&self, g: u32) -> u64 {
        let start = self.group_first_block(g);
        (self.blocks_count.saturating_sub(start)).min(u64::from(self.blocks_per_group))
    }

    /// Whether group `g` holds a superblock + GDT backup (sparse_super: 0, 1, powers of 3, 5, 7).
    pub fn group_has_super(&self, g: u32) -> bool {
        if g <= 1 || self.ro_compat & ro_compat::SPARSE_SUPER == 0 {
            return true;
        }
        if g % 2 == 0 {
            return false;
        }
        [3u32, 5, 7].iter().any(|&p| {
            let mut x = g;
            while x % p == 0 {
                x /= p;
            }
            x == 1
        })
    }

    /// Bytes with the checksum recomputed (metadata_csum), ready to write at [`SB_OFFSET`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut raw = self.raw.clone();
        if self.metadata_csum() {
            let c = crc32c_raw(!0, raw.get(..0x3FC).unwrap_or(&[]));
            wr32(&mut raw, 0x3FC, c);
        }
        raw
    }
}
