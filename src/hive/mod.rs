//! Windows registry hives (regf): our own reader, with transaction-log replay in memory, built so
//! that an in-place writer can follow. No GPL code: written from the public format description
//! (Maxim Suhanov's "Windows registry file format specification").
//!
//! One file per on-disk structure: [`base_block`], `bin` (hbin), `cell`, [`key_node`] (nk),
//! [`value`] (vk + data), [`subkey_list`] (li/lf/lh/ri), [`big_data`] (db), `security` (sk),
//! [`log`] (new-format LOG1/LOG2, HvLE), `old_log` (DIRT). Every record keeps its cell offset
//! and size; the in-place writer ([`write::HiveWriter`]) edits keys and values on top of them.
//!
//! What it is for (import requirements): service start types and image paths for WIN-9 (TCP/IP
//! and DHCP enabled) and MOD-W1 (storage/network drivers as boot-start services, which the
//! in-place writer will patch through the exposed cell offsets and sizes), BCD elements for WIN-3
//! (EMS), `TimeZoneInformation\RealTimeIsUniversal` for WIN-7. Dirty hives are read as Windows
//! would after log recovery, so checks see what the guest will see at its first boot.
//!
//! The hive is untrusted input: every size and count it claims is bounded by the bytes actually
//! present, every walk is bounded in depth and guarded against cycles, and errors are typed
//! ([`HiveError`]) and name the on-disk reason.

pub mod base_block;
pub mod big_data;
pub(crate) mod bin;
mod bytes;
pub(crate) mod cell;
mod error;
mod export;
pub mod key_node;
pub mod log;
pub(crate) mod marvin;
pub(crate) mod old_log;
mod replay;
pub(crate) mod security;
pub mod subkey_list;
pub mod value;
pub mod write;

pub use base_block::BaseBlock;
pub use bin::HiveBin;
pub use error::HiveError;
pub use export::{dump_lines, export_reg};
pub use key_node::KeyNode;
pub use replay::{AppliedEntry, LogFormat, ReplayReport};
pub use security::KeySecurity;
pub use value::{RegData, Value, ValueKey};
pub use write::{HiveWriter, ValueData, WriteError};

use base_block::BASE_BLOCK_SIZE;
use cell::NO_CELL;
use std::collections::HashSet;

/// Deepest key tree a walk follows (Windows limits key nesting to 512 levels).
pub const MAX_DEPTH: usize = 512;

/// How strictly to open a hive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HiveOptions {
    /// Read a hive whose base block checksum is wrong instead of refusing it.
    pub lenient_checksum: bool,
}

/// An opened hive: the whole file image in memory (after any log replay) and its validated
/// base block and hive bins.
#[derive(Debug, Clone)]
pub struct Hive {
    data: Vec<u8>,
    base: BaseBlock,
    bins: Vec<HiveBin>,
    root: KeyNode,
}

/// Upper-case a name the way key lookups compare names (per character; characters whose upper
/// case is more than one character are kept as they are, as Windows does).
pub fn upcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

impl Hive {
    /// Open a primary hive file (the whole file in memory). A dirty hive is read as it is on
    /// disk (see [`Hive::from_bytes_with_logs`] to replay its logs); a wrong checksum is
    /// refused ([`HiveError::BadChecksum`]).
    pub fn from_bytes(primary: Vec<u8>) -> Result<Hive, HiveError> {
        Self::from_bytes_with_options(primary, HiveOptions::default())
    }

    /// Open a primary hive with options.
    pub fn from_bytes_with_options(data: Vec<u8>, opts: HiveOptions) -> Result<Hive, HiveError> {
        let base = BaseBlock::parse(&data)?;
        if !base.checksum_ok() && !opts.lenient_checksum {
            return Err(HiveError::BadChecksum {
                stored: base.checksum,
                computed: base.computed_checksum,
            });
        }
        if data.len() < BASE_BLOCK_SIZE {
            return Err(HiveError::TooShort {
                len: data.len(),
                need: BASE_BLOCK_SIZE,
            });
        }
        base.validate_primary()?;
        let claimed = u64::from(base.hive_bins_data_size);
        let available = (data.len() - BASE_BLOCK_SIZE) as u64;
        if claimed > available {
            return Err(HiveError::TruncatedHiveBins { claimed, available });
        }
        let bins_end = BASE_BLOCK_SIZE + base.hive_bins_data_size as usize;
        let bins = bin::scan_bins(data.get(BASE_BLOCK_SIZE..bins_end).unwrap_or(&[]))?;
        let mut hive = Hive {
            data,
            base,
            bins,
            root: KeyNode::default(),
        };
        let root_cell = hive.cell(hive.base.root_cell_offset)?;
        hive.root = KeyNode::parse(&root_cell)?;
        Ok(hive)
    }

