//! VHDX file identifier and the two headers (at 64 KiB and 128 KiB), CRC32C-checked; the one
//! with the larger sequence number wins.

use crate::block::util::{le16, le32, le64, read_into, sub};
use crate::block::{BlockDev, BlockError};

#[derive(Debug, Clone)]
#[allow(dead_code)] // log_* unused since the module became crate-private (issue 24); on-disk fields
pub struct Header {
    pub sequence: u64,
    pub log_guid: [u8; 16],
    pub log_version: u16,
    pub version: u16,
    pub log_length: u32,
    pub log_offset: u64,
}

/// CRC32C of `b` with the 4-byte checksum field at `field` counted as zero.
pub fn crc_with_zero_field(b: &[u8], field: usize) -> u32 {
    let pre = sub(b, 0, field);
    let post = b.get(field + 4..).unwrap_or(&[]);
    let c = crc32c::crc32c(pre);
    let c = crc32c::crc32c_append(c, &[0u8; 4]);
    crc32c::crc32c_append(c, post)
}

fn parse_one(b: &[u8]) -> Option<Header> {
    if sub(b, 0, 4) != b"head" {
        return None;
    }
    if crc_with_zero_field(b, 4) != le32(b, 4) {
        return None;
    }
    let mut log_guid = [0u8; 16];
    log_guid.copy_from_slice(sub(b, 48, 16));
    Some(Header {
        sequence: le64(b, 8),
        log_guid,
        log_version: le16(b, 64),
        version: le16(b, 66),
        log_length: le32(b, 68),
        log_offset: le64(b, 72),
    })
}

/// Read the file identifier and pick the current header.
pub fn read(file: &dyn BlockDev) -> Result<Header, BlockError> {
    let name = file.describe();
    let mut id = [0u8; 8];
    read_into(file, 0, &mut id, "VHDX file identifier")?;
    if &id != b"vhdxfile" {
        return Err(BlockError::corrupt(&name, "VHDX: bad file identifier"));
    }
    let mut best: Option<Header> = None;
    for off in [64u64 << 10, 128 << 10] {
        let mut b = vec![0u8; 4096];
        read_into(file, off, &mut b, "VHDX header")?;
        if let Some(h) = parse_one(&b) {
            if best.as_ref().is_none_or(|x| h.sequence > x.sequence) {
                best = Some(h);
            }
        }
    }
    let h = best.ok_or_else(|| BlockError::Checksum {
        path: name.clone().into(),
        what: "both VHDX headers".into(),
    })?;
    if h.version != 1 {
        return Err(BlockError::unsupported(
            &name,
            format!("VHDX version {}", h.version),
        ));
    }
    Ok(h)
}
