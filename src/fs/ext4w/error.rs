use crate::block::BlockError;

/// Errors of the ext4 writer. Each names the path, the feature or the on-disk structure.
///
/// Returned when opening an ext2/3/4 filesystem for writing (the refusals checked against the
/// superblock) and by each edit.
#[derive(Debug, thiserror::Error)]
pub enum Ext4WriteError {
    /// Reading or writing the volume's device failed (see [`BlockError`]).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The superblock magic (offset 0x38) is not 0xEF53. Holds the value found.
    #[error("ext4: not an ext2/3/4 filesystem (superblock magic {0:#06x})")]
    BadMagic(u16),
    /// A compat/incompat/ro_compat feature this writer cannot keep consistent is set, the
    /// filesystem has no `extent` feature (block-mapped files), or the block size or directory
    /// hash is one the writer does not handle. Holds the feature's name or the reason.
    #[error("ext4: refusing to write: unsupported feature {0}")]
    UnsupportedFeature(String),
    /// The superblock's `needs_recovery` (RECOVER) flag is set: the journal holds
    /// transactions not yet replayed, which a later replay would write over our edits.
    #[error("ext4: refusing to write: needs_recovery is set (the journal has not been replayed)")]
    NeedsRecovery,
    /// Inodes await orphan cleanup (`s_last_orphan` non-zero, the orphan_present flag, or an
    /// entry in the orphan file). Holds which of these was found.
    #[error("ext4: refusing to write: orphan inodes are present ({0})")]
    OrphansPresent(String),
    /// The superblock state (`s_state`) is not clean or has the error bit set. Holds the
    /// state value.
    #[error("ext4: refusing to write: the filesystem has errors recorded (state {0:#x})")]
    HasErrors(u16),
    /// An on-disk structure the writer read (superblock, group descriptor, inode, extent
    /// tree, directory block, hash tree) breaks the format's rules.
    #[error("ext4: corrupt {structure}: {reason}")]
    Corrupt {
        /// The structure that is wrong (and which one: inode or block number, group).
        structure: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored checksum (metadata_csum or gdt_csum) does not match the structure read.
    /// Holds the structure (e.g. the block bitmap of a group).
    #[error("ext4: checksum mismatch in {0}")]
    Checksum(String),
    /// The path, or one of its components, does not exist. Holds the path up to the
    /// missing component.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// A path component, or the directory an edit works in, is not a directory. Holds that
    /// path.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// A file-data edit on a path that is not a regular file. Holds the path.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// A path component is a symbolic link; the writer does not follow links. Holds the path
    /// up to the link.
    #[error("{0}: a path component is a symbolic link (not followed)")]
    SymlinkInPath(String),
    /// A create, link or rename whose target name already exists. Holds the name.
    #[error("{0}: already exists")]
    AlreadyExists(String),
    /// A name that is empty, longer than 255 bytes, `.` or `..`, or contains `/` or NUL. Holds
    /// the name.
    #[error("{0:?}: invalid file name")]
    InvalidName(String),
    /// A path that is not absolute or contains `.` or `..` components. Holds the path.
    #[error("{0}: invalid path (must be absolute, without '.' or '..')")]
    InvalidPath(String),
    /// No free blocks or inodes for the edit. Holds what was wanted (e.g. a block count,
    /// "no free inode").
    #[error("ext4: no space left: {0}")]
    NoSpace(String),
    /// A file whose data would need more extents than an extent tree of depth 3 holds at this
    /// block size.
    #[error(
        "{path}: needs {extents} extents, more than the {limit} this writer supports (extent tree depth <= 3)"
    )]
    TooFragmented {
        /// The file's path.
        path: String,
        /// Extents the file's data needs.
        extents: usize,
        /// Most extents the writer lays out at this block size.
        limit: usize,
    },
    /// A hashed (htree) directory whose index has no room for another leaf block, or already
    /// has more than one index level; the writer does not add levels. Holds the directory.
    #[error("{0}: hashed directory index is full (this writer does not add index levels)")]
    DirectoryIndexFull(String),
    /// The link count of an inode (a hard link's target, or a parent directory without
    /// `dir_nlink`) would pass the ext4 maximum. Holds the path.
    #[error("{0}: too many links")]
    TooManyLinks(String),
    /// An edit on a file or inode kind the writer does not change (inline data, a
    /// block-mapped inode, a hard link to a directory, …).
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// The path (or inode) concerned.
        path: String,
        /// What is not supported.
        what: String,
    },
}

pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> Ext4WriteError {
    Ext4WriteError::Corrupt {
        structure: structure.into(),
        reason: reason.into(),
    }
}
