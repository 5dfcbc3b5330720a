//! The record format (sqlite fileformat §2.1): a header of serial types, then the values.

use super::{SqliteError, varint};

/// One column value, borrowing text and blobs from the payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL (serial type 0).
    Null,
    /// An integer (serial types 1–6, 8, 9).
    Int(i64),
    /// An IEEE 754 double (serial type 7).
    Float(f64),
    /// Text, as stored (UTF-8 in the databases read).
    Text(&'a [u8]),
    /// A blob (rpm's header blobs).
    Blob(&'a [u8]),
}

/// Most columns a record may declare (SQLite's own SQLITE_MAX_COLUMN default is 2000).
const MAX_COLUMNS: usize = 2000;

fn int_be(b: &[u8]) -> i64 {
    let mut v: i64 = if b.first().is_some_and(|x| x & 0x80 != 0) {
        -1
    } else {
        0
    };
    for &x in b {
        v = (v << 8) | i64::from(x);
    }
    v
}

/// Decode every column of a record.
pub fn decode(payload: &[u8]) -> Result<Vec<Value<'_>>, SqliteError> {
    let (hsize, mut pos) = varint::read(payload, 0)?;
    let hsize = usize::try_from(hsize)
        .ok()
        .filter(|&h| h >= pos && h <= payload.len())
        .ok_or(SqliteError::BadRecord(
            "record header size past the payload",
        ))?;
    let mut body = hsize;
    let mut out = Vec::new();
    while pos < hsize {
        if out.len() >= MAX_COLUMNS {
            return Err(SqliteError::BadRecord("more than 2000 columns"));
        }
        let (st, n) = varint::read(payload, pos)?;
        pos += n;
        let len: usize = match st {
            0 | 8 | 9 => 0,
            1 => 1,
            2 => 2,
            3 => 3,
            4 => 4,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(SqliteError::BadRecord("reserved serial type 10/11")),
            n => usize::try_from((n - 12) / 2)
                .map_err(|_| SqliteError::BadRecord("value length overflows"))?,
        };
        let v = body
            .checked_add(len)
            .and_then(|end| payload.get(body..end))
            .ok_or(SqliteError::BadRecord("value runs past the payload"))?;
        body += len;
        out.push(match st {
            0 => Value::Null,
            1..=6 => Value::Int(int_be(v)),
            7 => Value::Float(f64::from_bits(int_be(v) as u64)),
            8 => Value::Int(0),
            9 => Value::Int(1),
            n if n % 2 == 0 => Value::Blob(v),
            _ => Value::Text(v),
        });
    }
    if pos > hsize {
        return Err(SqliteError::BadRecord(
            "serial type runs past the record header",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        // header: size 5, NULL, int8, text len 2, blob len 1; body: -2, "hi", 0xAB
        let rec = [5u8, 0, 1, 17, 14, 0xfe, b'h', b'i', 0xab];
        let v = decode(&rec).unwrap();
        assert_eq!(
            v,
            vec![
                Value::Null,
                Value::Int(-2),
                Value::Text(b"hi"),
                Value::Blob(&[0xab])
            ]
        );
        assert!(decode(&rec[..8]).is_err(), "blob cut short");
        assert!(decode(&[9, 0]).is_err(), "header past payload");
    }
}
