//! On-disk inodes (`s_inode_size` bytes): the fields the writer reads and changes, and the
//! metadata_csum inode checksum (crc32c over inode number, generation and the inode with both
//! checksum halves zeroed; low 16 bits in `l_i_checksum_lo`, high 16 in `i_checksum_hi` when
//! `i_extra_isize` covers it).

use super::csum::crc32c_raw;
use super::le::{rd16, rd32, wr16, wr32};

pub const S_IFMT: u16 = 0o170000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFLNK: u16 = 0o120000;

pub const EXT4_INDEX_FL: u32 = 0x1000;
pub const EXT4_HUGE_FILE_FL: u32 = 0x40000;
pub const EXT4_EXTENTS_FL: u32 = 0x80000;
pub const EXT4_EA_INODE_FL: u32 = 0x200000;
pub const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000;
pub const EXT4_ENCRYPT_FL: u32 = 0x800;
pub const EXT4_VERITY_FL: u32 = 0x10_0000;

/// The largest link count; with dir_nlink a directory past it carries 1.
pub const LINK_MAX: u16 = 65000;

const CSUM_LO: usize = 0x7C;
const CSUM_HI: usize = 0x82;

#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u32,
    pub raw: Vec<u8>,
}

impl Inode {
    pub fn mode(&self) -> u16 {
        rd16(&self.raw, 0x0)
    }
    pub fn set_mode(&mut self, m: u16) {
        wr16(&mut self.raw, 0x0, m)
    }
    pub fn file_type_bits(&self) -> u16 {
        self.mode() & S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type_bits() == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.file_type_bits() == S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type_bits() == S_IFLNK
    }
    pub fn uid(&self) -> u32 {
        u32::from(rd16(&self.raw, 0x2)) | (u32::from(rd16(&self.raw, 0x78)) << 16)
    }
    pub fn gid(&self) -> u32 {
        u32::from(rd16(&self.raw, 0x18)) | (u32::from(rd16(&self.raw, 0x7A)) << 16)
    }
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        wr16(&mut self.raw, 0x2, uid as u16);
        wr16(&mut self.raw, 0x78, (uid >> 16) as u16);
        wr16(&mut self.raw, 0x18, gid as u16);
        wr16(&mut self.raw, 0x7A, (gid >> 16) as u16);
    }
    pub fn size(&self) -> u64 {
        u64::from(rd32(&self.raw, 0x4)) | (u64::from(rd32(&self.raw, 0x6C)) << 32)
    }
    pub fn set_size(&mut self, s: u64) {
        wr32(&mut self.raw, 0x4, s as u32);
        wr32(&mut self.raw, 0x6C, (s >> 32) as u32);
    }
    pub fn links(&self) -> u16 {
        rd16(&self.raw, 0x1A)
    }
    pub fn set_links(&mut self, n: u16) {
        wr16(&mut self.raw, 0x1A, n)
    }
    /// `i_blocks` in 512-byte sectors (the writer refuses inodes with HUGE_FILE_FL).
    pub fn blocks512(&self) -> u64 {
        u64::from(rd32(&self.raw, 0x1C)) | (u64::from(rd16(&self.raw, 0x74)) << 32)
    }
    pub fn set_blocks512(&mut self, n: u64) {
        wr32(&mut self.raw, 0x1C, n as u32);
        wr16(&mut self.raw, 0x74, (n >> 32) as u16);
    }
    pub fn flags(&self) -> u32 {
        rd32(&self.raw, 0x20)
    }
    pub fn set_flags(&mut self, f: u32) {
        wr32(&mut self.raw, 0x20, f)
    }
    pub fn generation(&self) -> u32 {
        rd32(&self.raw, 0x64)
    }
    pub fn i_block(&self) -> &[u8] {
        self.raw.get(0x28..0x28 + 60).unwrap_or(&[])
    }
    pub fn set_i_block(&mut self, b: &[u8; 60]) {
        if let Some(s) = self.raw.get_mut(0x28..0x28 + 60) {
            s.copy_from_slice(b);
        }
    }
    pub fn extra_isize(&self) -> usize {
        if self.raw.len() > 128 {
            usize::from(rd16(&self.raw, 0x80))
        } else {
            0
        }
    }

    /// Set one of the timestamps (`0x8` atime, `0xC` ctime, `0x10` mtime, `0x90` crtime) with
    /// its `_extra` word (epoch bits + nanoseconds) when the inode has room for it.
    pub fn set_time(&mut self, which: TimeField, secs: i64, nsec: u32) {
        let (off, extra) = match which {
            TimeField::Atime => (0x8, 0x8C),
            TimeField::Ctime => (0xC, 0x84),
            TimeField::Mtime => (0x10, 0x88),
            TimeField::Crtime => (0x90, 0x94),
        };
        let has_extra = 128 + self.extra_isize() >= extra + 4;
        if off >= 128 && !has_extra {
            return;
        }
        // Representable range: 32-bit signed seconds plus two epoch bits (1901..2446).
        let max = if has_extra {
            (1i64 << 34) - (1 << 31) - 1
        } else {
            i64::from(i32::MAX)
        };
        let secs = secs.clamp(i64::from(i32::MIN), max);
        wr32(&mut self.raw, off, secs as u32);
        if has_extra {
            // Epoch bits: (secs - (i32)secs) >> 32, two bits; then nanoseconds << 2.
            let epoch = ((secs - i64::from(secs as i32)) >> 32) as u32 & 3;
            wr32(&mut self.raw, extra, epoch | (nsec.min(999_999_999) << 2));
        }
    }

    pub fn time(&self, which: TimeField) -> i64 {
        let (off, extra) = match which {
            TimeField::Atime => (0x8, 0x8C),
            TimeField::Ctime => (0xC, 0x84),
            TimeField::Mtime => (0x10, 0x88),
            TimeField::Crtime => (0x90, 0x94),
        };
        let lo = i64::from(rd32(&self.raw, off) as i32);
        if 128 + self.extra_isize() >= extra + 4 {
            lo + (i64::from(rd32(&self.raw, extra) & 3) << 32)
        } else {
            lo
        }
    }

    fn csum_inner(&self, seed: u32) -> u32 {
        let mut copy = self.raw.clone();
        wr16(&mut copy, CSUM_LO, 0);
        if self.extra_isize() >= 4 {
            wr16(&mut copy, CSUM_HI, 0);
        }
        let c = crc32c_raw(seed, &self.ino.to_le_bytes());
        let c = crc32c_raw(c, &self.generation().to_le_bytes());
        crc32c_raw(c, &copy)
    }

    /// Whether the stored checksum matches (metadata_csum).
    pub fn csum_ok(&self, fs_seed: u32) -> bool {
        let c = self.csum_inner(fs_seed);
        let lo_ok = rd16(&self.raw, CSUM_LO) == c as u16;
        if self.extra_isize() >= 4 {
            lo_ok && rd16(&self.raw, CSUM_HI) == (c >> 16) as u16
        } else {
            lo_ok
        }
    }

    pub fn update_csum(&mut self, fs_seed: u32) {
        let c = self.csum_inner(fs_seed);
        wr16(&mut self.raw, CSUM_LO, c as u16);
        if self.extra_isize() >= 4 {
            wr16(&mut self.raw, CSUM_HI, (c >> 16) as u16);
        }
    }

    /// Seed of the per-inode checksums (extent blocks, directory blocks).
    pub fn csum_seed(&self, fs_seed: u32) -> u32 {
        let c = crc32c_raw(fs_seed, &self.ino.to_le_bytes());
        crc32c_raw(c, &self.generation().to_le_bytes())
    }
}

#[derive(Debug, Clone, Copy)]
pub enum TimeField {
    Atime,
    Ctime,
    Mtime,
    Crtime,
}
