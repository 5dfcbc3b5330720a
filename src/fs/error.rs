use crate::block::BlockError;

/// Errors of the filesystem layer. Corruption names the on-disk structure that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: not a regular file")]
    NotAFile(String),
    #[error("{0}: not a symbolic link")]
    NotASymlink(String),
    #[error("{path}: file is {size} bytes, more than the {limit}-byte limit")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{fs}: corrupt {structure}: {reason}")]
    Corrupt {
        fs: &'static str,
        structure: String,
        reason: String,
    },
    #[error("{fs}: unsupported: {what}")]
    Unsupported { fs: &'static str, what: String },
    #[error("{0}: too many levels of symbolic links")]
    SymlinkLoop(String),
    #[error("no filesystem recognised: {0}")]
    Unrecognised(String),
}
