//! Space accounting of a transaction: free ranges found from the extent tree, and at commit
//! the extent tree (items with their inline back references, skinny or not), the free-space
//! tree, block-group used bytes and the root items brought in line with what was allocated
//! and freed — repeated until no tree changes any more (updating a tree allocates blocks).

use super::super::chunk::profile;
use super::super::superblock::SUPER_OFFSETS;
use super::super::tree::Key;
use super::block::{get32, get64, put32, put64};
use super::error::{BtrfsWriteError, corrupt};
use super::refs::Ref;
use super::txn::Txn;

pub const EXTENT_TREE: u64 = 2;
pub const FREE_SPACE_TREE: u64 = 10;
pub const CSUM_TREE: u64 = 7;
pub const ROOT_TREE: u64 = 1;

pub const EXTENT_ITEM_KEY: u8 = 168;
pub const METADATA_ITEM_KEY: u8 = 169;
pub const TREE_BLOCK_REF_KEY: u8 = 176;
pub const EXTENT_DATA_REF_KEY: u8 = 178;
pub const SHARED_DATA_REF_KEY: u8 = 184;
pub const BLOCK_GROUP_ITEM_KEY: u8 = 192;
pub const FREE_SPACE_INFO_KEY: u8 = 198;
pub const FREE_SPACE_EXTENT_KEY: u8 = 199;
pub const ROOT_ITEM_KEY: u8 = 132;
pub const EXTENT_CSUM_OBJECTID: u64 = u64::MAX - 9;
pub const EXTENT_CSUM_KEY: u8 = 128;

use super::refs::{FLAG_DATA, FLAG_TREE_BLOCK};
const FREE_SPACE_USING_BITMAPS: u32 = 1;
/// Space kept clear around every superblock copy inside a chunk (`BTRFS_STRIPE_LEN`).
const SUPER_GUARD: u64 = 64 * 1024;

/// Logical ranges that hold superblock copies and must never be allocated.
fn super_ranges(txn: &Txn) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for c in txn.ctx.chunks.chunks() {
        for s in &c.stripes {
            for &sb in &SUPER_OFFSETS {
                let lo = sb - sb % SUPER_GUARD;
                if lo + SUPER_GUARD > s.offset && lo < s.offset + c.length {
                    let from = lo.max(s.offset) - s.offset + c.logical;
                    let to = (lo + SUPER_GUARD).min(s.offset + c.length) - s.offset + c.logical;
                    out.push((from, to));
                }
            }
        }
    }
    out
}

/// Fill the transaction's free metadata and data ranges from the extent tree.
pub fn find_free_space(txn: &mut Txn) -> Result<(), BtrfsWriteError> {
    let ns = u64::from(txn.ctx.nodesize);
    let guard = super_ranges(txn);
    let chunks: Vec<_> = txn.ctx.chunks.chunks().cloned().collect();
    for c in chunks {
        let meta = c.flags & profile::METADATA != 0 && c.flags & profile::SYSTEM == 0;
        let data = c.flags & profile::DATA != 0 && c.flags & profile::METADATA == 0;
        if !meta && !data {
            continue;
        }
        let end = c.logical + c.length;
        let items = txn.range(
            EXTENT_TREE,
            Key::new(c.logical, 0, 0),
            Key::new(end - 1, u8::MAX, u64::MAX),
        )?;
        let mut used: Vec<(u64, u64)> = items
            .iter()
            .filter_map(|(k, _)| match k.ty {
                EXTENT_ITEM_KEY => Some((k.objectid, k.objectid.saturating_add(k.offset))),
                METADATA_ITEM_KEY => Some((k.objectid, k.objectid.saturating_add(ns))),
                _ => None,
            })
            .collect();
        used.extend(guard.iter().copied());
        used.sort_unstable();
        let mut cur = c.logical;
        let mut free = Vec::new();
        for (s, e) in used {
            if s > cur && cur < end {
                free.push((cur, s.min(end) - cur));
            }
            cur = cur.max(e);
        }
        if cur < end {
            free.push((cur, end - cur));
        }
        let ss = u64::from(txn.ctx.sectorsize);
        let free = free.into_iter().filter_map(|(s, l)| {
            let a = s.div_ceil(ss) * ss;
            let e = (s + l) / ss * ss;
            (e > a).then_some((a, e - a))
        });
        if meta {
            txn.meta_free.extend(free);
        } else {
            txn.data_free.extend(free);
        }
    }
    Ok(())
}

