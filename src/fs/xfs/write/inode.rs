//! Inode cores as the writer edits them (v3, 176-byte core): size, block and extent counts,
//! fork format and literal area, timestamps (big-time or classic), change count and CRC, and
//! the initial core of a new inode taken from a free slot.

use super::Geo;
use super::be::{get16, get32, get64, put, put16, put32, put64, set_crc};
use super::error::{XfsWriteError, corrupt};

pub const CORE: usize = 176;
const CRC_OFF: usize = 100;
const DIFLAG2_BIGTIME: u64 = 1 << 3;
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;
pub const FMT_LOCAL: u8 = 1;
pub const FMT_EXTENTS: u8 = 2;
/// B+tree-form fork.
pub const FMT_BTREE: u8 = 3;

/// The raw bytes of one inode and its number.
#[derive(Debug, Clone)]
pub struct RawInode {
    pub ino: u64,
    pub raw: Vec<u8>,
}

impl RawInode {
    fn what(&self) -> String {
        format!("inode {}", self.ino)
    }

    /// End of the data fork's literal area (the attribute fork starts there, if any).
    pub fn lit_end(&self) -> Result<usize, XfsWriteError> {
        let forkoff = usize::from(self.raw.get(82).copied().unwrap_or(0)) * 8;
        let end = if forkoff == 0 {
            self.raw.len()
        } else {
            CORE + forkoff
        };
        if end > self.raw.len() || end <= CORE {
            return Err(corrupt(
                self.what(),
                format!("attribute fork offset {forkoff}"),
            ));
        }
        Ok(end)
    }

    pub fn fork(&self) -> Result<&[u8], XfsWriteError> {
        let end = self.lit_end()?;
        self.raw
            .get(CORE..end)
            .ok_or_else(|| corrupt(self.what(), "literal area"))
    }

    /// Replace the data fork's literal area with `data` (zero-filled after it).
    pub fn set_fork(&mut self, data: &[u8]) -> Result<(), XfsWriteError> {
        let end = self.lit_end()?;
        let what = self.what();
        let area = self
            .raw
            .get_mut(CORE..end)
            .ok_or_else(|| corrupt(&what, "literal area"))?;
        if data.len() > area.len() {
            return Err(corrupt(&what, "data fork does not fit the inode"));
        }
        area.fill(0);
        put(area, 0, data, &what)
    }

    pub fn format(&self) -> u8 {
        self.raw.get(5).copied().unwrap_or(0)
    }

    pub fn set_format(&mut self, f: u8) -> Result<(), XfsWriteError> {
        let w = self.what();
        put(&mut self.raw, 5, &[f], &w)
    }

    pub fn size(&self) -> Result<u64, XfsWriteError> {
        get64(&self.raw, 56, &self.what())
    }

    pub fn nblocks(&self) -> Result<u64, XfsWriteError> {
        get64(&self.raw, 64, &self.what())
    }

    pub fn nlink(&self) -> Result<u32, XfsWriteError> {
        get32(&self.raw, 16, &self.what())
    }

    pub fn mode(&self) -> Result<u16, XfsWriteError> {
        get16(&self.raw, 2, &self.what())
    }

    pub fn set_size(&mut self, v: u64) -> Result<(), XfsWriteError> {
        let w = self.what();
        put64(&mut self.raw, 56, v, &w)
    }

    pub fn set_nblocks(&mut self, v: u64) -> Result<(), XfsWriteError> {
        let w = self.what();
        put64(&mut self.raw, 64, v, &w)
    }

    pub fn set_nextents(&mut self, v: u32) -> Result<(), XfsWriteError> {
        let w = self.what();
        put32(&mut self.raw, 76, v, &w)
    }

    pub fn set_nlink(&mut self, v: u32) -> Result<(), XfsWriteError> {
        let w = self.what();
        put32(&mut self.raw, 16, v, &w)
    }

