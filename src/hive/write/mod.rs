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
//!   proves the structure it will edit consistent (`check`): every cell of every bin well
//!   formed, every record reachable from the root an allocated cell of its own with the right
//!   signature, reached once (no loops, no shared cells). Anything else is refused with a typed
//!   error naming the on-disk reason.
//! - **Keys** (`key`). Paths are backslash-separated, relative to the root, compared
//!   case-insensitively. `create_key` creates missing parents too (as `RegCreateKeyEx`) and is
//!   a no-op for an existing key. A new key gets its parent's security record (reference count
//!   raised); `delete_key` deletes the whole subtree, lowers the reference counts and frees a
//!   security record nobody uses any more (unlinked from its list). Subkey lists (`list`) are
//!   rewritten sorted by upper-cased name: `lh` for hive 1.5+, `lf` for 1.3/1.4, `li` before,
//!   split under an `ri` above `list::LEAF_MAX` elements. The parent's subkey count, largest
//!   subkey name length and timestamp are updated; the largest-length fields never shrink.
//! - **Values** (`value`). Data of up to 4 bytes is stored inline in the value record, larger
//!   data in its own cell, and data above 16344 bytes as a big data record (`db`, segments of
//!   16344 bytes, each cell with 4 spare bytes as hivex expects) when the hive version is 1.4
//!   or later. Unknown types are stored as given.
//! - **Cells** (`alloc`): first fit with splitting, new 4 KiB-multiple bins appended when
//!   nothing fits, freed cells merged with free neighbours.
//! - **Commit.** Both sequence numbers are set equal to one more than the highest sequence
//!   number seen (primary base block, and every base block and log entry of the logs given),
//!   the hive bins data size, timestamps and the base block checksum are rewritten. The output
//!   is the base block and the hive bins data, nothing after them.
//! - [`empty_hive`] makes a new hive (root key and one security record) to start from.
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

pub(crate) mod alloc;
pub(crate) mod check;
mod error;
pub(crate) mod key;
pub(crate) mod list;
pub(crate) mod value;

pub use error::WriteError;

use super::base_block::{self, BASE_BLOCK_SIZE, BaseBlock, FILE_TYPE_PRIMARY};
use super::{Hive, ReplayReport, log};
use alloc::Store;
use std::collections::{BTreeMap, HashMap};

/// A value to write: its registry type (`REG_*`, any number) and raw data bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueData {
    /// The registry type (`REG_*`; any number is written as given).
    pub kind: u32,
    /// The raw data bytes, as stored in the hive.
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
/// `SOURCE_DATE_EPOCH` (seconds), when set, fixes it: the same edits then give the same bytes
/// (reproducible output, as the filesystem writers do).
pub(super) fn now_filetime() -> u64 {
    let unix = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(secs) => u128::from(secs) * 10_000_000,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() / 100)
            .unwrap_or(0),
    };
    u64::try_from(unix)
        .unwrap_or(u64::MAX)
        .saturating_add(116_444_736_000_000_000)
}

/// Encode a key or value name: Latin-1 ("compressed") when every character fits, else
/// UTF-16LE. Returns the bytes and whether they are compressed.
pub(super) fn encode_name(name: &str) -> (Vec<u8>, bool) {
    let latin: Option<Vec<u8>> = name
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    match latin {
        Some(b) => (b, true),
        None => (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        ),
    }
}

/// Length of a name in bytes as UTF-16LE (what the largest-length fields count).
pub(super) fn utf16_bytes(name: &str) -> u32 {
    (name.encode_utf16().count() * 2) as u32
}

