//! Block and inode allocation: first fit from a goal group onwards (wrapping), through the
//! group bitmaps (initialising BLOCK_UNINIT / INODE_UNINIT groups as mke2fs would), never
//! handing out a block the metadata map says is superblock, descriptor table, bitmap, inode
//! table or journal. Counts in descriptors and superblock follow every change.

use super::Ext4Writer;
use super::bitmap;
use super::error::{Ext4WriteError, corrupt};
use super::group_desc::{BG_BLOCK_UNINIT, BG_INODE_UNINIT};

impl Ext4Writer {
    fn group_of_block(&self, b: u64) -> u32 {
        ((b - self.sb.first_data_block) / u64::from(self.sb.blocks_per_group)) as u32
    }

    /// Whether block `b` is filesystem metadata (or the journal).
    pub(super) fn is_reserved(&self, b: u64) -> bool {
        let i = self.reserved.partition_point(|&(s, _)| s <= b);
        i > 0
            && self
                .reserved
                .get(i - 1)
                .is_some_and(|&(s, e)| b >= s && b < e)
    }

    /// The block bitmap of group `g` (built from the metadata map if BLOCK_UNINIT).
    pub(super) fn block_bitmap(&mut self, g: u32) -> Result<&mut Vec<u8>, Ext4WriteError> {
        if !self.block_bitmaps.contains_key(&g) {
            let gd = self
                .groups
                .get(g as usize)
                .ok_or_else(|| corrupt("group descriptors", format!("no group {g}")))?
                .clone();
            let n = self.sb.blocks_in_group(g);
            let bm = if gd.flags() & BG_BLOCK_UNINIT != 0 {
                let start = self.sb.group_first_block(g);
                let mut bm = vec![0u8; self.bs()];
                for &(s, e) in &self.reserved {
                    for b in s.max(start)..e.min(start + n) {
                        bitmap::set(&mut bm, b - start);
                    }
                }
                bitmap::set_padding(&mut bm, n);
                bm
            } else {
                let bm = self.read_block(gd.block_bitmap())?;
                if self.sb.metadata_csum() {
                    let c = bitmap::csum(self.sb.csum_seed, &bm, self.sb.blocks_per_group);
                    let want = gd.block_bitmap_csum();
                    let c = if self.sb.desc_size >= 64 {
                        c
                    } else {
                        c & 0xFFFF
                    };
                    if c != want {
                        return Err(Ext4WriteError::Checksum(format!(
                            "block bitmap of group {g}"
                        )));
                    }
                }
                bm
            };
            let used = bitmap::count_set(&bm, n);
            if used + u64::from(gd.free_blocks()) != n {
                return Err(corrupt(
                    format!("block group {g}"),
                    format!(
                        "bitmap has {} free blocks, descriptor says {}",
                        n - used.min(n),
                        gd.free_blocks()
                    ),
                ));
            }
            self.block_bitmaps.insert(g, bm);
        }
        self.block_bitmaps
            .get_mut(&g)
            .ok_or_else(|| corrupt("block bitmap cache", "missing"))
    }

    /// The inode bitmap of group `g` (zero plus padding if INODE_UNINIT).
    pub(super) fn inode_bitmap(&mut self, g: u32) -> Result<&mut Vec<u8>, Ext4WriteError> {
        if !self.inode_bitmaps.contains_key(&g) {
            let gd = self
                .groups
                .get(g as usize)
                .ok_or_else(|| corrupt("group descriptors", format!("no group {g}")))?
                .clone();
            let ipg = u64::from(self.sb.inodes_per_group);
            let bm = if gd.flags() & BG_INODE_UNINIT != 0 {
                let mut bm = vec![0u8; self.bs()];
                bitmap::set_padding(&mut bm, ipg);
                bm
            } else {
                let bm = self.read_block(gd.inode_bitmap())?;
                if self.sb.metadata_csum() {
                    let c = bitmap::csum(self.sb.csum_seed, &bm, self.sb.inodes_per_group);
                    let c = if self.sb.desc_size >= 64 {
                        c
                    } else {
                        c & 0xFFFF
                    };
                    if c != gd.inode_bitmap_csum() {
                        return Err(Ext4WriteError::Checksum(format!(
                            "inode bitmap of group {g}"
                        )));
                    }
                }
                bm
            };
            let used = bitmap::count_set(&bm, ipg);
            if used + u64::from(gd.free_inodes()) != ipg {
                return Err(corrupt(
                    format!("block group {g}"),
                    "inode bitmap disagrees with the descriptor's free inode count",
                ));
            }
            self.inode_bitmaps.insert(g, bm);
        }
        self.inode_bitmaps
            .get_mut(&g)
            .ok_or_else(|| corrupt("inode bitmap cache", "missing"))
    }

