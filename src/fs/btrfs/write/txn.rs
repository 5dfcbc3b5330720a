//! The copy-on-write transaction: tree blocks are read, edited in memory and given new
//! addresses (every block on a modified path is copied once per transaction, its parent
//! repointed up to a new root); nothing reaches the device until [`super::commit`].
//!
//! Shape changes handled: a full leaf or node is split in two (a root that splits grows the
//! tree by one level), and an emptied block is unlinked from its parent. Everything the
//! transaction allocates and frees is recorded for the extent tree, the free-space tree and
//! the block-group counters.

use super::super::chunk::ChunkMap;
use super::super::tree::{HEADER_SIZE, Key};
use super::block::{Block, ITEM_SIZE, KEY_PTR_SIZE};
use super::block::{get64, put64};
use super::error::{BtrfsWriteError, corrupt, shape};
use super::refs::{FLAG_FULL_BACKREF, Ref};
use crate::block::WritableDev;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What the transaction needs of the filesystem.
pub struct Ctx {
    pub dev: Arc<dyn WritableDev>,
    pub chunks: ChunkMap,
    pub nodesize: u32,
    pub sectorsize: u32,
    /// The fsid stamped in tree-block headers.
    pub fsid: [u8; 16],
    pub skinny: bool,
    pub free_space_tree: bool,
}

/// A tree block allocated by this transaction whose extent item is not yet written.
#[derive(Debug, Clone, Copy)]
pub struct NewMeta {
    pub bytenr: u64,
    pub owner: u64,
    pub level: u8,
}

/// A data extent this transaction wrote, referenced by one file extent item.
#[derive(Debug, Clone, Copy)]
pub struct NewData {
    pub bytenr: u64,
    pub len: u64,
    pub root: u64,
    pub ino: u64,
    pub offset: u64,
}

/// One copy-on-write transaction.
pub struct Txn {
    pub ctx: Arc<Ctx>,
    pub transid: u64,
    blocks: HashMap<u64, Block>,
    /// Blocks written by this transaction (at their new addresses).
    pub dirty: BTreeSet<u64>,
    /// Tree id → (root bytenr, level).
    pub roots: BTreeMap<u64, (u64, u8)>,
    /// Reference changes waiting for the extent tree, by extent address.
    pub pending_refs: BTreeMap<u64, super::refs::Pending>,
    /// Tree id → generation of its root block as the root item records it.
    pub root_gen: BTreeMap<u64, u64>,
    pub new_meta: Vec<NewMeta>,
    pub new_data: Vec<NewData>,
    pub freed_data: Vec<(u64, u64)>,
    /// Ranges to take out of / give back to the free-space tree.
    pub fst_alloc: Vec<(u64, u64)>,
    pub fst_free: Vec<(u64, u64)>,
    /// Block group start → change of its used bytes.
    pub bg_delta: BTreeMap<u64, i64>,
    pub bytes_used_delta: i64,
    /// Tree id → change of the bytes its blocks use.
    pub tree_bytes: BTreeMap<u64, i64>,
    /// Whether the free ranges were found (at the first allocation).
    space_ready: bool,
    /// Free metadata and data ranges (logical start, length), first fit.
    pub meta_free: Vec<(u64, u64)>,
    pub data_free: Vec<(u64, u64)>,
    /// Data to write: logical address, bytes.
    pub data_writes: Vec<(u64, Vec<u8>)>,
}

const HEADER_FLAG_WRITTEN: u64 = 1;
const HEADER_FLAG_RELOC: u64 = 2;
const MIXED_BACKREF_REV: u64 = 1;

/// Whether tree `t` is a subvolume's fs tree (its blocks may be shared with snapshots).
pub fn is_fs_tree(t: u64) -> bool {
    t == 5 || (256..=u64::MAX - 256).contains(&t)
}

fn ns_i64(txn: &Txn) -> i64 {
    i64::from(txn.ctx.nodesize)
}

/// Path from the root to a leaf: (block, slot) per level, root first.
pub type Path = Vec<(u64, usize)>;

