//! Tree blocks (`struct btrfs_header`, `btrfs_key_ptr`, `btrfs_item`): parsing with crc32c
//! verification, and a bounded, ordered range walk over one B-tree.
//!
//! Untrusted-input rules enforced here: every block's checksum, fsid, bytenr and level are
//! checked; keys must be strictly ascending and lie inside the range the parent promised, so a
//! block can never be visited twice in one walk (no cycles); depth is bounded by the level
//! field (≤ 7) and every walk by a node budget.

use super::chunk::ChunkMap;
use super::le::{bytes, corrupt, u8_at, u32_at, u64_at, uuid_at};
use super::superblock::crc32c;
use crate::block::BlockDev;
use crate::fs::FsError;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// Size of `struct btrfs_disk_key`.
pub const KEY_SIZE: usize = 17;
/// Size of `struct btrfs_header`.
pub const HEADER_SIZE: usize = 101;
const ITEM_SIZE: usize = 25;
const KEY_PTR_SIZE: usize = 33;
/// `BTRFS_MAX_LEVEL` - 1.
pub const MAX_LEVEL: u8 = 7;
/// Nodes one walk may visit before it is declared runaway.
const WALK_NODE_BUDGET: u64 = 1 << 22;
/// Tree blocks kept in the cache.
const CACHE_NODES: usize = 4096;

/// A key (`objectid`, `type`, `offset`), ordered as Btrfs orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub objectid: u64,
    pub ty: u8,
    pub offset: u64,
}

impl Key {
    pub const MIN: Key = Key {
        objectid: 0,
        ty: 0,
        offset: 0,
    };
    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub const MAX: Key = Key {
        objectid: u64::MAX,
        ty: u8::MAX,
        offset: u64::MAX,
    };

    pub fn new(objectid: u64, ty: u8, offset: u64) -> Key {
        Key {
            objectid,
            ty,
            offset,
        }
    }

    /// Parse a disk key at `off`.
    pub fn parse(b: &[u8], off: usize, what: &str) -> Result<Key, FsError> {
        Ok(Key {
            objectid: u64_at(b, off, what)?,
            ty: u8_at(b, off + 8, what)?,
            offset: u64_at(b, off + 9, what)?,
        })
    }
}

/// The header fields we check.
#[derive(Debug, Clone)]
pub struct Header {
    pub bytenr: u64,
    pub generation: u64,
    #[allow(dead_code)]
    // unused since the module became crate-private (issue 24); part of the on-disk format
    pub owner: u64,
    pub nritems: u32,
    pub level: u8,
}

/// A parsed tree block.
#[derive(Debug)]
pub enum Node {
    Leaf {
        header: Header,
        /// Key and the item's data range inside `data`.
        items: Vec<(Key, std::ops::Range<usize>)>,
        data: Vec<u8>,
    },
    Internal {
        header: Header,
        /// Key, child block pointer.
        ptrs: Vec<(Key, u64)>,
    },
}

impl Node {
    pub fn header(&self) -> &Header {
        match self {
            Node::Leaf { header, .. } | Node::Internal { header, .. } => header,
        }
    }

    fn first_key(&self) -> Option<Key> {
        match self {
            Node::Leaf { items, .. } => items.first().map(|i| i.0),
            Node::Internal { ptrs, .. } => ptrs.first().map(|p| p.0),
        }
    }

