//! One cpio entry header: its magic, the sizes of the name and data that follow, and the
//! padding the format uses.

/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// What a header says about the entry that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes of the header itself (110 for newc/crc, 76 for odc).
    pub len: usize,
    /// Bytes of the name, its terminating NUL included.
    pub namesize: usize,
    /// Bytes of file data.
    pub filesize: usize,
    /// Name and data are each padded to a multiple of this (4 for newc/crc, 1 for odc).
    pub align: usize,
}

/// Why a header could not be read; `at` is the byte offset of the bad field in the header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct CpioHeaderError {
    /// Offset of the field in the header.
    pub at: usize,
    /// The on-disk reason.
    pub reason: String,
}

impl Header {
    /// The header length a 6-byte magic announces, or `None` when it is no cpio magic.
    pub fn len_for_magic(magic: &[u8]) -> Option<usize> {
        match magic {
            b"070701" | b"070702" => Some(110),
            b"070707" => Some(76),
            _ => None,
        }
    }

    /// Read the header at the start of `b` (which may hold more than the header).
    pub fn parse(b: &[u8]) -> Result<Header, CpioHeaderError> {
        let magic = b.get(..6).ok_or_else(|| CpioHeaderError {
            at: 0,
            reason: "truncated header".into(),
        })?;
        match magic {
            b"070701" | b"070702" => Ok(Header {
                len: 110,
                filesize: field(b, 54, 8, 16)?,
                namesize: field(b, 94, 8, 16)?,
                align: 4,
            }),
            b"070707" => Ok(Header {
                len: 76,
                namesize: field(b, 59, 6, 8)?,
                filesize: field(b, 65, 11, 8)?,
                align: 1,
            }),
            _ => Err(CpioHeaderError {
                at: 0,
                reason: format!("bad magic {:?}", String::from_utf8_lossy(magic)),
            }),
        }
    }
}

/// An ASCII number field (hex for newc/crc, octal for odc).
fn field(b: &[u8], at: usize, len: usize, radix: u32) -> Result<usize, CpioHeaderError> {
    let s = crate::bytes::slice(b, at, len)
        .and_then(|f| std::str::from_utf8(f).ok())
        .ok_or_else(|| CpioHeaderError {
            at,
            reason: "truncated header".into(),
        })?;
    usize::from_str_radix(s, radix).map_err(|_| CpioHeaderError {
        at,
        reason: format!(
            "bad {} field {s:?}",
            if radix == 16 { "hex" } else { "octal" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::cpio::CpioWriter;

    #[test]
    fn the_writer_output_reads_back() {
        let mut w = CpioWriter::new(0);
        w.file("lib/x.ko", 0o644, b"abc");
        let a = w.finish();
        // The first entry is the parent directory "lib".
        let h = Header::parse(&a).unwrap();
        assert_eq!((h.len, h.namesize, h.filesize, h.align), (110, 4, 0, 4));
        assert_eq!(&a[110..113], b"lib");
        assert_eq!(
            Header::parse(b"070707000").unwrap_err().reason,
            "truncated header"
        );
        assert!(
            Header::parse(b"123456")
                .unwrap_err()
                .reason
                .contains("bad magic")
        );
        let mut bad = a.clone();
        bad[54] = b'z';
        assert_eq!(Header::parse(&bad).unwrap_err().at, 54);
    }
}
