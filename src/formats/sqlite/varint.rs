//! SQLite variable-length integers: 1–9 bytes, big-endian groups of 7 bits with the high bit as
//! "more follows"; the ninth byte contributes all 8 bits (sqlite fileformat §1.6 "varint").

use super::SqliteError;

/// Decode the varint at `b[pos..]`: its value and its length in bytes.
pub fn read(b: &[u8], pos: usize) -> Result<(u64, usize), SqliteError> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b
            .get(pos.saturating_add(i))
            .ok_or(SqliteError::Truncated("varint runs past its buffer"))?;
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(SqliteError::Truncated("varint runs past its buffer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_and_nine_bytes() {
        assert_eq!(read(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(read(&[0x81, 0x00], 0).unwrap(), (128, 2));
        assert_eq!(read(&[0xff; 9], 0).unwrap(), (u64::MAX, 9));
        assert!(read(&[0x81], 0).is_err());
        assert!(read(&[], 3).is_err());
    }
}