fn tree_block_key(txn: &Txn, bytenr: u64, level: u8) -> Key {
    if txn.ctx.skinny {
        Key::new(bytenr, METADATA_ITEM_KEY, u64::from(level))
    } else {
        Key::new(bytenr, EXTENT_ITEM_KEY, u64::from(txn.ctx.nodesize))
    }
}

fn extent_header(refs: u64, transid: u64, flags: u64) -> Vec<u8> {
    let mut v = vec![0u8; 24];
    put64(&mut v, 0, refs);
    put64(&mut v, 8, transid);
    put64(&mut v, 16, flags);
    v
}

/// The extent item of a tree block owned by `owner`.
fn tree_block_item(
    txn: &mut Txn,
    bytenr: u64,
    owner: u64,
    level: u8,
) -> Result<Vec<u8>, BtrfsWriteError> {
    let mut v = extent_header(1, txn.transid, FLAG_TREE_BLOCK);
    if !txn.ctx.skinny {
        // btrfs_tree_block_info: the block's first key, its level
        let first = txn.blk(bytenr).first_key().unwrap_or(Key::MIN);
        let mut k = [0u8; 17];
        super::block::put_key(&mut k, 0, &first);
        v.extend_from_slice(&k);
        v.push(level);
    }
    v.push(TREE_BLOCK_REF_KEY);
    v.extend_from_slice(&owner.to_le_bytes());
    Ok(v)
}

/// Drop the back reference of the file extent item at (`root`, `ino`, `offset`) from data
/// extent `bytenr` (applied when the transaction settles, [`super::refs`]): the extent is
/// freed with its checksums when it was the last reference, and kept (with one reference
/// less) when a snapshot or a reflink still uses it.
pub fn release_data_extent(
    txn: &mut Txn,
    bytenr: u64,
    len: u64,
    root: u64,
    ino: u64,
    offset: u64,
) -> Result<(), BtrfsWriteError> {
    txn.add_ref(bytenr, Some(len), Ref::Data { root, ino, offset }, -1);
    Ok(())
}

/// Remove the checksums of `[a, b)` from the csum tree (items are cut where they overlap).
pub fn delete_csums(txn: &mut Txn, a: u64, b: u64) -> Result<(), BtrfsWriteError> {
    let ss = u64::from(txn.ctx.sectorsize);
    let lo = a.saturating_sub(128 << 20);
    let items = txn.range(
        CSUM_TREE,
        Key::new(EXTENT_CSUM_OBJECTID, EXTENT_CSUM_KEY, lo),
        Key::new(EXTENT_CSUM_OBJECTID, EXTENT_CSUM_KEY, b - 1),
    )?;
    for (k, d) in items {
        let s = k.offset;
        let e = s + (d.len() as u64 / 4) * ss;
        if e <= a || s >= b {
            continue;
        }
        txn.delete(CSUM_TREE, k)?;
        if s < a {
            let n = ((a - s) / ss * 4) as usize;
            txn.insert(CSUM_TREE, k, d[..n].to_vec())?;
        }
        if e > b {
            let from = ((b - s) / ss * 4) as usize;
            txn.insert(
                CSUM_TREE,
                Key::new(EXTENT_CSUM_OBJECTID, EXTENT_CSUM_KEY, b),
                d[from..].to_vec(),
            )?;
        }
    }
    Ok(())
}

/// Insert crc32c checksums of `data` written at logical `at`.
pub fn insert_csums(txn: &mut Txn, at: u64, data: &[u8]) -> Result<(), BtrfsWriteError> {
    let ss = txn.ctx.sectorsize as usize;
    let per_item = (txn.max_item() / 4 / 4).max(1);
    let sums: Vec<[u8; 4]> = data
        .chunks(ss)
        .map(|c| super::super::superblock::crc32c(c).to_le_bytes())
        .collect();
    for (i, group) in sums.chunks(per_item).enumerate() {
        let key = Key::new(
            EXTENT_CSUM_OBJECTID,
            EXTENT_CSUM_KEY,
            at + (i * per_item * ss) as u64,
        );
        txn.insert(CSUM_TREE, key, group.concat())?;
    }
    Ok(())
}

