//! Our own Btrfs writer (issue 22), beside the reader in [`crate::fs::btrfs`], which it uses
//! to validate the filesystem and read old content.
//!
//! Copy-on-write, as the format requires: every operation is one transaction (`txn`) built
//! in memory — each tree block on a modified path copied to a newly allocated metadata block
//! (free space found from the extent tree, superblock copies kept clear), parents repointed up
//! to a new root; the back references every copy adds or drops are recorded and applied when
//! the transaction settles (`refs`); the extent tree (back references inline or keyed,
//! skinny or not), the free-space tree, block-group used bytes and root items settled
//! (`extent`); then data, tree blocks and every superblock copy inside the device written
//! (`commit`). Nothing is written until the whole transaction is built, so every refusal
//! comes before the first byte.
//!
//! Snapshots (snapper's `/.snapshots/N/snapshot`, read-only or not) share the subvolume's
//! tree blocks and data extents. A tree block with more than one reference, with
//! `FULL_BACKREF`, or owned by another tree is copied the way the kernel's `btrfs_cow_block`
//! copies it: when this tree owned the shared block with normal back references, the old
//! block switches to full back references (its children and data extents gain shared block /
//! shared data references from it) and the copy inherits this tree's references; otherwise
//! the copy's children and data extents gain references from this tree; a full-backref block
//! with a single reference hands its shared references over to the copy. The old block then
//! loses this tree's reference and is freed only when that was its last. Snapshot trees are
//! never written: they keep reading the old blocks byte for byte. A data extent a snapshot
//! still uses loses one reference instead of being freed.
//!
//! Supported: single-device filesystems with single/DUP profiles, crc32c checksums, with or
//! without the free-space tree (without it, a v1 free-space cache is invalidated the way the
//! kernel does it: the superblock's `cache_generation` no longer matches the generation),
//! skinny metadata or not, NO_HOLES or not. Operations: replace a regular file's content
//! (inline extent up to `max_inline`/sector limits, else new data extents with checksums),
//! with a backup copy created in the same directory; create files and directories; rename;
//! remove a regular file ([`BtrfsWriter::remove`]: name, inode, xattrs, extents, data extents
//! freed with their checksums and free space when their last reference goes). Leaves and
//! nodes that fill up are split, emptied ones unlinked.
//!
//! Refused at open ([`BtrfsWriteError`]): a non-empty log tree, a running balance or device
//! replace, quotas (and simple quotas' owner references), several devices, RAID profiles,
//! zoned, extent-tree-v2, mixed block groups, the block-group tree, an invalid free-space
//! tree, unknown feature bits; refused per file: tree blocks with old-style (pre-mixed)
//! back references or left by an interrupted relocation, a shared block of a non-fs tree,
//! free-space-tree bitmaps, paths that cross into another subvolume, a read-only subvolume,
//! space that would need a new chunk; removing a directory, a subvolume, a hard-linked inode
//! or an inode with items this writer does not know (extended refs, fs-verity).

mod block;
mod commit;
mod error;
mod extent;
mod file;
mod refs;
mod txn;

pub use error::BtrfsWriteError;

use super::superblock::{SUPER_OFFSETS, SUPER_SIZE, incompat};
use super::tree::Key;
use super::{BtrfsFs, BtrfsOpenOptions};
use crate::block::{BlockDev, WritableDev};
use crate::fs::Filesystem;
use crate::fs::write::{FsWrite, WriteError, split_path};
use block::get64;
use error::unsupported;
use extent::{EXTENT_TREE, FREE_SPACE_TREE, ROOT_ITEM_KEY, ROOT_TREE};
use file::{NewInode, Stamp};
use std::sync::Arc;
use txn::{Ctx, Txn};

const DEV_TREE: u64 = 4;
const CSUM_TREE: u64 = 7;
const QUOTA_TREE: u64 = 8;
const BALANCE_OBJECTID: u64 = u64::MAX - 3;
const TEMPORARY_ITEM_KEY: u8 = 248;
const DEV_REPLACE_KEY: u8 = 250;
const RO_FREE_SPACE_TREE: u64 = 1;
const RO_FREE_SPACE_TREE_VALID: u64 = 2;
const RO_VERITY: u64 = 4;
const RO_BLOCK_GROUP_TREE: u64 = 8;
const ROOT_SUBVOL_RDONLY: u64 = 1;

