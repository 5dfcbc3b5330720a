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
            zstd_header_guard(src, out_len)?;
            let dec = ruzstd::decoding::StreamingDecoder::new(src)
                .map_err(|e| corrupt("zstd extent", e.to_string()))?;
            read_bounded(dec, n, "zstd extent")?
        }
        Compression::Lzo => lzo_framed(src, n, sectorsize)?,
    };
    out.resize(n, 0);
    Ok(out)
}

/// Largest zstd window accepted (btrfs writes windows of at most 128 KiB; the kernel's
/// ZSTD_BTRFS_MAX_WINDOWLOG is 17). Refusing bigger windows up front keeps a crafted frame
/// from making the decoder reserve a large buffer.
const ZSTD_MAX_WINDOW: u64 = 1 << 20;

/// Check a zstd frame header before decoding: magic, window size, declared content size.
fn zstd_header_guard(src: &[u8], out_len: u64) -> Result<(), FsError> {
    let w = "zstd extent";
    if u32_at(src, 0, w)? != 0xFD2F_B528 {
        return Err(corrupt(w, "no zstd frame magic"));
    }
    let fhd = *src
        .get(4)
        .ok_or_else(|| corrupt(w, "truncated frame header"))?;
    let single_segment = fhd & 0x20 != 0;
    let mut pos = 5usize;
    if !single_segment {
        let wd = *src
            .get(pos)
            .ok_or_else(|| corrupt(w, "truncated frame header"))?;
        pos += 1;
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log.min(62);
        let window = base + (base / 8) * u64::from(wd & 7);
        if window > ZSTD_MAX_WINDOW {
            return Err(corrupt(w, format!("window of {window} bytes")));
        }
    }
    pos += [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = match (fhd >> 6, single_segment) {
        (0, false) => 0,
        (0, true) => 1,
        (1, _) => 2,
        (2, _) => 4,
        _ => 8,
    };
    if fcs_len > 0 {
        let b = super::le::bytes(src, pos, fcs_len, w)?;
        let mut v = [0u8; 8];
        v[..fcs_len].copy_from_slice(b);
        let mut fcs = u64::from_le_bytes(v);
        if fcs_len == 2 {
            fcs += 256;
        }
        if fcs > out_len {
            return Err(corrupt(
                w,
                format!("frame declares {fcs} bytes, more than the stated {out_len}"),
            ));
        }
    }
    Ok(())
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
    while pos < total {
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
        if out.len() >= out_len {
            return Err(corrupt(
                w,
                format!("decompresses to more than the stated {out_len} bytes"),
            ));
        }
        let want = sector.min(out_len - out.len());
        let part = lzo::decompress(seg, want)?;
        out.extend_from_slice(&part);
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"btrfs compressed extent "[i % 24])
            .collect()
    }

    #[test]
    fn zlib_round_trip_and_bomb_refused() {
        let plain = text(100_000);
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&plain).unwrap();
        let z = enc.finish().unwrap();
        assert_eq!(
            decompress(Compression::Zlib, &z, 100_000, 4096).unwrap(),
            plain
        );
        // Stated size smaller than the stream: refused, not truncated silently.
        let e = decompress(Compression::Zlib, &z, 4096, 4096).unwrap_err();
        assert!(e.to_string().contains("more than the stated 4096"), "{e}");
        // More than BTRFS_MAX_UNCOMPRESSED is never allocated.
        assert!(decompress(Compression::Zlib, &z, 1 << 30, 4096).is_err());
        assert!(decompress(Compression::Zlib, &z[..z.len() / 2], 100_000, 4096).is_err());
    }

    #[test]
    fn zstd_round_trip_and_bomb_refused() {
        let plain = text(100_000);
        let z = ruzstd::encoding::compress_to_vec(
            &plain[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(
            decompress(Compression::Zstd, &z, 100_000, 4096).unwrap(),
            plain
        );
        let e = decompress(Compression::Zstd, &z, 4096, 4096).unwrap_err();
        assert!(e.to_string().contains("more than the stated 4096"), "{e}");
        // A frame header claiming a 2 GiB window.
        let bad = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0, 0, 0, 0];
        assert!(zstd_header_guard(&bad, 4096).is_err());
    }

    #[test]
    fn lzo_framing_is_bounded() {
        // One segment: 'a' then a back-reference of distance 1, length 2+31+255*400: an
        // LZO1X "run" that would decompress to ~100 KiB from 420 bytes.
        let mut seg = vec![17 + 1, b'a', 0x20];
        seg.extend(std::iter::repeat_n(0u8, 400));
        seg.extend_from_slice(&[1, 0, 0, 0x11, 0, 0]);
        let mut framed = Vec::new();
        framed.extend_from_slice(&((8 + seg.len()) as u32).to_le_bytes());
        framed.extend_from_slice(&(seg.len() as u32).to_le_bytes());
        framed.extend_from_slice(&seg);
        // A segment may produce at most one sector.
        let e = decompress(Compression::Lzo, &framed, 128 * 1024, 4096).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
        // Total length beyond the stored bytes.
        let mut bad = framed.clone();
        bad[..4].copy_from_slice(&10_000u32.to_le_bytes());
        assert!(decompress(Compression::Lzo, &bad, 4096, 4096).is_err());
    }
}
