//! The Btrfs writer's typed errors: each names the path, the feature or the on-disk structure.

use crate::block::BlockError;
use crate::fs::FsError;

/// Errors of the Btrfs writer.
#[derive(Debug, thiserror::Error)]
pub enum BtrfsWriteError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Read(#[from] FsError),
    #[error("btrfs: refusing to write: unsupported feature {0}")]
    UnsupportedFeature(String),
    #[error(
        "btrfs: refusing to write: the log tree at {0:#x} is not empty (mount the filesystem once to replay it)"
    )]
    DirtyLog(u64),
    #[error("btrfs: corrupt {structure}: {reason}")]
    Corrupt { structure: String, reason: String },
    #[error(
        "btrfs: {tree} would need {what}, which this writer does not do (it keeps that tree's shape)"
    )]
    TreeShape { tree: String, what: String },
    #[error("btrfs: refusing to write: {0} is shared with a snapshot or reflink")]
    Shared(String),
    #[error("btrfs: refusing to write into read-only subvolume {0}")]
    ReadOnlySubvolume(u64),
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: not a regular file")]
    NotAFile(String),
    #[error("{0}: already exists")]
    AlreadyExists(String),
    #[error("{0:?}: invalid file name")]
    InvalidName(String),
    #[error("{0}: invalid path (must be absolute, without '.' or '..')")]
    InvalidPath(String),
    #[error("btrfs: no space left: {0} (allocating a new chunk is not supported)")]
    NoSpace(String),
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: String, what: String },
}

pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> BtrfsWriteError {
    BtrfsWriteError::Corrupt {
        structure: structure.into(),
        reason: reason.into(),
    }
}

pub(crate) fn shape(tree: u64, what: impl Into<String>) -> BtrfsWriteError {
    BtrfsWriteError::TreeShape {
        tree: super::tree_name(tree),
        what: what.into(),
    }
}

pub(crate) fn unsupported(path: &str, what: impl Into<String>) -> BtrfsWriteError {
    BtrfsWriteError::Unsupported {
        path: path.to_string(),
        what: what.into(),
    }
}
