use crate::block::BlockError;

/// Errors of the NTFS writer. Each names the path or the on-disk structure and the reason.
#[derive(Debug, thiserror::Error)]
pub enum NtfsWriteError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("ntfs: not an NTFS volume: {0}")]
    NotNtfs(String),
    #[error("ntfs: refusing to write: BitLocker-encrypted volume (boot sector -FVE-FS-)")]
    BitLocker,
    #[error("ntfs: refusing to write: Windows is hibernated or used Fast Startup ({0})")]
    Hibernated(String),
    #[error(
        "ntfs: refusing to write: the $Volume dirty flag is set (unclean shutdown or chkdsk pending)"
    )]
    DirtyVolume,
    #[error(
        "ntfs: refusing to write: $LogFile is not clean ({0}): Fast Startup or an unclean shutdown"
    )]
    LogFileNotClean(String),
    #[error("ntfs: refusing to write: unsupported {0}")]
    Unsupported(String),
    #[error("ntfs: corrupt {structure}: {reason}")]
    Corrupt { structure: String, reason: String },
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: not a regular file")]
    NotAFile(String),
    #[error("{0}: already exists (NTFS names compare case-insensitively)")]
    AlreadyExists(String),
    #[error("{0:?}: invalid NTFS file name")]
    InvalidName(String),
    #[error("{0}: invalid path (must be absolute, without '.' or '..')")]
    InvalidPath(String),
    #[error("ntfs: no space left: {0}")]
    NoSpace(String),
    #[error("{path}: refusing: {what}")]
    Refused { path: String, what: String },
    #[error(
        "{0}: the folder's index cannot grow here (no room for the split in its record, or a non-resident index bitmap)"
    )]
    IndexSplitNeeded(String),
    #[error("ntfs: $MFT is full and could not grow")]
    MftFull,
}

pub(crate) fn corrupt(structure: impl Into<String>, reason: impl Into<String>) -> NtfsWriteError {
    NtfsWriteError::Corrupt {
        structure: structure.into(),
        reason: reason.into(),
    }
}

pub(crate) fn refused(path: impl Into<String>, what: impl Into<String>) -> NtfsWriteError {
    NtfsWriteError::Refused {
        path: path.into(),
        what: what.into(),
    }
}
