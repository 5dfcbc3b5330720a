//! The typed error of the hive reader. Every variant names the on-disk reason, with the offset
//! (relative to the start of the hive bins data unless the field says otherwise).

/// Errors of the registry hive reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HiveError {
    /// Zero-length input.
    #[error("empty file: not a registry hive")]
    Empty,
    /// Windows 9x/ME registry (`CREG` signature): a different format, refused by name.
    #[error("Windows 9x/ME registry file (CREG signature), not an NT regf hive")]
    Windows9xCreg,
    /// A PE executable (`MZ` signature), refused by name.
    #[error("PE executable (MZ signature), not a registry hive")]
    PeExecutable,
    /// A bare hive bin (a fragment of a hive without its base block).
    #[error("hive bin fragment (hbin signature at offset 0): no regf base block")]
    HiveBinFragment,
    /// The first four bytes are not `regf`.
    #[error("bad base block signature {found:02x?}: not a regf hive")]
    BadSignature {
        /// The first four bytes of the file.
        found: [u8; 4],
    },
    /// The file (or a transaction log) is shorter than a base block.
    #[error("file is {len} bytes, too short for a {need}-byte base block")]
    TooShort {
        /// The input's length, in bytes.
        len: usize,
        /// The base block's size, in bytes.
        need: usize,
    },
    /// XOR-32 checksum of the first 508 bytes does not match the stored value.
    #[error("base block checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The checksum stored at offset 508 of the base block.
        stored: u32,
        /// The checksum computed over the first 508 bytes.
        computed: u32,
    },
    /// Major/minor version this reader does not understand (we accept 1.3 to 1.6).
    #[error("unsupported regf version {major}.{minor}")]
    UnsupportedVersion {
        /// The base block's major version.
        major: u32,
        /// The base block's minor version.
        minor: u32,
    },
    /// The base block's file type is not 0 (primary file).
    #[error("base block file type {file_type} is not a primary file (0)")]
    NotPrimaryFile {
        /// The file type stored in the base block.
        file_type: u32,
    },
    /// The base block's file format is not 1 (direct memory load).
    #[error("unsupported base block file format {format}")]
    UnsupportedFormat {
        /// The file format stored in the base block.
        format: u32,
    },
    /// The hive bins data size is zero or not a multiple of 4096.
    #[error("hive bins data size {size:#x} is not a positive multiple of 4096")]
    BadHiveBinsSize {
        /// The hive bins data size stored in the base block, in bytes.
        size: u32,
    },
    /// The base block claims more hive bins data than the file holds.
    #[error(
        "truncated hive: base block claims {claimed} bytes of hive bins, file holds {available}"
    )]
    TruncatedHiveBins {
        /// The hive bins data size the base block claims, in bytes.
        claimed: u64,
        /// The bytes the file holds after the base block.
        available: u64,
    },
    /// A hive bin header without the `hbin` signature.
    #[error("hive bin at {offset:#x}: bad signature {found:02x?}")]
    BadBinSignature {
        /// Where the hive bin starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The four bytes found in place of `hbin`.
        found: [u8; 4],
    },
    /// A hive bin whose stored offset does not match its position.
    #[error("hive bin at {offset:#x}: header says offset {stored:#x}")]
    BadBinOffset {
        /// Where the hive bin starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The offset its header stores.
        stored: u32,
    },
    /// A hive bin whose size is zero, not a multiple of 4096, or runs past the hive bins data.
    #[error("hive bin at {offset:#x}: bad size {size:#x}")]
    BadBinSize {
        /// Where the hive bin starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The size its header stores, in bytes (0 if the header itself is cut short).
        size: u32,
    },
    /// A cell offset that is not inside a hive bin's cell area.
    #[error("cell offset {offset:#x} is out of range of the hive bins data")]
    CellOutOfRange {
        /// The cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
    },
    /// A cell whose size field is too small, unaligned or runs past its hive bin.
    #[error("cell at {offset:#x}: bad size {size}")]
    BadCellSize {
        /// Where the cell starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The cell's size field as stored (negative means allocated), in bytes.
        size: i32,
    },
    /// A referenced cell is marked free (positive size).
    #[error("cell at {offset:#x} is referenced but not allocated")]
    UnallocatedCell {
        /// Where the cell starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
    },
    /// A record with the wrong two-byte signature.
    #[error("cell at {offset:#x}: expected {expected} record, found signature {found:02x?}")]
    BadRecordSignature {
        /// Where the cell starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The record kinds accepted here (e.g. "nk", "lf/lh/li/ri").
        expected: &'static str,
        /// The two signature bytes found.
        found: [u8; 2],
    },
    /// A record whose fixed part or variable part does not fit in its cell.
    #[error("{what} at {offset:#x}: needs {need} bytes, cell holds {have}")]
    RecordTooShort {
        /// Where the cell starts, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The record or part that does not fit (e.g. "value name", "security descriptor").
        what: &'static str,
        /// The bytes it needs.
        need: usize,
        /// The bytes of data the cell holds.
        have: usize,
    },
    /// Index root nesting deeper than the format allows.
    #[error("subkey list at {offset:#x}: index root nesting too deep")]
    SubkeyListTooDeep {
        /// The subkey list's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
    },
    /// The same subkey list is reached twice while walking one key's lists.
    #[error("subkey list at {offset:#x}: cycle in index root")]
    SubkeyListCycle {
        /// The cell offset of the list reached twice, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
    },
    /// A subkey list holds more elements than the key claims or than the bound allows.
    #[error("subkey list at {offset:#x}: {count} elements, more than the limit {limit}")]
    TooManySubkeys {
        /// The subkey list's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The elements counted so far.
        count: u64,
        /// The most subkeys accepted for one key.
        limit: u64,
    },
    /// A key node reachable from itself (a cycle in the key tree) during a recursive walk.
    #[error("key node at {offset:#x} is its own ancestor (cycle in the key tree)")]
    KeyCycle {
        /// The key node's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
    },
    /// A subkey list names a key node whose parent field points elsewhere (a list shared by
    /// two keys, or a key linked from a foreign list).
    #[error(
        "key node at {offset:#x} is listed under {listed_under:#x} but its parent is {parent:#x}"
    )]
    WrongParent {
        /// The key node's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The cell offset of the key whose subkey list names it.
        listed_under: u32,
        /// The parent cell offset the key node stores.
        parent: u32,
    },
    /// A recursive walk deeper than Windows allows (512 levels).
    #[error("key node at {offset:#x}: key tree deeper than {limit} levels")]
    KeyTreeTooDeep {
        /// The cell offset of the key node at which the limit was passed, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The deepest key tree accepted, in levels.
        limit: usize,
    },
    /// A recursive walk visiting more keys than the caller's bound.
    #[error("walk stopped after {limit} keys")]
    WalkLimit {
        /// The most keys the caller allowed.
        limit: usize,
    },
    /// Inline value data (high bit of the data size) larger than 4 bytes.
    #[error("value at {offset:#x}: inline data size {size} is more than 4")]
    BadInlineSize {
        /// The value record's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The data size with the inline bit masked off, in bytes.
        size: u32,
    },
    /// Value data claims more bytes than its cell(s) hold.
    #[error("value at {offset:#x}: data size {claimed} but only {available} bytes stored")]
    ValueDataTruncated {
        /// The value record's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The data size the value record claims, in bytes.
        claimed: u32,
        /// The bytes its data cell holds.
        available: usize,
    },
    /// A big data record whose segments do not add up.
    #[error("big data at {offset:#x}: {reason}")]
    BadBigData {
        /// The big data record's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// What does not add up.
        reason: &'static str,
    },
    /// A key name that is empty or too long.
    #[error("key node at {offset:#x}: bad name length {len}")]
    BadNameLength {
        /// The key node's cell offset, relative to the start of the hive bins data (file offset minus 4096).
        offset: u32,
        /// The name length stored, in bytes.
        len: usize,
    },
    /// A path component that does not exist. Holds the key path looked up.
    #[error("key not found: {0}")]
    KeyNotFound(String),
    /// A transaction log that cannot be used.
    #[error("transaction log #{index}: {reason}")]
    BadLog {
        /// Which transaction log, in the order given.
        index: usize,
        /// Why it cannot be used.
        reason: String,
    },
    /// The hive is dirty with a damaged base block and no log can repair it. Holds the base
    /// block's checksum mismatch.
    #[error("dirty hive with a bad base block and no usable transaction log: {0}")]
    Unrecoverable(String),
}
