use crate::block::BlockError;

/// Errors of the ext4 writer. Each names the path, the feature or the on-disk structure.
#[derive(Debug, thiserror::Error)]
pub enum Ext4WriteError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("ext4: not an ext2/3/4 filesystem (superblock magic {0:#06x})")]
    BadMagic(u16),
    #[error("ext4: refusing to write: unsupported feature {0}")]
    UnsupportedFeature(String),
    #[error("ext4: refusing to write: needs_recovery is set (the journal has not been replayed)")]
    NeedsRecovery,
    #[error("ext4: refusing to write: orphan inodes are present ({0})")]
    OrphansPresent(String),
    #[error("ext4: refusing to write: the filesystem has errors recorded (state {0:#x})")]
    HasErrors(u16),
    #[error("ext4: corrupt {structure}: {reason}")]
    Corrupt { structure: String, reason: String },
    #[error("ext4: checksum mismatch in {0}")]
    Checksum(String),
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: not a regular file")]
    NotAFile(String),
    #[error("{0}: a path component is a symbolic link (not followed)")]
    SymlinkInPath(String),
    #[error("{0}: already exists")]
    AlreadyExists(String),
    #[error("{0:?}: invalid file name")]
    InvalidName(String),
    #[error("{0}: invalid path (must be absolute, without '.' or '..')")]
    InvalidPath(String),
    #[error("ext4: no space left: {0}")]
    NoSpace(String),
    #[error(
        "{path}: needs {extents} extents, more than the {limit} this writer supports (extent tree depth <= 3)"
    )]
    TooFragmented {
        path: String,
        extents: usize,
        limit: usize,
    },
    #[error("{0}: hashed directory index is full (this writer does not add index levels)")]
    DirectoryIndexFull(String),
    #[error("{0}: too many links")]
    TooManyLinks(String),
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: String, what: String },
}

pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> Ext4WriteError {
    Ext4WriteError::Corrupt {
        structure: structure.into(),
        reason: reason.into(),
    }
}
