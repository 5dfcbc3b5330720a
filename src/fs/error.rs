use crate::block::BlockError;

/// Errors of the filesystem layer. Corruption names the on-disk structure that is wrong.
///
/// Returned by the [`super::Filesystem`] readers (ext2/3/4, FAT, NTFS, XFS, Btrfs) and by
/// opening a volume as a filesystem.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Reading the volume's device failed (see [`BlockError`]).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The path does not exist, or is malformed (not absolute, too long). Holds the path.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// A directory was needed (a listing, or a path component) and the inode is something
    /// else. Holds the path.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// File data was asked for and the path is not a regular file. Holds the path.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// `readlink` on a path that is not a symbolic link. Holds the path.
    #[error("{0}: not a symbolic link")]
    NotASymlink(String),
    /// A whole-file read of a file larger than the caller's limit.
    #[error("{path}: file is {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// The file's path in the filesystem.
        path: String,
        /// The file's size, in bytes.
        size: u64,
        /// The largest size the caller accepts, in bytes.
        limit: u64,
    },
    /// An on-disk structure (superblock, inode, directory block, B-tree node, …) holds values
    /// that break the format's rules.
    #[error("{fs}: corrupt {structure}: {reason}")]
    Corrupt {
        /// The filesystem type (e.g. "ext4", "ntfs", "vfat", "xfs", "btrfs").
        fs: &'static str,
        /// The structure that is wrong (and where, when known).
        structure: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A valid filesystem that uses a feature or on-disk variant this reader does not handle.
    #[error("{fs}: unsupported: {what}")]
    Unsupported {
        /// The filesystem type (e.g. "ext4", "xfs").
        fs: &'static str,
        /// The feature or variant met.
        what: String,
    },
    /// Path resolution followed more symbolic links than the reader allows (a loop, or a chain
    /// too long). Holds the path being resolved.
    #[error("{0}: too many levels of symbolic links")]
    SymlinkLoop(String),
    /// No supported filesystem signature on the device (or not the one the caller asked
    /// for). Holds the device's description, and what was looked for when known.
    #[error("no filesystem recognised: {0}")]
    Unrecognised(String),
}
