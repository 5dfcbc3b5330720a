use crate::block::BlockError;

/// Errors of the NTFS writer. Each names the path or the on-disk structure and the reason.
///
/// Returned when opening an NTFS volume for writing (the refusals checked before anything is
/// written: boot sector, `$Volume`, `$LogFile`, `hiberfil.sys`) and by each edit.
#[derive(Debug, thiserror::Error)]
pub enum NtfsWriteError {
    /// Reading or writing the volume's device failed (see [`BlockError`]).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The boot sector's OEM id is not `NTFS    `. Holds the id found.
    #[error("ntfs: not an NTFS volume: {0}")]
    NotNtfs(String),
    /// The boot sector's OEM id is `-FVE-FS-`: a BitLocker-encrypted volume.
    #[error("ntfs: refusing to write: BitLocker-encrypted volume (boot sector -FVE-FS-)")]
    BitLocker,
    /// `hiberfil.sys` holds a hibernation image (header `hibr`/`HIBR`/`rstr`) that Windows
    /// would resume over our edits. Holds the header's description.
    #[error("ntfs: refusing to write: Windows is hibernated or used Fast Startup ({0})")]
    Hibernated(String),
    /// The `$Volume` information's dirty flag (0x0001) is set: an unclean shutdown, or chkdsk
    /// scheduled.
    #[error(
        "ntfs: refusing to write: the $Volume dirty flag is set (unclean shutdown or chkdsk pending)"
    )]
    DirtyVolume,
    /// The `$LogFile` restart area does not show a clean shutdown: it holds records Windows
    /// would replay. Holds why it is not clean.
    #[error(
        "ntfs: refusing to write: $LogFile is not clean ({0}): Fast Startup or an unclean shutdown"
    )]
    LogFileNotClean(String),
    /// A volume-wide feature this writer does not handle (an NTFS version other than 3.x, a
    /// cluster size, the chkdsk-underway flag, an MFT record needing an attribute list).
    /// Holds the feature.
    #[error("ntfs: refusing to write: unsupported {0}")]
    Unsupported(String),
    #[error("ntfs: corrupt {structure}: {reason}")]
    /// An on-disk structure the writer read (boot sector, MFT record, attribute, run list,
    /// index) breaks the format's rules.
    Corrupt {
        /// The structure that is wrong (e.g. `$Volume`, an MFT record number).
        structure: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The path, or one of its components, does not exist. Holds the path.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// A path component, or the folder an edit works in, is not a directory. Holds the path.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// A file-data edit on a path that is not a regular file. Holds the path.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// A create or rename whose target name already exists in the folder (compared
    /// case-insensitively). Holds the path.
    #[error("{0}: already exists (NTFS names compare case-insensitively)")]
    AlreadyExists(String),
    /// A name Windows could not create: empty, longer than 255 UTF-16 units, `.` or `..`, a
    /// control character or one of `\/:*?"<>|`, or ending in a space or dot. Holds the name.
    #[error("{0:?}: invalid NTFS file name")]
    InvalidName(String),
    /// A path that is not absolute or contains `.` or `..` components. Holds the path.
    #[error("{0}: invalid path (must be absolute, without '.' or '..')")]
    InvalidPath(String),
    /// Not enough free clusters for the edit. Holds the path and what was wanted (a cluster
    /// count, an index block).
    #[error("ntfs: no space left: {0}")]
    NoSpace(String),
    #[error("{path}: refusing: {what}")]
    /// A file or edit the writer does not handle (compressed, encrypted or sparse data, a
    /// reparse point, an attribute list, a removal that would empty an index block or need a
    /// rebalance, no free DOS alias, …).
    Refused {
        /// The file (or name) concerned.
        path: String,
        /// What is refused.
        what: String,
    },
    /// Adding an entry needs the folder's index to grow where this writer cannot (no room in
    /// the folder's MFT record even with the root pushed down, or a non-resident index
    /// bitmap). Holds the folder's path and the reason.
    #[error(
        "{0}: the folder's index cannot grow here (no room for the split in its record, or a non-resident index bitmap)"
    )]
    IndexSplitNeeded(String),
    /// No free MFT record for a new file, and `$MFT` could not be extended.
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