impl Txn {
    pub fn new(ctx: Arc<Ctx>, gen_: u64) -> Txn {
        Txn {
            ctx,
            transid: gen_,
            blocks: HashMap::new(),
            dirty: BTreeSet::new(),
            roots: BTreeMap::new(),
            pending_refs: BTreeMap::new(),
            root_gen: BTreeMap::new(),
            new_meta: Vec::new(),
            new_data: Vec::new(),
            freed_data: Vec::new(),
            fst_alloc: Vec::new(),
            fst_free: Vec::new(),
            bg_delta: BTreeMap::new(),
            bytes_used_delta: 0,
            tree_bytes: BTreeMap::new(),
            space_ready: false,
            meta_free: Vec::new(),
            data_free: Vec::new(),
            data_writes: Vec::new(),
        }
    }

    /// `BTRFS_LEAF_DATA_SIZE`: the bytes of a leaf after its header.
    pub fn leaf_data_size(&self) -> usize {
        self.leaf_cap()
    }

    fn leaf_cap(&self) -> usize {
        self.ctx.nodesize as usize - HEADER_SIZE
    }

    fn node_cap(&self) -> usize {
        (self.ctx.nodesize as usize - HEADER_SIZE) / KEY_PTR_SIZE
    }

    /// Largest item a leaf can hold.
    pub fn max_item(&self) -> usize {
        self.leaf_cap() - ITEM_SIZE
    }