/// A name for a tree id, for messages.
pub(crate) fn tree_name(id: u64) -> String {
    match id {
        1 => "the root tree".into(),
        2 => "the extent tree".into(),
        4 => "the device tree".into(),
        5 => "the top-level fs tree".into(),
        7 => "the checksum tree".into(),
        10 => "the free-space tree".into(),
        n => format!("the fs tree of subvolume {n}"),
    }
}

/// Names of incompat bits the writer refuses.
fn incompat_name(bit: u64) -> &'static str {
    match bit {
        2 => "mixed block groups",
        7 => "RAID5/6",
        11 => "RAID1C3/4",
        12 => "zoned",
        13 => "extent-tree-v2",
        14 => "raid-stripe-tree",
        16 => "simple quotas",
        _ => "unknown",
    }
}

/// State of the filesystem as of the last commit.
struct State {
    reader: BtrfsFs,
    sb_raw: Vec<u8>,
    ctx: Arc<Ctx>,
    generation: u64,
    tree: u64,
    root_dir: u64,
}

/// An open Btrfs filesystem being written, one subvolume (the default one, or the one the
/// options name) presented as `/`. Every operation starts from the superblock on the device,
/// so several writers of one filesystem (two subvolumes) may take turns.
pub struct BtrfsWriter {
    dev: Arc<dyn WritableDev>,
    opts: BtrfsOpenOptions,
    clock: Option<i64>,
}

impl BtrfsWriter {
    /// Open the default subvolume of the filesystem on `dev` for writing.
    pub fn open(dev: Arc<dyn WritableDev>) -> Result<Self, BtrfsWriteError> {
        Self::open_with(dev, BtrfsOpenOptions::default())
    }

    /// Open the subvolume `opts` names (fstab `subvol=` / `subvolid=`).
    pub fn open_with(
        dev: Arc<dyn WritableDev>,
        opts: BtrfsOpenOptions,
    ) -> Result<Self, BtrfsWriteError> {
        let w = BtrfsWriter {
            dev,
            opts,
            clock: None,
        };
        // everything a transaction refuses at its start is found here
        w.begin()?;
        Ok(w)
    }

    /// The time stamped on what is written (seconds since the epoch); `None` is now.
    pub fn set_clock(&mut self, clock: Option<i64>) {
        self.clock = clock;
    }

    fn now(&self) -> Stamp {
        match self.clock {
            Some(s) => Stamp {
                sec: s.max(0) as u64,
                nsec: 0,
            },
            None => {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Stamp {
                    sec: d.as_secs(),
                    nsec: d.subsec_nanos(),
                }
            }
        }
    }

    /// A new transaction on the committed state found on the device.
    fn begin(&self) -> Result<(State, Txn), BtrfsWriteError> {
        let st = load(&self.dev, &self.opts)?;
        let mut txn = Txn::new(st.ctx.clone(), st.generation + 1);
        let sb = &st.sb_raw;
        txn.roots.insert(ROOT_TREE, (get64(sb, 0x50), sb[0xc6]));
        txn.root_gen.insert(ROOT_TREE, st.generation);
        if txn
            .get(ROOT_TREE, Key::new(BALANCE_OBJECTID, TEMPORARY_ITEM_KEY, 0))?
            .is_some()
        {
            return Err(BtrfsWriteError::UnsupportedFeature(
                "a balance in progress".into(),
            ));
        }
        let mut trees = vec![EXTENT_TREE, DEV_TREE, CSUM_TREE, st.tree];
        if st.ctx.free_space_tree {
            trees.push(FREE_SPACE_TREE);
        }
        if root_item(&mut txn, QUOTA_TREE)?.is_some() {
            return Err(BtrfsWriteError::UnsupportedFeature(
                "quotas (qgroups are enabled)".into(),
            ));
        }
        for t in trees {
            let d = root_item(&mut txn, t)?.ok_or_else(|| {
                error::corrupt("root tree", format!("no root item for {}", tree_name(t)))
            })?;
            txn.roots.insert(t, (get64(&d, 176), d[238]));
            txn.root_gen.insert(t, get64(&d, 160));
            if (t == st.tree || t == 5) && get64(&d, 208) & ROOT_SUBVOL_RDONLY != 0 {
                return Err(BtrfsWriteError::ReadOnlySubvolume(t));
            }
        }
        if let Some(d) = txn.get(DEV_TREE, Key::new(0, DEV_REPLACE_KEY, 0))? {
            let state = get64(&d, 32);
            if state == 1 || state == 4 {
                return Err(BtrfsWriteError::UnsupportedFeature(
                    "a device replace in progress".into(),
                ));
            }
        }
        Ok((st, txn))
    }

