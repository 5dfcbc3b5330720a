//! The consistency proof the writer needs before it edits anything: every cell of every bin is
//! well formed, and every record reachable from the root key is an allocated cell of its own,
//! with the right signature, reached exactly once (no loops, no shared cells; only key security
//! records are shared, and their users are counted).

use super::alloc::Store;
use super::error::WriteError;
use crate::hive::MAX_DEPTH;
use crate::hive::big_data::{BigData, SEGMENT_MAX};
use crate::hive::bin::BIN_HEADER_SIZE;
use crate::hive::cell::NO_CELL;
use crate::hive::key_node::KeyNode;
use crate::hive::security::KeySecurity;
use crate::hive::subkey_list::{SubkeyList, SubkeyListKind};
use crate::hive::value::ValueKey;
use std::collections::{BTreeMap, HashMap};

/// Most keys a hive may have for the writer (the reader's export bound).
pub const MAX_KEYS: usize = 4_000_000;
/// Most values one key may have.
pub const MAX_VALUES: u32 = 1 << 20;

/// What the proof found: the users of each key security record.
#[derive(Debug, Default)]
pub(super) struct Proof {
    pub(super) sk_users: HashMap<u32, u32>,
}

/// Scan every cell of every bin; fill the free map. Returns the allocated cell starts, sorted.
pub(super) fn scan_cells(store: &mut Store) -> Result<Vec<u32>, WriteError> {
    let mut allocated = Vec::new();
    let mut free = BTreeMap::new();
    for bin in &store.bins {
        let mut pos = u64::from(bin.offset) + u64::from(BIN_HEADER_SIZE);
        while pos < bin.end() {
            let off = pos as u32;
            let at = crate::hive::base_block::BASE_BLOCK_SIZE + off as usize;
            let raw = crate::hive::bytes::u32_at(&store.data, at).unwrap_or(0) as i32;
            let size = raw.unsigned_abs();
            if size < 8 || size % 8 != 0 || pos + u64::from(size) > bin.end() {
                return Err(WriteError::BadCellLayout {
                    bin: bin.offset,
                    offset: off,
                    size: raw,
                });
            }
            if raw < 0 {
                allocated.push(off);
            } else {
                free.insert(off, size);
            }
            pos += u64::from(size);
        }
    }
    store.free = free;
    Ok(allocated)
}

struct Walker<'a> {
    store: &'a Store,
    allocated: &'a [u32],
    /// What first used each allocated cell (indexed like `allocated`).
    used: Vec<Option<&'static str>>,
    minor: u32,
}

impl Walker<'_> {
    fn claim(&mut self, offset: u32, what: &'static str) -> Result<(), WriteError> {
        let Ok(i) = self.allocated.binary_search(&offset) else {
            return Err(WriteError::NotACellStart { offset, what });
        };
        match self.used.get_mut(i) {
            Some(Some(first)) => Err(WriteError::CellUsedTwice {
                offset,
                first,
                second: what,
            }),
            Some(slot) => {
                *slot = Some(what);
                Ok(())
            }
            None => Err(WriteError::NotACellStart { offset, what }),
        }
    }

    fn subkeys(&mut self, nk: &KeyNode) -> Result<Vec<u32>, WriteError> {
        if nk.subkey_count == 0 {
            return Ok(Vec::new());
        }
        self.claim(nk.subkey_list, "subkey list")?;
        let top = SubkeyList::parse(&self.store.cell(nk.subkey_list)?)?;
        let mut out = Vec::new();
        if top.kind == SubkeyListKind::IndexRoot {
            for leaf in top.elements {
                self.claim(leaf, "subkey list")?;
                let l = SubkeyList::parse(&self.store.cell(leaf)?)?;
                if l.kind == SubkeyListKind::IndexRoot {
                    return Err(WriteError::NestedIndexRoot {
                        offset: nk.subkey_list,
                    });
                }
                out.extend(l.elements);
            }
        } else {
            out = top.elements;
        }
        if out.len() != nk.subkey_count as usize {
            return Err(WriteError::SubkeyCountMismatch {
                offset: nk.cell_offset,
                listed: out.len(),
                count: nk.subkey_count,
            });
        }
        Ok(out)
    }

    fn values(&mut self, nk: &KeyNode) -> Result<(), WriteError> {
        let count = nk.value_count;
        if count == 0 {
            return Ok(());
        }
        if count > MAX_VALUES {
            return Err(WriteError::TooManyValues {
                offset: nk.cell_offset,
                count,
                limit: MAX_VALUES,
            });
        }
        self.claim(nk.value_list, "value list")?;
        let list = self.store.cell(nk.value_list)?;
        list.need(count as usize * 4, "value list")?;
        let offs: Vec<u32> = (0..count as usize)
            .map(|i| crate::hive::bytes::u32_at(list.data, i * 4).unwrap_or(NO_CELL))
            .collect();
        for vk_off in offs {
            self.claim(vk_off, "value key")?;
            let vk = ValueKey::parse(&self.store.cell(vk_off)?)?;
            self.value_data(&vk)?;
        }
        Ok(())
    }

    fn value_data(&mut self, vk: &ValueKey) -> Result<(), WriteError> {
        let size = vk.data_size();
        if vk.is_inline() {
            if size > 4 {
                return Err(crate::hive::HiveError::BadInlineSize {
                    offset: vk.cell_offset,
                    size,
                }
                .into());
            }
            return Ok(());
        }
        if size == 0 {
            return Ok(());
        }
        self.claim(vk.data_offset, "value data")?;
        let cell = self.store.cell(vk.data_offset)?;
        if is_big_data(self.minor, size, cell.data) {
            let db = parse_db(self.store, &cell)?;
            self.claim(db.segment_list, "big data segment list")?;
            let mut left = size as usize;
            for seg in db.segments {
                self.claim(seg, "big data segment")?;
                let c = self.store.cell(seg)?;
                let take = left.min(SEGMENT_MAX);
                if c.data.len() < take {
                    return Err(crate::hive::HiveError::BadBigData {
                        offset: cell.offset,
                        reason: "data segment shorter than needed",
                    }
                    .into());
                }
                left -= take;
            }
            if left > 0 {
                return Err(crate::hive::HiveError::BadBigData {
                    offset: cell.offset,
                    reason: "segments cannot hold the claimed data size",
                }
                .into());
            }
        } else if cell.data.len() < size as usize {
            return Err(crate::hive::HiveError::ValueDataTruncated {
                offset: vk.cell_offset,
                claimed: size,
                available: cell.data.len(),
            }
            .into());
        }
        Ok(())
    }
}

