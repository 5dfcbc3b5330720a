//! Chunk items (`struct btrfs_chunk` + stripes): the logical → physical address map, seeded
//! from the superblock's `sys_chunk_array` and completed from the chunk tree.
//!
//! Only the single and DUP profiles on one device are read; RAID profiles are refused with a
//! clear `Unsupported` error.

use super::le::{corrupt, u16_at, u64_at, unsupported};
use super::tree::{KEY_SIZE, Key};
use crate::fs::FsError;
use std::collections::BTreeMap;

/// `BTRFS_CHUNK_ITEM_KEY`.
pub const CHUNK_ITEM_KEY: u8 = 228;
const CHUNK_FIXED: usize = 48;
const STRIPE_SIZE: usize = 32;
/// Upper bound on chunks we keep (a 16 TiB filesystem has ~16k 1 GiB chunks).
const MAX_CHUNKS: usize = 1 << 20;

/// Block-group profile bits in `type`.
pub mod profile {
    pub const DATA: u64 = 1 << 0;
    pub const SYSTEM: u64 = 1 << 1;
    pub const METADATA: u64 = 1 << 2;
    pub const RAID0: u64 = 1 << 3;
    pub const RAID1: u64 = 1 << 4;
    pub const DUP: u64 = 1 << 5;
    pub const RAID10: u64 = 1 << 6;
    pub const RAID5: u64 = 1 << 7;
    pub const RAID6: u64 = 1 << 8;
    pub const RAID1C3: u64 = 1 << 9;
    pub const RAID1C4: u64 = 1 << 10;
}

/// One stripe of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    pub devid: u64,
    pub offset: u64,
}

/// One chunk: `length` logical bytes from `logical`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub logical: u64,
    pub length: u64,
    pub flags: u64,
    pub stripes: Vec<Stripe>,
}

/// The name of a chunk's profile, for messages.
pub fn profile_name(flags: u64) -> &'static str {
    use profile::*;
    if flags & RAID0 != 0 {
        "RAID0"
    } else if flags & RAID1 != 0 {
        "RAID1"
    } else if flags & RAID10 != 0 {
        "RAID10"
    } else if flags & RAID5 != 0 {
        "RAID5"
    } else if flags & RAID6 != 0 {
        "RAID6"
    } else if flags & RAID1C3 != 0 {
        "RAID1C3"
    } else if flags & RAID1C4 != 0 {
        "RAID1C4"
    } else if flags & DUP != 0 {
        "DUP"
    } else {
        "single"
    }
}

impl Chunk {
    /// Parse the chunk item for logical address `logical` from `data`; returns the chunk and the
    /// number of bytes it occupies.
    pub fn parse(logical: u64, data: &[u8]) -> Result<(Chunk, usize), FsError> {
        let w = format!("chunk item at logical {logical:#x}");
        let length = u64_at(data, 0, &w)?;
        let flags = u64_at(data, 24, &w)?;
        let num_stripes = u16_at(data, 44, &w)? as usize;
        if num_stripes == 0 {
            return Err(corrupt(w, "no stripes"));
        }
        if length == 0 || logical.checked_add(length).is_none() {
            return Err(corrupt(w, format!("length {length} invalid")));
        }
        let mut stripes = Vec::with_capacity(num_stripes.min(16));
        for i in 0..num_stripes {
            let base = CHUNK_FIXED + i * STRIPE_SIZE;
            stripes.push(Stripe {
                devid: u64_at(data, base, &w)?,
                offset: u64_at(data, base + 8, &w)?,
            });
        }
        Ok((
            Chunk {
                logical,
                length,
                flags,
                stripes,
            },
            CHUNK_FIXED + num_stripes * STRIPE_SIZE,
        ))
    }
}

/// Logical → physical map of one single-device filesystem.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    chunks: BTreeMap<u64, Chunk>,
}