    /// Read and verify the block at `bytenr` (every copy is tried, as the reader does).
    fn load(&mut self, bytenr: u64) -> Result<(), BtrfsWriteError> {
        if self.blocks.contains_key(&bytenr) {
            return Ok(());
        }
        let ns = u64::from(self.ctx.nodesize);
        if bytenr % u64::from(self.ctx.sectorsize) != 0 {
            return Err(corrupt(
                "tree pointer",
                format!("block address {bytenr:#x} is not aligned"),
            ));
        }
        let mut first_err = None;
        for phys in self.ctx.chunks.map_copies(bytenr, ns)? {
            let mut buf = vec![0u8; ns as usize];
            if phys.saturating_add(ns) > self.ctx.dev.len() {
                first_err.get_or_insert(corrupt(
                    "chunk map",
                    format!("block {bytenr:#x} maps past the device end"),
                ));
                continue;
            }
            self.ctx.dev.read_at(phys, &mut buf)?;
            match Block::decode(buf, bytenr, &self.ctx.fsid) {
                Ok(b) => {
                    self.blocks.insert(bytenr, b);
                    return Ok(());
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| corrupt("chunk map", "no copy of a tree block")))
    }

    pub fn blk(&self, b: u64) -> &Block {
        &self.blocks[&b]
    }

    /// Cannot fail: it is only called with a block address a search or an allocation of this
    /// transaction has just put in `blocks` (blocks are never removed during a transaction).
    fn blk_mut(&mut self, b: u64) -> &mut Block {
        self.blocks.get_mut(&b).expect("loaded block")
    }

    /// Every dirty block, encoded.
    pub fn dirty_blocks(&self) -> Vec<(u64, Vec<u8>)> {
        let ns = self.ctx.nodesize as usize;
        self.dirty
            .iter()
            .map(|b| (*b, self.blocks[b].encode(ns)))
            .collect()
    }

    pub fn root(&self, tree: u64) -> Result<(u64, u8), BtrfsWriteError> {
        self.roots
            .get(&tree)
            .copied()
            .ok_or_else(|| corrupt("root tree", format!("no root item for tree {tree}")))
    }

    /// Find the free ranges from the extent tree before the first allocation (when it is
    /// still as committed: every change copies a block, which allocates first).
    fn find_space(&mut self) -> Result<(), BtrfsWriteError> {
        if !self.space_ready {
            self.space_ready = true;
            super::extent::find_free_space(self)?;
        }
        Ok(())
    }

    /// Take a free, nodesize-aligned metadata block.
    pub fn alloc_meta(&mut self, owner: u64, level: u8) -> Result<u64, BtrfsWriteError> {
        self.find_space()?;
        let ns = u64::from(self.ctx.nodesize);
        for i in 0..self.meta_free.len() {
            let (s, l) = self.meta_free[i];
            let a = s.div_ceil(ns) * ns;
            if a + ns > s + l {
                continue;
            }
            // keep what lies before and after the block
            self.meta_free.remove(i);
            if a + ns < s + l {
                self.meta_free.insert(i, (a + ns, s + l - a - ns));
            }
            if a > s {
                self.meta_free.insert(i, (s, a - s));
            }
            self.account_alloc(a, ns, Some(owner));
            self.new_meta.push(NewMeta {
                bytenr: a,
                owner,
                level,
            });
            return Ok(a);
        }
        Err(BtrfsWriteError::NoSpace(format!(
            "no free {ns}-byte block in the existing metadata block groups"
        )))
    }

    /// Take free data space for `len` bytes (a multiple of the sector size): the pieces.
    pub fn alloc_data(&mut self, len: u64) -> Result<Vec<(u64, u64)>, BtrfsWriteError> {
        self.find_space()?;
        const MAX_EXTENT: u64 = 128 << 20;
        let total_free: u64 = self.data_free.iter().map(|r| r.1).sum();
        if total_free < len {
            return Err(BtrfsWriteError::NoSpace(format!(
                "{len} bytes of data wanted, {total_free} free in the existing data block groups"
            )));
        }
        let mut out = Vec::new();
        let mut left = len;
        // One piece when a range is large enough, else the largest ranges first.
        while left > 0 {
            let want = left.min(MAX_EXTENT);
            let idx = self
                .data_free
                .iter()
                .position(|r| r.1 >= want)
                .or_else(|| (0..self.data_free.len()).max_by_key(|&i| self.data_free[i].1))
                .ok_or_else(|| BtrfsWriteError::NoSpace("data".into()))?;
            let (s, l) = self.data_free[idx];
            let take = l.min(want);
            if take == l {
                self.data_free.remove(idx);
            } else {
                self.data_free[idx] = (s + take, l - take);
            }
            self.account_alloc(s, take, None);
            out.push((s, take));
            left -= take;
        }
        Ok(out)
    }

    fn bg_of(&self, at: u64) -> Result<u64, BtrfsWriteError> {
        self.ctx
            .chunks
            .chunks()
            .find(|c| c.logical <= at && at < c.logical + c.length)
            .map(|c| c.logical)
            .ok_or_else(|| corrupt("chunk map", format!("no block group holds {at:#x}")))
    }

    fn account_alloc(&mut self, at: u64, len: u64, owner: Option<u64>) {
        if let Ok(bg) = self.bg_of(at) {
            *self.bg_delta.entry(bg).or_default() += len as i64;
        }
        self.bytes_used_delta += len as i64;
        self.fst_alloc.push((at, len));
        if let Some(o) = owner {
            *self.tree_bytes.entry(o).or_default() += len as i64;
        }
    }

    /// Account for freeing `[at, at+len)` (not reused before the commit).
    pub fn account_free(&mut self, at: u64, len: u64, owner: Option<u64>) {
        if let Ok(bg) = self.bg_of(at) {
            *self.bg_delta.entry(bg).or_default() -= len as i64;
        }
        self.bytes_used_delta -= len as i64;
        self.fst_free.push((at, len));
        if let Some(o) = owner {
            *self.tree_bytes.entry(o).or_default() -= len as i64;
        }
    }

    /// Give up block `b` of `tree` (allocated by this transaction).
    fn drop_block(&mut self, tree: u64, b: u64) {
        self.dirty.remove(&b);
        self.blocks.remove(&b);
        if let Some(i) = self.new_meta.iter().position(|m| m.bytenr == b) {
            // never recorded anywhere: undo the allocation (the range stays unused)
            self.new_meta.remove(i);
            let ns = u64::from(self.ctx.nodesize);
            if let Some(j) = self.fst_alloc.iter().position(|r| *r == (b, ns)) {
                self.fst_alloc.remove(j);
            }
            if let Ok(bg) = self.bg_of(b) {
                *self.bg_delta.entry(bg).or_default() -= ns as i64;
            }
            self.bytes_used_delta -= ns as i64;
            *self.tree_bytes.entry(tree).or_default() -= ns as i64;
        } else {
            // allocated in an earlier round of this transaction: its extent item exists
            self.add_ref(b, None, Ref::Tree(tree), -1);
            *self.tree_bytes.entry(tree).or_default() -= ns_i64(self);
        }
    }

    /// Copy block `b` of `tree` to a new address (once per transaction); the caller repoints
    /// the parent (or the root). A block shared with a snapshot (more than one reference,
    /// full back references, or owned by another tree) is copied as the kernel's
    /// `btrfs_cow_block` copies it (`update_ref_for_cow`): the copy is this tree's, the
    /// references its content holds are added for it (as this tree's, or — when this tree
    /// owned the shared block with normal back references — the old block switches to full
    /// back references and its children gain references from it, and the copy inherits this
    /// tree's), and the old block loses this tree's reference without being freed: the
    /// snapshot keeps reading it.
    fn cow(&mut self, tree: u64, b: u64) -> Result<u64, BtrfsWriteError> {
        if self.dirty.contains(&b) {
            return Ok(b);
        }
        self.load(b)?;
        let level = self.blk(b).level;
        let owner = self.blk(b).owner();
        let hflags = get64(&self.blk(b).header, 56);
        let name = || format!("tree block {b:#x} of {}", super::tree_name(tree));
        if hflags >> 56 < MIXED_BACKREF_REV {
            return Err(BtrfsWriteError::UnsupportedFeature(format!(
                "{}: old-style back references (backref revision {})",
                name(),
                hflags >> 56
            )));
        }
        if hflags & HEADER_FLAG_RELOC != 0 {
            return Err(BtrfsWriteError::UnsupportedFeature(format!(
                "{}: a block of an interrupted relocation",
                name()
            )));
        }
        let (refs, flags) = self.tree_block_info(b)?;
        if refs == 0 {
            return Err(corrupt(
                "extent tree",
                format!("{} has no reference", name()),
            ));
        }
        let shareable = is_fs_tree(tree);
        if !shareable && (refs != 1 || flags & FLAG_FULL_BACKREF != 0 || owner != tree) {
            return Err(BtrfsWriteError::Shared(format!(
                "{} (owner {owner}, {refs} references)",
                name()
            )));
        }
        let new = self.alloc_meta(tree, level)?;
        let mut copy = self.blk(b).clone();
        copy.bytenr = new;
        copy.generation = self.transid;
        put64(&mut copy.header, 88, tree);
        let nf = (hflags & !(HEADER_FLAG_WRITTEN | HEADER_FLAG_RELOC) & ((1u64 << 56) - 1))
            | (MIXED_BACKREF_REV << 56);
        put64(&mut copy.header, 56, nf);
        self.blocks.insert(new, copy);
        self.dirty.insert(new);
        if refs > 1 {
            if owner == tree && flags & FLAG_FULL_BACKREF == 0 {
                self.block_refs(b, tree, true, 1)?;
                self.pending_refs.entry(b).or_default().full_backref = true;
            } else {
                self.block_refs(new, tree, false, 1)?;
            }
        } else if flags & FLAG_FULL_BACKREF != 0 {
            self.block_refs(new, tree, false, 1)?;
            self.block_refs(b, tree, true, -1)?;
        }
        self.add_ref(b, None, Ref::Tree(tree), -1);
        *self.tree_bytes.entry(tree).or_default() -= ns_i64(self);
        Ok(new)
    }

    /// Find `key` in `tree`: the path and whether the leaf holds it. With `cow`, every
    /// block on the path is copied first.
    pub fn search(
        &mut self,
        tree: u64,
        key: Key,
        cow: bool,
    ) -> Result<(Path, bool), BtrfsWriteError> {
        let (mut b, root_level) = self.root(tree)?;
        if cow {
            let nb = self.cow(tree, b)?;
            if nb != b {
                self.roots.insert(tree, (nb, root_level));
                b = nb;
            }
        } else {
            self.load(b)?;
        }
        let mut path = Vec::new();
        let mut expect = root_level;
        loop {
            let blk = self.blk(b);
            if blk.level != expect {
                return Err(corrupt(
                    format!("tree block at {b:#x}"),
                    format!("level {} where {expect} was expected", blk.level),
                ));
            }
            if blk.is_leaf() {
                let r = blk.items.binary_search_by(|(k, _)| k.cmp(&key));
                let (slot, found) = match r {
                    Ok(i) => (i, true),
                    Err(i) => (i, false),
                };
                path.push((b, slot));
                return Ok((path, found));
            }
            if blk.ptrs.is_empty() {
                return Err(corrupt(format!("tree block at {b:#x}"), "empty node"));
            }
            let idx = match blk.ptrs.binary_search_by(|(k, _, _)| k.cmp(&key)) {
                Ok(i) => i,
                Err(0) => 0,
                Err(i) => i - 1,
            };
            let child = blk.ptrs[idx].1;
            path.push((b, idx));
            let child = if cow {
                let nc = self.cow(tree, child)?;
                let g = self.transid;
                let p = &mut self.blk_mut(b).ptrs[idx];
                p.1 = nc;
                p.2 = g;
                nc
            } else {
                self.load(child)?;
                child
            };
            b = child;
            expect = expect
                .checked_sub(1)
                .ok_or_else(|| corrupt("tree", "node below level 0"))?;
        }
    }

    /// After the first key of the block at `path[idx]` became `key`, fix the parents.
    fn fixup(&mut self, path: &Path, idx: usize, key: Key) {
        let mut j = idx;
        while j > 0 {
            let (pb, ps) = path[j - 1];
            self.blk_mut(pb).ptrs[ps].0 = key;
            if ps != 0 {
                break;
            }
            j -= 1;
        }
    }

    /// The item `key` of `tree`.
    pub fn get(&mut self, tree: u64, key: Key) -> Result<Option<Vec<u8>>, BtrfsWriteError> {
        let (path, found) = self.search(tree, key, false)?;
        let (b, s) = last(&path, tree)?;
        Ok(found.then(|| self.blk(b).items[s].1.clone()))
    }

    /// Insert a new item; an existing key is an error.
    pub fn insert(&mut self, tree: u64, key: Key, data: Vec<u8>) -> Result<(), BtrfsWriteError> {
        if data.len() > self.max_item() {
            return Err(shape(tree, format!("an item of {} bytes", data.len())));
        }
        let (path, found) = self.search(tree, key, true)?;
        if found {
            return Err(corrupt(
                super::tree_name(tree),
                format!("item {key:?} exists already"),
            ));
        }
        let (b, slot) = last(&path, tree)?;
        if self.blk(b).leaf_used() + ITEM_SIZE + data.len() > self.leaf_cap() {
            return self.split_insert(tree, key, data);
        }
        self.blk_mut(b).items.insert(slot, (key, data));
        if slot == 0 {
            self.fixup(&path, path.len() - 1, key);
        }
        Ok(())
    }

    /// Insert into a full leaf: the leaf's items and the new one are shared between the leaf
    /// and a new right sibling, split where the bytes balance best.
    fn split_insert(&mut self, tree: u64, key: Key, data: Vec<u8>) -> Result<(), BtrfsWriteError> {
        let (mut path, _) = self.search(tree, key, true)?;
        if path.len() == 1 {
            self.grow_root(tree)?;
            path = self.search(tree, key, true)?.0;
        }
        let (pb, _) = path[path.len() - 2];
        if self.blk(pb).ptrs.len() >= self.node_cap() {
            self.split(tree, key, 1)?;
            path = self.search(tree, key, true)?.0;
        }
        let (pb, ps) = path[path.len() - 2];
        let (b, slot) = last(&path, tree)?;
        let mut all = self.blk(b).items.clone();
        all.insert(slot, (key, data));
        let sizes: Vec<usize> = all.iter().map(|(_, d)| ITEM_SIZE + d.len()).collect();
        let total: usize = sizes.iter().sum();
        let cap = self.leaf_cap();
        let mut best: Option<(usize, usize)> = None;
        let mut left = 0usize;
        for mid in 1..all.len() {
            left += sizes[mid - 1];
            let right = total - left;
            if left <= cap && right <= cap {
                let skew = left.abs_diff(right);
                if best.is_none_or(|(_, s)| skew < s) {
                    best = Some((mid, skew));
                }
            }
        }
        let (mid, _) = best.ok_or_else(|| shape(tree, "a three-way leaf split"))?;
        let right_items = all.split_off(mid);
        let new = self.alloc_meta(tree, 0)?;
        let mut right = self.blk(b).clone();
        right.bytenr = new;
        right.generation = self.transid;
        right.items = right_items;
        let first = right.items[0].0;
        self.blocks.insert(new, right);
        self.dirty.insert(new);
        let left_first = all[0].0;
        self.blk_mut(b).items = all;
        let g = self.transid;
        self.blk_mut(pb).ptrs.insert(ps + 1, (first, new, g));
        if slot == 0 && mid > 0 {
            self.fixup(&path, path.len() - 1, left_first);
        }
        Ok(())
    }

    /// Replace the data of an existing item.
    pub fn update(&mut self, tree: u64, key: Key, data: Vec<u8>) -> Result<(), BtrfsWriteError> {
        let (path, found) = self.search(tree, key, true)?;
        if !found {
            return Err(corrupt(
                super::tree_name(tree),
                format!("item {key:?} missing"),
            ));
        }
        let (b, slot) = last(&path, tree)?;
        let old = self.blk(b).items[slot].1.len();
        if self.blk(b).leaf_used() - old + data.len() > self.leaf_cap() {
            self.delete(tree, key)?;
            return self.insert(tree, key, data);
        }
        self.blk_mut(b).items[slot].1 = data;
        Ok(())
    }

    /// Delete an existing item; returns its data.
    pub fn delete(&mut self, tree: u64, key: Key) -> Result<Vec<u8>, BtrfsWriteError> {
        let (path, found) = self.search(tree, key, true)?;
        if !found {
            return Err(corrupt(
                super::tree_name(tree),
                format!("item {key:?} missing"),
            ));
        }
        let (b, slot) = last(&path, tree)?;
        let (_, data) = self.blk_mut(b).items.remove(slot);
        let idx = path.len() - 1;
        if self.blk(b).items.is_empty() {
            self.remove_empty(tree, &path, idx)?;
        } else if slot == 0 {
            let k = self.blk(b).items[0].0;
            self.fixup(&path, idx, k);
        }
        Ok(data)
    }

    /// Unlink the emptied block at `path[idx]` from its parent.
    fn remove_empty(&mut self, tree: u64, path: &Path, idx: usize) -> Result<(), BtrfsWriteError> {
        if idx == 0 {
            if !self.blk(path[0].0).is_leaf() {
                return Err(shape(tree, "an empty root node"));
            }
            return Ok(()); // an empty tree is one empty leaf
        }
        let b = path[idx].0;
        self.drop_block(tree, b);
        let (pb, ps) = path[idx - 1];
        self.blk_mut(pb).ptrs.remove(ps);
        if self.blk(pb).ptrs.is_empty() {
            if idx - 1 == 0 {
                // the root node lost its last child: the tree becomes one empty leaf
                let mut leaf = self.blk(pb).clone();
                leaf.level = 0;
                leaf.ptrs.clear();
                leaf.items.clear();
                self.blocks.insert(pb, leaf);
                self.roots.insert(tree, (pb, 0));
                return Ok(());
            }
            return self.remove_empty(tree, path, idx - 1);
        }
        if ps == 0 {
            let k = self.blk(pb).ptrs[0].0;
            self.fixup(path, idx - 1, k);
        }
        Ok(())
    }

    /// Make the tree one level taller: a new root node pointing at the old root.
    fn grow_root(&mut self, tree: u64) -> Result<(), BtrfsWriteError> {
        let (old, level) = self.root(tree)?;
        if level >= super::super::tree::MAX_LEVEL {
            return Err(shape(tree, "a ninth level"));
        }
        let first = self.blk(old).first_key().unwrap_or(Key::MIN);
        let new = self.alloc_meta(tree, level + 1)?;
        let mut root = self.blk(old).clone();
        root.bytenr = new;
        root.level = level + 1;
        root.generation = self.transid;
        root.items.clear();
        root.ptrs = vec![(first, old, self.transid)];
        self.blocks.insert(new, root);
        self.dirty.insert(new);
        self.roots.insert(tree, (new, level + 1));
        Ok(())
    }

    /// Split the node at `level` (≥ 1) on the (copied) path to `key` in two.
    fn split(&mut self, tree: u64, key: Key, level: u8) -> Result<(), BtrfsWriteError> {
        let (path, _) = self.search(tree, key, true)?;
        let idx = path.len() - 1 - level as usize;
        if idx == 0 {
            self.grow_root(tree)?;
            return self.split(tree, key, level);
        }
        let (pb, ps) = path[idx - 1];
        if self.blk(pb).ptrs.len() >= self.node_cap() {
            self.split(tree, key, level + 1)?;
            return self.split(tree, key, level);
        }
        let b = path[idx].0;
        let blk = self.blk(b);
        let mut right = blk.clone();
        if blk.is_leaf() {
            return Err(shape(tree, "a leaf split outside an insert"));
        }
        let n = blk.ptrs.len();
        if n < 2 {
            return Err(shape(tree, "splitting a node of one pointer"));
        }
        let mid = n / 2;
        right.ptrs = blk.ptrs[mid..].to_vec();
        let left = blk.ptrs[..mid].to_vec();
        self.blk_mut(b).ptrs = left;
        let new = self.alloc_meta(tree, level)?;
        right.bytenr = new;
        right.generation = self.transid;
        let first = right
            .first_key()
            .ok_or_else(|| shape(tree, "a node split left an empty half"))?;
        self.blocks.insert(new, right);
        self.dirty.insert(new);
        let g = self.transid;
        self.blk_mut(pb).ptrs.insert(ps + 1, (first, new, g));
        Ok(())
    }

    /// Every item of `tree` with `min <= key <= max`, in order.
    pub fn range(
        &mut self,
        tree: u64,
        min: Key,
        max: Key,
    ) -> Result<Vec<(Key, Vec<u8>)>, BtrfsWriteError> {
        let (root, _) = self.root(tree)?;
        let mut out = Vec::new();
        let mut budget = 1u64 << 22;
        self.range_in(root, None, min, max, &mut out, &mut budget)?;
        Ok(out)
    }

    fn range_in(
        &mut self,
        b: u64,
        hi: Option<Key>,
        min: Key,
        max: Key,
        out: &mut Vec<(Key, Vec<u8>)>,
        budget: &mut u64,
    ) -> Result<(), BtrfsWriteError> {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| corrupt("tree", "walk visited too many blocks"))?;
        self.load(b)?;
        let blk = self.blk(b);
        if blk.is_leaf() {
            out.extend(
                blk.items
                    .iter()
                    .filter(|(k, _)| *k >= min && *k <= max)
                    .cloned(),
            );
            return Ok(());
        }
        let ptrs = blk.ptrs.clone();
        for (i, (k, child, _)) in ptrs.iter().enumerate() {
            let next = ptrs.get(i + 1).map(|p| p.0).or(hi);
            if next.is_some_and(|n| n <= min) {
                continue;
            }
            if *k > max {
                break;
            }
            self.range_in(*child, next, min, max, out, budget)?;
        }
        Ok(())
    }

