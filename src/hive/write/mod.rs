//! An in-memory writer for registry hives (regf), beside the reader: edits are made in place in
//! the hive image, so cells of untouched keys stay byte-identical; only the cells an edit needs
//! are rewritten, allocated or freed.
//!
//! ```no_run
//! # use guestfix::hive::write::{HiveWriter, ValueData};
//! # fn f(primary: Vec<u8>, logs: Vec<Vec<u8>>) -> Result<(), guestfix::hive::write::WriteError> {
//! let mut h = HiveWriter::open(primary, Some(&logs))?;
//! h.create_key(r"ControlSet001\Services\viostor")?;
//! h.set_value(r"ControlSet001\Services\viostor", "Start", ValueData::dword(0))?;
//! let out: Vec<u8> = h.commit()?;
//! # Ok(()) }
//! ```
//!
//! - **Opening.** A dirty hive is first recovered from its logs by the reader's replay; a hive
//!   still dirty after that is refused ([`WriteError::DirtyNotRecovered`]). Then the writer
//!   proves the structure it will edit consistent ([`check`]): every cell of every bin well
//!   formed, every record reachable from the root an allocated cell of its own with the right
//!   signature, reached once (no loops, no shared cells). Anything else is refused with a typed
//!   error naming the on-disk reason.
//! - **Keys** ([`key`]). Paths are backslash-separated, relative to the root, compared
//!   case-insensitively. `create_key` creates missing parents too (as `RegCreateKeyEx`) and is
//!   a no-op for an existing key. A new key gets its parent's security record (reference count
//!   raised); `delete_key` deletes the whole subtree, lowers the reference counts and frees a
//!   security record nobody uses any more (unlinked from its list). Subkey lists ([`list`]) are
//!   rewritten sorted by upper-cased name: `lh` for hive 1.5+, `lf` for 1.3/1.4, `li` before,
//!   split under an `ri` above [`list::LEAF_MAX`] elements. The parent's subkey count, largest
//!   subkey name length and timestamp are updated; the largest-length fields never shrink.
//! - **Values** ([`value`]). Data of up to 4 bytes is stored inline in the value record, larger
//!   data in its own cell, and data above 16344 bytes as a big data record (`db`, segments of
//!   16344 bytes) when the hive version is 1.4 or later. Unknown types are stored as given.
//! - **Cells** ([`alloc`]): first fit with splitting, new 4 KiB-multiple bins appended when
//!   nothing fits, freed cells merged with free neighbours.
//! - **Commit.** Both sequence numbers are set equal to one more than the highest sequence
//!   number seen (primary base block, and every base block and log entry of the logs given),
//!   the hive bins data size, timestamps and the base block checksum are rewritten.
//!
//! **Stale logs.** Windows replays logs only into a dirty primary (sequence numbers differ or
//! checksum wrong); a clean primary's logs are ignored (regf spec, "Dirty state of a hive").
//! In a dirty primary it applies only log entries from the expected sequence number on
//! (at least the primary's secondary sequence number) in an unbroken run, so entries numbered
//! below the primary's are never applied. Since our sequence number is above every entry of
//! the old logs, they cannot replay over our changes even if the hive were later marked dirty.
//! Callers should still truncate `.LOG1`/`.LOG2` to zero bytes after writing the primary
//! (empty logs are valid), so that no base block copy older than ours remains.
//!
//! After an edit fails part way, the writer refuses further edits and the commit
//! ([`WriteError::Poisoned`]); edits that fail before changing anything leave it usable.

pub mod alloc;
pub mod check;
mod error;
pub mod key;
pub mod list;
pub mod value;

pub use error::WriteError;

use super::base_block::{self, BASE_BLOCK_SIZE, BaseBlock, FILE_TYPE_PRIMARY};
use super::{Hive, ReplayReport, log};
use alloc::Store;
use std::collections::{BTreeMap, HashMap};

/// A value to write: its registry type (`REG_*`, any number) and raw data bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueData {
    pub kind: u32,
    pub data: Vec<u8>,
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

impl ValueData {
    /// REG_SZ, NUL-terminated UTF-16LE.
    pub fn sz(s: &str) -> ValueData {
        ValueData {
            kind: super::value::REG_SZ,
            data: utf16z(s),
        }
    }
    /// REG_EXPAND_SZ, NUL-terminated UTF-16LE.
    pub fn expand_sz(s: &str) -> ValueData {
        ValueData {
            kind: super::value::REG_EXPAND_SZ,
            data: utf16z(s),
        }
    }
    /// REG_MULTI_SZ: each string NUL-terminated, then an empty string.
    pub fn multi_sz(items: &[&str]) -> ValueData {
        let mut data: Vec<u8> = items.iter().flat_map(|s| utf16z(s)).collect();
        data.extend_from_slice(&[0, 0]);
        ValueData {
            kind: super::value::REG_MULTI_SZ,
            data,
        }
    }
    /// REG_DWORD (little-endian).
    pub fn dword(v: u32) -> ValueData {
        ValueData {
            kind: super::value::REG_DWORD,
            data: v.to_le_bytes().to_vec(),
        }
    }
    /// REG_QWORD (little-endian).
    pub fn qword(v: u64) -> ValueData {
        ValueData {
            kind: super::value::REG_QWORD,
            data: v.to_le_bytes().to_vec(),
        }
    }
    /// REG_BINARY.
    pub fn binary(data: Vec<u8>) -> ValueData {
        ValueData {
            kind: super::value::REG_BINARY,
            data,
        }
    }
}

