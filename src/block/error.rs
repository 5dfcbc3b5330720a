use std::path::PathBuf;

/// Errors of the block layer. Each names the file and the on-disk reason.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The host refused an I/O operation on an image file, an output file or the apply journal
    /// (open, read, write, sync); a failure to reach the image, not a fault in it.
    #[error("{path}: {source}")]
    Io {
        /// The host file the operation was on.
        path: PathBuf,
        /// The host's error.
        #[source]
        source: std::io::Error,
    },
    /// A read or write of a range that does not lie inside the device (`offset + len` past its
    /// end, or overflowing).
    #[error("{dev}: read of {len} bytes at offset {offset} is outside the device ({size} bytes)")]
    OutOfRange {
        /// The device's description (its path or URL).
        dev: String,
        /// Start of the range, in bytes from the start of the device.
        offset: u64,
        /// Length of the range, in bytes.
        len: u64,
        /// The device's length, in bytes.
        size: u64,
    },
    /// A container structure (header, table, descriptor, tar entry) holds values that break the
    /// format's rules.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The image file.
        path: PathBuf,
        /// Which structure is wrong and how.
        reason: String,
    },
    /// A valid image that uses a feature or variant of its format this reader does not handle.
    #[error("{path}: unsupported: {reason}")]
    Unsupported {
        /// The image file.
        path: PathBuf,
        /// The feature or variant met.
        reason: String,
    },
    /// A write to a device opened read-only.
    #[error("{dev}: device is read-only")]
    ReadOnly {
        /// The device's description (its path).
        dev: String,
    },

    /// FMT-3: an empty file, or one no container format recognises.
    #[error("{path}: disk-image-size = 0 has an invalid format ({reason})")]
    InvalidFormat {
        /// The image file.
        path: PathBuf,
        /// Why no format matched (e.g. the file is empty).
        reason: String,
    },
    /// The image ends before a structure it declares.
    #[error(
        "{path}: truncated: {what} at offset {offset} (+{len} bytes) lies past the end of the file ({file_size} bytes)"
    )]
    Truncated {
        /// The image file.
        path: PathBuf,
        /// The structure that does not fit (e.g. "VHD footer", a tar entry).
        what: String,
        /// Where the structure starts, in bytes from the start of the file.
        offset: u64,
        /// The structure's length, in bytes.
        len: u64,
        /// The file's length, in bytes.
        file_size: u64,
    },
    /// A size the image claims is larger than the bound this reader accepts.
    #[error("{path}: {what} claims {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The image (or output) file.
        path: PathBuf,
        /// The quantity claimed (e.g. "VHDX virtual size", "tar entry count").
        what: String,
        /// The size claimed, in bytes (a count for counts).
        size: u64,
        /// The largest value accepted, in the same unit.
        limit: u64,
    },
    /// A checksum in the image does not match its structure.
    #[error("{path}: bad checksum in {what}")]
    Checksum {
        /// The image file.
        path: PathBuf,
        /// The structure whose checksum failed (e.g. "VHD footer", "both VHDX headers").
        what: String,
    },
    /// Encrypted images (qcow2 AES/LUKS) are refused.
    #[error("{path}: encrypted image ({method}) is not supported")]
    Encrypted {
        /// The image file.
        path: PathBuf,
        /// The encryption method the header names (AES, LUKS).
        method: String,
    },
    /// A backing file chain that refers back to one of its own members.
    #[error("{path}: backing file chain loops back to {backing}")]
    BackingLoop {
        /// The image whose backing reference closes the loop.
        path: PathBuf,
        /// The backing file already in the chain.
        backing: PathBuf,
    },
    /// A backing file chain deeper than [`super::MAX_BACKING_DEPTH`].
    #[error("{path}: backing file chain is deeper than {limit}")]
    BackingTooDeep {
        /// The backing file at which the limit was passed.
        path: PathBuf,
        /// The deepest chain accepted, in images.
        limit: usize,
    },
    /// A backing/parent file outside the image's folder without
    /// [`super::OpenOptions::allow_outside_backing`].
    #[error(
        "{path}: backing file {backing} lies outside the image's folder (allow_outside_backing is off)"
    )]
    BackingOutside {
        /// The image naming the backing file.
        path: PathBuf,
        /// The backing file, resolved (canonical path, or URL for a remote image).
        backing: PathBuf,
    },
    /// A backing file is named but cannot be resolved here (image read from memory / inside an OVA).
    #[error(
        "{path}: has a backing/parent file {backing:?} that cannot be opened from this context"
    )]
    BackingUnavailable {
        /// The image naming the backing file.
        path: PathBuf,
        /// The backing file name as stored in the image.
        backing: String,
    },
    /// FMT-3: the VHD header copy of the footer differs from the trailing footer.
    #[error(
        "{path}: footers are not identical (VHD footer copy at offset 0 differs from the trailing footer)"
    )]
    FooterMismatch {
        /// The VHD file.
        path: PathBuf,
    },
    /// FMT-3: a compressed VMDK grain that inflates to the wrong length.
    #[error(
        "{path}: uncompressed data has an invalid length (grain at file offset {offset}: {got} bytes, expected {expected})"
    )]
    GrainLength {
        /// The VMDK file.
        path: PathBuf,
        /// Where the grain's marker starts, in bytes from the start of the file.
        offset: u64,
        /// The inflated length, in bytes.
        got: u64,
        /// The grain size, in bytes (the last grain of the disk may also be shorter).
        expected: u64,
    },
    /// FMT-2 / FMT-3: a VMDK kind the import service refuses and we do not read.
    #[error("{path}: unsupported VMDK file format ({create_type})")]
    UnsupportedVmdk {
        /// The VMDK descriptor or file.
        path: PathBuf,
        /// The descriptor's `createType`.
        create_type: String,
    },
    /// FMT-2: an OVA whose OVF names a disk file the tar does not hold.
    #[error("{path}: OVF names disk file {href:?} which is not in the OVA")]
    OvaMissingDisk {
        /// The OVA file.
        path: PathBuf,
        /// The `ovf:href` of the missing disk file.
        href: String,
    },
    /// FMT-2: an OVA disk split into several files (ovf:chunkSize).
    #[error(
        "{path}: OVA disk {href:?} is split into several files (ovf:chunkSize), which is refused"
    )]
    OvaSplitDisk {
        /// The OVA file.
        path: PathBuf,
        /// The `ovf:href` of the split disk.
        href: String,
    },

    /// A remote image (HTTP(S), S3) answered with an error status (403, 404, …).
    #[error("{url}: the server answered HTTP {status}")]
    RemoteStatus {
        /// The object's URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// A server that does not answer byte-range requests: refused without reading the body.
    #[error(
        "{url}: the server does not serve byte ranges ({reason}); refusing to download the whole object"
    )]
    RemoteNoRanges {
        /// The object's URL.
        url: String,
        /// What the server did instead (e.g. answered 200 with the whole object).
        reason: String,
    },
    /// A range response with fewer (or other) bytes than asked for.
    #[error("{url}: short read: {got} of {expected} bytes at offset {offset}")]
    RemoteShortRead {
        /// The object's URL.
        url: String,
        /// Start of the range asked for, in bytes from the start of the object.
        offset: u64,
        /// Bytes asked for.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The object changed (ETag / Last-Modified) while it was being read.
    #[error("{url}: the object changed while it was read ({was} became {now})")]
    RemoteChanged {
        /// The object's URL.
        url: String,
        /// The validator (ETag, Last-Modified or size) seen first.
        was: String,
        /// The validator seen later, or the server's 412 answer to `If-Match`.
        now: String,
    },
    /// More redirects than allowed, or a redirect back to a URL already visited.
    #[error("{url}: redirect loop or more than {limit} redirects (at {at})")]
    RemoteRedirects {
        /// The object's URL.
        url: String,
        /// The most redirects followed for one request.
        limit: usize,
        /// The redirect target at which following stopped.
        at: String,
    },
    /// A transport failure (connection refused, reset, timeout, 5xx) that retries did not cure.
    #[error("{url}: {reason} (after {attempts} attempts)")]
    RemoteTransport {
        /// The object's URL.
        url: String,
        /// The last failure.
        reason: String,
        /// Requests made, the first included.
        attempts: u32,
    },
    /// A URL or remote configuration that cannot be used (bad URL, bad S3 endpoint).
    #[error("{url}: {reason}")]
    RemoteConfig {
        /// The image URL (for a backing file, the URL it is resolved against).
        url: String,
        /// What is wrong (bad URL or scheme, bad S3 endpoint, a redirect to an unusable
        /// location, an AWS credential provider's failure naming the profile and step).
        reason: String,
    },
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
