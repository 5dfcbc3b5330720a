use std::path::PathBuf;

/// Errors of the block layer. Each names the file and the on-disk reason.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dev}: read of {len} bytes at offset {offset} is outside the device ({size} bytes)")]
    OutOfRange {
        dev: String,
        offset: u64,
        len: u64,
        size: u64,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: unsupported: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{dev}: device is read-only")]
    ReadOnly { dev: String },
}
