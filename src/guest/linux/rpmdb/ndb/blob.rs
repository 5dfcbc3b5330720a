//! An ndb blob, `blkcnt` 16-byte blocks: a 16-byte head (magic `BlbS`, package index,
//! generation, blob length), the blob (the rpm header blob), zero padding to the block, and a
//! 12-byte tail (Adler-32 of head + blob + padding, the blob length again, magic `BlbE`).
//! Little-endian.

use super::dbheader::le32;
use super::{BLK_SIZE, MAX_BLOB, NdbError, Slot};

/// Size of the head.
pub const HEAD_SIZE: usize = 16;
/// Size of the tail.
pub const TAIL_SIZE: usize = 12;
/// `'B' | 'l' << 8 | 'b' << 16 | 'S' << 24`.
pub const HEAD_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
/// `'B' | 'l' << 8 | 'b' << 16 | 'E' << 24`.
pub const TAIL_MAGIC: u32 = u32::from_le_bytes(*b"BlbE");

/// Adler-32 (RFC 1950) of `data`, continuing from `adler` (1 to start).
pub fn adler32(adler: u32, data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (adler & 0xffff, adler >> 16);
    for chunk in data.chunks(5552) {
        for &c in chunk {
            a += u32::from(c);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Blocks a blob of `len` bytes takes.
pub fn blocks_for(len: u32) -> u64 {
    (HEAD_SIZE as u64 + u64::from(len) + TAIL_SIZE as u64).div_ceil(BLK_SIZE)
}

/// Check the blob of slot `s` (its `blkcnt` blocks in `b`); the range of `b` holding the rpm
/// header blob.
pub fn verify(b: &[u8], s: &Slot) -> Result<std::ops::Range<usize>, NdbError> {
    let pkgidx = s.pkgidx;
    let bad = |reason| NdbError::BadBlob { pkgidx, reason };
    if b.len() < HEAD_SIZE + TAIL_SIZE {
        return Err(bad("fewer blocks than a head and a tail"));
    }
    let f = |off| le32(b, off).ok_or_else(|| bad("short"));
    if f(0)? != HEAD_MAGIC {
        return Err(bad("bad head magic"));
    }
    if f(4)? != pkgidx {
        return Err(bad("head names another package index"));
    }
    let len = f(12)?;
    if u64::from(len) > MAX_BLOB {
        return Err(NdbError::BlobTooLarge {
            pkgidx,
            len: u64::from(len),
        });
    }
    if blocks_for(len) != u64::from(s.blkcnt) || b.len() as u64 != u64::from(s.blkcnt) * BLK_SIZE {
        return Err(bad("blob length does not match the slot's block count"));
    }
    let tail = b.len() - TAIL_SIZE;
    let computed = adler32(1, &b[..tail]);
    let stored = f(tail)?;
    if stored != computed {
        return Err(NdbError::Checksum {
            pkgidx,
            stored,
            computed,
        });
    }
    if f(tail + 4)? != len {
        return Err(bad("tail length differs from the head's"));
    }
    if f(tail + 8)? != TAIL_MAGIC {
        return Err(bad("bad tail magic"));
    }
    Ok(HEAD_SIZE..HEAD_SIZE + len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_values() {
        // RFC 1950's example value for "Wikipedia".
        assert_eq!(adler32(1, b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(1, b""), 1);
        let big = vec![0xffu8; 100_000];
        let (x, y) = big.split_at(33_333);
        assert_eq!(adler32(adler32(1, x), y), adler32(1, &big));
    }
}