/// The free-space tree's info item of the block group holding `at`.
fn fst_info(txn: &mut Txn, at: u64) -> Result<(Key, Vec<u8>), BtrfsWriteError> {
    let (start, len) = txn
        .ctx
        .chunks
        .chunks()
        .find(|c| c.logical <= at && at < c.logical + c.length)
        .map(|c| (c.logical, c.length))
        .ok_or_else(|| corrupt("chunk map", format!("no block group holds {at:#x}")))?;
    let key = Key::new(start, FREE_SPACE_INFO_KEY, len);
    let d = txn.get(FREE_SPACE_TREE, key)?.ok_or_else(|| {
        corrupt(
            "free space tree",
            format!("no info item for block group {start:#x}"),
        )
    })?;
    if get32(&d, 4) & FREE_SPACE_USING_BITMAPS != 0 {
        return Err(BtrfsWriteError::UnsupportedFeature(format!(
            "free-space tree bitmaps (block group {start:#x})"
        )));
    }
    Ok((key, d))
}

fn fst_count(txn: &mut Txn, info: (Key, Vec<u8>), delta: i64) -> Result<(), BtrfsWriteError> {
    let (k, mut d) = info;
    let n = i64::from(get32(&d, 0)) + delta;
    put32(
        &mut d,
        0,
        u32::try_from(n).map_err(|_| corrupt("free space tree", "extent count"))?,
    );
    txn.update(FREE_SPACE_TREE, k, d)
}

/// Take `[a, a+len)` out of the free-space tree.
fn fst_remove(txn: &mut Txn, a: u64, len: u64) -> Result<(), BtrfsWriteError> {
    let info = fst_info(txn, a)?;
    let bg = info.0.objectid;
    let prev = txn.last_le(
        FREE_SPACE_TREE,
        Key::new(a, FREE_SPACE_EXTENT_KEY, u64::MAX),
    )?;
    let Some((k, _)) = prev.filter(|(k, _)| {
        k.ty == FREE_SPACE_EXTENT_KEY && k.objectid >= bg && k.objectid + k.offset >= a + len
    }) else {
        return Err(corrupt(
            "free space tree",
            format!("[{a:#x}, {:#x}) is not listed as free", a + len),
        ));
    };
    txn.delete(FREE_SPACE_TREE, k)?;
    let mut pieces = 0;
    if k.objectid < a {
        txn.insert(
            FREE_SPACE_TREE,
            Key::new(k.objectid, FREE_SPACE_EXTENT_KEY, a - k.objectid),
            Vec::new(),
        )?;
        pieces += 1;
    }
    let end = k.objectid + k.offset;
    if end > a + len {
        txn.insert(
            FREE_SPACE_TREE,
            Key::new(a + len, FREE_SPACE_EXTENT_KEY, end - a - len),
            Vec::new(),
        )?;
        pieces += 1;
    }
    fst_count(txn, info, pieces - 1)
}

/// Give `[a, a+len)` back to the free-space tree, merged with its neighbours.
fn fst_add(txn: &mut Txn, a: u64, len: u64) -> Result<(), BtrfsWriteError> {
    let info = fst_info(txn, a)?;
    let bg = info.0.objectid;
    let bg_end = bg + info.0.offset;
    let mut start = a;
    let mut end = a + len;
    let mut merged = 0i64;
    if let Some((k, _)) = txn.last_le(
        FREE_SPACE_TREE,
        Key::new(a, FREE_SPACE_EXTENT_KEY, u64::MAX),
    )? {
        if k.ty == FREE_SPACE_EXTENT_KEY && k.objectid >= bg {
            if k.objectid + k.offset > a {
                return Err(corrupt(
                    "free space tree",
                    format!("{a:#x} is already free"),
                ));
            }
            if k.objectid + k.offset == a {
                txn.delete(FREE_SPACE_TREE, k)?;
                start = k.objectid;
                merged += 1;
            }
        }
    }
    if end < bg_end {
        let next = txn.range(
            FREE_SPACE_TREE,
            Key::new(end, FREE_SPACE_EXTENT_KEY, 0),
            Key::new(end, FREE_SPACE_EXTENT_KEY, u64::MAX),
        )?;
        if let Some((k, _)) = next.into_iter().next() {
            txn.delete(FREE_SPACE_TREE, k)?;
            end = k.objectid + k.offset;
            merged += 1;
        }
    }
    txn.insert(
        FREE_SPACE_TREE,
        Key::new(start, FREE_SPACE_EXTENT_KEY, end - start),
        Vec::new(),
    )?;
    fst_count(txn, info, 1 - merged)
}

