//! Filesystems: one module per on-disk filesystem behind one [`Filesystem`] trait, a probe that
//! names a filesystem by its superblock, and the guest-rooted file tree that resolves guest
//! paths (symlinks included) inside the guest only.
//!
//! Contract of the trait: every `path` argument is an absolute path inside *this* filesystem
//! (`b"/"`, `b"/etc/fstab"`), already normalised by the caller: no `.` or `..` components, no
//! empty components, and every component but the last is a real directory (not a symlink).
//! Symlinks are never followed by an implementation; the guest tree does that, so that a link
//! can never leave the guest root.

// Issue 24: documented after the merge of the branches that edit this module.
#[allow(missing_docs)]
pub mod btrfs;
mod error;
pub mod ext4w;
pub mod fatw;
pub mod ntfsw;
pub mod write;
pub mod xfs;

pub use error::FsError;

/// Which filesystem a volume holds: named by the fs layer's probe, defined in the volume layer
/// (its [`crate::volume::Content`] carries it) so the kind travels typed from volume to apply.
pub use crate::volume::FsKind;

/// Whether a filesystem was cleanly unmounted (GEN-5).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DirtyState {
    /// Cleanly unmounted.
    Clean,
    /// A journal/log needs replay. `replayed` says whether the reader replayed it in memory
    /// (reads then see the recovered state) or reads possibly stale data.
    NeedsRecovery {
        /// The reader replayed the journal in memory.
        replayed: bool,
        /// What the reader found (the journal's state).
        detail: String,
    },
    /// NTFS marked dirty, or hibernated / fast-startup.
    Dirty {
        /// What is dirty (the flag, or the hibernation file's state).
        detail: String,
    },
}

/// Facts about a filesystem as a whole.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FsInfo {
    /// The filesystem type.
    pub kind: FsKind,
    /// The volume label.
    pub label: Option<String>,
    /// In the form blkid prints (`8c1f…-…` for Linux filesystems, `1234ABCD` / `1234-ABCD` for
    /// NTFS / FAT).
    pub uuid: Option<String>,
    /// The allocation unit in bytes (block, cluster).
    pub block_size: u32,
    /// The filesystem's size, in bytes.
    pub total_bytes: u64,
    /// Free space, in bytes.
    pub free_bytes: u64,
    /// Whether it was cleanly unmounted.
    pub dirty: DirtyState,
}

/// The type of a directory entry / inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A type the filesystem records that none of the above is.
    Unknown,
}

/// What `stat` returns (never following a final symlink).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// The file's type.
    pub file_type: FileType,
    /// The size in bytes (a symlink: its target's length).
    pub size: u64,
    /// Permission bits and file type bits as in `st_mode` (0 when the filesystem has none).
    pub mode: u32,
    /// The owner's user ID (0 on NTFS/FAT).
    pub uid: u32,
    /// The owner's group ID (0 on NTFS/FAT).
    pub gid: u32,
    /// The number of hard links.
    pub nlink: u32,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    /// Inode number (or MFT record number, or a stable synthetic id).
    pub ino: u64,
}

/// One entry of a directory listing (`.` and `..` are never returned).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirEntry {
    /// Raw name bytes (Linux names need not be UTF-8; NTFS/FAT names are given as UTF-8).
    pub name: Vec<u8>,
    /// The entry's type.
    pub file_type: FileType,
}

/// One filesystem, read-only. See the module doc for the path contract.
pub trait Filesystem: Send + Sync {
    /// Facts about the filesystem as a whole.
    fn info(&self) -> FsInfo;
    /// Metadata of `path`, not following a final symlink.
    fn stat(&self, path: &[u8]) -> Result<Metadata, FsError>;
    /// Entries of the directory at `path`, without `.` and `..`.
    fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError>;
    /// Read up to `buf.len()` bytes of the regular file at `path` from `offset`; returns how
    /// many were read (0 at or past the end). Holes read as zeros.
    fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError>;
    /// Target of the symlink at `path`, as stored.
    fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError>;
    /// Whether names compare case-insensitively (NTFS, FAT).
    fn case_insensitive(&self) -> bool {
        false
    }

    /// Read a whole regular file, refusing files larger than `limit` bytes.
    fn read_file(&self, path: &[u8], limit: u64) -> Result<Vec<u8>, FsError> {
        let md = self.stat(path)?;
        if md.file_type != FileType::Regular {
            return Err(FsError::NotAFile(String::from_utf8_lossy(path).into()));
        }
        if md.size > limit {
            return Err(FsError::TooLarge {
                path: String::from_utf8_lossy(path).into(),
                size: md.size,
                limit,
            });
        }
        let mut out = vec![0u8; md.size as usize];
        let mut done = 0usize;
        while done < out.len() {
            let n = self.read_at(path, done as u64, &mut out[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        out.truncate(done);
        Ok(out)
    }
}

/// Split a normalised absolute path into its components (`b"/a/b"` → `[b"a", b"b"]`).
pub fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&c| c == b'/').filter(|c| !c.is_empty())
}

pub mod ext4;
pub mod fat;
pub mod ntfs;
pub mod probe;
pub mod tree;

pub use probe::{OpenOptions, open_filesystem, probe, scan_disks};
pub use tree::GuestTree;
