//! VHD output (FMT-5: export formats of the import service). Dynamic: footer copy, dynamic
//! header, BAT, 2 MiB blocks (sector bitmap + data) for the non-zero blocks only, footer.
//! Fixed: the disk's bytes (a sparse file: zero blocks are not written) and the footer.
//! The virtual size is rounded up to a whole CHS geometry, as Virtual PC and QEMU do, so that
//! readers using either the geometry or the size field see the same disk.

use super::footer::{COOKIE, TYPE_DYNAMIC, TYPE_FIXED, checksum};
use crate::block::{BlockDev, BlockError};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const BLOCK: u64 = 2 << 20;
const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

/// CHS geometry of the VHD specification (appendix "CHS calculation") for `total` sectors.
fn geometry(total: u64) -> (u16, u8, u8) {
    let total = total.min(MAX_CHS_SECTORS);
    let (spt, heads, cth);
    if total >= 65535 * 16 * 63 {
        spt = 255u64;
        heads = 16u64;
        cth = total / spt;
    } else {
        let mut s = 17u64;
        let mut c = total / s;
        let mut h = c.div_ceil(1024).max(4);
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = total / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = total / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    ((cth / heads).min(65535) as u16, heads as u8, spt as u8)
}

/// Smallest geometry holding at least `sectors` sectors, and its size in bytes.
fn fit(sectors: u64) -> (u16, u8, u8, u64) {
    for extra in 0..100_000u64 {
        let (c, h, s) = geometry(sectors + extra);
        let chs = c as u64 * h as u64 * s as u64;
        if chs >= sectors || chs == MAX_CHS_SECTORS {
            return (c, h, s, chs.max(sectors) * 512);
        }
    }
    let (c, h, s) = geometry(sectors);
    (c, h, s, sectors * 512)
}

fn footer(size: u64, geo: (u16, u8, u8), uuid: &[u8], disk_type: u32) -> [u8; 512] {
    let mut f = [0u8; 512];
    let secs_since_2000 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(946_684_800))
        .unwrap_or(0) as u32;
    let mut put = |o: usize, b: &[u8]| {
        if let Some(d) = f.get_mut(o..o + b.len()) {
            d.copy_from_slice(b);
        }
    };
    put(0, COOKIE);
    put(8, &2u32.to_be_bytes());
    put(12, &0x0001_0000u32.to_be_bytes());
    // Data offset: the dynamic header follows the footer copy; a fixed disk has none.
    let data_offset = if disk_type == TYPE_FIXED {
        u64::MAX
    } else {
        512
    };
    put(16, &data_offset.to_be_bytes());
    put(24, &secs_since_2000.to_be_bytes());
    put(28, b"gfix");
    put(32, &0x0001_0000u32.to_be_bytes());
    put(36, b"Wi2k");
    put(40, &size.to_be_bytes());
    put(48, &size.to_be_bytes());
    put(56, &geo.0.to_be_bytes());
    put(58, &[geo.1, geo.2]);
    put(60, &disk_type.to_be_bytes());
    put(68, uuid.get(..16).unwrap_or(&[0u8; 16]));
    let sum = checksum(&f, 64);
    f[64..68].copy_from_slice(&sum.to_be_bytes());
    f
}

/// A unique id for a new disk at `out`.
fn new_uuid(out: &Path) -> Vec<u8> {
    use sha2::Digest;
    let mut hsh = sha2::Sha256::new();
    hsh.update(out.to_string_lossy().as_bytes());
    hsh.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    hsh.finalize().to_vec()
}

/// Refuse a disk larger than VHD's own limit of 2040 GiB.
fn check_size(out: &Path, src_size: u64) -> Result<(), BlockError> {
    if src_size > 2040u64 << 30 {
        return Err(BlockError::TooLarge {
            path: out.into(),
            what: "VHD output".into(),
            size: src_size,
            limit: 2040u64 << 30,
        });
    }
    Ok(())
}

