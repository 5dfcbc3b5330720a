//! The writer's typed errors: each names the path, the feature or the on-disk structure.

use crate::block::BlockError;
use crate::fs::FsError;

/// Errors of the XFS writer.
#[derive(Debug, thiserror::Error)]
pub enum XfsWriteError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Read(#[from] FsError),
    #[error("xfs: refusing to write: unsupported feature {0}")]
    UnsupportedFeature(String),
    #[error("xfs: refusing to write: the log needs recovery ({0})")]
    DirtyLog(String),
    #[error("xfs: corrupt {structure}: {reason}")]
    Corrupt { structure: String, reason: String },
    #[error("xfs: {tree} of AG {agno} would need {what}, which this writer does not do")]
    TreeShape {
        tree: &'static str,
        agno: u32,
        what: String,
    },
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
    #[error("xfs: no space left: {0}")]
    NoSpace(String),
    #[error(
        "xfs: no free inode in an existing inode chunk (allocating a new chunk is not supported)"
    )]
    NoFreeInode,
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: String, what: String },
}

pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> XfsWriteError {
    XfsWriteError::Corrupt {
        structure: structure.into(),
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(path: &[u8], what: impl Into<String>) -> XfsWriteError {
    XfsWriteError::Unsupported {
        path: String::from_utf8_lossy(path).into_owned(),
        what: what.into(),
    }
}
