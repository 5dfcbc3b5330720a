//! Key operations of the writer: path lookup, creating keys (with missing parents), deleting
//! subtrees, and the parent's subkey list, counts and security reference counts.

use super::error::WriteError;
use super::{HiveWriter, encode_name, list, now_filetime, utf16_bytes};
use crate::hive::MAX_DEPTH;
use crate::hive::cell::NO_CELL;
use crate::hive::key_node::{KEY_COMP_NAME, KeyNode, NK_FIXED};

/// Longest key name Windows accepts, in UTF-16 code units.
pub const MAX_KEY_NAME: usize = 255;

/// Split a path into validated key names (empty components are ignored).
pub(super) fn split_path(path: &str) -> Result<Vec<&str>, WriteError> {
    let comps: Vec<&str> = path.split('\\').filter(|c| !c.is_empty()).collect();
    if comps.len() > MAX_DEPTH {
        return Err(WriteError::TooDeep { limit: MAX_DEPTH });
    }
    for c in &comps {
        if c.encode_utf16().count() > MAX_KEY_NAME {
            return Err(WriteError::InvalidName {
                name: (*c).to_string(),
                reason: "key names are at most 255 characters",
            });
        }
        if c.contains('\0') {
            return Err(WriteError::InvalidName {
                name: (*c).to_string(),
                reason: "key names cannot contain NUL",
            });
        }
    }
    Ok(comps)
}

impl HiveWriter {
    /// The key node at `offset`.
    pub(super) fn node(&self, offset: u32) -> Result<KeyNode, WriteError> {
        Ok(KeyNode::parse(&self.store.cell_for(offset, "key node")?)?)
    }

