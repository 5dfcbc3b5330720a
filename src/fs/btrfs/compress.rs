//! Decompression of compressed extents: zlib (flate2), zstd (ruzstd) and btrfs's LZO framing
//! around LZO1X ([`super::lzo`]). Output is bounded by the extent's `ram_bytes`; a stream that
//! would produce more is refused (decompression bombs).

use super::extent_data::Compression;
use super::le::{corrupt, u32_at};
use super::lzo;
use crate::fs::FsError;
use std::io::Read;

/// Largest uncompressed extent the kernel writes for compressed data (`BTRFS_MAX_UNCOMPRESSED`).
pub const MAX_UNCOMPRESSED: u64 = 128 * 1024;
/// Largest compressed extent on disk (`BTRFS_MAX_COMPRESSED`).
pub const MAX_COMPRESSED: u64 = 128 * 1024;

fn read_bounded(mut r: impl Read, out_len: usize, what: &str) -> Result<Vec<u8>, FsError> {
    let mut out = Vec::with_capacity(out_len);
    (&mut r)
        .take(out_len as u64)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(what, e.to_string()))?;
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => {
            return Err(corrupt(
                what,
                format!("decompresses to more than the stated {out_len} bytes"),
            ));
        }
        Err(e) => return Err(corrupt(what, e.to_string())),
    }
    Ok(out)
}

/// Decompress `src` to exactly `out_len` bytes (shorter streams are zero-filled, as the kernel
/// does; longer ones are refused). `sectorsize` is needed by the LZO framing.
pub fn decompress(
    kind: Compression,
    src: &[u8],
    out_len: u64,
    sectorsize: u32,
) -> Result<Vec<u8>, FsError> {
    if out_len > MAX_UNCOMPRESSED {
        return Err(corrupt(
            "compressed extent",
            format!("ram_bytes {out_len} exceeds {MAX_UNCOMPRESSED}"),
        ));
    }
    let n = out_len as usize;
    let mut out = match kind {
        Compression::None => src.get(..n).unwrap_or(src).to_vec(),
        Compression::Zlib => read_bounded(flate2::read::ZlibDecoder::new(src), n, "zlib extent")?,
        Compression::Zstd => {
            let dec = ruzstd::decoding::StreamingDecoder::new(src)
                .map_err(|e| corrupt("zstd extent", e.to_string()))?;
            read_bounded(dec, n, "zstd extent")?
        }
        Compression::Lzo => lzo_framed(src, n, sectorsize)?,
    };
    out.resize(n, 0);
    Ok(out)
}

/// btrfs LZO framing: a 4-byte total length, then segments of (4-byte length, LZO1X data),
/// each decompressing to at most one sector; a segment header never straddles a sector
/// boundary (the remainder of the sector is padding).
fn lzo_framed(src: &[u8], out_len: usize, sectorsize: u32) -> Result<Vec<u8>, FsError> {
    let w = "lzo extent";
    let total = u32_at(src, 0, w)? as usize;
    if total > src.len() || total < 4 {
        return Err(corrupt(
            w,
            format!("total length {total} but {} bytes stored", src.len()),
        ));
    }
    let sector = sectorsize as usize;
    let mut out = Vec::with_capacity(out_len);
    let mut pos = 4usize;
    while pos < total && out.len() < out_len {
        let left_in_sector = sector - pos % sector;
        if left_in_sector < 4 {
            pos += left_in_sector;
            if pos >= total {
                break;
            }
        }
        let seg_len = u32_at(src, pos, w)? as usize;
        pos += 4;
        let end = pos
            .checked_add(seg_len)
            .filter(|&e| e <= total)
            .ok_or_else(|| corrupt(w, format!("segment of {seg_len} bytes runs past the end")))?;
        let seg = src.get(pos..end).ok_or_else(|| corrupt(w, "segment"))?;
        let want = sector.min(out_len - out.len());
        let part = lzo::decompress(seg, want)?;
        out.extend_from_slice(&part);
        pos = end;
    }
    Ok(out)
}
