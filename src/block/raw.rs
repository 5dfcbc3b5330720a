//! Raw images: the file is the disk.

use super::alloc::{self, Extent, ExtentKind};
use super::{BlockDev, BlockError, WritableDev, check_range};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A raw disk image file (or any plain file seen as a disk).
pub struct RawFile {
    file: File,
    path: PathBuf,
    len: u64,
    writable: bool,
}

impl RawFile {
    /// Open read-only. The source image is never written unless opened with
    /// [`RawFile::open_rw`].
    pub fn open(path: &Path) -> Result<Self, BlockError> {
        Self::open_mode(path, false)
    }

    /// Open for reading and writing (in-place apply, output files).
    pub fn open_rw(path: &Path) -> Result<Self, BlockError> {
        Self::open_mode(path, true)
    }

    fn open_mode(path: &Path, writable: bool) -> Result<Self, BlockError> {
        let io = |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(RawFile {
            file,
            path: path.to_path_buf(),
            len,
            writable,
        })
    }

    /// The path this device was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BlockDev for RawFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        // Hot path: only build the description when the range is bad.
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            check_range(&self.describe(), self.len, offset, buf.len())?;
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// File holes (SEEK_DATA / SEEK_HOLE) are [`ExtentKind::Unallocated`]; a filesystem that
    /// cannot tell makes the whole range data.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.len, offset, len, &|| self.describe())?;
        let end = offset + len;
        let mut v = Vec::new();
        let mut at = offset;
        while at < end {
            let data = match seek(&self.file, rustix::fs::SeekFrom::Data(at)) {
                // Never backwards, even if the filesystem answers oddly.
                Seek::At(d) => d.clamp(at, end),
                // No data at or after `at`: the rest is a hole.
                Seek::Beyond => end,
                Seek::Unsupported => return Ok(alloc::all_data(offset, len)),
            };
            alloc::push(&mut v, at, data.saturating_sub(at), ExtentKind::Unallocated);
            if data >= end {
                break;
            }
            let hole = match seek(&self.file, rustix::fs::SeekFrom::Hole(data)) {
                Seek::At(h) => h.min(end),
                Seek::Beyond => end,
                Seek::Unsupported => return Ok(alloc::all_data(offset, len)),
            };
            // A hole at the very offset of the data would loop: count one byte as data.
            let hole = hole.max(data + 1).min(end);
            alloc::push(&mut v, data, hole - data, ExtentKind::Data);
            at = hole;
        }
        Ok(v)
    }
}

enum Seek {
    At(u64),
    /// ENXIO: the offset is at or past the last data (for SEEK_DATA) or the end of the file.
    Beyond,
    Unsupported,
}

fn seek(file: &File, whence: rustix::fs::SeekFrom) -> Seek {
    match rustix::fs::seek(file, whence) {
        Ok(o) => Seek::At(o),
        Err(rustix::io::Errno::NXIO) => Seek::Beyond,
        Err(_) => Seek::Unsupported,
    }
}

impl WritableDev for RawFile {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        if !self.writable {
            return Err(BlockError::ReadOnly {
                dev: self.describe(),
            });
        }
        check_range(&self.describe(), self.len, offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn flush(&self) -> Result<(), BlockError> {
        self.file.sync_data().map_err(|source| BlockError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// An in-memory disk, for tests and for small images built on the fly.
pub struct MemDisk {
    data: std::sync::RwLock<Vec<u8>>,
    name: String,
}

impl MemDisk {
    /// A disk named `name` holding `data`.
    pub fn new(name: &str, data: Vec<u8>) -> Self {
        MemDisk {
            data: std::sync::RwLock::new(data),
            name: name.to_string(),
        }
    }

    /// A copy of the current contents.
    pub fn contents(&self) -> Vec<u8> {
        self.data.read().map(|d| d.clone()).unwrap_or_default()
    }
}

impl BlockDev for MemDisk {
    fn len(&self) -> u64 {
        self.data.read().map(|d| d.len() as u64).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let data = self.data.read().map_err(|_| BlockError::Corrupt {
            path: self.name.clone().into(),
            reason: "lock poisoned".into(),
        })?;
        check_range(&self.name, data.len() as u64, offset, buf.len())?;
        let o = offset as usize;
        buf.copy_from_slice(&data[o..o + buf.len()]);
        Ok(())
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl WritableDev for MemDisk {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        let mut data = self.data.write().map_err(|_| BlockError::Corrupt {
            path: self.name.clone().into(),
            reason: "lock poisoned".into(),
        })?;
        check_range(&self.name, data.len() as u64, offset, buf.len())?;
        let o = offset as usize;
        data[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// A window `[start, start+len)` of another device: a partition or an extent.
pub struct SliceDev<D: BlockDev> {
    inner: D,
    start: u64,
    len: u64,
    name: String,
}

impl<D: BlockDev> SliceDev<D> {
    /// Fails when the window does not lie inside `inner`.
    pub fn new(inner: D, start: u64, len: u64, name: String) -> Result<Self, BlockError> {
        check_range(&inner.describe(), inner.len(), start, 0)?;
        match start.checked_add(len) {
            Some(end) if end <= inner.len() => Ok(SliceDev {
                inner,
                start,
                len,
                name,
            }),
            _ => Err(BlockError::OutOfRange {
                dev: inner.describe(),
                offset: start,
                len,
                size: inner.len(),
            }),
        }
    }

    /// The slice's first byte on the inner device.
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl<D: BlockDev> BlockDev for SliceDev<D> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(&self.name, self.len, offset, buf.len())?;
        self.inner.read_at(self.start + offset, buf)
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, BlockError> {
        alloc::check(self.len, offset, len, &|| self.name.clone())?;
        let inner = self.inner.extents(self.start + offset, len)?;
        let mut v = Vec::with_capacity(inner.len());
        alloc::push_shifted(&mut v, &inner, self.start + offset, offset);
        Ok(v)
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        let inside: Vec<(u64, u64)> = ranges
            .iter()
            .filter(|&&(o, l)| o.checked_add(l).is_some_and(|e| e <= self.len))
            .map(|&(o, l)| (self.start + o, l))
            .collect();
        self.inner.prefetch(&inside)
    }
}

impl<D: WritableDev> WritableDev for SliceDev<D> {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(&self.name, self.len, offset, buf.len())?;
        self.inner.write_at(self.start + offset, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_inside_window_and_refuses_outside() {
        let disk = MemDisk::new("mem", (0..=255u8).cycle().take(4096).collect());
        let s = SliceDev::new(&disk, 512, 1024, "mem:p1".into()).unwrap();
        let mut b = [0u8; 4];
        s.read_at(0, &mut b).unwrap();
        assert_eq!(b, [0, 1, 2, 3]);
        assert!(matches!(
            s.read_at(1022, &mut b),
            Err(BlockError::OutOfRange { .. })
        ));
        assert!(SliceDev::new(&disk, 4000, 1024, "x".into()).is_err());
        assert!(SliceDev::new(&disk, u64::MAX, 1, "x".into()).is_err());
    }

    #[test]
    fn raw_file_is_read_only_unless_asked() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &[7u8; 1024]).unwrap();
        let dev = RawFile::open(f.path()).unwrap();
        assert_eq!(dev.len(), 1024);
        assert!(matches!(
            dev.write_at(0, &[1]),
            Err(BlockError::ReadOnly { .. })
        ));
        let rw = RawFile::open_rw(f.path()).unwrap();
        rw.write_at(10, &[1, 2]).unwrap();
        let mut b = [0u8; 3];
        dev.read_at(9, &mut b).unwrap();
        assert_eq!(b, [7, 1, 2]);
    }
}