/// Write `src` as a fixed VHD at `out`: the disk (rounded up to its CHS geometry, as for a
/// dynamic VHD), then the footer. Zero blocks are left as holes. Returns (data bytes written,
/// zero bytes skipped).
pub fn write_fixed_vhd(
    src: &dyn BlockDev,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), BlockError> {
    let io = |source| BlockError::Io {
        path: out.to_path_buf(),
        source,
    };
    let src_size = src.len();
    check_size(out, src_size)?;
    let (c, h, s, size) = fit(src_size.div_ceil(512));
    let foot = footer(size, (c, h, s), &new_uuid(out), TYPE_FIXED);
    let f = File::create(out).map_err(io)?;
    f.set_len(size + 512).map_err(io)?;
    let mut buf = vec![0u8; BLOCK as usize];
    let (mut data, mut zero) = (0u64, 0u64);
    for start in (0..src_size).step_by(BLOCK as usize) {
        let n = (src_size - start).min(BLOCK) as usize;
        if crate::block::alloc::reads_as_zero(src, start, n as u64)? {
            progress(start + n as u64);
            zero += n as u64;
            continue;
        }
        src.read_at(start, &mut buf[..n])?;
        progress(start + n as u64);
        for (i, blk) in buf[..n]
            .chunks(crate::block::writer::COPY_BLOCK)
            .enumerate()
        {
            if crate::block::writer::is_zero(blk) {
                zero += blk.len() as u64;
            } else {
                data += blk.len() as u64;
                let at = start + (i * crate::block::writer::COPY_BLOCK) as u64;
                f.write_all_at(blk, at).map_err(io)?;
            }
        }
    }
    f.write_all_at(&foot, size).map_err(io)?;
    f.sync_data().map_err(io)?;
    Ok((data, zero))
}

/// Write `src` as a dynamic VHD at `out`. Returns (data bytes stored, zero bytes skipped).
pub fn write_dynamic_vhd(
    src: &dyn BlockDev,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), BlockError> {
    let io = |source| BlockError::Io {
        path: out.to_path_buf(),
        source,
    };
    let src_size = src.len();
    check_size(out, src_size)?;
    let (c, h, s, size) = fit(src_size.div_ceil(512));
    let blocks = size.div_ceil(BLOCK);
    let bat_off = 512 + 1024u64;
    let bat_bytes = (blocks * 4).div_ceil(512) * 512;
    let mut next = bat_off + bat_bytes;
    let uuid = new_uuid(out);
    let foot = footer(size, (c, h, s), &uuid, TYPE_DYNAMIC);
    let f = File::create(out).map_err(io)?;
    // Dynamic header.
    let mut dh = [0u8; 1024];
    dh[0..8].copy_from_slice(b"cxsparse");
    dh[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
    dh[16..24].copy_from_slice(&bat_off.to_be_bytes());
    dh[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    dh[28..32].copy_from_slice(&(blocks as u32).to_be_bytes());
    dh[32..36].copy_from_slice(&(BLOCK as u32).to_be_bytes());
    let sum = checksum(&dh, 36);
    dh[36..40].copy_from_slice(&sum.to_be_bytes());
    let mut bat = vec![0xffu8; bat_bytes as usize];
    let mut buf = vec![0u8; BLOCK as usize];
    let bitmap = [0xffu8; 512];
    let (mut data, mut zero) = (0u64, 0u64);
    for b in 0..blocks {
        let start = b * BLOCK;
        let n = src_size.saturating_sub(start).min(BLOCK) as usize;
        // Blocks the source marks as zero/unallocated are not read.
        if crate::block::alloc::reads_as_zero(src, start, n as u64)? {
            progress(start + n as u64);
            zero += n as u64;
            continue;
        }
        buf.fill(0);
        src.read_at(start, &mut buf[..n])?;
        progress(start + n as u64);
        if crate::block::writer::is_zero(&buf) {
            zero += n as u64;
            continue;
        }
        data += n as u64;
        f.write_all_at(&bitmap, next).map_err(io)?;
        f.write_all_at(&buf, next + 512).map_err(io)?;
        let e = (next / 512) as u32;
        bat[(b * 4) as usize..(b * 4 + 4) as usize].copy_from_slice(&e.to_be_bytes());
        next += 512 + BLOCK;
    }
    f.write_all_at(&foot, 0).map_err(io)?;
    f.write_all_at(&dh, 512).map_err(io)?;
    f.write_all_at(&bat, bat_off).map_err(io)?;
    f.write_all_at(&foot, next).map_err(io)?;
    f.sync_data().map_err(io)?;
    Ok((data, zero))
}
