//! Our own ext4 writer (issue #8): minimal, exact changes to an unmounted, clean ext2/3/4
//! filesystem with extents, written through a [`WritableDev`], for the MOD-L* fixes of
//! `import-requirements.md` §7 (edit /etc/fstab, grub.cfg, network config, keep originals as
//! backups in the same directory).
//!
//! What it does: replace a regular file's content (any size; extent trees of depth 0 to 3,
//! i.e. up to `4 * ((block_size - 12) / 12)^3` extents, else
//! [`Ext4WriteError::TooFragmented`]), create
//! regular files and directories, hard-link, rename, set mode/owner/times, in linear
//! directories (grown by appending blocks) and hashed (htree) directories (leaf split, index
//! nodes split, root grown from 0 to 1 indirect level; a full two-level index is refused with
//! [`Ext4WriteError::DirectoryIndexFull`]). Every checksum is kept right with metadata_csum
//! (superblock, descriptors, bitmaps, inodes, extent blocks, directory leaves, dx nodes) and
//! with gdt_csum/uninit_bg (crc16 descriptors); free counts, BLOCK_UNINIT/INODE_UNINIT,
//! itable_unused and dirs counts are updated.
//!
//! What it refuses (typed error naming it): needs_recovery, orphans present, inline_data,
//! encrypt, casefold, verity, bigalloc, meta_bg, quota, mmp, and any unknown feature; files
//! without extents (ext2/ext3 block maps), inodes with HUGE_FILE_FL.
//!
//! The journal is never written (the filesystem stays clean). Ordering: file data and new
//! tree/directory blocks are written first, then bitmaps/descriptors/superblock that allocate
//! them, then the inode pointing at them; old blocks are freed last.
//!
//! Backups (MOD §7 "keeps the ORIGINAL at the same location under a new name") are made by
//! COPY ([`Ext4Writer::backup_and_replace`]): the backup is a new inode with the old content,
//! mode, owner and times, and the live file keeps its inode (and so its xattrs such as SELinux
//! labels) and gets the new content. A hard link would share the content and so cannot be a
//! backup of a file whose content is replaced in place.

mod alloc;
mod bitmap;
mod csum;
mod dir;
mod error;
mod extent;
mod group_desc;
mod htree;
mod inode;
mod le;
mod superblock;

pub use error::Ext4WriteError;

use crate::block::WritableDev;
use extent::{Extent, ExtentMap};
use group_desc::GroupDesc;
use inode::{Inode, TimeField};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use superblock::{SB_OFFSET, SB_SIZE, Superblock};

/// Largest directory (bytes) the writer walks.
const MAX_DIR_BYTES: u64 = 256 << 20;
/// Largest file [`Ext4Writer::read_file`] returns.
pub const MAX_READ_BYTES: u64 = 256 << 20;
/// Largest orphan file (blocks) scanned for orphans.
const ORPHAN_FILE_MAX_BLOCKS: u32 = 1 << 16;
/// How deep rename walks `..` to refuse moving a directory into itself.
const MAX_PATH_DEPTH: usize = 4096;

/// A writer over one ext4 filesystem. Every public operation leaves the filesystem consistent
/// (all metadata written and checksummed); [`Ext4Writer::flush`] makes it durable.
pub struct Ext4Writer {
    dev: Arc<dyn WritableDev>,
    sb: Superblock,
    groups: Vec<GroupDesc>,
    /// Sorted, disjoint `[start, end)` block ranges that are metadata or journal.
    reserved: Vec<(u64, u64)>,
    block_bitmaps: HashMap<u32, Vec<u8>>,
    inode_bitmaps: HashMap<u32, Vec<u8>>,
    dirty_groups: BTreeSet<u32>,
    dirty_block_bitmaps: BTreeSet<u32>,
    dirty_inode_bitmaps: BTreeSet<u32>,
    /// Fixed clock for reproducible output; `None` uses the system time.
    clock: Option<i64>,
}