    /// The subkey of `parent` called `name` (case-insensitive).
    fn child(&self, parent: &KeyNode, name: &str) -> Result<Option<u32>, WriteError> {
        let want = list::sort_key(name);
        let (kids, _) = list::read(&self.store, parent)?;
        for k in kids {
            if list::sort_key(&self.node(k)?.name) == want {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// The key node offset of `path`, if the key exists.
    pub(super) fn find(&self, path: &str) -> Result<Option<u32>, WriteError> {
        let mut cur = self.root;
        for c in split_path(path)? {
            match self.child(&self.node(cur)?, c)? {
                Some(k) => cur = k,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The key node offset of an existing `path`.
    pub(super) fn find_existing(&self, path: &str) -> Result<u32, WriteError> {
        self.find(path)?
            .ok_or_else(|| WriteError::KeyNotFound(path.to_string()))
    }

    /// Whether the key at `path` exists.
    pub fn key_exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(self.find(path)?.is_some())
    }

    /// Create the key at `path` and any missing parents. Returns whether a key was created
    /// (`false` when it existed already).
    pub fn create_key(&mut self, path: &str) -> Result<bool, WriteError> {
        self.guarded(|w| {
            let mut cur = w.root;
            let mut created = false;
            for c in split_path(path)? {
                let nk = w.node(cur)?;
                cur = match w.child(&nk, c)? {
                    Some(k) => k,
                    None => {
                        created = true;
                        w.add_key(&nk, c)?
                    }
                };
            }
            Ok(created)
        })
    }

    /// Write the parent's subkey list as `entries` (sorted here) and update its count.
    fn relist(
        &mut self,
        parent: &KeyNode,
        mut entries: Vec<(u32, String)>,
    ) -> Result<(), WriteError> {
        let (_, cells) = list::read(&self.store, parent)?;
        entries.sort_by_cached_key(|(_, n)| list::sort_key(n));
        for c in cells {
            self.store.free(c)?;
        }
        let p = parent.cell_offset;
        let new = list::write(&mut self.store, self.minor, &entries, self.leaf_max, p)?;
        self.store.put_u32(p, 20, entries.len() as u32)?;
        self.store.put_u32(p, 28, new)?;
        self.store.write(p, 4, &now_filetime().to_le_bytes())
    }

    /// The (offset, name) pairs of a key's subkeys.
    fn entries(&self, parent: &KeyNode) -> Result<Vec<(u32, String)>, WriteError> {
        let (kids, _) = list::read(&self.store, parent)?;
        kids.into_iter()
            .map(|k| Ok((k, self.node(k)?.name)))
            .collect()
    }

    /// Create the subkey `name` of `parent`; returns its offset.
    fn add_key(&mut self, parent: &KeyNode, name: &str) -> Result<u32, WriteError> {
        let mut entries = self.entries(parent)?;
        let (raw, compressed) = encode_name(name);
        let mut rec = vec![0u8; NK_FIXED + raw.len()];
        rec[..2].copy_from_slice(b"nk");
        let flags: u16 = if compressed { KEY_COMP_NAME } else { 0 };
        rec[2..4].copy_from_slice(&flags.to_le_bytes());
        rec[4..12].copy_from_slice(&now_filetime().to_le_bytes());
        rec[16..20].copy_from_slice(&parent.cell_offset.to_le_bytes());
        for at in [28, 32, 40, 48] {
            rec[at..at + 4].copy_from_slice(&NO_CELL.to_le_bytes());
        }
        rec[44..48].copy_from_slice(&parent.security.to_le_bytes());
        rec[72..74].copy_from_slice(&(raw.len() as u16).to_le_bytes());
        rec[NK_FIXED..].copy_from_slice(&raw);
        let off = self.store.alloc(rec.len())?;
        self.store.write(off, 0, &rec)?;
        if parent.security != NO_CELL {
            let sk = parent.security;
            let rc = self.store.get_u32(sk, 12)?;
            self.store.put_u32(sk, 12, rc.saturating_add(1))?;
            *self.sk_users.entry(sk).or_insert(0) += 1;
        }
        entries.push((off, name.to_string()));
        self.relist(parent, entries)?;
        let p = parent.cell_offset;
        let largest = self.store.get_u32(p, 52)?;
        let len = utf16_bytes(name);
        if len > largest & 0xFFFF {
            self.store.put_u32(p, 52, (largest & !0xFFFF) | len)?;
        }
        Ok(off)
    }

    /// Delete the key at `path` with all its subkeys and values.
    pub fn delete_key(&mut self, path: &str) -> Result<(), WriteError> {
        self.guarded(|w| {
            let comps = split_path(path)?;
            let Some((last, up)) = comps.split_last() else {
                return Err(WriteError::RootNotDeletable);
            };
            let parent_path = up.join("\\");
            let parent = w.node(w.find_existing(&parent_path)?)?;
            let target = w
                .child(&parent, last)?
                .ok_or_else(|| WriteError::KeyNotFound(path.to_string()))?;
            // Collect everything first: nothing changes if the subtree cannot be read.
            let mut cells = Vec::new();
            let mut sks = Vec::new();
            let mut stack = vec![target];
            let mut n = 0usize;
            while let Some(k) = stack.pop() {
                n += 1;
                if n > super::check::MAX_KEYS {
                    return Err(WriteError::TooManyKeys {
                        limit: super::check::MAX_KEYS,
                    });
                }
                let nk = w.node(k)?;
                cells.push(k);
                if nk.class_name_offset != NO_CELL && nk.class_name_length > 0 {
                    cells.push(nk.class_name_offset);
                }
                for vk in w.value_offsets(&nk)? {
                    cells.extend(w.value_cells(vk)?);
                }
                if nk.value_count > 0 {
                    cells.push(nk.value_list);
                }
                let (kids, lists) = list::read(&w.store, &nk)?;
                cells.extend(lists);
                stack.extend(kids);
                if nk.security != NO_CELL {
                    sks.push(nk.security);
                }
            }
            let entries = w
                .entries(&parent)?
                .into_iter()
                .filter(|(o, _)| *o != target)
                .collect();
            for c in cells {
                w.store.free(c)?;
            }
            for sk in sks {
                w.release_security(sk)?;
            }
            w.relist(&parent, entries)
        })
    }

    /// One key node less uses `sk`: lower its reference count; free it (unlinked from the
    /// list of security records) when no key node uses it any more.
    fn release_security(&mut self, sk: u32) -> Result<(), WriteError> {
        let rc = self.store.get_u32(sk, 12)?;
        self.store.put_u32(sk, 12, rc.saturating_sub(1))?;
        let users = self.sk_users.entry(sk).or_insert(1);
        *users = users.saturating_sub(1);
        if *users > 0 {
            return Ok(());
        }
        self.sk_users.remove(&sk);
        let flink = self.store.get_u32(sk, 4)?;
        let blink = self.store.get_u32(sk, 8)?;
        let is_sk = |o: u32| {
            self.store
                .cell_for(o, "key security")
                .is_ok_and(|c| c.data.get(..2) == Some(b"sk".as_slice()))
        };
        if flink == sk || blink == sk || !is_sk(flink) || !is_sk(blink) {
            // Not safely unlinkable: leave it allocated, unused.
            return Ok(());
        }
        self.store.put_u32(blink, 4, flink)?;
        self.store.put_u32(flink, 8, blink)?;
        self.store.free(sk)
    }
}
