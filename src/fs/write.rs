//! The one seam every filesystem writer sits behind. `apply` opens a writer per volume through
//! [`open_writer`] and calls only [`FsWrite`]: a new filesystem is a new implementation here,
//! not a new branch in apply.
//!
//! Contract: paths are absolute paths inside the filesystem (`/etc/fstab`), `/`-separated,
//! without `.`, `..` or empty components, and no component is followed as a symlink. Opening a
//! writer checks everything it must understand (features, dirty logs, hibernation …) and
//! refuses before anything is written, naming the reason; apply opens every writer it needs
//! before its first write, so a refusal never leaves a half-written output.

use super::FsKind;
use super::btrfs::BtrfsOpenOptions;
use super::btrfs::write::{BtrfsWriteError, BtrfsWriter};
use super::ext4w::{Ext4WriteError, Ext4Writer};
use super::fatw::{FatWriteError, FatWriter};
use super::ntfsw::{NtfsWriteError, NtfsWriter};
use super::probe::OpenOptions;
use super::xfs::write::{XfsWriteError, XfsWriter};
use crate::block::WritableDev;
use std::sync::Arc;

/// Errors of a writer behind the seam: the writer's own typed error, or a filesystem that has
/// no writer yet.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing to {0} is not supported yet")]
    /// The filesystem kind has no writer (its name).
    NoWriter(&'static str),
    #[error(transparent)]
    /// The ext4 writer's error.
    Ext4(#[from] Ext4WriteError),
    #[error(transparent)]
    /// The FAT writer's error.
    Fat(#[from] FatWriteError),
    #[error(transparent)]
    /// The XFS writer's error.
    Xfs(#[from] XfsWriteError),
    #[error(transparent)]
    /// The NTFS writer's error.
    Ntfs(#[from] NtfsWriteError),
    #[error(transparent)]
    /// The Btrfs writer's error.
    Btrfs(#[from] BtrfsWriteError),
}

/// What every writer is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// The time stamped on what the writer creates or changes (seconds since the epoch);
    /// `None` is now. Fixed by `SOURCE_DATE_EPOCH` for reproducible output.
    pub clock: Option<i64>,
}

/// A filesystem opened for writing.
pub trait FsWrite {
    /// Whether anything exists at `path`.
    fn exists(&self, path: &str) -> Result<bool, WriteError>;
    /// Replace the content of the regular file at `path` with `data`. With `backup`, a name in
    /// the same folder, the original is first kept there (same content and, where the
    /// filesystem has them, mode, owner and times); an existing backup is an error.
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError>;
    /// Whether [`FsWrite::replace`] of `path` would be refused (a file layout or attribute
    /// this writer does not handle), found without writing anything.
    fn preflight_replace(&self, path: &str) -> Result<(), WriteError> {
        let _ = path;
        Ok(())
    }
    /// Create the regular file `path` (mode 0644, owner root) holding `data`, creating missing
    /// parent folders (0755); an existing `path` is an error.
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError>;
    /// Rename `from` to `to` inside this filesystem; an existing `to` is an error.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), WriteError>;
    /// Write out everything still held in memory (metadata, counters, superblocks).
    fn flush(&mut self) -> Result<(), WriteError>;
}

/// Whether [`open_writer`] has a writer for `kind` (it may still refuse the filesystem).
pub fn has_writer(kind: FsKind) -> bool {
    matches!(
        kind,
        FsKind::Ext2
            | FsKind::Ext3
            | FsKind::Ext4
            | FsKind::Vfat
            | FsKind::Xfs
            | FsKind::Ntfs
            | FsKind::Btrfs
    )
}

/// Open the writer for a filesystem of `kind` on `dev`.
pub fn open_writer(
    kind: FsKind,
    dev: Arc<dyn WritableDev>,
    opts: &WriteOptions,
) -> Result<Box<dyn FsWrite>, WriteError> {
    open_writer_at(kind, dev, opts, &OpenOptions::default())
}

/// [`open_writer`] on the part of the filesystem the guest mounts: `at` names the Btrfs
/// subvolume (fstab `subvol=` / `subvolid=`, or the subvolume the root was found in); other
/// filesystems ignore it.
pub fn open_writer_at(
    kind: FsKind,
    dev: Arc<dyn WritableDev>,
    opts: &WriteOptions,
    at: &OpenOptions,
) -> Result<Box<dyn FsWrite>, WriteError> {
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => {
            let mut w = Ext4Writer::open(dev)?;
            w.set_clock(opts.clock);
            Ok(Box::new(w))
        }
        FsKind::Vfat => Ok(Box::new(FatWriter::open(dev)?)),
        FsKind::Xfs => {
            let mut w = XfsWriter::open(dev)?;
            w.set_clock(opts.clock);
            Ok(Box::new(w))
        }
        FsKind::Ntfs => {
            let mut w = NtfsWriter::open(dev)?;
            w.set_clock(opts.clock);
            Ok(Box::new(w))
        }
        FsKind::Btrfs => {
            let mut w = BtrfsWriter::open_with(dev, BtrfsOpenOptions::from(at))?;
            w.set_clock(opts.clock);
            Ok(Box::new(w))
        }
        other => Err(WriteError::NoWriter(other.name())),
    }
}

/// `(folder, name)` of a path (`/a/b` → `("/a", "b")`, `/b` → `("/", "b")`).
pub fn split_path(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((d, n)) => (d, n),
        None => ("/", path),
    }
}

impl FsWrite for Ext4Writer {
    fn exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(Ext4Writer::exists(self, path.as_bytes())?)
    }
    fn preflight_replace(&self, path: &str) -> Result<(), WriteError> {
        Ok(self.can_replace(path.as_bytes())?)
    }
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError> {
        match backup {
            Some(b) => self.backup_and_replace(path.as_bytes(), b.as_bytes(), data)?,
            None => self.replace_file(path.as_bytes(), data)?,
        }
        Ok(())
    }
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        let (dir, name) = split_path(path);
        let mut cur = String::new();
        for c in super::components(dir.as_bytes()) {
            let parent = if cur.is_empty() { "/" } else { cur.as_str() }.to_string();
            cur.push('/');
            cur.push_str(&String::from_utf8_lossy(c));
            if !Ext4Writer::exists(self, cur.as_bytes())? {
                self.create_dir(parent.as_bytes(), c, 0o755, 0, 0)?;
            }
        }
        self.create_file(dir.as_bytes(), name.as_bytes(), data, 0o644, 0, 0)?;
        Ok(())
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), WriteError> {
        let (dir, name) = split_path(to);
        Ext4Writer::rename(self, from.as_bytes(), dir.as_bytes(), name.as_bytes())?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), WriteError> {
        Ok(Ext4Writer::flush(self)?)
    }
}

impl FsWrite for FatWriter {
    fn exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(FatWriter::exists(self, path)?)
    }
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError> {
        if let Some(b) = backup {
            self.backup_file(path, b)?;
        }
        Ok(self.write_file(path, data)?)
    }
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        if FatWriter::exists(self, path)? {
            return Err(FatWriteError::AlreadyExists(path.to_string()).into());
        }
        self.create_dir_all(split_path(path).0)?;
        Ok(self.write_file(path, data)?)
    }
    fn rename(&mut self, from: &str, _to: &str) -> Result<(), WriteError> {
        Err(FatWriteError::Unsupported(format!("{from}: rename")).into())
    }
    /// Every FAT operation mounts, writes and unmounts (fatw): nothing is left in memory.
    fn flush(&mut self) -> Result<(), WriteError> {
        Ok(())
    }
}
