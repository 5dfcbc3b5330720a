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

    /// FMT-3: an empty file, or one no container format recognises.
    #[error("{path}: disk-image-size = 0 has an invalid format ({reason})")]
    InvalidFormat { path: PathBuf, reason: String },
    /// The image ends before a structure it declares.
    #[error(
        "{path}: truncated: {what} at offset {offset} (+{len} bytes) lies past the end of the file ({file_size} bytes)"
    )]
    Truncated {
        path: PathBuf,
        what: String,
        offset: u64,
        len: u64,
        file_size: u64,
    },
    /// A size the image claims is larger than the bound this reader accepts.
    #[error("{path}: {what} claims {size} bytes, more than the limit of {limit}")]
    TooLarge {
        path: PathBuf,
        what: String,
        size: u64,
        limit: u64,
    },
    /// A checksum in the image does not match its structure.
    #[error("{path}: bad checksum in {what}")]
    Checksum { path: PathBuf, what: String },
    /// Encrypted images (qcow2 AES/LUKS) are refused.
    #[error("{path}: encrypted image ({method}) is not supported")]
    Encrypted { path: PathBuf, method: String },
    /// A backing file chain that refers back to one of its own members.
    #[error("{path}: backing file chain loops back to {backing}")]
    BackingLoop { path: PathBuf, backing: PathBuf },
    /// A backing file chain deeper than [`super::MAX_BACKING_DEPTH`].
    #[error("{path}: backing file chain is deeper than {limit}")]
    BackingTooDeep { path: PathBuf, limit: usize },
    /// A backing/parent file outside the image's folder without
    /// [`super::OpenOptions::allow_outside_backing`].
    #[error(
        "{path}: backing file {backing} lies outside the image's folder (allow_outside_backing is off)"
    )]
    BackingOutside { path: PathBuf, backing: PathBuf },
    /// A backing file is named but cannot be resolved here (image read from memory / inside an OVA).
    #[error(
        "{path}: has a backing/parent file {backing:?} that cannot be opened from this context"
    )]
    BackingUnavailable { path: PathBuf, backing: String },
    /// FMT-3: the VHD header copy of the footer differs from the trailing footer.
    #[error(
        "{path}: footers are not identical (VHD footer copy at offset 0 differs from the trailing footer)"
    )]
    FooterMismatch { path: PathBuf },
    /// FMT-3: a compressed VMDK grain that inflates to the wrong length.
    #[error(
        "{path}: uncompressed data has an invalid length (grain at file offset {offset}: {got} bytes, expected {expected})"
    )]
    GrainLength {
        path: PathBuf,
        offset: u64,
        got: u64,
        expected: u64,
    },
    /// FMT-2 / FMT-3: a VMDK kind the import service refuses and we do not read.
    #[error("{path}: unsupported VMDK file format ({create_type})")]
    UnsupportedVmdk { path: PathBuf, create_type: String },
    /// FMT-2: an OVA whose OVF names a disk file the tar does not hold.
    #[error("{path}: OVF names disk file {href:?} which is not in the OVA")]
    OvaMissingDisk { path: PathBuf, href: String },
    /// FMT-2: an OVA disk split into several files (ovf:chunkSize).
    #[error(
        "{path}: OVA disk {href:?} is split into several files (ovf:chunkSize), which is refused"
    )]
    OvaSplitDisk { path: PathBuf, href: String },

    /// A remote image (HTTP(S), S3) answered with an error status (403, 404, …).
    #[error("{url}: the server answered HTTP {status}")]
    RemoteStatus { url: String, status: u16 },
    /// A server that does not answer byte-range requests: refused without reading the body.
    #[error(
        "{url}: the server does not serve byte ranges ({reason}); refusing to download the whole object"
    )]
    RemoteNoRanges { url: String, reason: String },
    /// A range response with fewer (or other) bytes than asked for.
    #[error("{url}: short read: {got} of {expected} bytes at offset {offset}")]
    RemoteShortRead {
        url: String,
        offset: u64,
        expected: u64,
        got: u64,
    },
    /// The object changed (ETag / Last-Modified) while it was being read.
    #[error("{url}: the object changed while it was read ({was} became {now})")]
    RemoteChanged {
        url: String,
        was: String,
        now: String,
    },
    /// More redirects than allowed, or a redirect back to a URL already visited.
    #[error("{url}: redirect loop or more than {limit} redirects (at {at})")]
    RemoteRedirects {
        url: String,
        limit: usize,
        at: String,
    },
    /// A transport failure (connection refused, reset, timeout, 5xx) that retries did not cure.
    #[error("{url}: {reason} (after {attempts} attempts)")]
    RemoteTransport {
        url: String,
        reason: String,
        attempts: u32,
    },
    /// A URL or remote configuration that cannot be used (bad URL, bad S3 endpoint).
    #[error("{url}: {reason}")]
    RemoteConfig { url: String, reason: String },
}

impl BlockError {
    /// Whether this is a failure to reach the image (a host file or a remote object), as opposed
    /// to a fault in the image's content: the command line maps these to exit 2.
    pub fn is_access(&self) -> bool {
        matches!(
            self,
            BlockError::Io { .. }
                | BlockError::RemoteStatus { .. }
                | BlockError::RemoteNoRanges { .. }
                | BlockError::RemoteShortRead { .. }
                | BlockError::RemoteChanged { .. }
                | BlockError::RemoteRedirects { .. }
                | BlockError::RemoteTransport { .. }
                | BlockError::RemoteConfig { .. }
        )
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        BlockError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn unsupported(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        BlockError::Unsupported {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