    /// Settle and write `txn`.
    fn finish(&mut self, st: &State, mut txn: Txn) -> Result<(), BtrfsWriteError> {
        settle(st, &mut txn)?;
        commit::commit(&txn, &st.sb_raw)
    }

    fn check_path(path: &str) -> Result<(), BtrfsWriteError> {
        if !path.starts_with('/')
            || path.split('/').any(|c| c == "." || c == "..")
            || path.contains("//")
        {
            return Err(BtrfsWriteError::InvalidPath(path.to_string()));
        }
        Ok(())
    }

    /// Whether anything exists at `path`.
    pub fn exists(&self, path: &str) -> Result<bool, BtrfsWriteError> {
        Self::check_path(path)?;
        let (st, mut txn) = self.begin()?;
        match file::resolve(&mut txn, st.tree, st.root_dir, path) {
            Ok(_) => Ok(true),
            Err(BtrfsWriteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Build (without writing) the transaction of a replace.
    fn plan_replace(
        &self,
        path: &str,
        backup: Option<&str>,
        data: &[u8],
    ) -> Result<(State, Txn), BtrfsWriteError> {
        Self::check_path(path)?;
        let now = self.now();
        let (st, mut txn) = self.begin()?;
        let tree = st.tree;
        let mut ino = file::resolve(&mut txn, tree, st.root_dir, path)?;
        if !ino.is_reg() {
            return Err(BtrfsWriteError::NotAFile(path.to_string()));
        }
        if let Some(b) = backup {
            let (dir, name) = split_path(path);
            let mut d = file::resolve(&mut txn, tree, st.root_dir, dir)?;
            if ino.size() > file::MAX_FILE {
                return Err(unsupported(path, "a file too large to back up"));
            }
            let mut old = vec![0u8; ino.size() as usize];
            let n = st.reader.read_at(path.as_bytes(), 0, &mut old)?;
            old.truncate(n);
            let _ = name;
            let mut copy = file::create(&mut txn, tree, &mut d, b, NewInode::CopyOf(&ino), now)?;
            file::write_content(&mut txn, tree, &mut copy, &old, now, &format!("{dir}/{b}"))?;
            // the copy keeps the original's times
            copy.raw[112..160].copy_from_slice(&ino.raw[112..160]);
            txn.update(
                tree,
                Key::new(copy.ino, file::INODE_ITEM_KEY, 0),
                copy.raw.clone(),
            )?;
            ino = file::read_inode(&mut txn, tree, ino.ino)?;
        }
        file::write_content(&mut txn, tree, &mut ino, data, now, path)?;
        Ok((st, txn))
    }

    /// Replace the content of regular file `path`, first keeping the original as `backup`
    /// (a name in the same directory).
    pub fn replace(
        &mut self,
        path: &str,
        backup: Option<&str>,
        data: &[u8],
    ) -> Result<(), BtrfsWriteError> {
        let (st, txn) = self.plan_replace(path, backup, data)?;
        self.finish(&st, txn)
    }

    /// Whether [`BtrfsWriter::replace`] of `path` would be refused (the whole transaction is
    /// built and settled in memory, then dropped).
    pub fn preflight_replace(&self, path: &str) -> Result<(), BtrfsWriteError> {
        let size = {
            let (st, mut txn) = self.begin()?;
            file::resolve(&mut txn, st.tree, st.root_dir, path)?.size()
        };
        let data = vec![0u8; size.min(file::MAX_FILE) as usize];
        let (st, mut txn) = self.plan_replace(path, None, &data)?;
        settle(&st, &mut txn)
    }

    /// Create regular file `path` (0644 root) holding `data`, and missing parent directories.
    pub fn create(&mut self, path: &str, data: &[u8]) -> Result<(), BtrfsWriteError> {
        Self::check_path(path)?;
        let now = self.now();
        let (st, mut txn) = self.begin()?;
        let tree = st.tree;
        let (dir, name) = split_path(path);
        let mut cur = file::resolve(&mut txn, tree, st.root_dir, "/")?;
        let mut walked = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            walked.push('/');
            walked.push_str(c);
            cur = match file::resolve(&mut txn, tree, st.root_dir, &walked) {
                Ok(i) => i,
                Err(BtrfsWriteError::NotFound(_)) => {
                    file::create(&mut txn, tree, &mut cur, c, NewInode::Dir, now)?
                }
                Err(e) => return Err(e),
            };
            if !cur.is_dir() {
                return Err(BtrfsWriteError::NotADirectory(walked));
            }
        }
        let mut f = match file::create(&mut txn, tree, &mut cur, name, NewInode::File, now) {
            Err(BtrfsWriteError::AlreadyExists(_)) => {
                return Err(BtrfsWriteError::AlreadyExists(path.to_string()));
            }
            r => r?,
        };
        file::write_content(&mut txn, tree, &mut f, data, now, path)?;
        self.finish(&st, txn)
    }
}

impl BtrfsWriter {
    /// Rename `from` to `to` (both in the open subvolume); an existing `to` is an error.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), BtrfsWriteError> {
        Self::check_path(from)?;
        Self::check_path(to)?;
        if from == "/" || to == "/" || to.starts_with(&format!("{from}/")) {
            return Err(BtrfsWriteError::InvalidPath(format!("{from} → {to}")));
        }
        let now = self.now();
        let (st, mut txn) = self.begin()?;
        let tree = st.tree;
        let (fd, fname) = split_path(from);
        let (td, tname) = split_path(to);
        let mut fdir = file::resolve(&mut txn, tree, st.root_dir, fd)?;
        let mut tdir = file::resolve(&mut txn, tree, st.root_dir, td)?;
        if !tdir.is_dir() {
            return Err(BtrfsWriteError::NotADirectory(td.to_string()));
        }
        if fdir.ino == tdir.ino {
            file::rename(&mut txn, tree, &mut fdir, fname, None, tname, now, from)?;
        } else {
            file::rename(
                &mut txn,
                tree,
                &mut fdir,
                fname,
                Some(&mut tdir),
                tname,
                now,
                from,
            )?;
        }
        self.finish(&st, txn)
    }
}

impl BtrfsWriter {
    /// Delete regular file `path` of the open subvolume (its name, inode, extended
    /// attributes and extents; data extents a snapshot or reflink still uses keep their
    /// bytes, the others are freed with their checksums). Directories, subvolumes,
    /// hard-linked inodes and inodes holding items this writer does not know are refused by
    /// name before anything is written.
    pub fn remove(&mut self, path: &str) -> Result<(), BtrfsWriteError> {
        Self::check_path(path)?;
        if path == "/" {
            return Err(BtrfsWriteError::NotAFile(path.to_string()));
        }
        let now = self.now();
        let (st, mut txn) = self.begin()?;
        let tree = st.tree;
        let (d, name) = split_path(path);
        let mut dir = file::resolve(&mut txn, tree, st.root_dir, d)?;
        if !dir.is_dir() {
            return Err(BtrfsWriteError::NotADirectory(d.to_string()));
        }
        file::remove(&mut txn, tree, &mut dir, name, now, path)?;
        self.finish(&st, txn)
    }
}

/// Bring every tree in line with what `txn` did (see [`extent::settle`]).
fn settle(st: &State, txn: &mut Txn) -> Result<(), BtrfsWriteError> {
    let mut items = vec![EXTENT_TREE, CSUM_TREE, st.tree];
    if st.ctx.free_space_tree {
        items.push(FREE_SPACE_TREE);
    }
    extent::settle(txn, &items)
}

/// The newest root item of tree `t`.
fn root_item(txn: &mut Txn, t: u64) -> Result<Option<Vec<u8>>, BtrfsWriteError> {
    Ok(txn
        .range(
            ROOT_TREE,
            Key::new(t, ROOT_ITEM_KEY, 0),
            Key::new(t, ROOT_ITEM_KEY, u64::MAX),
        )?
        .pop()
        .map(|(_, d)| d))
}

/// Validate the filesystem for writing and read its committed state.
fn load(dev: &Arc<dyn WritableDev>, opts: &BtrfsOpenOptions) -> Result<State, BtrfsWriteError> {
    let rdev: Arc<dyn BlockDev> = dev.clone();
    let reader = BtrfsFs::open(rdev, opts)?;
    let sb = reader.superblock().clone();
    if reader.superblock_offset() != SUPER_OFFSETS[0] {
        return Err(BtrfsWriteError::UnsupportedFeature(
            "a damaged primary superblock (run btrfs rescue super-recover)".into(),
        ));
    }
    if sb.log_root != 0 {
        return Err(BtrfsWriteError::DirtyLog(sb.log_root));
    }
    let ok_incompat = incompat::MIXED_BACKREF
        | incompat::DEFAULT_SUBVOL
        | incompat::COMPRESS_LZO
        | incompat::COMPRESS_ZSTD
        | incompat::BIG_METADATA
        | incompat::EXTENDED_IREF
        | incompat::SKINNY_METADATA
        | incompat::NO_HOLES
        | incompat::METADATA_UUID;
    let bad = sb.incompat_flags & !ok_incompat;
    if bad != 0 {
        let bit = bad.trailing_zeros() as u64;
        return Err(BtrfsWriteError::UnsupportedFeature(format!(
            "incompat flag {:#x} ({})",
            1u64 << bit,
            incompat_name(bit)
        )));
    }
    let ro = sb.compat_ro_flags;
    if ro & RO_BLOCK_GROUP_TREE != 0 {
        return Err(BtrfsWriteError::UnsupportedFeature(
            "the block-group tree".into(),
        ));
    }
    let unknown_ro = ro & !(RO_FREE_SPACE_TREE | RO_FREE_SPACE_TREE_VALID | RO_VERITY);
    if unknown_ro != 0 {
        return Err(BtrfsWriteError::UnsupportedFeature(format!(
            "compat_ro flags {unknown_ro:#x}"
        )));
    }
    let fst = ro & RO_FREE_SPACE_TREE != 0;
    if fst && ro & RO_FREE_SPACE_TREE_VALID == 0 {
        return Err(BtrfsWriteError::UnsupportedFeature(
            "a free-space tree not marked valid".into(),
        ));
    }
    let mut sb_raw = vec![0u8; SUPER_SIZE];
    dev.read_at(SUPER_OFFSETS[0], &mut sb_raw)?;
    let ctx = Ctx {
        dev: dev.clone(),
        chunks: reader.chunk_map().clone(),
        nodesize: sb.nodesize,
        sectorsize: sb.sectorsize,
        fsid: sb.metadata_uuid,
        skinny: sb.incompat_flags & incompat::SKINNY_METADATA != 0,
        free_space_tree: fst,
    };
    let tree = reader.mounted_subvolume_id();
    let root_dir = reader.mounted_root_dir();
    Ok(State {
        reader,
        sb_raw,
        ctx: Arc::new(ctx),
        generation: sb.generation,
        tree,
        root_dir,
    })
}

impl FsWrite for BtrfsWriter {
    fn exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(BtrfsWriter::exists(self, path)?)
    }
    fn preflight_replace(&self, path: &str) -> Result<(), WriteError> {
        Ok(BtrfsWriter::preflight_replace(self, path)?)
    }
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError> {
        Ok(BtrfsWriter::replace(self, path, backup, data)?)
    }
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        Ok(BtrfsWriter::create(self, path, data)?)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), WriteError> {
        Ok(BtrfsWriter::rename(self, from, to)?)
    }
    /// Every operation commits its own transaction: nothing is left in memory.
    fn flush(&mut self) -> Result<(), WriteError> {
        self.dev.flush().map_err(BtrfsWriteError::from)?;
        Ok(())
    }
}
