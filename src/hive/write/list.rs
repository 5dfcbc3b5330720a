//! Subkey lists for the writer: read a key's list structure, and write a sorted one.
//!
//! Elements are sorted by the upper-cased name compared as UTF-16 code units (as Windows
//! compares). The leaf kind follows the hive version: `lh` (name hash) for 1.5 and later, `lf`
//! (first four Latin-1 characters as a hint) for 1.3 and 1.4, `li` for older. A list longer
//! than the leaf bound is split into equal leaves under one `ri` index root.

use super::alloc::Store;
use super::error::WriteError;
use crate::hive::cell::NO_CELL;
use crate::hive::key_node::KeyNode;
use crate::hive::subkey_list::{SubkeyList, SubkeyListKind, name_hash};
use crate::hive::upcase;

/// Most elements the writer puts in one leaf (an `lh` leaf of 500 fits a 4 KiB bin).
pub const LEAF_MAX: usize = 500;

/// The sort key of a key name.
pub(super) fn sort_key(name: &str) -> Vec<u16> {
    upcase(name).encode_utf16().collect()
}

/// The key node offsets of `nk`'s subkeys, in list order, and the cells of its list
/// structure (the index root first, if any).
pub(super) fn read(store: &Store, nk: &KeyNode) -> Result<(Vec<u32>, Vec<u32>), WriteError> {
    if nk.subkey_count == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let top = SubkeyList::parse(&store.cell_for(nk.subkey_list, "subkey list")?)?;
    let mut cells = vec![nk.subkey_list];
    if top.kind != SubkeyListKind::IndexRoot {
        return Ok((top.elements, cells));
    }
    let mut keys = Vec::new();
    for leaf in top.elements {
        let l = SubkeyList::parse(&store.cell_for(leaf, "subkey list")?)?;
        if l.kind == SubkeyListKind::IndexRoot {
            return Err(WriteError::NestedIndexRoot {
                offset: nk.subkey_list,
            });
        }
        cells.push(leaf);
        keys.extend(l.elements);
    }
    Ok((keys, cells))
}

/// The `lf` name hint: the first four characters as Latin-1 bytes, zero padded; a first
/// byte of zero when a character is not Latin-1.
fn hint(name: &str) -> u32 {
    let mut b = [0u8; 4];
    for (i, c) in name.chars().take(4).enumerate() {
        match u8::try_from(u32::from(c)) {
            Ok(x) => b[i] = x,
            Err(_) => return 0,
        }
    }
    u32::from_le_bytes(b)
}

fn leaf_bytes(minor: u32, entries: &[(u32, String)]) -> Vec<u8> {
    let (sig, wide): (&[u8; 2], bool) = match minor {
        5.. => (b"lh", true),
        3 | 4 => (b"lf", true),
        _ => (b"li", false),
    };
    let mut out = Vec::with_capacity(4 + entries.len() * 8);
    out.extend_from_slice(sig);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (off, name) in entries {
        out.extend_from_slice(&off.to_le_bytes());
        if wide {
            let h = if minor >= 5 {
                name_hash(name)
            } else {
                hint(name)
            };
            out.extend_from_slice(&h.to_le_bytes());
        }
    }
    out
}

fn put_new(store: &mut Store, bytes: &[u8]) -> Result<u32, WriteError> {
    let off = store.alloc(bytes.len())?;
    store.write(off, 0, bytes)?;
    Ok(off)
}

/// Write a list for `entries` (already sorted); returns its offset (`NO_CELL` when empty).
pub(super) fn write(
    store: &mut Store,
    minor: u32,
    entries: &[(u32, String)],
    leaf_max: usize,
    key: u32,
) -> Result<u32, WriteError> {
    if entries.is_empty() {
        return Ok(NO_CELL);
    }
    let leaf_max = leaf_max.clamp(2, LEAF_MAX);
    if entries.len() <= leaf_max {
        return put_new(store, &leaf_bytes(minor, entries));
    }
    let leaves = entries.len().div_ceil(leaf_max);
    if leaves > usize::from(u16::MAX) {
        return Err(WriteError::TooManySubkeys {
            offset: key,
            count: entries.len(),
        });
    }
    let per = entries.len().div_ceil(leaves);
    let mut ri = Vec::with_capacity(4 + leaves * 4);
    ri.extend_from_slice(b"ri");
    ri.extend_from_slice(&(leaves as u16).to_le_bytes());
    for chunk in entries.chunks(per) {
        let off = put_new(store, &leaf_bytes(minor, chunk))?;
        ri.extend_from_slice(&off.to_le_bytes());
    }
    put_new(store, &ri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_order() {
        assert_eq!(hint("ab"), u32::from_le_bytes(*b"ab\0\0"));
        assert_eq!(hint("Services"), u32::from_le_bytes(*b"Serv"));
        assert_eq!(hint("a\u{263a}"), 0);
        assert!(sort_key("abc") < sort_key("ABD"));
        assert!(sort_key("Z") < sort_key("_"));
        let lh = leaf_bytes(5, &[(0x20, "a".into())]);
        assert_eq!(&lh[..4], b"lh\x01\x00");
        assert_eq!(&lh[8..12], &u32::from('A').to_le_bytes());
        assert_eq!(&leaf_bytes(3, &[])[..2], b"lf");
        assert_eq!(leaf_bytes(2, &[(8, "x".into())]).len(), 8);
    }
}