    /// Allocate `count` blocks, first fit from `goal`; returns runs `(start, len)` in order.
    /// Nothing is allocated when there is not enough space.
    pub(super) fn alloc_blocks(
        &mut self,
        goal: u64,
        count: u64,
    ) -> Result<Vec<(u64, u32)>, Ext4WriteError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        if count > self.sb.free_blocks() {
            return Err(Ext4WriteError::NoSpace(format!(
                "{count} blocks wanted, {} free",
                self.sb.free_blocks()
            )));
        }
        let goal = goal.clamp(self.sb.first_data_block, self.sb.blocks_count - 1);
        let g0 = self.group_of_block(goal);
        let ng = self.sb.group_count;
        let mut runs: Vec<(u64, u32)> = Vec::new();
        let mut left = count;
        for k in 0..ng {
            if left == 0 {
                break;
            }
            let g = (g0 + k) % ng;
            let free = self
                .groups
                .get(g as usize)
                .map(|d| d.free_blocks())
                .unwrap_or(0);
            if free == 0 {
                continue;
            }
            let start = self.sb.group_first_block(g);
            let n = self.sb.blocks_in_group(g);
            let from = if k == 0 { goal - start } else { 0 };
            let mut picked: Vec<u64> = Vec::new();
            {
                let bm = self.block_bitmap(g)?.clone();
                let mut i = from;
                while i < n && (picked.len() as u64) < left {
                    if !bitmap::test(&bm, i) {
                        picked.push(i);
                    }
                    i += 1;
                }
                if k == 0 && (picked.len() as u64) < left {
                    // Wrap inside the goal group too.
                    let mut i = 0;
                    while i < from && (picked.len() as u64) < left {
                        if !bitmap::test(&bm, i) {
                            picked.push(i);
                        }
                        i += 1;
                    }
                }
            }
            for &i in &picked {
                if self.is_reserved(start + i) {
                    return Err(corrupt(
                        format!("block bitmap of group {g}"),
                        format!("metadata block {} is marked free", start + i),
                    ));
                }
            }
            if picked.is_empty() {
                continue;
            }
            let bm = self.block_bitmap(g)?;
            for &i in &picked {
                bitmap::set(bm, i);
            }
            let np = picked.len() as u32;
            if let Some(gd) = self.groups.get_mut(g as usize) {
                gd.set_free_blocks(gd.free_blocks().saturating_sub(np));
                gd.set_flags(gd.flags() & !BG_BLOCK_UNINIT);
            }
            self.dirty_groups.insert(g);
            self.dirty_block_bitmaps.insert(g);
            let fb = self.sb.free_blocks();
            self.sb.set_free_blocks(fb.saturating_sub(u64::from(np)));
            left -= u64::from(np);
            for i in picked {
                let b = start + i;
                match runs.last_mut() {
                    Some((s, l)) if *s + u64::from(*l) == b && *l < u32::MAX => *l += 1,
                    _ => runs.push((b, 1)),
                }
            }
        }
        if left > 0 {
            // Give back what was taken: the counts said there was room but bitmaps disagree.
            self.free_blocks(&runs)?;
            return Err(Ext4WriteError::NoSpace(format!("{count} blocks wanted")));
        }
        Ok(runs)
    }

    /// Return runs of blocks to the free pool. Freeing a free block is corruption.
    pub(super) fn free_blocks(&mut self, runs: &[(u64, u32)]) -> Result<(), Ext4WriteError> {
        for &(s, l) in runs {
            for b in s..s + u64::from(l) {
                if b < self.sb.first_data_block || b >= self.sb.blocks_count || self.is_reserved(b)
                {
                    return Err(corrupt("extent", format!("block {b} cannot be freed")));
                }
                let g = self.group_of_block(b);
                let i = b - self.sb.group_first_block(g);
                let bm = self.block_bitmap(g)?;
                if !bitmap::test(bm, i) {
                    return Err(corrupt(
                        format!("block bitmap of group {g}"),
                        format!("block {b} in use by a file is marked free"),
                    ));
                }
                bitmap::clear(bm, i);
                if let Some(gd) = self.groups.get_mut(g as usize) {
                    gd.set_free_blocks(gd.free_blocks().saturating_add(1));
                    gd.set_flags(gd.flags() & !BG_BLOCK_UNINIT);
                }
                self.dirty_groups.insert(g);
                self.dirty_block_bitmaps.insert(g);
                let fb = self.sb.free_blocks();
                self.sb.set_free_blocks(fb.saturating_add(1));
            }
        }
        Ok(())
    }

    /// Allocate an inode, first fit from `goal_group`. Returns its number.
    pub(super) fn alloc_inode(
        &mut self,
        goal_group: u32,
        is_dir: bool,
    ) -> Result<u32, Ext4WriteError> {
        let ng = self.sb.group_count;
        let ipg = self.sb.inodes_per_group;
        for k in 0..ng {
            let g = (goal_group % ng + k) % ng;
            let free = self
                .groups
                .get(g as usize)
                .map(|d| d.free_inodes())
                .unwrap_or(0);
            if free == 0 {
                continue;
            }
            let first = if g == 0 { self.sb.first_ino - 1 } else { 0 };
            let bm = self.inode_bitmap(g)?;
            let Some(i) = bitmap::first_clear(bm, u64::from(first), u64::from(ipg)) else {
                continue;
            };
            bitmap::set(bm, i);
            let i = i as u32;
            let sb_csum = self.sb.metadata_csum() || self.sb.gdt_csum();
            if let Some(gd) = self.groups.get_mut(g as usize) {
                gd.set_free_inodes(gd.free_inodes().saturating_sub(1));
                if is_dir {
                    gd.set_used_dirs(gd.used_dirs().saturating_add(1));
                }
                // The inode slot is always written whole, so a table that is not
                // BG_INODE_ZEROED needs nothing more; first fit keeps every lower slot in use.
                gd.set_flags(gd.flags() & !BG_INODE_UNINIT);
                if sb_csum {
                    let unused = gd.itable_unused();
                    if i >= ipg.saturating_sub(unused) {
                        gd.set_itable_unused(ipg - i - 1);
                    }
                }
            }
            self.dirty_groups.insert(g);
            self.dirty_inode_bitmaps.insert(g);
            let fi = self.sb.free_inodes();
            self.sb.set_free_inodes(fi.saturating_sub(1));
            return Ok(g * ipg + i + 1);
        }
        Err(Ext4WriteError::NoSpace("no free inode".into()))
    }
}
