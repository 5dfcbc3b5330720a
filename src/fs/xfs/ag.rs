//! Allocation group headers: the AGF (free space, sector 1 of each AG) and the AGI (inodes,
//! sector 2). The reader does not need their btrees, but it checks their magic, sequence number
//! and, on v5, their CRC and UUID, so a damaged AG is reported instead of silently trusted.

use super::buf::{Buf, verify_crc};
use super::corrupt;
use super::superblock::Superblock;
use crate::fs::FsError;

const XFS_AGF_MAGIC: u32 = 0x5841_4746; // "XAGF"
const XFS_AGI_MAGIC: u32 = 0x5841_4749; // "XAGI"
const AGF_CRC_OFF: usize = 216;
const AGF_UUID_OFF: usize = 64;
const AGI_CRC_OFF: usize = 312;
const AGI_UUID_OFF: usize = 296;

/// The AGF fields the reader reports.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // unused since the module became crate-private (issue 24); on-disk fields
pub struct Agf {
    pub length: u32,
    pub freeblks: u32,
}

/// Validate one AG header sector `b` (`sectsize` bytes) of AG `agno`.
fn check_header(
    sb: &Superblock,
    b: &[u8],
    agno: u32,
    magic: u32,
    crc_off: usize,
    uuid_off: usize,
    what: &str,
) -> Result<(), FsError> {
    let s = Buf::new(b, what);
    if s.u32(0)? != magic {
        return Err(corrupt(what, "bad magic number"));
    }
    if s.u32(4)? != 1 {
        return Err(corrupt(what, format!("version {}", s.u32(4)?)));
    }
    if s.u32(8)? != agno {
        return Err(corrupt(what, format!("sequence number {}", s.u32(8)?)));
    }
    if sb.is_v5() {
        verify_crc(b, crc_off, what)?;
        if s.uuid(uuid_off)? != sb.meta_uuid {
            return Err(corrupt(what, "UUID does not match the superblock"));
        }
    }
    let length = s.u32(12)?;
    let expect = ag_length(sb, agno);
    if u64::from(length) != expect {
        return Err(corrupt(
            what,
            format!("length {length} blocks, expected {expect}"),
        ));
    }
    Ok(())
}

/// Number of blocks in AG `agno` (the last AG may be short).
pub fn ag_length(sb: &Superblock, agno: u32) -> u64 {
    let start = u64::from(agno) * u64::from(sb.agblocks);
    sb.dblocks.saturating_sub(start).min(u64::from(sb.agblocks))
}

/// Parse and check the AGF sector of AG `agno`.
pub fn parse_agf(sb: &Superblock, b: &[u8], agno: u32) -> Result<Agf, FsError> {
    let what = format!("AGF of AG {agno}");
    check_header(sb, b, agno, XFS_AGF_MAGIC, AGF_CRC_OFF, AGF_UUID_OFF, &what)?;
    let s = Buf::new(b, &what);
    Ok(Agf {
        length: s.u32(12)?,
        freeblks: s.u32(52)?,
    })
}

/// Check the AGI sector of AG `agno`.
pub fn check_agi(sb: &Superblock, b: &[u8], agno: u32) -> Result<(), FsError> {
    let what = format!("AGI of AG {agno}");
    check_header(sb, b, agno, XFS_AGI_MAGIC, AGI_CRC_OFF, AGI_UUID_OFF, &what)
}
