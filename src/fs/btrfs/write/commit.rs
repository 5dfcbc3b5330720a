//! Writing a settled transaction out: data first, then every new tree block (each copy of a
//! DUP chunk), a device flush, and last the superblock — new generation, root, bytes used and
//! a backup-root slot — to every superblock copy that lies inside the device, flushed again.

use super::super::superblock::{SUPER_OFFSETS, SUPER_SIZE, crc32c};
use super::block::{get64, put32, put64};
use super::error::{BtrfsWriteError, corrupt};
use super::extent::{CSUM_TREE, EXTENT_TREE, ROOT_TREE};
use super::txn::Txn;

const DEV_TREE: u64 = 4;
const FS_TREE: u64 = 5;
const CHUNK_TREE: u64 = 3;
const SUPER_ROOTS: usize = 0xb2b;
const BACKUP_SIZE: usize = 168;
const NUM_BACKUPS: usize = 4;
/// `dev_item.total_bytes` inside the superblock.
const DEV_TOTAL_BYTES: usize = 0xc9 + 8;

/// Write everything `txn` changed, then the superblocks built from `sb` (the raw primary).
pub fn commit(txn: &Txn, sb: &[u8]) -> Result<(), BtrfsWriteError> {
    let dev = &txn.ctx.dev;
    let mut sb = sb.to_vec();
    if sb.len() != SUPER_SIZE {
        return Err(corrupt("superblock", "short"));
    }
    let old_gen = get64(&sb, 0x48);
    let (root, root_level) = txn.root(ROOT_TREE)?;
    put64(&mut sb, 0x48, txn.transid);
    put64(&mut sb, 0x50, root);
    sb[0xc6] = root_level;
    let used = i128::from(get64(&sb, 0x78)) + i128::from(txn.bytes_used_delta);
    put64(
        &mut sb,
        0x78,
        u64::try_from(used).map_err(|_| corrupt("superblock", "bytes_used underflow"))?,
    );
    // backup roots: the slot after the one holding the previous generation
    let slot = (0..NUM_BACKUPS)
        .find(|&i| get64(&sb, SUPER_ROOTS + i * BACKUP_SIZE + 8) == old_gen)
        .map(|i| (i + 1) % NUM_BACKUPS)
        .unwrap_or_else(|| {
            (0..NUM_BACKUPS)
                .min_by_key(|&i| get64(&sb, SUPER_ROOTS + i * BACKUP_SIZE + 8))
                .unwrap_or(0)
        });
    let b = SUPER_ROOTS + slot * BACKUP_SIZE;
    let mut e = vec![0u8; BACKUP_SIZE];
    let rootgen = |t: u64| -> Result<(u64, u64, u8), BtrfsWriteError> {
        let (r, l) = txn.root(t)?;
        Ok((r, txn.root_generation(t), l))
    };
    put64(&mut e, 0, root);
    put64(&mut e, 8, txn.transid);
    put64(&mut e, 16, get64(&sb, 0x58));
    put64(&mut e, 24, get64(&sb, 0xa4));
    e[152] = root_level;
    e[153] = sb[0xc7];
    for (t, at, lvl) in [
        (EXTENT_TREE, 32, 154),
        (FS_TREE, 48, 155),
        (DEV_TREE, 64, 156),
        (CSUM_TREE, 80, 157),
    ] {
        if let Ok((r, g, l)) = rootgen(t) {
            put64(&mut e, at, r);
            put64(&mut e, at + 8, g);
            e[lvl] = l;
        }
    }
    let _ = CHUNK_TREE;
    put64(&mut e, 96, get64(&sb, 0x70));
    put64(&mut e, 104, get64(&sb, 0x78));
    put64(&mut e, 112, get64(&sb, 0x88));
    sb[b..b + BACKUP_SIZE].copy_from_slice(&e);

    for (at, data) in &txn.data_writes {
        for phys in txn.ctx.chunks.map_copies(*at, data.len() as u64)? {
            dev.write_at(phys, data)?;
        }
    }
    let ns = u64::from(txn.ctx.nodesize);
    for (bytenr, buf) in txn.dirty_blocks() {
        for phys in txn.ctx.chunks.map_copies(bytenr, ns)? {
            dev.write_at(phys, &buf)?;
        }
    }
    dev.flush()?;
    let limit = get64(&sb, DEV_TOTAL_BYTES).min(dev.len());
    for &at in &SUPER_OFFSETS {
        if at + SUPER_SIZE as u64 > limit {
            break;
        }
        put64(&mut sb, 0x30, at);
        let c = crc32c(&sb[0x20..]);
        sb[..0x20].fill(0);
        put32(&mut sb, 0, c);
        dev.write_at(at, &sb)?;
    }
    dev.flush()?;
    Ok(())
}