    /// Parse and verify a block read from logical `bytenr`.
    pub fn parse(buf: Vec<u8>, bytenr: u64, fsid: &[u8; 16]) -> Result<Node, FsError> {
        let w = format!("tree block at logical {bytenr:#x}");
        let stored = u32_at(&buf, 0, &w)?;
        let computed = crc32c(bytes(&buf, 32, buf.len().saturating_sub(32), &w)?);
        if stored != computed {
            return Err(corrupt(
                w,
                format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
            ));
        }
        if &uuid_at(&buf, 32, &w)? != fsid {
            return Err(corrupt(w, "fsid does not match the superblock"));
        }
        let header = Header {
            bytenr: u64_at(&buf, 48, &w)?,
            generation: u64_at(&buf, 80, &w)?,
            owner: u64_at(&buf, 88, &w)?,
            nritems: u32_at(&buf, 96, &w)?,
            level: u8_at(&buf, 100, &w)?,
        };
        if header.bytenr != bytenr {
            return Err(corrupt(
                w,
                format!("header says it lives at {:#x}", header.bytenr),
            ));
        }
        if header.level > MAX_LEVEL {
            return Err(corrupt(w, format!("level {} too deep", header.level)));
        }
        let n = header.nritems as usize;
        let room = buf.len() - HEADER_SIZE.min(buf.len());
        if header.level == 0 {
            if n.saturating_mul(ITEM_SIZE) > room {
                return Err(corrupt(w, format!("{n} items do not fit in the block")));
            }
            let mut items = Vec::with_capacity(n);
            let mut prev: Option<Key> = None;
            for i in 0..n {
                let at = HEADER_SIZE + i * ITEM_SIZE;
                let key = Key::parse(&buf, at, &w)?;
                let off = u32_at(&buf, at + KEY_SIZE, &w)? as usize;
                let size = u32_at(&buf, at + KEY_SIZE + 4, &w)? as usize;
                let start = HEADER_SIZE + off;
                let end = start
                    .checked_add(size)
                    .filter(|&e| e <= buf.len())
                    .ok_or_else(|| corrupt(&w, format!("item {i} data runs past the block")))?;
                if start < HEADER_SIZE + n * ITEM_SIZE {
                    return Err(corrupt(
                        &w,
                        format!("item {i} data overlaps the item array"),
                    ));
                }
                if prev.is_some_and(|p| p >= key) {
                    return Err(corrupt(&w, format!("item {i} key out of order")));
                }
                prev = Some(key);
                items.push((key, start..end));
            }
            Ok(Node::Leaf {
                header,
                items,
                data: buf,
            })
        } else {
            if n == 0 || n.saturating_mul(KEY_PTR_SIZE) > room {
                return Err(corrupt(
                    w,
                    format!("{n} key pointers invalid for the block"),
                ));
            }
            let mut ptrs = Vec::with_capacity(n);
            let mut prev: Option<Key> = None;
            for i in 0..n {
                let at = HEADER_SIZE + i * KEY_PTR_SIZE;
                let key = Key::parse(&buf, at, &w)?;
                let ptr = u64_at(&buf, at + KEY_SIZE, &w)?;
                if prev.is_some_and(|p| p >= key) {
                    return Err(corrupt(&w, format!("pointer {i} key out of order")));
                }
                prev = Some(key);
                ptrs.push((key, ptr));
            }
            Ok(Node::Internal { header, ptrs })
        }
    }
}

/// A walk visitor: gets each item's key and data; `Break` stops the walk.
pub type Visitor<'a> = dyn FnMut(&Key, &[u8]) -> Result<ControlFlow<()>, FsError> + 'a;

/// Statistics for callers that want to report I/O (tests, `--verbose`).
#[derive(Debug, Default, Clone, Copy)]
pub struct IoStats {
    pub nodes_read: u64,
    pub cache_hits: u64,
}

/// Reads tree blocks through the chunk map, verifying and caching them.
pub struct TreeReader {
    pub dev: Arc<dyn BlockDev>,
    pub chunks: ChunkMap,
    pub nodesize: u32,
    pub fsid: [u8; 16],
    cache: Mutex<HashMap<u64, Arc<Node>>>,
    stats: Mutex<IoStats>,
}

impl TreeReader {
    pub fn new(dev: Arc<dyn BlockDev>, chunks: ChunkMap, nodesize: u32, fsid: [u8; 16]) -> Self {
        TreeReader {
            dev,
            chunks,
            nodesize,
            fsid,
            cache: Mutex::new(HashMap::new()),
            stats: Mutex::new(IoStats::default()),
        }
    }

    pub fn stats(&self) -> IoStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Read `len` bytes at logical address `logical` (inside one chunk).
    pub fn read_logical(&self, logical: u64, buf: &mut [u8]) -> Result<(), FsError> {
        let phys = self.chunks.map(logical, buf.len() as u64)?;
        self.read_physical(logical, phys, buf)
    }

    fn read_physical(&self, logical: u64, phys: u64, buf: &mut [u8]) -> Result<(), FsError> {
        let end_ok = phys
            .checked_add(buf.len() as u64)
            .is_some_and(|e| e <= self.dev.len());
        if !end_ok {
            return Err(corrupt(
                "chunk map",
                format!(
                    "logical {logical:#x} maps to physical {phys:#x}, past the device end ({})",
                    self.dev.len()
                ),
            ));
        }
        self.dev.read_at(phys, buf)?;
        Ok(())
    }