/// Whether value data of `size` bytes in a cell starting with `data` is a big data record
/// (the reader's rule: hive version 1.4 or later, more than one segment, `db` signature).
pub(super) fn is_big_data(minor: u32, size: u32, data: &[u8]) -> bool {
    minor >= 4 && size as usize > SEGMENT_MAX && data.get(..2) == Some(b"db".as_slice())
}

/// Parse a `db` record and its segment list through the store.
pub(super) fn parse_db(
    store: &Store,
    cell: &crate::hive::cell::Cell<'_>,
) -> Result<BigData, WriteError> {
    cell.expect("db")?;
    cell.need(8, "big data")?;
    let count = usize::from(crate::hive::bytes::u16_at(cell.data, 2).unwrap_or(0));
    let segment_list = crate::hive::bytes::u32_at(cell.data, 4).unwrap_or(NO_CELL);
    let list = store.cell_for(segment_list, "big data segment list")?;
    list.need(count * 4, "big data segment list")?;
    let segments = (0..count)
        .map(|i| crate::hive::bytes::u32_at(list.data, i * 4).unwrap_or(NO_CELL))
        .collect();
    Ok(BigData {
        cell_offset: cell.offset,
        segment_list,
        segments,
    })
}

/// Prove the key tree from `root` consistent (see the module doc).
pub(super) fn prove(
    store: &Store,
    allocated: &[u32],
    root: u32,
    minor: u32,
) -> Result<Proof, WriteError> {
    let mut w = Walker {
        store,
        allocated,
        used: vec![None; allocated.len()],
        minor,
    };
    let mut proof = Proof::default();
    let mut stack: Vec<(u32, u32, usize)> = vec![(root, NO_CELL, 0)];
    let mut keys = 0usize;
    while let Some((off, parent, depth)) = stack.pop() {
        keys += 1;
        if keys > MAX_KEYS {
            return Err(WriteError::TooManyKeys { limit: MAX_KEYS });
        }
        if depth > MAX_DEPTH {
            return Err(WriteError::TooDeep { limit: MAX_DEPTH });
        }
        w.claim(off, "key node")?;
        let nk = KeyNode::parse(&store.cell(off)?)?;
        if parent != NO_CELL && nk.parent != parent {
            return Err(crate::hive::HiveError::WrongParent {
                offset: off,
                listed_under: parent,
                parent: nk.parent,
            }
            .into());
        }
        if nk.class_name_offset != NO_CELL && nk.class_name_length > 0 {
            w.claim(nk.class_name_offset, "class name")?;
            store
                .cell(nk.class_name_offset)?
                .need(usize::from(nk.class_name_length), "class name")?;
        }
        if nk.security != NO_CELL {
            let users = proof.sk_users.entry(nk.security).or_insert(0);
            if *users == 0 {
                w.claim(nk.security, "key security")?;
                KeySecurity::parse(&store.cell(nk.security)?)?;
            }
            *users += 1;
        }
        w.values(&nk)?;
        for child in w.subkeys(&nk)? {
            stack.push((child, off, depth + 1));
        }
    }
    Ok(proof)
}
