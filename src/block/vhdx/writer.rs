//! Dynamic VHDX output (FMT-1): file identifier, two headers, two region tables, an empty log,
//! the metadata region (32 MiB blocks, 512-byte logical and 4 KiB physical sectors) and the
//! BAT; only the 32 MiB blocks holding data are stored (zero 64 KiB runs inside them stay holes).

use super::bat::FULLY_PRESENT;
use super::guid;
use super::header::crc_with_zero_field;
use crate::block::writer::{COPY_BLOCK, is_zero};
use crate::block::{BlockDev, BlockError};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MIB: u64 = 1 << 20;
const BLOCK: u64 = 32 * MIB;
const LOGICAL_SECTOR: u64 = 512;
const LOG_OFFSET: u64 = MIB;
const LOG_LENGTH: u64 = MIB;
const METADATA_OFFSET: u64 = 2 * MIB;
const METADATA_LENGTH: u64 = MIB;
const BAT_OFFSET: u64 = 3 * MIB;
/// Largest virtual size VHDX allows (64 TiB).
const MAX_SIZE: u64 = 64 << 40;

/// 16 pseudo-random bytes for a GUID (a hash of the output path and the time), version 4.
fn new_guid(out: &Path, salt: &str) -> [u8; 16] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(out.to_string_lossy().as_bytes());
    h.update(salt.as_bytes());
    h.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    let d = h.finalize();
    let mut g = [0u8; 16];
    g.copy_from_slice(&d[..16]);
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

fn header(sequence: u64, file_write: &[u8; 16], data_write: &[u8; 16]) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[0..4].copy_from_slice(b"head");
    h[8..16].copy_from_slice(&sequence.to_le_bytes());
    h[16..32].copy_from_slice(file_write);
    h[32..48].copy_from_slice(data_write);
    // Log GUID 48..64 stays zero: no log to replay.
    h[64..66].copy_from_slice(&0u16.to_le_bytes());
    h[66..68].copy_from_slice(&1u16.to_le_bytes());
    h[68..72].copy_from_slice(&(LOG_LENGTH as u32).to_le_bytes());
    h[72..80].copy_from_slice(&LOG_OFFSET.to_le_bytes());
    let c = crc_with_zero_field(&h, 4);
    h[4..8].copy_from_slice(&c.to_le_bytes());
    h
}

fn region_table(bat_length: u64) -> Vec<u8> {
    let mut r = vec![0u8; 64 << 10];
    r[0..4].copy_from_slice(b"regi");
    r[8..12].copy_from_slice(&2u32.to_le_bytes());
    let entries = [
        (guid::BAT, BAT_OFFSET, bat_length),
        (guid::METADATA, METADATA_OFFSET, METADATA_LENGTH),
    ];
    for (i, (id, off, len)) in entries.iter().enumerate() {
        let e = 16 + i * 32;
        r[e..e + 16].copy_from_slice(id);
        r[e + 16..e + 24].copy_from_slice(&off.to_le_bytes());
        r[e + 24..e + 28].copy_from_slice(&(*len as u32).to_le_bytes());
        r[e + 28..e + 32].copy_from_slice(&1u32.to_le_bytes());
    }
    let c = crc_with_zero_field(&r, 4);
    r[4..8].copy_from_slice(&c.to_le_bytes());
    r
}