/// A new empty hive of version 1.`minor` (3 to 6): a base block and one 4 KiB bin holding the
/// root key (`ROOT`) and its key security record (a self-relative descriptor with a null DACL).
pub fn empty_hive(minor: u32) -> Vec<u8> {
    const ROOT: u32 = 0x20;
    const SK: u32 = ROOT + 88;
    let mut d = vec![0u8; BASE_BLOCK_SIZE + 4096];
    let put = |d: &mut Vec<u8>, at: usize, b: &[u8]| {
        if let Some(s) = d.get_mut(at..at + b.len()) {
            s.copy_from_slice(b);
        }
    };
    let now = now_filetime().to_le_bytes();
    put(&mut d, 0, b"regf");
    for (at, v) in [
        (4, 1),
        (8, 1),
        (20, 1),
        (24, minor),
        (32, 1),
        (36, ROOT),
        (40, 4096),
        (44, 1),
    ] {
        put(&mut d, at, &u32::to_le_bytes(v));
    }
    put(&mut d, 12, &now);
    let bin = BASE_BLOCK_SIZE;
    put(&mut d, bin, b"hbin");
    put(&mut d, bin + 8, &4096u32.to_le_bytes());
    put(&mut d, bin + 20, &now);
    // Root key node: 76 bytes + "ROOT" in an 88-byte cell.
    let nk = bin + ROOT as usize;
    put(&mut d, nk, &(-88i32).to_le_bytes());
    put(&mut d, nk + 4, b"nk");
    let flags = super::key_node::KEY_HIVE_ENTRY
        | super::key_node::KEY_NO_DELETE
        | super::key_node::KEY_COMP_NAME;
    put(&mut d, nk + 6, &flags.to_le_bytes());
    put(&mut d, nk + 8, &now);
    for at in [28, 32, 40, 48] {
        put(&mut d, nk + 4 + at, &super::cell::NO_CELL.to_le_bytes());
    }
    put(&mut d, nk + 4 + 44, &SK.to_le_bytes());
    put(&mut d, nk + 4 + 72, &4u16.to_le_bytes());
    put(&mut d, nk + 4 + 76, b"ROOT");
    // Key security: flink = blink = itself, one user, 20-byte descriptor.
    let sk = bin + SK as usize;
    put(&mut d, sk, &(-48i32).to_le_bytes());
    put(&mut d, sk + 4, b"sk");
    for (at, v) in [(4, SK), (8, SK), (12, 1), (16, 20)] {
        put(&mut d, sk + 4 + at, &v.to_le_bytes());
    }
    put(&mut d, sk + 24, &[1, 0, 0x04, 0x80]);
    let tail = SK + 48;
    put(&mut d, bin + tail as usize, &(4096 - tail).to_le_bytes());
    let c = base_block::checksum(&d);
    put(&mut d, base_block::CHECKSUM_OFFSET, &c.to_le_bytes());
    d
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

    /// Lower the number of elements per subkey list leaf (2 ..= `list::LEAF_MAX`), so that
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

    /// [`HiveWriter::commit`] for the last time: the hive bytes without a copy.
    pub fn into_bytes(mut self) -> Result<Vec<u8>, WriteError> {
        let seq = self.sequence.wrapping_add(1);
        let now = now_filetime().to_le_bytes();
        let size = self.store.bins_size();
        if let Some(p) = self.poisoned {
            return Err(WriteError::Poisoned(p));
        }
        let mut data = std::mem::take(&mut self.store.data);
        if let Some(s) = data.get_mut(12..20) {
            s.copy_from_slice(&now);
        }
        if let Some(s) = data.get_mut(BASE_BLOCK_SIZE + 20..BASE_BLOCK_SIZE + 28) {
            s.copy_from_slice(&now);
        }
        base_block::BaseBlock::patch(&mut data, seq, size, FILE_TYPE_PRIMARY);
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::HiveError;
    use crate::hive::subkey_list::{SubkeyList, SubkeyListKind};
    use crate::hive::value::ValueKey;

    fn reopen(w: &mut HiveWriter) -> Hive {
        let out = w.commit().unwrap();
        // The result is provably consistent for the writer too.
        HiveWriter::open(out.clone(), None).unwrap();
        Hive::from_bytes(out).unwrap()
    }

    fn vk(h: &Hive, path: &str, name: &str) -> ValueKey {
        h.root()
            .open_path(path)
            .unwrap()
            .unwrap()
            .value(name)
            .unwrap()
            .unwrap()
            .record
    }

    #[test]
    fn empty_hive_opens_and_round_trips() {
        for minor in 3..=6 {
            let mut w = HiveWriter::open(empty_hive(minor), None).unwrap();
            assert!(w.create_key(r"A\b\C").unwrap());
            assert!(!w.create_key(r"a\B").unwrap());
            w.set_value(r"A\b", "x", ValueData::sz("hello")).unwrap();
            w.set_value(r"A\b", "", ValueData::dword(7)).unwrap();
            let h = reopen(&mut w);
            assert_eq!(h.base_block().primary_sequence, 2);
            let b = h.root().open_path(r"a\B").unwrap().unwrap();
            assert_eq!(b.value("X").unwrap().unwrap().as_string().unwrap(), "hello");
            assert_eq!(b.value("").unwrap().unwrap().as_dword(), Some(7));
            assert_eq!(b.node().largest_value_name, 2);
            assert_eq!(b.node().largest_value_data, 12);
            assert_eq!(h.root().node().largest_subkey_name & 0xFFFF, 2);
            w.delete_key("a").unwrap();
            let h = reopen(&mut w);
            assert_eq!(h.base_block().primary_sequence, 3);
            assert!(h.root().subkeys().unwrap().is_empty());
            assert_eq!(w.delete_key(""), Err(WriteError::RootNotDeletable));
            assert!(matches!(
                w.delete_key("zz"),
                Err(WriteError::KeyNotFound(_))
            ));
        }
    }

    #[test]
    fn data_goes_inline_in_a_cell_or_in_big_data() {
        let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
        w.create_key("k").unwrap();
        w.set_value("k", "four", ValueData::binary(vec![1, 2, 3, 4]))
            .unwrap();
        w.set_value("k", "five", ValueData::binary(vec![5; 5]))
            .unwrap();
        w.set_value("k", "edge", ValueData::binary(vec![6; 16344]))
            .unwrap();
        w.set_value(
            "k",
            "big",
            ValueData::binary((0..40_000).map(|i| i as u8).collect()),
        )
        .unwrap();
        let h = reopen(&mut w);
        let four = vk(&h, "k", "four");
        assert!(four.is_inline());
        assert_eq!(four.data_offset, u32::from_le_bytes([1, 2, 3, 4]));
        assert!(!vk(&h, "k", "five").is_inline());
        let edge = vk(&h, "k", "edge");
        assert_eq!(&h.cell(edge.data_offset).unwrap().data[..2], &[6, 6]);
        let big = vk(&h, "k", "big");
        assert_eq!(&h.cell(big.data_offset).unwrap().data[..4], b"db\x03\x00");
        let k = h.root().open_path("k").unwrap().unwrap();
        assert_eq!(k.value("big").unwrap().unwrap().raw.len(), 40_000);
        assert_eq!(
            k.value("big").unwrap().unwrap().raw[39_999],
            (39_999 % 256) as u8
        );
        // Version 1.3: no big data records, one cell.
        let mut w = HiveWriter::open(empty_hive(3), None).unwrap();
        w.create_key("k").unwrap();
        w.set_value("k", "big", ValueData::binary(vec![9; 40_000]))
            .unwrap();
        let h = reopen(&mut w);
        let big = vk(&h, "k", "big");
        assert!(h.cell(big.data_offset).unwrap().data.len() >= 40_000);
        // Replacing and deleting frees the old data: the hive does not grow on repeats.
        let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
        w.create_key("k").unwrap();
        let mut sizes = Vec::new();
        for i in 0..6u8 {
            w.set_value("k", "v", ValueData::binary(vec![i; 30_000]))
                .unwrap();
            w.delete_value("k", "v").unwrap();
            sizes.push(w.commit().unwrap().len());
        }
        assert!(sizes.windows(2).all(|p| p[0] == p[1]), "{sizes:?}");
        assert!(matches!(
            w.delete_value("k", "v"),
            Err(WriteError::ValueNotFound { .. })
        ));
    }

    fn leaves(h: &Hive, path: &str) -> (SubkeyListKind, Vec<SubkeyListKind>) {
        let k = h.root().open_path(path).unwrap().unwrap();
        let top = SubkeyList::parse(&h.cell(k.node().subkey_list).unwrap()).unwrap();
        let kinds = if top.kind == SubkeyListKind::IndexRoot {
            top.elements
                .iter()
                .map(|&o| SubkeyList::parse(&h.cell(o).unwrap()).unwrap().kind)
                .collect()
        } else {
            Vec::new()
        };
        (top.kind, kinds)
    }

    #[test]
    fn list_kinds_follow_the_version_and_split_under_ri() {
        for (minor, kind) in [(3, SubkeyListKind::FastLeaf), (5, SubkeyListKind::HashLeaf)] {
            let mut w = HiveWriter::open(empty_hive(minor), None).unwrap();
            w.set_leaf_limit(4);
            for i in (0..10).rev() {
                w.create_key(&format!("p\\k{i}")).unwrap();
            }
            let h = reopen(&mut w);
            let (top, kinds) = leaves(&h, "p");
            assert_eq!(top, SubkeyListKind::IndexRoot);
            assert_eq!(kinds, vec![kind; 3]);
            let names: Vec<String> = h
                .root()
                .open_path("p")
                .unwrap()
                .unwrap()
                .subkeys()
                .unwrap()
                .iter()
                .map(|k| k.name().to_string())
                .collect();
            let want: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
            assert_eq!(names, want);
            for i in 0..7 {
                w.delete_key(&format!("p\\k{i}")).unwrap();
            }
            let h = reopen(&mut w);
            assert_eq!(leaves(&h, "p").0, kind);
        }
    }

    #[test]
    fn security_reference_counts() {
        let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
        w.create_key(r"a\b\c").unwrap();
        w.create_key(r"d").unwrap();
        let h = reopen(&mut w);
        let sk = h.root().security().unwrap().unwrap();
        assert_eq!(sk.reference_count, 5);
        w.delete_key("a").unwrap();
        let h = reopen(&mut w);
        assert_eq!(h.root().security().unwrap().unwrap().reference_count, 2);
    }

    /// A hive with keys `k` (holding one 8-byte value) and `l`, and cell offsets.
    fn sample() -> (Vec<u8>, u32, u32) {
        let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
        w.create_key("l").unwrap();
        w.create_key("k").unwrap();
        w.set_value("k", "v", ValueData::qword(1)).unwrap();
        let out = w.commit().unwrap();
        let h = Hive::from_bytes(out.clone()).unwrap();
        let k = h.root().open_path("k").unwrap().unwrap();
        let (ko, vl) = (k.cell_offset(), k.node().value_list);
        (out, ko, vl)
    }

    fn patch(d: &mut [u8], cell: u32, at: usize, b: &[u8]) {
        let s = BASE_BLOCK_SIZE + cell as usize + 4 + at;
        d[s..s + b.len()].copy_from_slice(b);
    }

    #[test]
    fn inconsistent_structures_are_refused_by_reason() {
        let (good, k, vl) = sample();
        HiveWriter::open(good.clone(), None).unwrap();
        // Value list outside the bins.
        let mut d = good.clone();
        patch(&mut d, k, 40, &0x10_0000u32.to_le_bytes());
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::NotACellStart {
                what: "value list",
                ..
            })
        ));
        // Value list pointing inside another cell (overlap).
        let mut d = good.clone();
        patch(&mut d, k, 40, &(vl + 8).to_le_bytes());
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::NotACellStart { .. })
        ));
        // The key listed twice in the root's list (`k`, `l` → `k`, `k`): a loop.
        let mut d = good.clone();
        let h = Hive::from_bytes(good.clone()).unwrap();
        patch(&mut d, h.root().node().subkey_list, 12, &k.to_le_bytes());
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::CellUsedTwice { offset, .. }) if offset == k
        ));
        // Wrong signature.
        let mut d = good.clone();
        patch(&mut d, k, 0, b"nq");
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::Read(HiveError::BadRecordSignature { .. }))
        ));
        // A cell size that is not a multiple of 8.
        let mut d = good.clone();
        let s = BASE_BLOCK_SIZE + k as usize;
        let size = i32::from_le_bytes(d[s..s + 4].try_into().unwrap());
        d[s..s + 4].copy_from_slice(&(size + 4).to_le_bytes());
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::BadCellLayout { .. })
        ));
        // Dirty without logs.
        let mut d = good;
        d[4] ^= 1;
        let c = base_block::checksum(&d);
        d[508..512].copy_from_slice(&c.to_le_bytes());
        assert!(matches!(
            HiveWriter::open(d, None),
            Err(WriteError::DirtyNotRecovered { .. })
        ));
    }

    #[test]
    fn bad_names_and_sizes_change_nothing() {
        let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
        let long = "x".repeat(256);
        assert!(matches!(
            w.create_key(&long),
            Err(WriteError::InvalidName { .. })
        ));
        assert!(matches!(
            w.create_key("a\0b"),
            Err(WriteError::InvalidName { .. })
        ));
        w.create_key("k").unwrap();
        assert!(matches!(
            w.set_value(
                "k",
                "v",
                ValueData::binary(vec![0; value::MAX_VALUE_DATA + 1])
            ),
            Err(WriteError::ValueTooLarge { .. })
        ));
        assert!(matches!(
            w.set_value("nope", "v", ValueData::dword(1)),
            Err(WriteError::KeyNotFound(_))
        ));
        // Still usable.
        w.set_value("k", "v", ValueData::dword(1)).unwrap();
        reopen(&mut w);
    }

    /// The fuzz target's loop without libFuzzer: seeded random edits on an empty hive of each
    /// version, checked against a plain model through the reader.
    #[test]
    fn seeded_random_edits_match_a_model() {
        use crate::hive::upcase;
        use std::collections::BTreeMap;
        type Model = BTreeMap<String, BTreeMap<String, (u32, Vec<u8>)>>;
        const NAMES: &[&str] = &["a", "B", "c", "\u{e9}", "\u{263a}", "Ss", "x y"];
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for seed in 0..120u32 {
            let minor = 3 + seed % 4;
            let mut w = HiveWriter::open(empty_hive(minor), None).unwrap();
            w.set_leaf_limit(2 + seed as usize % 5);
            let mut m: Model = BTreeMap::new();
            m.insert(String::new(), BTreeMap::new());
            for _ in 0..60 {
                let depth = 1 + next(3) as usize;
                let comps: Vec<&str> = (0..depth).map(|_| NAMES[next(7) as usize]).collect();
                let path = comps.join("\\");
                let up = upcase(&path);
                let create = |m: &mut Model| {
                    for i in 1..=comps.len() {
                        m.entry(upcase(&comps[..i].join("\\"))).or_default();
                    }
                };
                match next(5) {
                    0 => {
                        w.create_key(&path).unwrap();
                        create(&mut m);
                    }
                    1 => {
                        let r = w.delete_key(&path);
                        if m.contains_key(&up) {
                            r.unwrap();
                            let pre = format!("{up}\\");
                            m.retain(|k, _| *k != up && !k.starts_with(&pre));
                        } else {
                            assert!(matches!(r, Err(WriteError::KeyNotFound(_))));
                        }
                    }
                    2 | 3 => {
                        let n = match next(4) {
                            0 => next(5),
                            1 => next(200),
                            2 => 16_340 + next(10),
                            _ => next(70_000),
                        } as usize;
                        let kind = next(13) as u32;
                        let data: Vec<u8> = (0..n).map(|i| (i as u8) ^ (seed as u8)).collect();
                        let name = NAMES[next(7) as usize];
                        w.create_key(&path).unwrap();
                        create(&mut m);
                        w.set_value(
                            &path,
                            name,
                            ValueData {
                                kind,
                                data: data.clone(),
                            },
                        )
                        .unwrap();
                        m.get_mut(&up).unwrap().insert(upcase(name), (kind, data));
                    }
                    _ => {
                        let name = NAMES[next(7) as usize];
                        let r = w.delete_value(&path, name);
                        match m.get_mut(&up).map(|v| v.remove(&upcase(name))) {
                            Some(Some(_)) => r.unwrap(),
                            _ => assert!(r.is_err()),
                        }
                    }
                }
            }
            let h = reopen(&mut w);
            let mut got: Model = BTreeMap::new();
            h.walk(100_000, |p, k| {
                let vals = k
                    .values()?
                    .into_iter()
                    .map(|v| (upcase(&v.name), (v.data_type, v.raw)))
                    .collect();
                got.insert(upcase(p), vals);
                Ok(())
            })
            .unwrap();
            assert!(got == m, "seed {seed}: reader disagrees with the model");
        }
    }
}
