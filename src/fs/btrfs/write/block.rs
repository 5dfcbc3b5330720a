//! A tree block held in memory for editing (`struct btrfs_header` + items or key pointers),
//! decoded from verified bytes and encoded back with a fresh crc32c.

use super::super::superblock::crc32c;
use super::super::tree::{HEADER_SIZE, KEY_SIZE, Key, Node};
use super::error::{BtrfsWriteError, corrupt};

/// Size of `struct btrfs_item`.
pub const ITEM_SIZE: usize = 25;
/// Size of `struct btrfs_key_ptr`.
pub const KEY_PTR_SIZE: usize = 33;

pub fn get64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

pub fn get32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_key(b: &mut [u8], off: usize, k: &Key) {
    put64(b, off, k.objectid);
    b[off + 8] = k.ty;
    put64(b, off + 9, k.offset);
}

pub fn key_at(b: &[u8], off: usize) -> Key {
    Key::new(
        get64(b, off),
        b.get(off + 8).copied().unwrap_or(0),
        get64(b, off + 9),
    )
}

/// One editable tree block.
#[derive(Debug, Clone)]
pub struct Block {
    pub bytenr: u64,
    /// The raw header (fsid, flags, chunk tree uuid and owner are kept as read).
    pub header: Vec<u8>,
    pub level: u8,
    pub generation: u64,
    /// Leaf items.
    pub items: Vec<(Key, Vec<u8>)>,
    /// Internal pointers: key, child bytenr, child generation.
    pub ptrs: Vec<(Key, u64, u64)>,
}

impl Block {
    /// Decode `buf` read from `bytenr` (verified with the reader's [`Node::parse`] first).
    pub fn decode(buf: Vec<u8>, bytenr: u64, fsid: &[u8; 16]) -> Result<Block, BtrfsWriteError> {
        let node = Node::parse(buf.clone(), bytenr, fsid)?;
        let h = node.header().clone();
        let w = || format!("tree block at logical {bytenr:#x}");
        let n = h.nritems as usize;
        let mut blk = Block {
            bytenr,
            header: buf[..HEADER_SIZE].to_vec(),
            level: h.level,
            generation: h.generation,
            items: Vec::new(),
            ptrs: Vec::new(),
        };
        if h.level == 0 {
            if let Node::Leaf { items, data, .. } = &node {
                for (k, r) in items {
                    let d = data
                        .get(r.clone())
                        .ok_or_else(|| corrupt(w(), "item range"))?;
                    blk.items.push((*k, d.to_vec()));
                }
            }
        } else {
            for i in 0..n {
                let at = HEADER_SIZE + i * KEY_PTR_SIZE;
                if at + KEY_PTR_SIZE > buf.len() {
                    return Err(corrupt(w(), "key pointers run past the block"));
                }
                blk.ptrs.push((
                    key_at(&buf, at),
                    get64(&buf, at + KEY_SIZE),
                    get64(&buf, at + KEY_SIZE + 8),
                ));
            }
        }
        Ok(blk)
    }

    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    pub fn owner(&self) -> u64 {
        get64(&self.header, 88)
    }

    pub fn nritems(&self) -> usize {
        if self.is_leaf() {
            self.items.len()
        } else {
            self.ptrs.len()
        }
    }

    pub fn first_key(&self) -> Option<Key> {
        if self.is_leaf() {
            self.items.first().map(|i| i.0)
        } else {
            self.ptrs.first().map(|p| p.0)
        }
    }

    /// Bytes of a leaf in use (item headers and data).
    pub fn leaf_used(&self) -> usize {
        self.items.iter().map(|(_, d)| ITEM_SIZE + d.len()).sum()
    }

    /// Encode as `nodesize` bytes at the block's address and generation, checksummed.
    pub fn encode(&self, nodesize: usize) -> Vec<u8> {
        let mut b = vec![0u8; nodesize];
        b[..HEADER_SIZE].copy_from_slice(&self.header);
        put64(&mut b, 48, self.bytenr);
        // BTRFS_HEADER_FLAG_WRITTEN, keeping the backref revision in the top byte
        let flags = get64(&b, 56) | 1;
        put64(&mut b, 56, flags);
        put64(&mut b, 80, self.generation);
        put32(&mut b, 96, self.nritems() as u32);
        b[100] = self.level;
        if self.is_leaf() {
            let mut end = nodesize - HEADER_SIZE;
            for (i, (k, d)) in self.items.iter().enumerate() {
                end -= d.len();
                let at = HEADER_SIZE + i * ITEM_SIZE;
                put_key(&mut b, at, k);
                put32(&mut b, at + KEY_SIZE, end as u32);
                put32(&mut b, at + KEY_SIZE + 4, d.len() as u32);
                b[HEADER_SIZE + end..HEADER_SIZE + end + d.len()].copy_from_slice(d);
            }
        } else {
            for (i, (k, p, g)) in self.ptrs.iter().enumerate() {
                let at = HEADER_SIZE + i * KEY_PTR_SIZE;
                put_key(&mut b, at, k);
                put64(&mut b, at + KEY_SIZE, *p);
                put64(&mut b, at + KEY_SIZE + 8, *g);
            }
        }
        let c = crc32c(&b[32..]);
        b[..32].fill(0);
        put32(&mut b, 0, c);
        b
    }
}
