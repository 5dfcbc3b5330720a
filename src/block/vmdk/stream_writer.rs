//! Stream-optimized VMDK output (FMT-5: the export format the import service itself writes):
//! header with GD_AT_END, embedded descriptor, deflate-compressed grains with markers, then the
//! grain tables, the grain directory, a footer (the header with the real GD offset) and the
//! end-of-stream marker.

use super::sparse::{FLAG_COMPRESSED, FLAG_MARKERS, GD_AT_END, MAGIC};
use crate::block::{BlockDev, BlockError};
use std::io::Write;
use std::path::Path;

const GRAIN_SECTORS: u64 = 128;
const GRAIN: u64 = GRAIN_SECTORS * 512;
const GTES: u64 = 512;
const DESC_SECTORS: u64 = 20;
/// Data starts after header + descriptor, grain aligned (as VMware's tools do).
const OVERHEAD_SECTORS: u64 = 128;
const MARKER_GT: u32 = 1;
const MARKER_GD: u32 = 2;
const MARKER_FOOTER: u32 = 3;
/// Largest disk written (grain tables are held in memory: 4 bytes per 64 KiB grain).
const MAX_SIZE: u64 = 16 << 40;

fn header(capacity: u64, gd_offset: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let mut put = |o: usize, b: &[u8]| {
        if let Some(d) = h.get_mut(o..o + b.len()) {
            d.copy_from_slice(b);
        }
    };
    put(0, MAGIC);
    put(4, &3u32.to_le_bytes());
    put(8, &(1 | FLAG_COMPRESSED | FLAG_MARKERS).to_le_bytes());
    put(12, &capacity.to_le_bytes());
    put(20, &GRAIN_SECTORS.to_le_bytes());
    put(28, &1u64.to_le_bytes());
    put(36, &DESC_SECTORS.to_le_bytes());
    put(44, &(GTES as u32).to_le_bytes());
    put(56, &gd_offset.to_le_bytes());
    put(64, &OVERHEAD_SECTORS.to_le_bytes());
    put(73, b"\n \r\n");
    put(77, &1u16.to_le_bytes());
    h
}

fn marker(sectors: u64, typ: u32) -> [u8; 512] {
    let mut m = [0u8; 512];
    m[0..8].copy_from_slice(&sectors.to_le_bytes());
    m[12..16].copy_from_slice(&typ.to_le_bytes());
    m
}

/// Write `src` as a stream-optimized VMDK at `out`; zero grains are left out. Returns the
/// number of data bytes stored and calls `progress` with the bytes done.
pub fn write_stream_vmdk(
    src: &dyn BlockDev,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), BlockError> {
    let size = src.len();
    if size > MAX_SIZE {
        return Err(BlockError::TooLarge {
            path: out.into(),
            what: "stream-optimized VMDK output".into(),
            size,
            limit: MAX_SIZE,
        });
    }
    let io = |source| BlockError::Io {
        path: out.to_path_buf(),
        source,
    };
    let capacity = size.div_ceil(512);
    let grains = capacity.div_ceil(GRAIN_SECTORS);
    let mut gt = vec![0u32; grains.div_ceil(GTES).saturating_mul(GTES) as usize];
    let f = std::fs::File::create(out).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut pos: u64 = 0; // bytes written
    let put = |w: &mut std::io::BufWriter<std::fs::File>, b: &[u8], pos: &mut u64| {
        w.write_all(b).map_err(io)?;
        *pos += b.len() as u64;
        Ok::<(), BlockError>(())
    };
    put(&mut w, &header(capacity, GD_AT_END), &mut pos)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk.vmdk".into());
    let desc = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n# Extent description\nRW {capacity} SPARSE \"{name}\"\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"{}\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n",
        (capacity / (255 * 63)).clamp(1, 65535)
    );
    let mut d = vec![0u8; (OVERHEAD_SECTORS * 512 - 512) as usize];
    if desc.len() > (DESC_SECTORS * 512) as usize {
        return Err(BlockError::unsupported(out, "VMDK descriptor too long"));
    }
    d[..desc.len()].copy_from_slice(desc.as_bytes());
    put(&mut w, &d, &mut pos)?;

    let mut data_bytes = 0u64;
    let mut grain = vec![0u8; GRAIN as usize];
    for g in 0..grains {
        let start = g * GRAIN;
        let n = (size - start).min(GRAIN) as usize;
        // Grains the source marks as zero/unallocated are not read.
        if crate::block::alloc::reads_as_zero(src, start, n as u64)? {
            progress(start + n as u64);
            continue;
        }
        grain.fill(0);
        src.read_at(start, &mut grain[..n])?;
        progress(start + n as u64);
        if crate::block::writer::is_zero(&grain) {
            continue;
        }
        let mut z =
            flate2::write::ZlibEncoder::new(Vec::with_capacity(n / 2), flate2::Compression::fast());
        z.write_all(&grain).map_err(io)?;
        let c = z.finish().map_err(io)?;
        let sector = pos / 512;
        gt[g as usize] = u32::try_from(sector).map_err(|_| {
            BlockError::unsupported(out, "VMDK output beyond 2 TiB of compressed data")
        })?;
        let mut rec = Vec::with_capacity(12 + c.len() + 512);
        rec.extend_from_slice(&(g * GRAIN_SECTORS).to_le_bytes());
        rec.extend_from_slice(&(c.len() as u32).to_le_bytes());
        rec.extend_from_slice(&c);
        rec.resize(rec.len().div_ceil(512) * 512, 0);
        put(&mut w, &rec, &mut pos)?;
        data_bytes += n as u64;
    }
    // Grain tables, each behind a marker.
    let gt_sectors = GTES * 4 / 512;
    let mut gd = Vec::new();
    for t in gt.chunks(GTES as usize) {
        put(&mut w, &marker(gt_sectors, MARKER_GT), &mut pos)?;
        gd.push((pos / 512) as u32);
        let b: Vec<u8> = t.iter().flat_map(|e| e.to_le_bytes()).collect();
        put(&mut w, &b, &mut pos)?;
    }
    let gd_bytes: Vec<u8> = gd.iter().flat_map(|e| e.to_le_bytes()).collect();
    let gd_sectors = (gd_bytes.len() as u64).div_ceil(512);
    put(&mut w, &marker(gd_sectors, MARKER_GD), &mut pos)?;
    let gd_offset = pos / 512;
    let mut gdb = gd_bytes;
    gdb.resize((gd_sectors * 512) as usize, 0);
    put(&mut w, &gdb, &mut pos)?;
    put(&mut w, &marker(1, MARKER_FOOTER), &mut pos)?;
    put(&mut w, &header(capacity, gd_offset), &mut pos)?;
    put(&mut w, &[0u8; 512], &mut pos)?;
    let f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_data().map_err(io)?;
    Ok((data_bytes, size.saturating_sub(data_bytes)))
}
