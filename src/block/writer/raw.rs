//! Sparse raw output: a file of the virtual size where only non-zero blocks are written.

use crate::block::{BlockDev, BlockError, WritableDev, check_range};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A raw image file being written: zero blocks are left as holes.
pub struct SparseRawWriter {
    file: File,
    path: PathBuf,
    size: u64,
}

impl SparseRawWriter {
    /// Create (truncate) `path` as a hole of `size` bytes.
    pub fn create(path: &Path, size: u64) -> Result<Self, BlockError> {
        let io = |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        // Character devices such as /dev/null cannot be sized; that is fine.
        let is_file = file.metadata().map_err(io)?.is_file();
        if is_file {
            file.set_len(size).map_err(io)?;
        }
        Ok(SparseRawWriter {
            file,
            path: path.to_path_buf(),
            size,
        })
    }
}

impl BlockDev for SparseRawWriter {
    fn len(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(&self.describe(), self.size, offset, buf.len())?;
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
}

impl WritableDev for SparseRawWriter {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_range(&self.describe(), self.size, offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })
    }
    fn flush(&self) -> Result<(), BlockError> {
        if self.file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            self.file.sync_data().map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