/// Bring the extent tree, the free-space tree, the block groups and the root items in line
/// with everything the transaction did.
pub fn settle(txn: &mut Txn, root_items: &[u64]) -> Result<(), BtrfsWriteError> {
    for _round in 0..256 {
        let mut busy = false;
        for m in std::mem::take(&mut txn.new_meta) {
            busy = true;
            let key = tree_block_key(txn, m.bytenr, m.level);
            let item = tree_block_item(txn, m.bytenr, m.owner, m.level)?;
            txn.insert(EXTENT_TREE, key, item)?;
        }
        for d in std::mem::take(&mut txn.new_data) {
            busy = true;
            let mut v = extent_header(1, txn.transid, FLAG_DATA);
            v.push(EXTENT_DATA_REF_KEY);
            v.extend_from_slice(&d.root.to_le_bytes());
            v.extend_from_slice(&d.ino.to_le_bytes());
            v.extend_from_slice(&d.offset.to_le_bytes());
            v.extend_from_slice(&1u32.to_le_bytes());
            txn.insert(EXTENT_TREE, Key::new(d.bytenr, EXTENT_ITEM_KEY, d.len), v)?;
        }
        if super::refs::apply(txn)? {
            busy = true;
        }
        for (b, len) in std::mem::take(&mut txn.freed_data) {
            busy = true;
            txn.delete(EXTENT_TREE, Key::new(b, EXTENT_ITEM_KEY, len))?;
            delete_csums(txn, b, b + len)?;
            txn.account_free(b, len, None);
        }
        if txn.ctx.free_space_tree {
            for (a, l) in std::mem::take(&mut txn.fst_alloc) {
                busy = true;
                fst_remove(txn, a, l)?;
            }
            for (a, l) in std::mem::take(&mut txn.fst_free) {
                busy = true;
                fst_add(txn, a, l)?;
            }
        } else {
            txn.fst_alloc.clear();
            txn.fst_free.clear();
        }
        for (bg, delta) in std::mem::take(&mut txn.bg_delta) {
            if delta == 0 {
                continue;
            }
            busy = true;
            let c = txn
                .ctx
                .chunks
                .chunks()
                .find(|c| c.logical == bg)
                .map(|c| c.length)
                .ok_or_else(|| corrupt("chunk map", format!("block group {bg:#x}")))?;
            let key = Key::new(bg, BLOCK_GROUP_ITEM_KEY, c);
            let mut d = txn.get(EXTENT_TREE, key)?.ok_or_else(|| {
                corrupt("extent tree", format!("no block group item for {bg:#x}"))
            })?;
            let used = i128::from(get64(&d, 0)) + i128::from(delta);
            let used = u64::try_from(used)
                .map_err(|_| corrupt("block group", format!("{bg:#x} used bytes underflow")))?;
            put64(&mut d, 0, used);
            txn.update(EXTENT_TREE, key, d)?;
        }
        for &t in root_items {
            if update_root_item(txn, t)? {
                busy = true;
            }
        }
        if !busy {
            return Ok(());
        }
    }
    Err(corrupt("transaction", "tree updates did not settle"))
}

/// Point tree `t`'s root item at its current root; whether anything changed.
fn update_root_item(txn: &mut Txn, t: u64) -> Result<bool, BtrfsWriteError> {
    let (bytenr, level) = txn.root(t)?;
    let delta = txn.tree_bytes.remove(&t).unwrap_or(0);
    let items = txn.range(
        ROOT_TREE,
        Key::new(t, ROOT_ITEM_KEY, 0),
        Key::new(t, ROOT_ITEM_KEY, u64::MAX),
    )?;
    let (k, mut d) = items
        .into_iter()
        .last()
        .ok_or_else(|| corrupt("root tree", format!("no root item for tree {t}")))?;
    if d.len() < 239 {
        return Err(corrupt(
            "root tree",
            format!("root item of tree {t} too short"),
        ));
    }
    let generation = txn.root_generation(t);
    if get64(&d, 176) == bytenr && d[238] == level && get64(&d, 160) == generation && delta == 0 {
        return Ok(false);
    }
    put64(&mut d, 160, generation);
    put64(&mut d, 176, bytenr);
    d[238] = level;
    let used = (i128::from(get64(&d, 192)) + i128::from(delta)).max(0) as u64;
    put64(&mut d, 192, used);
    if d.len() >= 247 {
        put64(&mut d, 239, generation);
    }
    txn.update(ROOT_TREE, k, d)?;
    Ok(true)
}
