//! kmod's binary index format (`modules.dep.bin`, `modules.alias.bin` …), written for driver
//! injection (MOD-L1): modprobe and libkmod look modules up in the `.bin` index, never in the
//! text `modules.dep`, so an initramfs that gains modules needs a new index.
//!
//! Layout (all integers big-endian): magic `0xB007F457`, version `0x00020001`, the offset of the
//! root node; then nodes of a prefix-compressed trie, each child written before its parent.
//! A node offset carries flags in its top bits: `0x80000000` the node starts with a
//! NUL-terminated prefix, `0x40000000` it has values (count, then per value a priority and a
//! NUL-terminated string), `0x20000000` it has children (first and last child byte, then one
//! offset per byte in that range, 0 where there is no child). A lookup matches the node's
//! prefix, then either ends (the key is complete: the node's values) or takes the child named
//! by the next key byte, that byte being consumed.

use std::collections::BTreeMap;

const MAGIC: u32 = 0xB007_F457;
const VERSION: u32 = 0x0002_0001;
const NODE_PREFIX: u32 = 0x8000_0000;
const NODE_VALUES: u32 = 0x4000_0000;
const NODE_CHILDS: u32 = 0x2000_0000;

/// Why an index cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("key {0:?} is empty or not 7-bit ASCII without NUL (kmod refuses it)")]
    /// A key is empty or not 7-bit ASCII without NUL.
    BadKey(String),
    #[error("value for {0:?} holds a NUL byte")]
    /// A value holds a NUL byte.
    BadValue(String),
    #[error("index larger than 256 MiB")]
    /// The index would exceed 256 MiB.
    TooLarge,
}

/// Keys and their values (value, priority); values of one key are written in priority order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    entries: BTreeMap<Vec<u8>, Values>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `value` under `key` with `priority` (depmod uses the module's order).
    pub fn insert(&mut self, key: &str, value: &str, priority: u32) -> Result<(), IndexError> {
        if key.is_empty() || !key.bytes().all(|b| (1..128).contains(&b)) {
            return Err(IndexError::BadKey(key.to_string()));
        }
        if value.contains('\0') {
            return Err(IndexError::BadValue(key.to_string()));
        }
        let v = self.entries.entry(key.as_bytes().to_vec()).or_default();
        v.push((priority, value.to_string()));
        v.sort();
        Ok(())
    }

    /// The index file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let keys: Vec<Key> = self
            .entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v))
            .collect();
        let root = write_node(&keys, &mut out, true)?;
        out[8..12].copy_from_slice(&root.to_be_bytes());
        Ok(out)
    }
}

/// Values of one key: (priority, value).
type Values = Vec<(u32, String)>;
/// A key's remaining bytes and its values.
type Key<'a> = (&'a [u8], &'a Values);
type Keys<'a> = [Key<'a>];