    /// Open a primary hive together with its transaction logs (`.LOG1`, `.LOG2` in that order,
    /// or one old-format `.LOG`; empty files are skipped). A dirty hive is recovered in memory
    /// as Windows would recover it; nothing is written back.
    pub fn from_bytes_with_logs(
        primary: Vec<u8>,
        logs: &[Vec<u8>],
    ) -> Result<(Hive, ReplayReport), HiveError> {
        let (data, report) = replay::recover(primary, logs)?;
        let opts = HiveOptions {
            lenient_checksum: false,
        };
        Ok((Self::from_bytes_with_options(data, opts)?, report))
    }

    /// The base block (after replay, if any).
    pub fn base_block(&self) -> &BaseBlock {
        &self.base
    }

    /// The hive bins, in file order.
    pub fn bins(&self) -> &[HiveBin] {
        &self.bins
    }

    /// The whole in-memory image (base block + hive bins data), after replay.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The hive bins data (cell offsets are relative to its start).
    pub fn bins_data(&self) -> &[u8] {
        let end = BASE_BLOCK_SIZE.saturating_add(self.base.hive_bins_data_size as usize);
        self.data.get(BASE_BLOCK_SIZE..end).unwrap_or(&[])
    }

    /// Whether the base block says the hive is dirty (sequence numbers differ / bad checksum).
    pub fn is_dirty(&self) -> bool {
        self.base.is_dirty()
    }

    /// Regf minor version (3 to 6).
    pub fn minor_version(&self) -> u32 {
        self.base.minor_version
    }

    /// The root key.
    pub fn root(&self) -> Key<'_> {
        Key {
            hive: self,
            node: self.root.clone(),
        }
    }

    /// The key node at a cell offset.
    pub fn key_at(&self, offset: u32) -> Result<Key<'_>, HiveError> {
        let c = self.cell(offset)?;
        Ok(Key {
            hive: self,
            node: KeyNode::parse(&c)?,
        })
    }

    /// For a SYSTEM hive: the control set Windows boots with (`Select\Current` = N gives
    /// `ControlSet00N`), or `None` if the hive has no `Select` key.
    pub fn current_control_set(&self) -> Result<Option<Key<'_>>, HiveError> {
        let root = self.root();
        let Some(select) = root.subkey("Select")? else {
            return Ok(None);
        };
        let Some(n) = select.value("Current")?.and_then(|v| v.as_dword()) else {
            return Ok(None);
        };
        root.subkey(&format!("ControlSet{n:03}"))
    }

    /// Visit every key depth-first (pre-order, subkeys in list order), with its path relative
    /// to the root (`""` for the root, `A\B` below). Bounded: at most `max_keys` keys, at most
    /// [`MAX_DEPTH`] levels, and no key node visited twice (a cycle is an error). Returns the
    /// number of keys visited.
    pub fn walk<F>(&self, max_keys: usize, mut f: F) -> Result<usize, HiveError>
    where
        F: FnMut(&str, &Key<'_>) -> Result<(), HiveError>,
    {
        let mut seen: HashSet<u32> = HashSet::new();
        let mut stack: Vec<(String, Key<'_>, usize)> = vec![(String::new(), self.root(), 0)];
        let mut n = 0usize;
        while let Some((path, key, depth)) = stack.pop() {
            if !seen.insert(key.cell_offset()) {
                return Err(HiveError::KeyCycle {
                    offset: key.cell_offset(),
                });
            }
            if n >= max_keys {
                return Err(HiveError::WalkLimit { limit: max_keys });
            }
            n += 1;
            f(&path, &key)?;
            let subs = key.subkeys()?;
            if !subs.is_empty() && depth + 1 > MAX_DEPTH {
                return Err(HiveError::KeyTreeTooDeep {
                    offset: key.cell_offset(),
                    limit: MAX_DEPTH,
                });
            }
            for s in subs.into_iter().rev() {
                let p = if path.is_empty() {
                    s.name().to_string()
                } else {
                    format!("{path}\\{}", s.name())
                };
                stack.push((p, s, depth + 1));
            }
        }
        Ok(n)
    }
}

/// A key of an opened hive.
#[derive(Debug, Clone)]
pub struct Key<'h> {
    hive: &'h Hive,
    node: KeyNode,
}

impl<'h> Key<'h> {
    /// The key's name (the root key has its stored name, often `ROOT` or a GUID-like string).
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The parsed key node record (flags, counts, offsets, sizes).
    pub fn node(&self) -> &KeyNode {
        &self.node
    }

