//! [`GuestFiles`] over a [`GuestTree`]: the Linux config parsers read the real guest through it.

use std::sync::Arc;

use super::linux::files::{GuestFiles, MAX_CONFIG_FILE, MAX_DIR_ENTRIES};
use crate::formats::sqlite::{PageSource, SqliteError};
use crate::fs::tree::GuestTree;
use crate::fs::{FileType, Filesystem};

/// The guest tree seen as [`GuestFiles`].
pub struct TreeFiles<'a>(pub &'a GuestTree);

impl GuestFiles for TreeFiles<'_> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.0.read_file(path.as_bytes(), MAX_CONFIG_FILE).ok()
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .read_dir(dir.as_bytes())
            .map(|es| {
                es.into_iter()
                    .take(MAX_DIR_ENTRIES)
                    .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn is_symlink(&self, path: &str) -> Option<String> {
        match self.0.lstat(path.as_bytes()) {
            Ok(m) if m.file_type == FileType::Symlink => self
                .0
                .readlink(path.as_bytes())
                .ok()
                .map(|t| String::from_utf8_lossy(&t).into_owned()),
            _ => None,
        }
    }

    fn read_large(&self, path: &str) -> Option<Vec<u8>> {
        self.0.read_file(path.as_bytes(), 64 << 20).ok()
    }

    fn read_up_to(&self, path: &str, max: u64) -> Option<Vec<u8>> {
        self.0.read_file(path.as_bytes(), max).ok()
    }

    fn exists(&self, path: &str) -> bool {
        self.0.exists(path.as_bytes())
    }
}

/// A regular guest file read by range (databases are read page by page, not whole).
pub struct TreeFileSource {
    fs: Arc<dyn Filesystem>,
    path: Vec<u8>,
    len: u64,
}

impl TreeFiles<'_> {
    /// Random access to the regular file at `path` (symlinks followed), if it exists.
    pub fn open_ranged(&self, path: &str) -> Option<TreeFileSource> {
        let (fs, inner) = self.0.resolve(path.as_bytes()).ok()?;
        let m = fs.stat(&inner).ok()?;
        (m.file_type == FileType::Regular).then_some(TreeFileSource {
            fs,
            path: inner,
            len: m.size,
        })
    }
}

impl PageSource for TreeFileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), SqliteError> {
        let mut done = 0;
        while done < buf.len() {
            let rest = buf.get_mut(done..).unwrap_or_default();
            let n = self
                .fs
                .read_at(&self.path, offset + done as u64, rest)
                .map_err(|e| SqliteError::Io(e.to_string()))?;
            if n == 0 {
                return Err(SqliteError::Truncated("page past the end of the file"));
            }
            done += n;
        }
        Ok(())
    }
}