/// A hive opened for editing. See the module documentation.
#[derive(Debug, Clone)]
pub struct HiveWriter {
    store: Store,
    minor: u32,
    root: u32,
    /// Key nodes using each key security record (counted, not trusted from the record).
    sk_users: HashMap<u32, u32>,
    leaf_max: usize,
    /// Highest sequence number met in the base block and the logs.
    sequence: u32,
    report: ReplayReport,
    poisoned: Option<String>,
}

/// Highest sequence number in a set of logs (base block copies and new-format entries).
fn highest_log_sequence(logs: &[Vec<u8>]) -> u32 {
    let mut max = 0;
    for l in logs {
        if let Ok(b) = BaseBlock::parse(l) {
            max = max.max(b.primary_sequence).max(b.secondary_sequence);
        }
        for e in log::scan(l).entries {
            max = max.max(e.sequence);
        }
    }
    max
}

/// FILETIME now (100 ns since 1601-01-01 UTC).
pub(super) fn now_filetime() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0);
    (unix as u64).saturating_add(116_444_736_000_000_000)
}

/// Encode a key or value name: Latin-1 ("compressed") when every character fits, else
/// UTF-16LE. Returns the bytes and whether they are compressed.
pub(super) fn encode_name(name: &str) -> (Vec<u8>, bool) {
    let latin: Option<Vec<u8>> = name.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    match latin {
        Some(b) => (b, true),
        None => (name.encode_utf16().flat_map(u16::to_le_bytes).collect(), false),
    }
}

/// Length of a name in bytes as UTF-16LE (what the largest-length fields count).
pub(super) fn utf16_bytes(name: &str) -> u32 {
    (name.encode_utf16().count() * 2) as u32
}

impl HiveWriter {
    /// Open a primary hive (the whole file) with its transaction logs (`.LOG1`, `.LOG2`, or
    /// one old-format `.LOG`; `None` when there are none). A dirty hive is recovered from the
    /// logs first; see the module documentation for what is refused.
    pub fn open(primary: Vec<u8>, logs: Option<&[Vec<u8>]>) -> Result<HiveWriter, WriteError> {
        let (hive, report, log_seq) = match logs {
            Some(l) => {
                let (h, r) = Hive::from_bytes_with_logs(primary, l)?;
                (h, r, highest_log_sequence(l))
            }
            None => (Hive::from_bytes(primary)?, ReplayReport::default(), 0),
        };
        if hive.is_dirty() {
            return Err(WriteError::DirtyNotRecovered {
                primary: hive.base.primary_sequence,
                secondary: hive.base.secondary_sequence,
            });
        }
        let Hive {
            mut data,
            base,
            bins,
            ..
        } = hive;
        data.truncate(BASE_BLOCK_SIZE + base.hive_bins_data_size as usize);
        let mut store = Store {
            data,
            bins,
            free: BTreeMap::new(),
            changes: 0,
        };
        let allocated = check::scan_cells(&mut store)?;
        let proof = check::prove(
            &store,
            &allocated,
            base.root_cell_offset,
            base.minor_version,
        )?;
        Ok(HiveWriter {
            store,
            minor: base.minor_version,
            root: base.root_cell_offset,
            sk_users: proof.sk_users,
            leaf_max: list::LEAF_MAX,
            sequence: base
                .primary_sequence
                .max(base.secondary_sequence)
                .max(log_seq),
            report,
            poisoned: None,
        })
    }

    /// What log recovery did when the hive was opened.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.report
    }

    /// Regf minor version of the hive (3 to 6).
    pub fn minor_version(&self) -> u32 {
        self.minor
    }

    /// Lower the number of elements per subkey list leaf (2 ..= [`list::LEAF_MAX`]), so that
    /// index roots appear with fewer subkeys (for tests of the `ri` path).
    pub fn set_leaf_limit(&mut self, n: usize) {
        self.leaf_max = n.clamp(2, list::LEAF_MAX);
    }

    /// Run an edit; if it fails after changing the image, refuse everything afterwards.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        if let Some(p) = &self.poisoned {
            return Err(WriteError::Poisoned(p.clone()));
        }
        let before = self.store.changes;
        let r = f(self);
        if let Err(e) = &r {
            if self.store.changes != before {
                self.poisoned = Some(e.to_string());
            }
        }
        r
    }

    /// Serialise the hive: base block (sequence numbers, sizes, timestamp, checksum
    /// rewritten) and the hive bins data. The writer stays usable; each commit raises the
    /// sequence number again.
    pub fn commit(&mut self) -> Result<Vec<u8>, WriteError> {
        if let Some(p) = &self.poisoned {
            return Err(WriteError::Poisoned(p.clone()));
        }
        let seq = self.sequence.wrapping_add(1);
        let now = now_filetime().to_le_bytes();
        let size = self.store.bins_size();
        let data = &mut self.store.data;
        if let Some(s) = data.get_mut(12..20) {
            s.copy_from_slice(&now);
        }
        // The first bin's timestamp is the backup copy of the base block's.
        if let Some(s) = data.get_mut(BASE_BLOCK_SIZE + 20..BASE_BLOCK_SIZE + 28) {
            s.copy_from_slice(&now);
        }
        base_block::BaseBlock::patch(data, seq, size, FILE_TYPE_PRIMARY);
        self.sequence = seq;
        Ok(self.store.data.clone())
    }
}