    /// Offset of the key node cell, relative to the hive bins data.
    pub fn cell_offset(&self) -> u32 {
        self.node.cell_offset
    }

    /// Last written timestamp (FILETIME, 100 ns intervals since 1601-01-01 UTC).
    pub fn last_written(&self) -> u64 {
        self.node.last_written
    }

    /// The class name, if the key has one (UTF-16LE, decoded lossily).
    pub fn class_name(&self) -> Result<Option<String>, HiveError> {
        if self.node.class_name_offset == NO_CELL || self.node.class_name_length == 0 {
            return Ok(None);
        }
        let c = self.hive.cell(self.node.class_name_offset)?;
        let len = usize::from(self.node.class_name_length);
        let raw = c.data.get(..len).ok_or(HiveError::RecordTooShort {
            offset: c.offset,
            what: "class name",
            need: len,
            have: c.data.len(),
        })?;
        Ok(Some(bytes::utf16le_lossy(raw)))
    }

    /// The key's security record (`sk`), if any.
    pub fn security(&self) -> Result<Option<KeySecurity>, HiveError> {
        if self.node.security == NO_CELL {
            return Ok(None);
        }
        let c = self.hive.cell(self.node.security)?;
        Ok(Some(KeySecurity::parse(&c)?))
    }

    /// The subkeys, in subkey list order (sorted by upper-cased name in a healthy hive).
    pub fn subkeys(&self) -> Result<Vec<Key<'h>>, HiveError> {
        if self.node.subkey_count == 0 || self.node.subkey_list == NO_CELL {
            return Ok(Vec::new());
        }
        let offs = self.hive.subkey_offsets(self.node.subkey_list)?;
        offs.into_iter().map(|o| self.child(o)).collect()
    }

    /// The key node at `offset`, which must name this key as its parent.
    fn child(&self, offset: u32) -> Result<Key<'h>, HiveError> {
        let k = self.hive.key_at(offset)?;
        if k.node.parent != self.node.cell_offset {
            return Err(HiveError::WrongParent {
                offset,
                listed_under: self.node.cell_offset,
                parent: k.node.parent,
            });
        }
        Ok(k)
    }

    /// The subkey called `name`, compared case-insensitively as Windows does.
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'h>>, HiveError> {
        if self.node.subkey_count == 0 || self.node.subkey_list == NO_CELL {
            return Ok(None);
        }
        let want = upcase(name);
        for o in self.hive.subkey_offsets(self.node.subkey_list)? {
            let k = self.child(o)?;
            if upcase(k.name()) == want {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// Follow a backslash-separated path of subkeys (empty components are ignored).
    pub fn open_path(&self, path: &str) -> Result<Option<Key<'h>>, HiveError> {
        let mut cur = self.clone();
        for comp in path.split('\\').filter(|c| !c.is_empty()) {
            match cur.subkey(comp)? {
                Some(k) => cur = k,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The value key records (names, types, sizes, offsets) without reading any data.
    pub fn value_records(&self) -> Result<Vec<ValueKey>, HiveError> {
        let count = self.node.value_count as usize;
        if count == 0 || self.node.value_list == NO_CELL {
            return Ok(Vec::new());
        }
        let list = self.hive.cell(self.node.value_list)?;
        list.need(count.saturating_mul(4), "value list")?;
        (0..count)
            .map(|i| {
                let off = bytes::u32_at(list.data, i * 4).unwrap_or(NO_CELL);
                ValueKey::parse(&self.hive.cell(off)?)
            })
            .collect()
    }

    fn load(&self, record: ValueKey) -> Result<Value, HiveError> {
        let raw = self.hive.value_data(&record)?;
        Ok(Value {
            name: record.name.clone(),
            data_type: record.data_type,
            decoded: RegData::decode(record.data_type, &raw),
            raw,
            record,
        })
    }

    /// All values with their data, in value list order.
    pub fn values(&self) -> Result<Vec<Value>, HiveError> {
        self.value_records()?
            .into_iter()
            .map(|r| self.load(r))
            .collect()
    }

    /// The value called `name` (case-insensitive; `""` is the default value).
    pub fn value(&self, name: &str) -> Result<Option<Value>, HiveError> {
        let want = upcase(name);
        for r in self.value_records()? {
            if upcase(&r.name) == want {
                return self.load(r).map(Some);
            }
        }
        Ok(None)
    }

    /// The hive this key belongs to.
    pub fn hive(&self) -> &'h Hive {
        self.hive
    }
}
