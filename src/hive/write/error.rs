//! The typed error of the hive writer: reader errors (the on-disk reason a hive was refused)
//! plus the consistency proofs the writer needs and the misuse of its API.

use crate::hive::HiveError;

/// Errors of [`super::HiveWriter`]. Offsets are relative to the start of the hive bins data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The reader refused the hive (or a record met while editing).
    #[error(transparent)]
    Read(#[from] HiveError),
    /// The hive is dirty and the logs given did not recover it: writing it clean would drop
    /// whatever the logs hold.
    #[error(
        "dirty hive (sequence numbers {primary}/{secondary}) not recovered by the transaction logs given"
    )]
    DirtyNotRecovered {
        /// The base block's primary sequence number.
        primary: u32,
        /// The base block's secondary sequence number (differs from the primary: dirty).
        secondary: u32,
    },
    /// A cell whose size is below 8, not a multiple of 8, or runs past the end of its hive bin.
    #[error("hive bin at {bin:#x}: cell at {offset:#x} has bad size {size}")]
    BadCellLayout {
        /// Where the hive bin holding the cell starts, relative to the start of the hive bins data.
        bin: u32,
        /// Where the cell starts, relative to the start of the hive bins data.
        offset: u32,
        /// The cell's size field as stored (negative means allocated), in bytes.
        size: i32,
    },
    /// An offset that is not the start of an allocated cell (outside the hive bins, inside
    /// another cell, or a free cell).
    #[error("{what} offset {offset:#x} is not the start of an allocated cell")]
    NotACellStart {
        /// The offset referenced, relative to the start of the hive bins data.
        offset: u32,
        /// The record kind the reference expects there (e.g. "value list").
        what: &'static str,
    },
    /// One cell reached twice (a loop in a list, a key listed twice, or records sharing a cell).
    #[error("cell at {offset:#x} is used as {second} but already as {first}")]
    CellUsedTwice {
        /// Where the cell starts, relative to the start of the hive bins data.
        offset: u32,
        /// The record kind it was first reached as.
        first: &'static str,
        /// The record kind it was reached as again.
        second: &'static str,
    },
    /// An index root (`ri`) pointing to another index root.
    #[error("index root at {offset:#x} points to another index root")]
    NestedIndexRoot {
        /// The index root's cell offset, relative to the start of the hive bins data.
        offset: u32,
    },
    /// A key whose subkey lists hold a different number of subkeys than its key node says.
    #[error("key node at {offset:#x}: subkey list holds {listed} keys, key node says {count}")]
    SubkeyCountMismatch {
        /// The key node's cell offset, relative to the start of the hive bins data.
        offset: u32,
        /// Subkeys its lists hold.
        listed: usize,
        /// Subkey count the key node stores.
        count: u32,
    },
    /// A key node with more values than the writer accepts.
    #[error("key node at {offset:#x}: {count} values, more than the limit {limit}")]
    TooManyValues {
        /// The key node's cell offset, relative to the start of the hive bins data.
        offset: u32,
        /// Value count the key node stores.
        count: u32,
        /// The most values per key the writer accepts.
        limit: u32,
    },
    /// The hive has more keys than the writer walks.
    #[error("hive has more than {limit} keys")]
    TooManyKeys {
        /// The most keys the writer walks.
        limit: usize,
    },
    /// A key path (or one of its components) that does not exist. Holds the path.
    #[error("key not found: {0}")]
    KeyNotFound(String),
    /// A value that does not exist.
    #[error("value {name:?} not found under {path}")]
    ValueNotFound {
        /// The key's path.
        path: String,
        /// The value's name.
        name: String,
    },
    /// A key or value name the format (or Windows) does not allow.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name (a value name is cut to its first 64 characters).
        name: String,
        /// The rule it breaks (a length limit, no NUL).
        reason: &'static str,
    },
    /// The root key cannot be deleted.
    #[error("the root key cannot be deleted")]
    RootNotDeletable,
    /// Value data larger than the writer stores.
    #[error("value data of {len} bytes is larger than the limit {limit}")]
    ValueTooLarge {
        /// The data's length, in bytes.
        len: usize,
        /// The most bytes the writer stores for this hive version.
        limit: usize,
    },
    /// A key with more subkeys than one index root can hold.
    #[error("key node at {offset:#x}: {count} subkeys do not fit one index root")]
    TooManySubkeys {
        /// The key node's cell offset, relative to the start of the hive bins data.
        offset: u32,
        /// Subkeys the key would have.
        count: usize,
    },
    /// Growing the hive past the size Windows accepts.
    #[error("hive bins data would grow to {size:#x} bytes, over the limit")]
    HiveTooLarge {
        /// The hive bins data size the edit would reach, in bytes.
        size: u64,
    },
    /// The key tree is deeper than Windows allows.
    #[error("key path deeper than {limit} levels")]
    TooDeep {
        /// The most path components accepted.
        limit: usize,
    },
    /// An earlier edit failed half way: the in-memory hive may be inconsistent and is not
    /// committed. Holds the earlier error's message.
    #[error("an earlier edit failed part way ({0}); the hive is not committed")]
    Poisoned(String),
}
