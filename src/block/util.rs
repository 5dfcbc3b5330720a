//! Small helpers shared by the container readers: endian reads that never panic, bounded reads
//! of tables, and chunked iteration over a byte range.

use super::{BlockDev, BlockError};

/// Largest single table (L1, BAT, grain directory, OVF …) any reader allocates.
pub const MAX_TABLE_BYTES: u64 = 64 << 20;

use crate::bytes::{self as by, or_zero};

/// Big-endian `u16` at `off`; 0 when it does not fit ([`crate::bytes`]).
pub fn be16(b: &[u8], off: usize) -> u16 {
    or_zero(by::be_u16(b, off))
}
/// Big-endian `u32` at `off`; 0 when it does not fit.
pub fn be32(b: &[u8], off: usize) -> u32 {
    or_zero(by::be_u32(b, off))
}
/// Big-endian `u64` at `off`; 0 when it does not fit.
pub fn be64(b: &[u8], off: usize) -> u64 {
    or_zero(by::be_u64(b, off))
}
/// Little-endian `u16` at `off`; 0 when it does not fit.
pub fn le16(b: &[u8], off: usize) -> u16 {
    or_zero(by::le_u16(b, off))
}
/// Little-endian `u32` at `off`; 0 when it does not fit.
pub fn le32(b: &[u8], off: usize) -> u32 {
    or_zero(by::le_u32(b, off))
}
/// Little-endian `u64` at `off`; 0 when it does not fit.
pub fn le64(b: &[u8], off: usize) -> u64 {
    or_zero(by::le_u64(b, off))
}

/// `b[off..off+len]` or an empty slice.
pub fn sub(b: &[u8], off: usize, len: usize) -> &[u8] {
    by::slice(b, off, len).unwrap_or(&[])
}

/// Read exactly `len` bytes at `offset` of the container file, refusing sizes above `limit` and
/// ranges past the end of the file with a named error.
pub fn read_vec(
    file: &dyn BlockDev,
    offset: u64,
    len: u64,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, BlockError> {
    if len > limit {
        return Err(BlockError::TooLarge {
            path: file.describe().into(),
            what: what.to_string(),
            size: len,
            limit,
        });
    }
    check_in_file(file, offset, len, what)?;
    let mut v = vec![0u8; len as usize];
    file.read_at(offset, &mut v)?;
    Ok(v)
}

/// Fill `buf` from `offset` of the container file, with a "truncated" error naming `what`.
pub fn read_into(
    file: &dyn BlockDev,
    offset: u64,
    buf: &mut [u8],
    what: &str,
) -> Result<(), BlockError> {
    check_in_file(file, offset, buf.len() as u64, what)?;
    file.read_at(offset, buf)
}

pub fn check_in_file(
    file: &dyn BlockDev,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<(), BlockError> {
    match offset.checked_add(len) {
        Some(end) if end <= file.len() => Ok(()),
        _ => Err(BlockError::Truncated {
            path: file.describe().into(),
            what: what.to_string(),
            offset,
            len,
            file_size: file.len(),
        }),
    }
}

/// Split `[offset, offset+len)` into pieces that do not cross a `chunk`-sized boundary and call
/// `f(chunk_index, offset_in_chunk, position_in_buffer, piece_len)` for each.
pub fn for_each_chunk(
    offset: u64,
    len: usize,
    chunk: u64,
    mut f: impl FnMut(u64, u64, usize, usize) -> Result<(), BlockError>,
) -> Result<(), BlockError> {
    let mut pos = 0usize;
    while pos < len {
        let off = offset + pos as u64;
        let idx = off / chunk;
        let within = off % chunk;
        let n = ((chunk - within) as usize).min(len - pos);
        f(idx, within, pos, n)?;
        pos += n;
    }
    Ok(())
}

/// Inflate `src` (zlib-wrapped when `zlib`, raw deflate otherwise) into at most `max` bytes.
/// Returns the number of bytes produced; output beyond `max` counts towards the length but is
/// not stored, so a caller can report the real inflated length.
pub fn inflate(src: &[u8], out: &mut [u8], zlib: bool) -> Result<u64, String> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(zlib);
    let mut produced: u64 = 0;
    let mut scratch = [0u8; 4096];
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let inp = src.get(before_in as usize..).unwrap_or(&[]);
        let (dst, into_out) = if (produced as usize) < out.len() {
            (out.get_mut(produced as usize..).unwrap_or(&mut []), true)
        } else {
            (&mut scratch[..], false)
        };
        let st = d
            .decompress(inp, dst, FlushDecompress::Finish)
            .map_err(|e| format!("deflate error: {e}"))?;
        let n = d.total_out() - before_out;
        let _ = into_out;
        produced += n;
        match st {
            Status::StreamEnd => return Ok(produced),
            _ => {
                if n == 0 && d.total_in() == before_in {
                    // No progress: input exhausted without stream end.
                    return Ok(produced);
                }
                if produced > (out.len() as u64).saturating_add(1 << 20) {
                    return Ok(produced);
                }
            }
        }
    }
}