    fn bigtime(&self) -> bool {
        get64(&self.raw, 120, "").unwrap_or(0) & DIFLAG2_BIGTIME != 0
    }

    /// Set the timestamp at `off` (32 atime, 40 mtime, 48 ctime, 144 crtime).
    pub fn set_time(&mut self, off: usize, secs: i64) -> Result<(), XfsWriteError> {
        let w = self.what();
        if self.bigtime() {
            let t = secs.saturating_add(BIGTIME_EPOCH_OFFSET).max(0) as u64;
            put64(&mut self.raw, off, t.saturating_mul(1_000_000_000), &w)
        } else {
            let s = secs.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            put32(&mut self.raw, off, s as u32, &w)?;
            put32(&mut self.raw, off + 4, 0, &w)
        }
    }

    /// Content changed: mtime and ctime to `now`, change count + 1.
    pub fn touch(&mut self, now: i64) -> Result<(), XfsWriteError> {
        self.set_time(40, now)?;
        self.set_time(48, now)?;
        let w = self.what();
        let c = get64(&self.raw, 104, &w)?;
        put64(&mut self.raw, 104, c.wrapping_add(1), &w)
    }

    /// Stamp the CRC.
    pub fn seal(&mut self) -> Result<(), XfsWriteError> {
        let w = self.what();
        set_crc(&mut self.raw, CRC_OFF, &w)
    }

    /// A fresh inode core in the free slot `old` (its generation number is kept and bumped).
    pub fn new_in_slot(
        geo: &Geo,
        ino: u64,
        old: &[u8],
        mode: u16,
        format: u8,
        nlink: u32,
        now: i64,
    ) -> Result<Self, XfsWriteError> {
        let what = format!("inode {ino}");
        if get16(old, 0, &what)? == 0x494e && get16(old, 2, &what)? != 0 {
            return Err(corrupt(&what, "marked free in the inobt but in use"));
        }
        let gen_old = if get16(old, 0, &what)? == 0x494e {
            get32(old, 92, &what)?
        } else {
            0
        };
        let mut raw = vec![0u8; geo.inodesize as usize];
        put16(&mut raw, 0, 0x494e, &what)?;
        put16(&mut raw, 2, mode, &what)?;
        put(&mut raw, 4, &[3, format], &what)?;
        put32(&mut raw, 16, nlink, &what)?;
        put(&mut raw, 83, &[FMT_EXTENTS], &what)?; // di_aformat: no attribute fork
        put32(&mut raw, 92, gen_old.wrapping_add(1), &what)?;
        put32(&mut raw, 96, 0xffff_ffff, &what)?; // di_next_unlinked: NULLAGINO
        put64(&mut raw, 104, 1, &what)?;
        if geo.bigtime {
            put64(&mut raw, 120, DIFLAG2_BIGTIME, &what)?;
        }
        put64(&mut raw, 152, ino, &what)?;
        put(&mut raw, 160, &geo.meta_uuid, &what)?;
        let mut i = RawInode { ino, raw };
        for off in [32, 40, 48, 144] {
            i.set_time(off, now)?;
        }
        Ok(i)
    }
}

/// Initialise free inode `ino` of a new chunk in `raw` as `xfs_ialloc_inode_init` does: magic,
/// version 3, generation, no next unlinked inode, inode number, UUID and CRC; all else zero.
pub fn init_free(
    geo: &Geo,
    raw: &mut [u8],
    ino: u64,
    generation: u32,
) -> Result<(), XfsWriteError> {
    let what = format!("inode {ino}");
    raw.fill(0);
    put16(raw, 0, 0x494e, &what)?;
    put(raw, 4, &[3], &what)?;
    put32(raw, 92, generation, &what)?;
    put32(raw, 96, 0xffff_ffff, &what)?;
    put64(raw, 152, ino, &what)?;
    put(raw, 160, &geo.meta_uuid, &what)?;
    set_crc(raw, CRC_OFF, &what)
}
