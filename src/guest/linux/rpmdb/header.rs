//! The rpm header blob as rpmdb stores it (the `blob` column of `Packages`): the header
//! "intro" without its 8-byte magic — index entry count `il` and data size `dl` (u32 BE) —
//! then `il` 16-byte index entries (tag, type, offset, count; BE) and the `dl`-byte data
//! store. See rpm's `lib/header.c` / the RPM file format documentation.

use super::RpmdbError;

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_SUMMARY: u32 = 1004;
pub const TAG_LICENSE: u32 = 1014;
pub const TAG_URL: u32 = 1020;
pub const TAG_ARCH: u32 = 1022;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own bounds (HEADER_TAGS_MAX-like index count, HEADER_DATA_MAX data size).
const MAX_INDEX: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

/// The package facts read from one header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub version: String,
    pub release: String,
    /// `None` when the package has no Epoch tag (rpm's EPOCHNUM is then 0).
    pub epoch: Option<u32>,
    /// Empty for packages without an arch (the `gpg-pubkey` pseudo-packages).
    pub arch: String,
    pub summary: Option<String>,
    pub license: Option<String>,
    pub url: Option<String>,
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o.checked_add(4)?)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The NUL-terminated string at `off` of the data store.
fn string_at(data: &[u8], off: usize, tag: u32) -> Result<String, RpmdbError> {
    let s = data.get(off..).ok_or(RpmdbError::BadHeader {
        tag,
        reason: "offset past the data store",
    })?;
    let end = s
        .iter()
        .position(|&c| c == 0)
        .ok_or(RpmdbError::BadHeader {
            tag,
            reason: "string not NUL-terminated inside the data store",
        })?;
    Ok(String::from_utf8_lossy(&s[..end]).into_owned())
}

/// Parse a header blob.
pub fn parse(blob: &[u8]) -> Result<RpmHeader, RpmdbError> {
    let il = be32(blob, 0).ok_or(RpmdbError::ShortHeader)?;
    let dl = be32(blob, 4).ok_or(RpmdbError::ShortHeader)?;
    if il == 0 || il > MAX_INDEX || dl > MAX_DATA {
        return Err(RpmdbError::HeaderSize { il, dl });
    }
    let index_len = il as usize * 16;
    let index = blob
        .get(8..8 + index_len)
        .ok_or(RpmdbError::HeaderSize { il, dl })?;
    let data = blob
        .get(8 + index_len..8 + index_len + dl as usize)
        .ok_or(RpmdbError::HeaderSize { il, dl })?;
    let mut h = RpmHeader::default();
    let (mut name, mut version, mut release) = (None, None, None);
    for e in index.chunks_exact(16) {
        let (Some(tag), Some(ty), Some(off), Some(count)) =
            (be32(e, 0), be32(e, 4), be32(e, 8), be32(e, 12))
        else {
            continue;
        };
        let off = off as usize;
        let text = |want_count_one: bool| -> Result<String, RpmdbError> {
            match ty {
                TYPE_STRING if count == 1 || !want_count_one => string_at(data, off, tag),
                // I18N strings and string arrays: the first string is the default locale's.
                TYPE_I18NSTRING | TYPE_STRING_ARRAY if count >= 1 => string_at(data, off, tag),
                _ => Err(RpmdbError::BadHeader {
                    tag,
                    reason: "unexpected type or count for a string tag",
                }),
            }
        };
        match tag {
            TAG_NAME => name = Some(text(true)?),
            TAG_VERSION => version = Some(text(true)?),
            TAG_RELEASE => release = Some(text(true)?),
            TAG_ARCH => h.arch = text(true)?,
            TAG_SUMMARY => h.summary = Some(text(false)?),
            TAG_LICENSE => h.license = Some(text(false)?),
            TAG_URL => h.url = Some(text(false)?),
            TAG_EPOCH => {
                if ty != TYPE_INT32 || count < 1 || off % 4 != 0 {
                    return Err(RpmdbError::BadHeader {
                        tag,
                        reason: "Epoch is not an aligned INT32",
                    });
                }
                h.epoch = Some(be32(data, off).ok_or(RpmdbError::BadHeader {
                    tag,
                    reason: "offset past the data store",
                })?);
            }
            _ => {}
        }
    }
    h.name = name.ok_or(RpmdbError::MissingTag(TAG_NAME))?;
    h.version = version.ok_or(RpmdbError::MissingTag(TAG_VERSION))?;
    h.release = release.ok_or(RpmdbError::MissingTag(TAG_RELEASE))?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a header blob: entries (tag, type, offset, count) and a data store.
    fn blob(entries: &[(u32, u32, u32, u32)], data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((entries.len() as u32).to_be_bytes());
        b.extend((data.len() as u32).to_be_bytes());
        for &(t, ty, o, c) in entries {
            for v in [t, ty, o, c] {
                b.extend(v.to_be_bytes());
            }
        }
        b.extend(data);
        b
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        assert_eq!(parse(&[0, 0]), Err(RpmdbError::ShortHeader));
        // il claims more entries than the blob holds.
        let mut b = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"a\0");
        b[3] = 9;
        assert!(matches!(parse(&b), Err(RpmdbError::HeaderSize { .. })));
        // A name that is not NUL-terminated.
        let b = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"abc");
        assert!(matches!(
            parse(&b),
            Err(RpmdbError::BadHeader { tag: 1000, .. })
        ));
        // Missing Version.
        let b = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"abc\0");
        assert_eq!(parse(&b), Err(RpmdbError::MissingTag(TAG_VERSION)));
        // Misaligned epoch.
        let b = blob(&[(TAG_EPOCH, TYPE_INT32, 1, 1)], b"\0\0\0\0\0\0\0\0");
        assert!(matches!(
            parse(&b),
            Err(RpmdbError::BadHeader { tag: 1003, .. })
        ));
    }
}