fn metadata(virtual_size: u64, disk_id: &[u8; 16]) -> Vec<u8> {
    const IS_VIRTUAL_DISK: u32 = 2;
    const IS_REQUIRED: u32 = 4;
    let mut m = vec![0u8; METADATA_LENGTH as usize];
    m[0..8].copy_from_slice(b"metadata");
    let mut block_params = [0u8; 8];
    block_params[0..4].copy_from_slice(&(BLOCK as u32).to_le_bytes());
    let items: [(&[u8; 16], Vec<u8>, u32); 5] = [
        (&guid::FILE_PARAMETERS, block_params.to_vec(), IS_REQUIRED),
        (
            &guid::VIRTUAL_DISK_SIZE,
            virtual_size.to_le_bytes().to_vec(),
            IS_VIRTUAL_DISK | IS_REQUIRED,
        ),
        (
            &guid::PAGE83_DATA,
            disk_id.to_vec(),
            IS_VIRTUAL_DISK | IS_REQUIRED,
        ),
        (
            &guid::LOGICAL_SECTOR_SIZE,
            (LOGICAL_SECTOR as u32).to_le_bytes().to_vec(),
            IS_VIRTUAL_DISK | IS_REQUIRED,
        ),
        (
            &guid::PHYSICAL_SECTOR_SIZE,
            4096u32.to_le_bytes().to_vec(),
            IS_VIRTUAL_DISK | IS_REQUIRED,
        ),
    ];
    m[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut data_off = 64usize << 10;
    for (i, (id, data, flags)) in items.iter().enumerate() {
        let e = 32 + i * 32;
        m[e..e + 16].copy_from_slice(*id);
        m[e + 16..e + 20].copy_from_slice(&(data_off as u32).to_le_bytes());
        m[e + 20..e + 24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        m[e + 24..e + 28].copy_from_slice(&flags.to_le_bytes());
        m[data_off..data_off + data.len()].copy_from_slice(data);
        data_off += data.len().next_multiple_of(8);
    }
    m
}

/// Write `src` as a dynamic VHDX at `out`. Returns (data bytes stored, zero bytes skipped).
pub fn write_vhdx(
    src: &dyn BlockDev,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), BlockError> {
    let io = |source| BlockError::Io {
        path: out.to_path_buf(),
        source,
    };
    let src_size = src.len();
    let size = src_size.next_multiple_of(LOGICAL_SECTOR);
    if size > MAX_SIZE {
        return Err(BlockError::TooLarge {
            path: out.into(),
            what: "VHDX output".into(),
            size,
            limit: MAX_SIZE,
        });
    }
    let chunk_ratio = ((1u64 << 23) * LOGICAL_SECTOR) / BLOCK;
    let blocks = size.div_ceil(BLOCK);
    let entries = if blocks == 0 {
        0
    } else {
        blocks + (blocks - 1) / chunk_ratio
    };
    let bat_length = (entries * 8).max(1).next_multiple_of(MIB);
    let mut bat = vec![0u8; bat_length as usize];
    let f = File::create(out).map_err(io)?;
    let mut next = BAT_OFFSET + bat_length;
    let mut buf = vec![0u8; BLOCK as usize];
    let (mut data, mut zero) = (0u64, 0u64);
    for b in 0..blocks {
        let start = b * BLOCK;
        let n = src_size.saturating_sub(start).min(BLOCK) as usize;
        if n == 0 || crate::block::alloc::reads_as_zero(src, start, n as u64)? {
            progress(start + n as u64);
            zero += n as u64;
            continue;
        }
        buf.fill(0);
        src.read_at(start, &mut buf[..n])?;
        progress(start + n as u64);
        if buf.chunks(COPY_BLOCK).all(is_zero) {
            zero += n as u64;
            continue;
        }
        for (i, c) in buf.chunks(COPY_BLOCK).enumerate() {
            if !is_zero(c) {
                f.write_all_at(c, next + (i * COPY_BLOCK) as u64)
                    .map_err(io)?;
            }
        }
        data += n as u64;
        let idx = super::bat::index(b, chunk_ratio) as usize * 8;
        bat[idx..idx + 8].copy_from_slice(&(next | FULLY_PRESENT).to_le_bytes());
        next += BLOCK;
    }
    let mut ident = vec![0u8; 64 << 10];
    ident[0..8].copy_from_slice(b"vhdxfile");
    for (i, u) in "guestfix".encode_utf16().enumerate() {
        ident[8 + i * 2..10 + i * 2].copy_from_slice(&u.to_le_bytes());
    }
    let (fw, dw) = (new_guid(out, "file"), new_guid(out, "data"));
    f.write_all_at(&ident, 0).map_err(io)?;
    f.write_all_at(&header(1, &fw, &dw), 64 << 10).map_err(io)?;
    f.write_all_at(&header(2, &fw, &dw), 128 << 10)
        .map_err(io)?;
    let rt = region_table(bat_length);
    f.write_all_at(&rt, 192 << 10).map_err(io)?;
    f.write_all_at(&rt, 256 << 10).map_err(io)?;
    f.write_all_at(&metadata(size, &new_guid(out, "disk")), METADATA_OFFSET)
        .map_err(io)?;
    f.write_all_at(&bat, BAT_OFFSET).map_err(io)?;
    f.set_len(next).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((data, zero))
}