/// Write the trie node for `keys` (sorted, distinct, each the rest of a key after the bytes
/// already matched) and its children; return its flagged offset.
fn write_node(keys: &Keys, out: &mut Vec<u8>, root: bool) -> Result<u32, IndexError> {
    // The node's prefix: what every remaining key has in common (depmod's root has none).
    let lcp = match (keys.first(), keys.last()) {
        _ if root => 0,
        (Some((a, _)), Some((b, _))) => a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count(),
        _ => 0,
    };
    let prefix = keys.first().map(|(k, _)| &k[..lcp]).unwrap_or_default();
    let mut values: Option<&Values> = None;
    // Children by next byte, written first.
    let mut children: BTreeMap<u8, u32> = BTreeMap::new();
    let mut i = 0;
    while let Some((k, v)) = keys.get(i) {
        let Some(&c) = k.get(lcp) else {
            values = Some(v);
            i += 1;
            continue;
        };
        let group: Vec<Key> = keys[i..]
            .iter()
            .take_while(|(k2, _)| k2.get(lcp) == Some(&c))
            .map(|(k2, v2)| (&k2[lcp + 1..], *v2))
            .collect();
        i += group.len();
        let off = write_node(&group, out, false)?;
        children.insert(c, off);
    }
    let mut off = u32::try_from(out.len())
        .ok()
        .filter(|&o| o < 0x1000_0000)
        .ok_or(IndexError::TooLarge)?;
    if !prefix.is_empty() {
        out.extend_from_slice(prefix);
        out.push(0);
        off |= NODE_PREFIX;
    }
    if let (Some((&first, _)), Some((&last, _))) =
        (children.first_key_value(), children.last_key_value())
    {
        out.push(first);
        out.push(last);
        for c in first..=last {
            out.extend_from_slice(&children.get(&c).copied().unwrap_or(0).to_be_bytes());
        }
        off |= NODE_CHILDS;
    }
    if let Some(vals) = values {
        let n = u32::try_from(vals.len()).map_err(|_| IndexError::TooLarge)?;
        out.extend_from_slice(&n.to_be_bytes());
        for (p, v) in vals {
            out.extend_from_slice(&p.to_be_bytes());
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        off |= NODE_VALUES;
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup as libkmod does it (index_search__node), to test the trie shape.
    fn lookup(idx: &[u8], key: &str) -> Option<Vec<String>> {
        let be = |at: usize| u32::from_be_bytes(idx[at..at + 4].try_into().unwrap());
        assert_eq!(be(0), MAGIC);
        let mut off = be(8);
        let key = key.as_bytes();
        let mut i = 0;
        loop {
            let mut at = (off & 0x0fff_ffff) as usize;
            if off & NODE_PREFIX != 0 {
                let end = at + idx[at..].iter().position(|&b| b == 0).unwrap();
                let p = &idx[at..end];
                if key.get(i..i + p.len()) != Some(p) {
                    return None;
                }
                i += p.len();
                at = end + 1;
            }
            let (first, last) = if off & NODE_CHILDS != 0 {
                let f = idx[at];
                let l = idx[at + 1];
                at += 2;
                (f, l)
            } else {
                (128, 0)
            };
            let childs_at = at;
            if off & NODE_CHILDS != 0 {
                at += 4 * (last as usize - first as usize + 1);
            }
            if i == key.len() {
                if off & NODE_VALUES == 0 {
                    return None;
                }
                let n = be(at) as usize;
                at += 4;
                let mut vals = Vec::new();
                for _ in 0..n {
                    at += 4;
                    let end = at + idx[at..].iter().position(|&b| b == 0).unwrap();
                    vals.push(String::from_utf8(idx[at..end].to_vec()).unwrap());
                    at = end + 1;
                }
                return Some(vals);
            }
            let c = key[i];
            if c < first || c > last {
                return None;
            }
            off = be(childs_at + 4 * (c - first) as usize);
            if off == 0 {
                return None;
            }
            i += 1;
        }
    }

    #[test]
    fn trie_lookups_find_every_key_and_nothing_else() {
        let mut idx = Index::new();
        let keys = [
            "nvme",
            "nvme_core",
            "nvme_fabrics",
            "virtio_blk",
            "virtio",
            "a",
            "ab",
        ];
        for (n, k) in keys.iter().enumerate() {
            idx.insert(k, &format!("kernel/{k}.ko:"), n as u32).unwrap();
        }
        idx.insert("a", "second", 0).unwrap();
        let b = idx.to_bytes().unwrap();
        for k in keys.iter().filter(|k| **k != "a") {
            assert_eq!(lookup(&b, k), Some(vec![format!("kernel/{k}.ko:")]), "{k}");
        }
        assert_eq!(
            lookup(&b, "a"),
            Some(vec!["second".to_string(), "kernel/a.ko:".to_string()])
        );
        for k in ["nvm", "nvme_", "virtio_", "b", "abc", "virtio_blkx"] {
            assert_eq!(lookup(&b, k), None, "{k}");
        }
        assert_eq!(
            Index::new().insert("bad\u{e9}", "x", 0),
            Err(IndexError::BadKey("bad\u{e9}".into()))
        );
    }
}
