//! [`GuestFiles`] over a [`GuestTree`]: the Linux config parsers read the real guest through it.

use super::linux::files::{GuestFiles, MAX_CONFIG_FILE, MAX_DIR_ENTRIES};
use crate::fs::FileType;
use crate::fs::tree::GuestTree;

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

    fn exists(&self, path: &str) -> bool {
        self.0.exists(path.as_bytes())
    }
}