    /// The verified tree block at `bytenr`.
    pub fn node(&self, bytenr: u64) -> Result<Arc<Node>, FsError> {
        if let Ok(c) = self.cache.lock() {
            if let Some(n) = c.get(&bytenr) {
                if let Ok(mut s) = self.stats.lock() {
                    s.cache_hits += 1;
                }
                return Ok(n.clone());
            }
        }
        if bytenr % u64::from(self.nodesize.min(4096)) != 0 {
            return Err(corrupt(
                "tree pointer",
                format!("block address {bytenr:#x} is not aligned"),
            ));
        }
        // Try every copy (DUP keeps two); the first one that verifies wins, as in the kernel.
        let mut first_err = None;
        let mut parsed = None;
        for phys in self.chunks.map_copies(bytenr, u64::from(self.nodesize))? {
            let mut buf = vec![0u8; self.nodesize as usize];
            let r = self
                .read_physical(bytenr, phys, &mut buf)
                .and_then(|_| Node::parse(buf, bytenr, &self.fsid));
            match r {
                Ok(n) => {
                    parsed = Some(n);
                    break;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let node = match (parsed, first_err) {
            (Some(n), _) => Arc::new(n),
            (None, Some(e)) => return Err(e),
            (None, None) => return Err(corrupt("chunk map", "no copy of a tree block")),
        };
        if let Ok(mut s) = self.stats.lock() {
            s.nodes_read += 1;
        }
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_NODES {
                c.clear();
            }
            c.insert(bytenr, node.clone());
        }
        Ok(node)
    }

    /// Visit, in key order, every leaf item with `min <= key <= max` of the tree rooted at
    /// `root` (whose level must be `level`). The visitor gets the key and the item data and
    /// may stop the walk early with `ControlFlow::Break`.
    pub fn walk(
        &self,
        root: u64,
        level: u8,
        min: Key,
        max: Key,
        f: &mut Visitor,
    ) -> Result<(), FsError> {
        let mut budget = WALK_NODE_BUDGET;
        self.walk_node(root, level, None, None, min, max, &mut budget, f)
            .map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_node(
        &self,
        bytenr: u64,
        level: u8,
        lo: Option<Key>,
        hi: Option<Key>,
        min: Key,
        max: Key,
        budget: &mut u64,
        f: &mut Visitor,
    ) -> Result<ControlFlow<()>, FsError> {
        if *budget == 0 {
            return Err(corrupt("tree", "walk visited too many blocks"));
        }
        *budget -= 1;
        let node = self.node(bytenr)?;
        let w = || format!("tree block at logical {bytenr:#x}");
        if node.header().level != level {
            return Err(corrupt(
                w(),
                format!("level {} where {level} was expected", node.header().level),
            ));
        }
        // The parent's key must be this block's first key, and every key must stay below the
        // parent's next key: this is what makes cycles impossible.
        if let Some(lo) = lo {
            if node.first_key() != Some(lo) {
                return Err(corrupt(
                    w(),
                    "first key differs from the parent's pointer key",
                ));
            }
        }
        match &*node {
            Node::Leaf { items, data, .. } => {
                if let (Some(hi), Some(last)) = (hi, items.last()) {
                    if last.0 >= hi {
                        return Err(corrupt(w(), "key beyond the parent's range"));
                    }
                }
                for (key, range) in items {
                    if *key < min {
                        continue;
                    }
                    if *key > max {
                        return Ok(ControlFlow::Break(()));
                    }
                    let item = data
                        .get(range.clone())
                        .ok_or_else(|| corrupt(w(), "item range"))?;
                    if f(key, item)?.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
            Node::Internal { ptrs, .. } => {
                if level == 0 {
                    return Err(corrupt(w(), "internal node at level 0"));
                }
                if let (Some(hi), Some(last)) = (hi, ptrs.last()) {
                    if last.0 >= hi {
                        return Err(corrupt(w(), "key beyond the parent's range"));
                    }
                }
                for (i, (key, child)) in ptrs.iter().enumerate() {
                    let next = ptrs.get(i + 1).map(|p| p.0).or(hi);
                    // Child covers [key, next): skip it when wholly below min.
                    if next.is_some_and(|n| n <= min) {
                        continue;
                    }
                    if *key > max {
                        return Ok(ControlFlow::Break(()));
                    }
                    if self
                        .walk_node(*child, level - 1, Some(*key), next, min, max, budget, f)?
                        .is_break()
                    {
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The data of the item with exactly `key`, if any.
    pub fn lookup(&self, root: u64, level: u8, key: Key) -> Result<Option<Vec<u8>>, FsError> {
        let mut out = None;
        self.walk(root, level, key, key, &mut |_, d| {
            out = Some(d.to_vec());
            Ok(ControlFlow::Break(()))
        })?;
        Ok(out)
    }
}