fn pstr(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn check_name(name: &[u8]) -> Result<(), Ext4WriteError> {
    if name.is_empty()
        || name.len() > 255
        || name == b"."
        || name == b".."
        || name.iter().any(|&c| c == b'/' || c == 0)
    {
        return Err(Ext4WriteError::InvalidName(pstr(name)));
    }
    Ok(())
}

fn split_path(path: &[u8]) -> Result<Vec<&[u8]>, Ext4WriteError> {
    if path.first() != Some(&b'/') {
        return Err(Ext4WriteError::InvalidPath(pstr(path)));
    }
    let comps: Vec<&[u8]> = crate::fs::components(path).collect();
    for c in &comps {
        if *c == b"." || *c == b".." || c.len() > 255 || c.contains(&0) {
            return Err(Ext4WriteError::InvalidPath(pstr(path)));
        }
    }
    Ok(comps)
}

impl Ext4Writer {
    /// Open a filesystem for writing, refusing anything it cannot keep consistent.
    pub fn open(dev: Arc<dyn WritableDev>) -> Result<Self, Ext4WriteError> {
        let mut raw = vec![0u8; SB_SIZE];
        dev.read_at(SB_OFFSET, &mut raw)?;
        let sb = Superblock::parse(raw)?;
        if sb.block_size > 32768 {
            return Err(Ext4WriteError::UnsupportedFeature("64 KiB blocks".into()));
        }
        if sb.blocks_count.saturating_mul(sb.block_size) > dev.len() {
            return Err(error::corrupt(
                "superblock",
                format!(
                    "{} blocks of {} bytes do not fit the {}-byte device",
                    sb.blocks_count,
                    sb.block_size,
                    dev.len()
                ),
            ));
        }
        let gdt_off = (sb.first_data_block + 1) * sb.block_size;
        let mut gdt = vec![0u8; sb.group_count as usize * sb.desc_size];
        dev.read_at(gdt_off, &mut gdt)?;
        let mut groups = Vec::with_capacity(sb.group_count as usize);
        for (g, chunk) in gdt.chunks(sb.desc_size).enumerate() {
            let gd = GroupDesc {
                raw: chunk.to_vec(),
            };
            if let Some(c) = gd.compute_csum(&sb, g as u32)
                && c != gd.checksum()
            {
                return Err(Ext4WriteError::Checksum(format!("group descriptor {g}")));
            }
            groups.push(gd);
        }
        let mut w = Ext4Writer {
            dev,
            sb,
            groups,
            reserved: Vec::new(),
            block_bitmaps: HashMap::new(),
            inode_bitmaps: HashMap::new(),
            dirty_groups: BTreeSet::new(),
            dirty_block_bitmaps: BTreeSet::new(),
            dirty_inode_bitmaps: BTreeSet::new(),
            clock: None,
        };
        w.build_reserved()?;
        w.check_orphan_file()?;
        Ok(w)
    }

    /// Free blocks, as the superblock counts them.
    pub fn free_block_count(&self) -> u64 {
        self.sb.free_blocks()
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.sb.block_size
    }

    /// With orphan_file, refuse when any slot of the orphan file names an inode (orphans
    /// present even if the ORPHAN_PRESENT flag was lost).
    fn check_orphan_file(&self) -> Result<(), Ext4WriteError> {
        if !self.sb.has(0, superblock::compat::ORPHAN_FILE) {
            return Ok(());
        }
        let ino = le::rd32(&self.sb.raw, 0x280);
        if ino == 0 {
            return Ok(());
        }
        let i = self.read_inode(ino)?;
        let map = self.extent_map(&i, "orphan file")?;
        let entries_end = self.bs() - 8; // ext4_orphan_block_tail: magic, checksum
        let mut seen = 0u32;
        for e in &map.extents {
            for k in 0..u64::from(e.len) {
                seen += 1;
                if seen > ORPHAN_FILE_MAX_BLOCKS {
                    return Err(error::corrupt("orphan file", "too many blocks"));
                }
                let b = self.read_block(e.start + k)?;
                let busy = b
                    .get(..entries_end)
                    .unwrap_or(&[])
                    .chunks(4)
                    .find(|c| c.iter().any(|&x| x != 0));
                if let Some(c) = busy {
                    return Err(Ext4WriteError::OrphansPresent(format!(
                        "orphan file (inode {ino}) lists inode {}",
                        le::rd32(c, 0)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Use a fixed time (seconds since the epoch) for every timestamp the writer sets.
    pub fn set_clock(&mut self, secs: Option<i64>) {
        self.clock = secs;
    }

    fn now(&self) -> (i64, u32) {
        match self.clock {
            Some(s) => (s, 0),
            None => match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
                Err(_) => (0, 0),
            },
        }
    }

    fn bs(&self) -> usize {
        self.sb.block_size as usize
    }

    fn build_reserved(&mut self) -> Result<(), Ext4WriteError> {
        let mut r: Vec<(u64, u64)> = Vec::new();
        let itb = (u64::from(self.sb.inodes_per_group) * self.sb.inode_size as u64)
            .div_ceil(self.sb.block_size);
        r.push((0, self.sb.first_data_block + 1));
        for g in 0..self.sb.group_count {
            if self.sb.group_has_super(g) {
                let s = self.sb.group_first_block(g);
                let len = 1 + self.sb.gdt_blocks() + u64::from(self.sb.reserved_gdt_blocks);
                r.push((s, s + len));
            }
            let gd = self
                .groups
                .get(g as usize)
                .ok_or_else(|| error::corrupt("group descriptors", "missing"))?;
            for (s, len) in [
                (gd.block_bitmap(), 1),
                (gd.inode_bitmap(), 1),
                (gd.inode_table(), itb),
            ] {
                if s < self.sb.first_data_block || s.saturating_add(len) > self.sb.blocks_count {
                    return Err(error::corrupt(
                        format!("group descriptor {g}"),
                        format!("metadata block {s} outside the filesystem"),
                    ));
                }
                r.push((s, s + len));
            }
        }
        // The journal inode's blocks (has_journal, internal journal).
        let jino = le::rd32(&self.sb.raw, 0xE0);
        if self.sb.has(0, superblock::compat::HAS_JOURNAL) && jino != 0 {
            let ji = self.read_inode(jino)?;
            if ji.flags() & inode::EXT4_EXTENTS_FL != 0 {
                let map = self.extent_map(&ji, "journal")?;
                for e in &map.extents {
                    r.push((e.start, e.start + u64::from(e.len)));
                }
                for &b in &map.tree_blocks {
                    r.push((b, b + 1));
                }
            }
        }
        r.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(r.len());
        for (s, e) in r {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.reserved = merged;
        Ok(())
    }

    fn read_block(&self, n: u64) -> Result<Vec<u8>, Ext4WriteError> {
        if n >= self.sb.blocks_count {
            return Err(error::corrupt(
                "block pointer",
                format!("block {n} beyond the end ({} blocks)", self.sb.blocks_count),
            ));
        }
        let mut b = vec![0u8; self.bs()];
        self.dev.read_at(n * self.sb.block_size, &mut b)?;
        Ok(b)
    }

    fn write_block(&self, n: u64, data: &[u8]) -> Result<(), Ext4WriteError> {
        if n >= self.sb.blocks_count || n < self.sb.first_data_block || self.is_reserved(n) {
            return Err(error::corrupt(
                "writer",
                format!("refusing to write metadata or out-of-range block {n}"),
            ));
        }
        self.dev.write_at(n * self.sb.block_size, data)?;
        Ok(())
    }

    fn inode_offset(&self, ino: u32) -> Result<u64, Ext4WriteError> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(error::corrupt(
                "directory entry",
                format!("inode number {ino} out of range"),
            ));
        }
        let g = (ino - 1) / self.sb.inodes_per_group;
        let idx = (ino - 1) % self.sb.inodes_per_group;
        let gd = self
            .groups
            .get(g as usize)
            .ok_or_else(|| error::corrupt("group descriptors", format!("no group {g}")))?;
        Ok(gd.inode_table() * self.sb.block_size + u64::from(idx) * self.sb.inode_size as u64)
    }

    fn read_inode(&self, ino: u32) -> Result<Inode, Ext4WriteError> {
        let mut raw = vec![0u8; self.sb.inode_size];
        self.dev.read_at(self.inode_offset(ino)?, &mut raw)?;
        let i = Inode { ino, raw };
        if i.extra_isize() > self.sb.inode_size - 128 || i.extra_isize() % 4 != 0 {
            return Err(error::corrupt(
                format!("inode {ino}"),
                "i_extra_isize out of range",
            ));
        }
        if self.sb.metadata_csum() && !i.csum_ok(self.sb.csum_seed) {
            return Err(Ext4WriteError::Checksum(format!("inode {ino}")));
        }
        Ok(i)
    }

    fn write_inode(&self, i: &mut Inode) -> Result<(), Ext4WriteError> {
        if self.sb.metadata_csum() {
            i.update_csum(self.sb.csum_seed);
        }
        self.dev.write_at(self.inode_offset(i.ino)?, &i.raw)?;
        Ok(())
    }

    fn inode_seed(&self, i: &Inode) -> Option<u32> {
        self.sb
            .metadata_csum()
            .then(|| i.csum_seed(self.sb.csum_seed))
    }

    fn extent_map(&self, i: &Inode, what: &str) -> Result<ExtentMap, Ext4WriteError> {
        if i.flags() & inode::EXT4_EXTENTS_FL == 0 {
            return Err(Ext4WriteError::Unsupported {
                path: what.to_string(),
                what: "block-mapped inode (no extents)".into(),
            });
        }
        let seed = self.inode_seed(i);
        extent::read_tree(i.i_block(), what, seed, &mut |b| self.read_block(b))
    }

    /// Write bitmaps, descriptors and superblock changed so far (checksums recomputed).
    fn commit(&mut self) -> Result<(), Ext4WriteError> {
        let seed = self.sb.csum_seed;
        for g in std::mem::take(&mut self.dirty_block_bitmaps) {
            let Some(bm) = self.block_bitmaps.get(&g) else {
                continue;
            };
            let Some(gd) = self.groups.get_mut(g as usize) else {
                continue;
            };
            if self.sb.metadata_csum() {
                gd.set_block_bitmap_csum(bitmap::csum(seed, bm, self.sb.blocks_per_group));
            }
            let at = gd.block_bitmap();
            self.dev.write_at(at * self.sb.block_size, bm)?;
            self.dirty_groups.insert(g);
        }
        for g in std::mem::take(&mut self.dirty_inode_bitmaps) {
            let Some(bm) = self.inode_bitmaps.get(&g) else {
                continue;
            };
            let Some(gd) = self.groups.get_mut(g as usize) else {
                continue;
            };
            if self.sb.metadata_csum() {
                gd.set_inode_bitmap_csum(bitmap::csum(seed, bm, self.sb.inodes_per_group));
            }
            let at = gd.inode_bitmap();
            self.dev.write_at(at * self.sb.block_size, bm)?;
            self.dirty_groups.insert(g);
        }
        let gdt_off = (self.sb.first_data_block + 1) * self.sb.block_size;
        for g in std::mem::take(&mut self.dirty_groups) {
            let Some(gd) = self.groups.get_mut(g as usize) else {
                continue;
            };
            gd.update_csum(&self.sb, g);
            self.dev
                .write_at(gdt_off + u64::from(g) * self.sb.desc_size as u64, &gd.raw)?;
        }
        self.dev.write_at(SB_OFFSET, &self.sb.to_bytes())?;
        self.block_bitmaps.clear();
        self.inode_bitmaps.clear();
        Ok(())
    }

    /// Make everything written so far durable.
    pub fn flush(&mut self) -> Result<(), Ext4WriteError> {
        self.commit()?;
        self.dev.flush()?;
        Ok(())
    }

    // ---------------------------------------------------------------- lookup

    fn dir_blocks(&self, dir: &Inode, what: &str) -> Result<(ExtentMap, u32), Ext4WriteError> {
        if !dir.is_dir() {
            return Err(Ext4WriteError::NotADirectory(what.to_string()));
        }
        let size = dir.size();
        if size > MAX_DIR_BYTES || size % self.sb.block_size != 0 {
            return Err(error::corrupt(
                format!("directory {what}"),
                format!("size {size} invalid or too large"),
            ));
        }
        let map = self.extent_map(dir, what)?;
        Ok((map, (size / self.sb.block_size) as u32))
    }

    /// Find `name` in directory `dir`: `(inode, file_type)`.
    fn lookup(
        &self,
        dir: &Inode,
        name: &[u8],
        what: &str,
    ) -> Result<Option<(u32, u8)>, Ext4WriteError> {
        let (map, n) = self.dir_blocks(dir, what)?;
        for lblk in 0..n {
            let Some(p) = extent::map_block(&map.extents, lblk) else {
                continue;
            };
            let buf = self.read_dir_block(p, dir, what)?;
            for e in dir::parse(&buf, what)? {
                if e.inode != 0 && e.name == name {
                    return Ok(Some((e.inode, e.file_type)));
                }
            }
        }
        Ok(None)
    }

    /// Resolve an absolute path without following symlinks anywhere.
    fn resolve(&self, path: &[u8]) -> Result<Inode, Ext4WriteError> {
        let comps = split_path(path)?;
        let mut cur = self.read_inode(2)?;
        let mut so_far = Vec::new();
        for c in comps {
            if cur.is_symlink() {
                return Err(Ext4WriteError::SymlinkInPath(pstr(&so_far)));
            }
            if !cur.is_dir() {
                return Err(Ext4WriteError::NotADirectory(pstr(&so_far)));
            }
            let here = pstr(if so_far.is_empty() { b"/" } else { &so_far });
            so_far.push(b'/');
            so_far.extend_from_slice(c);
            let Some((ino, _)) = self.lookup(&cur, c, &here)? else {
                return Err(Ext4WriteError::NotFound(pstr(&so_far)));
            };
            cur = self.read_inode(ino)?;
        }
        Ok(cur)
    }

    fn resolve_dir(&self, path: &[u8]) -> Result<Inode, Ext4WriteError> {
        let d = self.resolve(path)?;
        if d.is_symlink() {
            return Err(Ext4WriteError::SymlinkInPath(pstr(path)));
        }
        if !d.is_dir() {
            return Err(Ext4WriteError::NotADirectory(pstr(path)));
        }
        Ok(d)
    }

    fn resolve_parent<'p>(&self, path: &'p [u8]) -> Result<(Inode, &'p [u8]), Ext4WriteError> {
        let comps = split_path(path)?;
        let Some((last, _)) = comps.split_last() else {
            return Err(Ext4WriteError::InvalidPath(pstr(path)));
        };
        let cut = path.len() - path.iter().rev().position(|&c| c != b'/').unwrap_or(0);
        let trimmed = path.get(..cut).unwrap_or(path);
        let parent_len = trimmed.len() - last.len();
        let parent_path = trimmed.get(..parent_len).unwrap_or(b"/");
        let parent = self.resolve_dir(if parent_path.is_empty() {
            b"/"
        } else {
            parent_path
        })?;
        Ok((parent, last))
    }

    /// Whether `path` exists (without following symlinks).
    pub fn exists(&self, path: &[u8]) -> Result<bool, Ext4WriteError> {
        match self.resolve(path) {
            Ok(_) => Ok(true),
            Err(Ext4WriteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Metadata of `path` (a final symlink is not followed), as the read side reports it.
    pub fn stat(&self, path: &[u8]) -> Result<crate::fs::Metadata, Ext4WriteError> {
        use crate::fs::FileType;
        let i = self.resolve(path)?;
        let file_type = match file_type_of(&i) {
            dir::FT_REG => FileType::Regular,
            dir::FT_DIR => FileType::Directory,
            dir::FT_SYMLINK => FileType::Symlink,
            3 => FileType::CharDevice,
            4 => FileType::BlockDevice,
            5 => FileType::Fifo,
            6 => FileType::Socket,
            _ => FileType::Unknown,
        };
        Ok(crate::fs::Metadata {
            file_type,
            size: i.size(),
            mode: u32::from(i.mode()),
            uid: i.uid(),
            gid: i.gid(),
            nlink: u32::from(i.links()),
            mtime: i.time(TimeField::Mtime),
            ino: u64::from(i.ino),
        })
    }

    /// Whole content of a regular file (holes and unwritten extents read as zeros).
    pub fn read_file(&self, path: &[u8]) -> Result<Vec<u8>, Ext4WriteError> {
        let i = self.resolve(path)?;
        if !i.is_reg() {
            return Err(Ext4WriteError::NotAFile(pstr(path)));
        }
        if i.flags() & inode::EXT4_INLINE_DATA_FL != 0 {
            return Err(Ext4WriteError::Unsupported {
                path: pstr(path),
                what: "inline data".into(),
            });
        }
        let size = i.size();
        if size > MAX_READ_BYTES {
            return Err(Ext4WriteError::Unsupported {
                path: pstr(path),
                what: format!("file of {size} bytes is larger than {MAX_READ_BYTES}"),
            });
        }
        let map = self.extent_map(&i, &pstr(path))?;
        let mut out = vec![0u8; size as usize];
        let bs = self.sb.block_size;
        for e in map.extents.iter().filter(|e| !e.uninit) {
            for k in 0..u64::from(e.len) {
                let off = (u64::from(e.logical) + k) * bs;
                if off >= size {
                    break;
                }
                let blk = self.read_block(e.start + k)?;
                let n = (size - off).min(bs) as usize;
                if let (Some(dst), Some(src)) =
                    (out.get_mut(off as usize..off as usize + n), blk.get(..n))
                {
                    dst.copy_from_slice(src);
                }
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- content

    fn group_start_of_inode(&self, ino: u32) -> u64 {
        let g = (ino - 1) / self.sb.inodes_per_group;
        self.sb.group_first_block(g)
    }

    /// Write `extents` as the inode's tree (allocating leaf blocks), keeping `i_blocks` right.
    /// Returns the old tree blocks, to be freed once the inode is written.
    fn set_extents(
        &mut self,
        i: &mut Inode,
        extents: &[Extent],
        old: &ExtentMap,
        what: &str,
    ) -> Result<Vec<(u64, u32)>, Ext4WriteError> {
        let ext = extent::normalise(extents);
        let limit = extent::max_extents(self.sb.block_size);
        if ext.len() > limit {
            return Err(Ext4WriteError::TooFragmented {
                path: what.to_string(),
                extents: ext.len(),
                limit,
            });
        }
        let nleaves = extent::tree_blocks_needed(ext.len(), self.sb.block_size);
        let runs = self.alloc_blocks(self.group_start_of_inode(i.ino), nleaves as u64)?;
        let leaves: Vec<u64> = runs
            .iter()
            .flat_map(|&(s, l)| s..s + u64::from(l))
            .collect();
        let seed = self.inode_seed(i);
        let (ib, blocks) = extent::build(&ext, &leaves, self.sb.block_size, seed);
        for (b, data) in &blocks {
            self.write_block(*b, data)?;
        }
        i.set_i_block(&ib);
        let per = self.sb.block_size / 512;
        let old_tree = old.tree_blocks.len() as u64;
        let b = i
            .blocks512()
            .saturating_sub(old_tree * per)
            .saturating_add(nleaves as u64 * per);
        i.set_blocks512(b);
        Ok(old.tree_blocks.iter().map(|&b| (b, 1)).collect())
    }

    /// Whether [`Self::replace_file`] can rewrite `path` (a regular file whose content this
    /// writer handles: extents, no inline data, not encrypted …), checked without writing.
    pub fn can_replace(&self, path: &[u8]) -> Result<(), Ext4WriteError> {
        let i = self.resolve(path)?;
        if !i.is_reg() {
            return Err(Ext4WriteError::NotAFile(pstr(path)));
        }
        self.check_content_inode(&i, path)
    }

    fn check_content_inode(&self, i: &Inode, path: &[u8]) -> Result<(), Ext4WriteError> {
        let f = i.flags();
        for (bit, what) in [
            (inode::EXT4_INLINE_DATA_FL, "inline data"),
            (
                inode::EXT4_HUGE_FILE_FL,
                "huge_file inode (i_blocks in fs blocks)",
            ),
            (inode::EXT4_ENCRYPT_FL, "encrypted inode"),
            (inode::EXT4_VERITY_FL, "verity inode"),
            (inode::EXT4_EA_INODE_FL, "extended-attribute inode"),
        ] {
            if f & bit != 0 {
                return Err(Ext4WriteError::Unsupported {
                    path: pstr(path),
                    what: what.into(),
                });
            }
        }
        if f & inode::EXT4_EXTENTS_FL == 0 {
            return Err(Ext4WriteError::Unsupported {
                path: pstr(path),
                what: "block-mapped file (no extents)".into(),
            });
        }
        Ok(())
    }

    /// Put `data` into inode `i` (new blocks; old ones returned for freeing after the inode is
    /// written). Updates size, i_block, i_blocks.
    fn put_content(
        &mut self,
        i: &mut Inode,
        data: &[u8],
        path: &[u8],
    ) -> Result<Vec<(u64, u32)>, Ext4WriteError> {
        let what = pstr(path);
        let old = self.extent_map(i, &what)?;
        let bs = self.sb.block_size;
        let nblocks = (data.len() as u64).div_ceil(bs);
        if nblocks > u64::from(u32::MAX) {
            return Err(Ext4WriteError::Unsupported {
                path: what,
                what: "file too large".into(),
            });
        }
        let runs = self.alloc_blocks(self.group_start_of_inode(i.ino), nblocks)?;
        let mut extents = Vec::with_capacity(runs.len());
        let mut lblk: u32 = 0;
        for &(s, l) in &runs {
            extents.push(Extent {
                logical: lblk,
                start: s,
                len: l,
                uninit: false,
            });
            lblk += l;
        }
        let norm = extent::normalise(&extents);
        let limit = extent::max_extents(bs);
        if norm.len() > limit {
            self.free_blocks(&runs)?;
            self.commit()?;
            return Err(Ext4WriteError::TooFragmented {
                path: what,
                extents: norm.len(),
                limit,
            });
        }
        // Data first.
        for e in &norm {
            let from = u64::from(e.logical) * bs;
            let to = ((u64::from(e.logical) + u64::from(e.len)) * bs).min(data.len() as u64);
            let chunk = data.get(from as usize..to as usize).unwrap_or(&[]);
            let mut off = 0usize;
            const STEP: usize = 1 << 20;
            while off < chunk.len() {
                let n = (chunk.len() - off).min(STEP);
                let part = chunk.get(off..off + n).unwrap_or(&[]);
                let at = e.start * bs + off as u64;
                if n % bs as usize == 0 {
                    self.dev.write_at(at, part)?;
                } else {
                    let mut padded = part.to_vec();
                    padded.resize(n.div_ceil(bs as usize) * bs as usize, 0);
                    self.dev.write_at(at, &padded)?;
                }
                off += n;
            }
        }
        let per = bs / 512;
        let old_data: u64 = old.extents.iter().map(|e| u64::from(e.len)).sum();
        let b = i
            .blocks512()
            .saturating_sub(old_data.saturating_mul(per))
            .saturating_add(nblocks * per);
        i.set_blocks512(b);
        let mut free_later = match self.set_extents(i, &norm, &old, &what) {
            Ok(f) => f,
            Err(e) => {
                self.free_blocks(&runs)?;
                self.commit()?;
                return Err(e);
            }
        };
        i.set_size(data.len() as u64);
        free_later.extend(old.extents.iter().map(|e| (e.start, e.len)));
        Ok(free_later)
    }

    fn touch(&self, i: &mut Inode, fields: &[TimeField]) {
        let (s, ns) = self.now();
        for f in fields {
            i.set_time(*f, s, ns);
        }
    }

    /// Replace the content of the regular file at `path` (0 bytes to many MiB). Mode, owner,
    /// inode number and xattrs stay; mtime and ctime become now.
    pub fn replace_file(&mut self, path: &[u8], data: &[u8]) -> Result<(), Ext4WriteError> {
        let mut i = self.resolve(path)?;
        if !i.is_reg() {
            return Err(Ext4WriteError::NotAFile(pstr(path)));
        }
        self.check_content_inode(&i, path)?;
        let free = self.put_content(&mut i, data, path)?;
        self.commit()?;
        self.touch(&mut i, &[TimeField::Mtime, TimeField::Ctime]);
        self.write_inode(&mut i)?;
        self.free_blocks(&free)?;
        self.commit()
    }

    fn new_inode(&self, ino: u32, mode: u16, uid: u32, gid: u32, links: u16) -> Inode {
        let mut i = Inode {
            ino,
            raw: vec![0u8; self.sb.inode_size],
        };
        i.set_mode(mode);
        i.set_owner(uid, gid);
        i.set_links(links);
        if self.sb.inode_size > 128 {
            le::wr16(&mut i.raw, 0x80, self.sb.extra_isize);
        }
        i.set_flags(inode::EXT4_EXTENTS_FL);
        let (ib, _) = extent::build(&[], &[], self.sb.block_size, None);
        i.set_i_block(&ib);
        // Deterministic generation number (only checksums and NFS handles use it).
        let generation = csum::crc32c_raw(self.sb.csum_seed ^ 0x6775_6573, &ino.to_le_bytes());
        le::wr32(&mut i.raw, 0x64, generation);
        self.touch(
            &mut i,
            &[
                TimeField::Atime,
                TimeField::Ctime,
                TimeField::Mtime,
                TimeField::Crtime,
            ],
        );
        i
    }

    fn ft(&self, ft: u8) -> u8 {
        if self.sb.filetype() { ft } else { 0 }
    }

    /// Create a regular file `name` in the directory `dir_path` with `data`. Returns its inode.
    pub fn create_file(
        &mut self,
        dir_path: &[u8],
        name: &[u8],
        data: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<u32, Ext4WriteError> {
        check_name(name)?;
        let parent = self.resolve_dir(dir_path)?;
        if self.lookup(&parent, name, &pstr(dir_path))?.is_some() {
            return Err(Ext4WriteError::AlreadyExists(pstr(name)));
        }
        let g = (parent.ino - 1) / self.sb.inodes_per_group;
        let ino = self.alloc_inode(g, false)?;
        let mut i = self.new_inode(ino, inode::S_IFREG | (mode as u16 & 0o7777), uid, gid, 1);
        let path = [dir_path, b"/", name].concat();
        let res = self.put_content(&mut i, data, &path);
        let free = match res {
            Ok(f) => f,
            Err(e) => {
                self.free_inode(ino, false)?;
                self.commit()?;
                return Err(e);
            }
        };
        self.commit()?;
        self.write_inode(&mut i)?;
        self.free_blocks(&free)?;
        if let Err(e) = self.link_into(parent.ino, dir_path, name, ino, dir::FT_REG) {
            self.discard_new_inode(&i, false)?;
            return Err(e);
        }
        self.commit()?;
        Ok(ino)
    }

    /// Undo a new inode that no directory names: free its blocks, zero it, free its number.
    fn discard_new_inode(&mut self, i: &Inode, is_dir: bool) -> Result<(), Ext4WriteError> {
        let map = self.extent_map(i, "new inode")?;
        let mut runs: Vec<(u64, u32)> = map.extents.iter().map(|e| (e.start, e.len)).collect();
        runs.extend(map.tree_blocks.iter().map(|&b| (b, 1)));
        self.free_blocks(&runs)?;
        let zero = vec![0u8; self.sb.inode_size];
        self.dev.write_at(self.inode_offset(i.ino)?, &zero)?;
        self.free_inode(i.ino, is_dir)?;
        self.commit()
    }

    fn free_inode(&mut self, ino: u32, is_dir: bool) -> Result<(), Ext4WriteError> {
        // Only used to undo a fresh allocation before anything points at it.
        let g = (ino - 1) / self.sb.inodes_per_group;
        let idx = u64::from((ino - 1) % self.sb.inodes_per_group);
        let bm = self.inode_bitmap(g)?;
        if !bitmap::test(bm, idx) {
            return Err(error::corrupt(
                format!("inode bitmap of group {g}"),
                format!("inode {ino} already free"),
            ));
        }
        bitmap::clear(bm, idx);
        if let Some(gd) = self.groups.get_mut(g as usize) {
            gd.set_free_inodes(gd.free_inodes().saturating_add(1));
            if is_dir {
                gd.set_used_dirs(gd.used_dirs().saturating_sub(1));
            }
        }
        self.dirty_groups.insert(g);
        self.dirty_inode_bitmaps.insert(g);
        let fi = self.sb.free_inodes();
        self.sb.set_free_inodes(fi.saturating_add(1));
        Ok(())
    }

    /// Add `name -> ino` to directory `dir_ino` and touch the directory's mtime/ctime.
    fn link_into(
        &mut self,
        dir_ino: u32,
        dir_path: &[u8],
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<(), Ext4WriteError> {
        let mut d = self.read_inode(dir_ino)?;
        let what = pstr(dir_path);
        let ft = self.ft(ft);
        if d.flags() & inode::EXT4_INDEX_FL != 0 {
            if !self.sb.dir_index() {
                return Err(Ext4WriteError::Unsupported {
                    path: what,
                    what: "indexed directory without the dir_index feature".into(),
                });
            }
            self.htree_insert(&mut d, name, ino, ft, &what)?;
        } else {
            self.linear_insert(&mut d, name, ino, ft, &what)?;
        }
        self.touch(&mut d, &[TimeField::Mtime, TimeField::Ctime]);
        self.write_inode(&mut d)
    }

    /// Append `n` new blocks to a directory (written with `blocks` contents). Returns their
    /// logical numbers.
    fn append_dir_blocks(
        &mut self,
        d: &mut Inode,
        blocks: &[Vec<u8>],
        what: &str,
    ) -> Result<Vec<u32>, Ext4WriteError> {
        let (map, n) = self.dir_blocks(d, what)?;
        let goal = self.group_start_of_inode(d.ino);
        let runs = self.alloc_blocks(goal, blocks.len() as u64)?;
        let phys: Vec<u64> = runs
            .iter()
            .flat_map(|&(s, l)| s..s + u64::from(l))
            .collect();
        let mut ext = map.extents.clone();
        let mut lblks = Vec::new();
        for (k, (p, data)) in phys.iter().zip(blocks.iter()).enumerate() {
            let l = n + k as u32;
            self.write_block(*p, data)?;
            ext.push(Extent {
                logical: l,
                start: *p,
                len: 1,
                uninit: false,
            });
            lblks.push(l);
        }
        ext.sort_by_key(|e| e.logical);
        let free = match self.set_extents(d, &ext, &map, what) {
            Ok(f) => f,
            Err(e) => {
                self.free_blocks(&runs)?;
                self.commit()?;
                return Err(e);
            }
        };
        let per = self.sb.block_size / 512;
        d.set_blocks512(d.blocks512().saturating_add(phys.len() as u64 * per));
        d.set_size(
            d.size()
                .saturating_add(phys.len() as u64 * self.sb.block_size),
        );
        self.commit()?;
        self.write_inode(d)?;
        self.free_blocks(&free)?;
        Ok(lblks)
    }

    fn linear_insert(
        &mut self,
        d: &mut Inode,
        name: &[u8],
        ino: u32,
        ft: u8,
        what: &str,
    ) -> Result<(), Ext4WriteError> {
        let (map, n) = self.dir_blocks(d, what)?;
        let seed = self.inode_seed(d);
        for lblk in 0..n {
            let Some(p) = extent::map_block(&map.extents, lblk) else {
                continue;
            };
            let mut buf = self.read_dir_block(p, d, what)?;
            if dir::insert(&mut buf, name, ino, ft, what)? {
                if let Some(s) = seed {
                    dir::update_csum(&mut buf, s);
                }
                return self.write_block(p, &buf);
            }
        }
        let mut buf = dir::empty_block(self.bs(), self.sb.metadata_csum());
        dir::insert(&mut buf, name, ino, ft, what)?;
        if let Some(s) = seed {
            dir::update_csum(&mut buf, s);
        }
        self.append_dir_blocks(d, &[buf], what)?;
        Ok(())
    }

    /// A directory block, its leaf checksum checked (metadata_csum, blocks with a tail).
    fn read_dir_block(&self, p: u64, d: &Inode, what: &str) -> Result<Vec<u8>, Ext4WriteError> {
        let buf = self.read_block(p)?;
        if let Some(seed) = self.inode_seed(d)
            && dir::has_tail(&buf)
        {
            let mut copy = buf.clone();
            dir::update_csum(&mut copy, seed);
            if copy != buf {
                return Err(Ext4WriteError::Checksum(format!(
                    "directory block {p} of {what}"
                )));
            }
        }
        Ok(buf)
    }

    fn dir_block(
        &self,
        d: &Inode,
        map: &ExtentMap,
        lblk: u32,
        what: &str,
    ) -> Result<(u64, Vec<u8>), Ext4WriteError> {
        let p = extent::map_block(&map.extents, lblk).ok_or_else(|| {
            error::corrupt(
                format!("directory {what}"),
                format!("block {lblk} unmapped"),
            )
        })?;
        Ok((p, self.read_dir_block(p, d, what)?))
    }

    fn htree_insert(
        &mut self,
        d: &mut Inode,
        name: &[u8],
        ino: u32,
        ft: u8,
        what: &str,
    ) -> Result<(), Ext4WriteError> {
        let csum = self.sb.metadata_csum();
        let seed = self.inode_seed(d);
        let bs = self.bs();
        let (map, nblk) = self.dir_blocks(d, what)?;
        let (root_p, root_buf) = self.dir_block(d, &map, 0, what)?;
        let (hv, levels) = htree::root_info(&root_buf, what)?;
        if levels > 1 {
            return Err(Ext4WriteError::DirectoryIndexFull(format!(
                "{what} ({levels} index levels)"
            )));
        }
        let version = htree::effective_version(hv, self.sb.unsigned_hash);
        let hash = htree::name_hash(name, version, &self.sb.hash_seed)?;
        let mut root = htree::DxBlock::parse(root_buf, htree::ROOT_COUNT_OFF, seed, what)?;
        let ri = root.find(hash);
        let check_lblk = |l: u32| -> Result<u32, Ext4WriteError> {
            if l == 0 || l >= nblk {
                Err(error::corrupt(
                    format!("htree of {what}"),
                    format!("block {l} out of range"),
                ))
            } else {
                Ok(l)
            }
        };
        // (node logical block, node, index in node)
        let mut node: Option<(u32, htree::DxBlock, usize)> = None;
        let leaf_l = if levels == 1 {
            let nl = check_lblk(root.entries.get(ri).map(|e| e.1).unwrap_or(0))?;
            let (_, nb) = self.dir_block(d, &map, nl, what)?;
            let nd = htree::DxBlock::parse(nb, htree::NODE_COUNT_OFF, seed, what)?;
            let ni = nd.find(hash);
            let l = check_lblk(nd.entries.get(ni).map(|e| e.1).unwrap_or(0))?;
            node = Some((nl, nd, ni));
            l
        } else {
            check_lblk(root.entries.get(ri).map(|e| e.1).unwrap_or(0))?
        };
        let (leaf_p, mut leaf) = self.dir_block(d, &map, leaf_l, what)?;
        if dir::insert(&mut leaf, name, ino, ft, what)? {
            if let Some(s) = seed {
                dir::update_csum(&mut leaf, s);
            }
            return self.write_block(leaf_p, &leaf);
        }
        // Split the leaf by hash.
        let mut ents: Vec<(u32, Vec<u8>, u32, u8)> = Vec::new();
        for e in dir::parse(&leaf, what)? {
            if e.inode != 0 {
                let h = htree::name_hash(&e.name, version, &self.sb.hash_seed)?;
                ents.push((h, e.name, e.inode, e.file_type));
            }
        }
        ents.push((hash, name.to_vec(), ino, ft));
        ents.sort_by_key(|e| e.0);
        let total: usize = ents.iter().map(|e| dir::rec_size(e.1.len())).sum();
        let mut acc = 0usize;
        let mut m = 0usize;
        for (k, e) in ents.iter().enumerate() {
            if acc * 2 >= total {
                m = k;
                break;
            }
            acc += dir::rec_size(e.1.len());
            m = k + 1;
        }
        let m = m.clamp(1, ents.len().saturating_sub(1).max(1));
        let (h_m, h_prev) = match (ents.get(m), ents.get(m - 1)) {
            (Some(a), Some(b)) => (a.0, b.0),
            _ => {
                return Err(error::corrupt(
                    format!("directory {what}"),
                    "leaf split failed",
                ));
            }
        };
        let split_hash = h_m | u32::from(h_m == h_prev);
        let to_block = |v: &[(u32, Vec<u8>, u32, u8)]| {
            let list: Vec<(Vec<u8>, u32, u8)> = v.iter().map(|e| (e.1.clone(), e.2, e.3)).collect();
            let mut b = dir::pack_block(bs, csum, &list);
            if let Some(s) = seed {
                dir::update_csum(&mut b, s);
            }
            b
        };
        let left = to_block(ents.get(..m).unwrap_or(&[]));
        let right = to_block(ents.get(m..).unwrap_or(&[]));

        // Plan index changes; new blocks get logical numbers nblk, nblk+1, ...
        let mut new_blocks: Vec<Vec<u8>> = vec![right];
        let right_l = nblk;
        let mut next_l = nblk + 1;
        // Which index block receives the new leaf entry.
        enum Target {
            Root(usize),
            Node(u32, htree::DxBlock, usize),
        }
        let mut extra_nodes: Vec<(u32, htree::DxBlock)> = Vec::new();
        let target = match node {
            None if root.entries.len() < root.limit => Target::Root(ri),
            None => {
                // Grow the tree: all root entries move into one new node.
                let mut nd = htree::new_node(bs, csum);
                nd.entries = std::mem::take(&mut root.entries);
                let nl = next_l;
                next_l += 1;
                root.entries = vec![(0, nl)];
                htree::set_levels(&mut root.buf, 1);
                Target::Node(nl, nd, ri)
            }
            Some((nl, nd, ni)) if nd.entries.len() < nd.limit => Target::Node(nl, nd, ni),
            Some((nl, mut nd, ni)) => {
                if root.entries.len() >= root.limit {
                    return Err(Ext4WriteError::DirectoryIndexFull(what.to_string()));
                }
                let k = nd.entries.len() / 2;
                let mut nd2 = htree::new_node(bs, csum);
                nd2.entries = nd.entries.split_off(k);
                let n2l = next_l;
                next_l += 1;
                let first_hash = nd2.entries.first().map(|e| e.0).unwrap_or(0);
                root.entries.insert(ri + 1, (first_hash, n2l));
                if ni >= k {
                    extra_nodes.push((nl, nd));
                    Target::Node(n2l, nd2, ni - k)
                } else {
                    extra_nodes.push((n2l, nd2));
                    Target::Node(nl, nd, ni)
                }
            }
        };
        let _ = next_l;
        let mut target_nodes: Vec<(u32, htree::DxBlock)> = extra_nodes;
        match target {
            Target::Root(i) => root.entries.insert(i + 1, (split_hash, right_l)),
            Target::Node(l, mut nd, i) => {
                nd.entries.insert(i + 1, (split_hash, right_l));
                target_nodes.push((l, nd));
            }
        }
        // New node blocks are appended after the new leaf, in logical order.
        let mut appended_nodes: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut existing_nodes: Vec<(u32, Vec<u8>)> = Vec::new();
        for (l, nd) in &target_nodes {
            let bytes = nd.to_bytes(seed);
            if *l >= nblk {
                appended_nodes.push((*l, bytes));
            } else {
                existing_nodes.push((*l, bytes));
            }
        }
        appended_nodes.sort_by_key(|e| e.0);
        for (_, b) in appended_nodes {
            new_blocks.push(b);
        }
        let lblks = self.append_dir_blocks(d, &new_blocks, what)?;
        if lblks.first() != Some(&right_l) {
            return Err(error::corrupt(
                format!("directory {what}"),
                "unexpected block numbering",
            ));
        }
        // The directory's map changed: re-read for the existing node blocks.
        let map2 = self.extent_map(d, what)?;
        self.write_block(leaf_p, &left)?;
        for (l, b) in existing_nodes {
            let p = extent::map_block(&map2.extents, l)
                .ok_or_else(|| error::corrupt(format!("directory {what}"), "node unmapped"))?;
            self.write_block(p, &b)?;
        }
        let rb = root.to_bytes(seed);
        self.write_block(root_p, &rb)
    }

    fn unlink_from(&mut self, dir_ino: u32, name: &[u8], what: &str) -> Result<(), Ext4WriteError> {
        let mut d = self.read_inode(dir_ino)?;
        let (map, n) = self.dir_blocks(&d, what)?;
        let seed = self.inode_seed(&d);
        for lblk in 0..n {
            let Some(p) = extent::map_block(&map.extents, lblk) else {
                continue;
            };
            let mut buf = self.read_dir_block(p, &d, what)?;
            if dir::remove(&mut buf, name, what)? {
                if let Some(s) = seed {
                    dir::update_csum(&mut buf, s);
                }
                self.write_block(p, &buf)?;
                self.touch(&mut d, &[TimeField::Mtime, TimeField::Ctime]);
                return self.write_inode(&mut d);
            }
        }
        Err(Ext4WriteError::NotFound(format!("{what}/{}", pstr(name))))
    }

    /// Create a directory `name` in `dir_path`. Returns its inode.
    pub fn create_dir(
        &mut self,
        dir_path: &[u8],
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<u32, Ext4WriteError> {
        check_name(name)?;
        let parent = self.resolve_dir(dir_path)?;
        if self.lookup(&parent, name, &pstr(dir_path))?.is_some() {
            return Err(Ext4WriteError::AlreadyExists(pstr(name)));
        }
        self.check_parent_links(&parent, dir_path)?;
        let g = (parent.ino - 1) / self.sb.inodes_per_group;
        let ino = self.alloc_inode(g, true)?;
        let mut i = self.new_inode(ino, inode::S_IFDIR | (mode as u16 & 0o7777), uid, gid, 2);
        let runs = match self.alloc_blocks(self.group_start_of_inode(ino), 1) {
            Ok(r) => r,
            Err(e) => {
                self.free_inode(ino, true)?;
                self.commit()?;
                return Err(e);
            }
        };
        let blk = runs.first().map(|r| r.0).unwrap_or(0);
        let mut buf = dir::new_dir_block(
            self.bs(),
            self.sb.metadata_csum(),
            ino,
            parent.ino,
            self.sb.filetype(),
        );
        if let Some(s) = self.inode_seed(&i) {
            dir::update_csum(&mut buf, s);
        }
        self.write_block(blk, &buf)?;
        let (ib, _) = extent::build(
            &[Extent {
                logical: 0,
                start: blk,
                len: 1,
                uninit: false,
            }],
            &[],
            self.sb.block_size,
            None,
        );
        i.set_i_block(&ib);
        i.set_size(self.sb.block_size);
        i.set_blocks512(self.sb.block_size / 512);
        self.commit()?;
        self.write_inode(&mut i)?;
        if let Err(e) = self.link_into(parent.ino, dir_path, name, ino, dir::FT_DIR) {
            self.discard_new_inode(&i, true)?;
            return Err(e);
        }
        let mut p = self.read_inode(parent.ino)?;
        self.inc_dir_links(&mut p);
        self.write_inode(&mut p)?;
        self.commit()?;
        Ok(ino)
    }

    fn check_parent_links(&self, parent: &Inode, path: &[u8]) -> Result<(), Ext4WriteError> {
        let l = parent.links();
        if l >= inode::LINK_MAX - 1 && l != 1 && !self.sb.has(2, superblock::ro_compat::DIR_NLINK) {
            return Err(Ext4WriteError::TooManyLinks(pstr(path)));
        }
        Ok(())
    }

    fn inc_dir_links(&self, p: &mut Inode) {
        let l = p.links();
        if l == 1 {
            return; // dir_nlink: count no longer tracked
        }
        if l + 1 >= inode::LINK_MAX {
            p.set_links(1);
        } else {
            p.set_links(l + 1);
        }
    }

    fn dec_dir_links(&self, p: &mut Inode) {
        let l = p.links();
        if l > 2 {
            p.set_links(l - 1);
        }
    }

    /// Add a new name `new_dir/new_name` for the existing non-directory `existing`.
    pub fn hard_link(
        &mut self,
        existing: &[u8],
        new_dir: &[u8],
        new_name: &[u8],
    ) -> Result<(), Ext4WriteError> {
        check_name(new_name)?;
        let mut i = self.resolve(existing)?;
        if i.is_dir() {
            return Err(Ext4WriteError::Unsupported {
                path: pstr(existing),
                what: "hard link to a directory".into(),
            });
        }
        if i.links() >= inode::LINK_MAX {
            return Err(Ext4WriteError::TooManyLinks(pstr(existing)));
        }
        let d = self.resolve_dir(new_dir)?;
        if self.lookup(&d, new_name, &pstr(new_dir))?.is_some() {
            return Err(Ext4WriteError::AlreadyExists(pstr(new_name)));
        }
        let ft = file_type_of(&i);
        // Count first, then the name: a crash leaves an over-count, never a dangling name.
        let old_links = i.links();
        i.set_links(old_links + 1);
        self.touch(&mut i, &[TimeField::Ctime]);
        self.write_inode(&mut i)?;
        if let Err(e) = self.link_into(d.ino, new_dir, new_name, i.ino, ft) {
            let mut i = self.read_inode(i.ino)?;
            i.set_links(old_links);
            self.write_inode(&mut i)?;
            self.commit()?;
            return Err(e);
        }
        self.commit()
    }

    /// Move `path` to `new_dir/new_name` (which must not exist).
    pub fn rename(
        &mut self,
        path: &[u8],
        new_dir: &[u8],
        new_name: &[u8],
    ) -> Result<(), Ext4WriteError> {
        check_name(new_name)?;
        let (src_parent, name) = self.resolve_parent(path)?;
        let Some((ino, _)) = self.lookup(&src_parent, name, &pstr(path))? else {
            return Err(Ext4WriteError::NotFound(pstr(path)));
        };
        let mut i = self.read_inode(ino)?;
        let dst = self.resolve_dir(new_dir)?;
        if self.lookup(&dst, new_name, &pstr(new_dir))?.is_some() {
            return Err(Ext4WriteError::AlreadyExists(pstr(new_name)));
        }
        let is_dir = i.is_dir();
        let moves_dir = is_dir && dst.ino != src_parent.ino;
        if moves_dir {
            // Refuse moving a directory below itself.
            let mut cur = dst.clone();
            for _ in 0..MAX_PATH_DEPTH {
                if cur.ino == ino {
                    return Err(Ext4WriteError::InvalidPath(format!(
                        "{} into its own subtree {}",
                        pstr(path),
                        pstr(new_dir)
                    )));
                }
                if cur.ino == 2 {
                    break;
                }
                let Some((up, _)) = self.lookup(&cur, b"..", "..")? else {
                    return Err(error::corrupt(
                        format!("directory inode {}", cur.ino),
                        "no '..'",
                    ));
                };
                cur = self.read_inode(up)?;
            }
            self.check_parent_links(&dst, new_dir)?;
        }
        let ft = file_type_of(&i);
        self.link_into(dst.ino, new_dir, new_name, ino, ft)?;
        self.unlink_from(src_parent.ino, name, &pstr(path))?;
        if moves_dir {
            self.set_dotdot(&mut i, dst.ino, path)?;
            let mut sp = self.read_inode(src_parent.ino)?;
            self.dec_dir_links(&mut sp);
            self.write_inode(&mut sp)?;
            let mut dp = self.read_inode(dst.ino)?;
            self.inc_dir_links(&mut dp);
            self.write_inode(&mut dp)?;
        }
        let mut i = self.read_inode(ino)?;
        self.touch(&mut i, &[TimeField::Ctime]);
        self.write_inode(&mut i)?;
        self.commit()
    }

    fn set_dotdot(
        &mut self,
        d: &mut Inode,
        parent: u32,
        path: &[u8],
    ) -> Result<(), Ext4WriteError> {
        let what = pstr(path);
        let map = self.extent_map(d, &what)?;
        let (p, mut buf) = self.dir_block(d, &map, 0, &what)?;
        let seed = self.inode_seed(d);
        if d.flags() & inode::EXT4_INDEX_FL != 0 {
            // ".." sits at offset 12 of the dx root; the dx_tail checksum covers it.
            let mut root = htree::DxBlock::parse(buf, htree::ROOT_COUNT_OFF, seed, &what)?;
            le::wr32(&mut root.buf, 12, parent);
            let b = root.to_bytes(seed);
            return self.write_block(p, &b);
        }
        if !dir::set_inode(&mut buf, b"..", parent, &what)? {
            return Err(error::corrupt(format!("directory {what}"), "no '..' entry"));
        }
        if let Some(s) = seed {
            dir::update_csum(&mut buf, s);
        }
        self.write_block(p, &buf)
    }

    /// Set the permission bits (`mode & 0o7777`); the file type stays.
    pub fn set_mode(&mut self, path: &[u8], mode: u32) -> Result<(), Ext4WriteError> {
        let mut i = self.resolve(path)?;
        i.set_mode(i.file_type_bits() | (mode as u16 & 0o7777));
        self.touch(&mut i, &[TimeField::Ctime]);
        self.write_inode(&mut i)
    }

    /// Set the owner's user and group IDs.
    pub fn set_owner(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), Ext4WriteError> {
        let mut i = self.resolve(path)?;
        i.set_owner(uid, gid);
        self.touch(&mut i, &[TimeField::Ctime]);
        self.write_inode(&mut i)
    }

    /// Set access and modification times (seconds since the epoch); ctime becomes now.
    pub fn set_times(&mut self, path: &[u8], atime: i64, mtime: i64) -> Result<(), Ext4WriteError> {
        let mut i = self.resolve(path)?;
        i.set_time(TimeField::Atime, atime, 0);
        i.set_time(TimeField::Mtime, mtime, 0);
        self.touch(&mut i, &[TimeField::Ctime]);
        self.write_inode(&mut i)
    }

    /// Keep the original of `path` as `backup_name` in the same directory (a copy with the same
    /// content, mode, owner and times), then replace `path`'s content with `data` (MOD §7).
    pub fn backup_and_replace(
        &mut self,
        path: &[u8],
        backup_name: &[u8],
        data: &[u8],
    ) -> Result<(), Ext4WriteError> {
        check_name(backup_name)?;
        let (parent, _) = self.resolve_parent(path)?;
        let i = self.resolve(path)?;
        if !i.is_reg() {
            return Err(Ext4WriteError::NotAFile(pstr(path)));
        }
        let old = self.read_file(path)?;
        let cut = path.len() - path.iter().rev().position(|&c| c != b'/').unwrap_or(0);
        let trimmed = path.get(..cut).unwrap_or(path);
        let slash = trimmed.iter().rposition(|&c| c == b'/').unwrap_or(0);
        let dir_path = if slash == 0 {
            &b"/"[..]
        } else {
            trimmed.get(..slash).unwrap_or(b"/")
        };
        let _ = parent;
        let bino = self.create_file(
            dir_path,
            backup_name,
            &old,
            u32::from(i.mode()),
            i.uid(),
            i.gid(),
        )?;
        let mut b = self.read_inode(bino)?;
        b.set_time(TimeField::Atime, i.time(TimeField::Atime), 0);
        b.set_time(TimeField::Mtime, i.time(TimeField::Mtime), 0);
        self.write_inode(&mut b)?;
        self.replace_file(path, data)
    }
}

fn file_type_of(i: &Inode) -> u8 {
    match i.file_type_bits() {
        inode::S_IFREG => dir::FT_REG,
        inode::S_IFDIR => dir::FT_DIR,
        inode::S_IFLNK => dir::FT_SYMLINK,
        0o020000 => 3,
        0o060000 => 4,
        0o010000 => 5,
        0o140000 => 6,
        _ => 0,
    }
}