    /// The last item of `tree` with a key `<= key`.
    pub fn last_le(
        &mut self,
        tree: u64,
        key: Key,
    ) -> Result<Option<(Key, Vec<u8>)>, BtrfsWriteError> {
        let (root, _) = self.root(tree)?;
        self.last_le_in(root, key, 64)
    }

    fn last_le_in(
        &mut self,
        b: u64,
        key: Key,
        depth: u32,
    ) -> Result<Option<(Key, Vec<u8>)>, BtrfsWriteError> {
        if depth == 0 {
            return Err(corrupt("tree", "too deep"));
        }
        self.load(b)?;
        let blk = self.blk(b);
        if blk.is_leaf() {
            return Ok(blk.items.iter().rev().find(|(k, _)| *k <= key).cloned());
        }
        let ptrs: Vec<u64> = blk
            .ptrs
            .iter()
            .filter(|(k, _, _)| *k <= key)
            .map(|p| p.1)
            .collect();
        for child in ptrs.into_iter().rev() {
            if let Some(r) = self.last_le_in(child, key, depth - 1)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

impl Txn {
    /// The generation of the root block of `tree`.
    pub fn root_generation(&self, tree: u64) -> u64 {
        match self.roots.get(&tree) {
            Some((b, _)) if self.dirty.contains(b) => self.transid,
            _ => self.root_gen.get(&tree).copied().unwrap_or(0),
        }
    }
}

/// The block and slot a search ended at (a search path always has the root at least).
fn last(path: &[(u64, usize)], tree: u64) -> Result<(u64, usize), BtrfsWriteError> {
    path.last()
        .copied()
        .ok_or_else(|| shape(tree, "a search returned an empty path"))
}