impl ChunkMap {
    /// Seed the map from `sys_chunk_array` (pairs of disk key + chunk item).
    pub fn from_sys_array(array: &[u8]) -> Result<Self, FsError> {
        let mut map = ChunkMap::default();
        let mut pos = 0usize;
        while pos < array.len() {
            let key = Key::parse(array, pos, "sys_chunk_array key")?;
            if key.ty != CHUNK_ITEM_KEY {
                return Err(corrupt(
                    "sys_chunk_array",
                    format!("item of type {} where a chunk item belongs", key.ty),
                ));
            }
            pos += KEY_SIZE;
            let rest = array.get(pos..).unwrap_or(&[]);
            let (chunk, used) = Chunk::parse(key.offset, rest)?;
            pos += used;
            map.insert(chunk)?;
        }
        if map.chunks.is_empty() {
            return Err(corrupt("sys_chunk_array", "empty"));
        }
        Ok(map)
    }

    /// Add a chunk, refusing overlaps with a different chunk.
    pub fn insert(&mut self, chunk: Chunk) -> Result<(), FsError> {
        if let Some(existing) = self.chunks.get(&chunk.logical) {
            if *existing == chunk {
                return Ok(());
            }
        }
        let end = chunk.logical.saturating_add(chunk.length);
        let overlaps_prev = self
            .chunks
            .range(..=chunk.logical)
            .next_back()
            .is_some_and(|(_, c)| c.logical.saturating_add(c.length) > chunk.logical);
        let overlaps_next = self
            .chunks
            .range(chunk.logical..)
            .next()
            .is_some_and(|(&s, _)| s < end);
        if overlaps_prev || overlaps_next {
            return Err(corrupt(
                "chunk tree",
                format!(
                    "chunk [{:#x}, {end:#x}) overlaps another chunk",
                    chunk.logical
                ),
            ));
        }
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(corrupt("chunk tree", "too many chunks"));
        }
        self.chunks.insert(chunk.logical, chunk);
        Ok(())
    }

    /// Refuse any chunk whose profile this reader cannot map, or that lives on another device.
    pub fn check_supported(&self, devid: u64) -> Result<(), FsError> {
        for c in self.chunks.values() {
            let p = profile_name(c.flags);
            if p != "single" && p != "DUP" {
                return Err(unsupported(format!(
                    "{p} block group at logical {:#x} (only single and DUP are read)",
                    c.logical
                )));
            }
            if let Some(s) = c.stripes.iter().find(|s| s.devid != devid) {
                return Err(unsupported(format!(
                    "chunk at logical {:#x} lives on device {} (this device is {devid})",
                    c.logical, s.devid
                )));
            }
        }
        Ok(())
    }

    /// Physical offset of `[logical, logical+len)`, which must lie inside one chunk.
    pub fn map(&self, logical: u64, len: u64) -> Result<u64, FsError> {
        self.map_copies(logical, len)?
            .into_iter()
            .next()
            .ok_or_else(|| corrupt("chunk map", "chunk without stripes"))
    }

    /// Physical offsets of every copy of `[logical, logical+len)` (two for DUP).
    pub fn map_copies(&self, logical: u64, len: u64) -> Result<Vec<u64>, FsError> {
        let (_, c) =
            self.chunks.range(..=logical).next_back().ok_or_else(|| {
                corrupt("chunk map", format!("no chunk maps logical {logical:#x}"))
            })?;
        let within = logical - c.logical;
        let fits = within.checked_add(len).is_some_and(|end| end <= c.length);
        if !fits {
            return Err(corrupt(
                "chunk map",
                format!("logical range {logical:#x}+{len} is not inside one chunk"),
            ));
        }
        let copies = if c.flags & profile::DUP != 0 { 2 } else { 1 };
        let out: Vec<u64> = c
            .stripes
            .iter()
            .take(copies)
            .map(|s| {
                s.offset
                    .checked_add(within)
                    .ok_or_else(|| corrupt("chunk map", "physical offset overflows"))
            })
            .collect::<Result<_, _>>()?;
        if out.is_empty() {
            return Err(corrupt("chunk map", "chunk without stripes"));
        }
        Ok(out)
    }

    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    #[allow(dead_code)] // unused since the module became crate-private (issue 24)
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// All chunks, in logical order.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks.values()
    }
}
