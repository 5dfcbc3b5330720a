//! Block group descriptors (32 bytes, or `s_desc_size` with 64bit) and their checksums
//! (crc32c low 16 bits with metadata_csum, crc16 with gdt_csum/uninit_bg).

use super::csum::{crc16, crc32c_raw};
use super::le::{rd16, rd32, wr16};
use super::superblock::Superblock;

pub const BG_INODE_UNINIT: u16 = 0x1;
pub const BG_BLOCK_UNINIT: u16 = 0x2;
const CSUM_OFF: usize = 0x1E;

#[derive(Debug, Clone)]
pub struct GroupDesc {
    pub raw: Vec<u8>,
}

impl GroupDesc {
    fn wide(&self) -> bool {
        self.raw.len() >= 64
    }
    fn lohi32(&self, lo: usize, hi: usize) -> u64 {
        let mut v = u64::from(rd32(&self.raw, lo));
        if self.wide() {
            v |= u64::from(rd32(&self.raw, hi)) << 32;
        }
        v
    }
    fn lohi16(&self, lo: usize, hi: usize) -> u32 {
        let mut v = u32::from(rd16(&self.raw, lo));
        if self.wide() {
            v |= u32::from(rd16(&self.raw, hi)) << 16;
        }
        v
    }
    fn set_lohi16(&mut self, lo: usize, hi: usize, v: u32) {
        wr16(&mut self.raw, lo, v as u16);
        if self.wide() {
            wr16(&mut self.raw, hi, (v >> 16) as u16);
        }
    }

    pub fn block_bitmap(&self) -> u64 {
        self.lohi32(0x0, 0x20)
    }
    pub fn inode_bitmap(&self) -> u64 {
        self.lohi32(0x4, 0x24)
    }
    pub fn inode_table(&self) -> u64 {
        self.lohi32(0x8, 0x28)
    }
    pub fn free_blocks(&self) -> u32 {
        self.lohi16(0xC, 0x2C)
    }
    pub fn set_free_blocks(&mut self, v: u32) {
        self.set_lohi16(0xC, 0x2C, v)
    }
    pub fn free_inodes(&self) -> u32 {
        self.lohi16(0xE, 0x2E)
    }
    pub fn set_free_inodes(&mut self, v: u32) {
        self.set_lohi16(0xE, 0x2E, v)
    }
    pub fn used_dirs(&self) -> u32 {
        self.lohi16(0x10, 0x30)
    }
    pub fn set_used_dirs(&mut self, v: u32) {
        self.set_lohi16(0x10, 0x30, v)
    }
    pub fn flags(&self) -> u16 {
        rd16(&self.raw, 0x12)
    }
    pub fn set_flags(&mut self, v: u16) {
        wr16(&mut self.raw, 0x12, v)
    }
    pub fn itable_unused(&self) -> u32 {
        self.lohi16(0x1C, 0x32)
    }
    pub fn set_itable_unused(&mut self, v: u32) {
        self.set_lohi16(0x1C, 0x32, v)
    }
    pub fn checksum(&self) -> u16 {
        rd16(&self.raw, CSUM_OFF)
    }

    /// Store the block bitmap checksum (low half, and high half with 64-byte descriptors).
    pub fn set_block_bitmap_csum(&mut self, c: u32) {
        wr16(&mut self.raw, 0x18, c as u16);
        if self.wide() {
            wr16(&mut self.raw, 0x38, (c >> 16) as u16);
        }
    }
    pub fn set_inode_bitmap_csum(&mut self, c: u32) {
        wr16(&mut self.raw, 0x1A, c as u16);
        if self.wide() {
            wr16(&mut self.raw, 0x3A, (c >> 16) as u16);
        }
    }
    pub fn block_bitmap_csum(&self) -> u32 {
        self.lohi16(0x18, 0x38)
    }
    pub fn inode_bitmap_csum(&self) -> u32 {
        self.lohi16(0x1A, 0x3A)
    }

    /// The checksum this descriptor should carry, or `None` without a checksum feature.
    pub fn compute_csum(&self, sb: &Superblock, group: u32) -> Option<u16> {
        let le = group.to_le_bytes();
        let before = self.raw.get(..CSUM_OFF).unwrap_or(&[]);
        let after = self.raw.get(CSUM_OFF + 2..).unwrap_or(&[]);
        if sb.metadata_csum() {
            let c = crc32c_raw(sb.csum_seed, &le);
            let c = crc32c_raw(c, before);
            let c = crc32c_raw(c, &[0, 0]);
            let c = crc32c_raw(c, after);
            Some(c as u16)
        } else if sb.gdt_csum() {
            let c = crc16(!0, &sb.uuid);
            let c = crc16(c, &le);
            let c = crc16(c, before);
            // crc16 covers the bytes after the checksum only on 64bit filesystems.
            let c = if sb.is_64bit() { crc16(c, after) } else { c };
            Some(c)
        } else {
            None
        }
    }

    pub fn update_csum(&mut self, sb: &Superblock, group: u32) {
        if let Some(c) = self.compute_csum(sb, group) {
            wr16(&mut self.raw, CSUM_OFF, c);
        }
    }
}
