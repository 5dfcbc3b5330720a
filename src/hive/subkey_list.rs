//! Subkey lists: index leaf (`li`: offsets), fast leaf (`lf`: offset + 4-byte name hint), hash
//! leaf (`lh`: offset + name hash) and index root (`ri`: offsets of leaves).
//!
//! Header: signature @0, element count (u16) @2, elements @4.

use super::Hive;
use super::bytes::{u16_at, u32_at};
use super::cell::Cell;
use super::error::HiveError;

/// Kind of a subkey list record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubkeyListKind {
    /// `li`: key node offsets only.
    IndexLeaf,
    /// `lf`: offsets with the first four name characters as hints.
    FastLeaf,
    /// `lh`: offsets with a name hash.
    HashLeaf,
    /// `ri`: offsets of other (leaf) lists.
    IndexRoot,
}

/// Index root nesting allowed: Windows never nests `ri` in `ri`; we tolerate one extra level.
pub const MAX_LIST_DEPTH: usize = 3;
/// Absolute bound on the subkeys of one key we are willing to collect.
pub const MAX_SUBKEYS: usize = 1 << 22;

/// One parsed subkey list record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubkeyList {
    /// Offset of the list's cell, relative to the hive bins data.
    pub cell_offset: u32,
    /// Which kind of list (`li`, `lf`, `lh`, `ri`).
    pub kind: SubkeyListKind,
    /// Key node offsets (for leaves) or list offsets (for `ri`).
    pub elements: Vec<u32>,
    /// Name hints or hashes (`lf`/`lh` only; empty otherwise).
    pub hints: Vec<u32>,
}

impl SubkeyList {
    /// Parse a subkey list from its cell.
    pub fn parse(cell: &Cell<'_>) -> Result<SubkeyList, HiveError> {
        cell.need(4, "subkey list")?;
        let d = cell.data;
        let (kind, stride) = match d.get(..2) {
            Some(b"li") => (SubkeyListKind::IndexLeaf, 4),
            Some(b"lf") => (SubkeyListKind::FastLeaf, 8),
            Some(b"lh") => (SubkeyListKind::HashLeaf, 8),
            Some(b"ri") => (SubkeyListKind::IndexRoot, 4),
            _ => {
                return Err(HiveError::BadRecordSignature {
                    offset: cell.offset,
                    expected: "lf/lh/li/ri",
                    found: cell.signature(),
                });
            }
        };
        let count = usize::from(u16_at(d, 2).unwrap_or(0));
        let need = 4 + count * stride;
        cell.need(need, "subkey list elements")?;
        let mut elements = Vec::with_capacity(count);
        let mut hints = Vec::new();
        for i in 0..count {
            let at = 4 + i * stride;
            elements.push(u32_at(d, at).unwrap_or(0));
            if stride == 8 {
                hints.push(u32_at(d, at + 4).unwrap_or(0));
            }
        }
        Ok(SubkeyList {
            cell_offset: cell.offset,
            kind,
            elements,
            hints,
        })
    }
}

/// The `lh` hash of a key name: H = 37 * H + C over the upper-cased UTF-16 code units.
pub fn name_hash(name: &str) -> u32 {
    let mut h = 0u32;
    for c in super::upcase(name).encode_utf16() {
        h = h.wrapping_mul(37).wrapping_add(u32::from(c));
    }
    h
}

impl Hive {
    /// Collect the key node offsets reachable from the subkey list at `list`, following `ri`
    /// records (bounded depth; each list visited at most once, so no cycle or blow-up).
    pub fn subkey_offsets(&self, list: u32) -> Result<Vec<u32>, HiveError> {
        // Fast path: a leaf list needs no cycle bookkeeping.
        let top = SubkeyList::parse(&self.cell(list)?)?;
        if top.kind != SubkeyListKind::IndexRoot {
            return Ok(top.elements);
        }
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.collect(list, 0, &mut out, &mut seen)?;
        Ok(out)
    }

    fn collect(
        &self,
        list: u32,
        depth: usize,
        out: &mut Vec<u32>,
        seen: &mut std::collections::HashSet<u32>,
    ) -> Result<(), HiveError> {
        if depth >= MAX_LIST_DEPTH {
            return Err(HiveError::SubkeyListTooDeep { offset: list });
        }
        if !seen.insert(list) {
            return Err(HiveError::SubkeyListCycle { offset: list });
        }
        let cell = self.cell(list)?;
        let parsed = SubkeyList::parse(&cell)?;
        if parsed.kind == SubkeyListKind::IndexRoot {
            for sub in parsed.elements {
                self.collect(sub, depth + 1, out, seen)?;
            }
        } else {
            if out.len() + parsed.elements.len() > MAX_SUBKEYS {
                return Err(HiveError::TooManySubkeys {
                    offset: list,
                    count: (out.len() + parsed.elements.len()) as u64,
                    limit: MAX_SUBKEYS as u64,
                });
            }
            out.extend(parsed.elements);
        }
        Ok(())
    }
}
