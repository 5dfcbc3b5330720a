//! Registry edits as the plan shows them: a list of operations on one hive file, applied with
//! our hive writer ([`crate::hive::write::HiveWriter`]), and the `.reg`-form diff of the keys
//! they touch, rendered from the hive bytes before and after (not from the operations), so the
//! audit shows what the written hive really holds.

use crate::hive::value::RegData;
use crate::hive::write::{HiveWriter, ValueData};
use crate::hive::{Hive, HiveError};
use std::fmt::Write as _;

/// One registry operation; key paths are relative to the hive root, `\`-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegOp {
    /// Set a value (the key and its parents are created when missing).
    Set {
        key: String,
        name: String,
        value: ValueData,
    },
    /// Delete a value.
    DeleteValue { key: String, name: String },
    /// Create a key (and its parents).
    CreateKey { key: String },
    /// Delete a key and everything below it.
    DeleteKey { key: String },
}

impl RegOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            RegOp::Set { key, .. }
            | RegOp::DeleteValue { key, .. }
            | RegOp::CreateKey { key }
            | RegOp::DeleteKey { key } => key,
        }
    }
}

/// Errors of planning a hive edit.
#[derive(Debug, thiserror::Error)]
pub enum RegEditError {
    #[error("{path}: {source}")]
    #[allow(dead_code)]
    // never constructed outside the unit tests (issue 24: the module is crate-private)
    Read {
        path: String,
        #[source]
        source: HiveError,
    },
    #[error("{path}: {source}")]
    Write {
        path: String,
        #[source]
        source: crate::hive::write::WriteError,
    },
}

/// Operations for one hive, checked against its current content so that an operation that
/// would change nothing is never recorded (planning a fixed guest gives no change).
pub struct Edits<'h> {
    hive: &'h Hive,
    pub ops: Vec<RegOp>,
}

impl<'h> Edits<'h> {
    pub fn new(hive: &'h Hive) -> Self {
        Edits {
            hive,
            ops: Vec::new(),
        }
    }

    /// The hive being edited (its content before these operations).
    pub fn hive(&self) -> &'h Hive {
        self.hive
    }

    fn current(&self, key: &str, name: &str) -> Result<Option<(u32, Vec<u8>)>, HiveError> {
        let Some(k) = self.hive.root().open_path(key)? else {
            return Ok(None);
        };
        Ok(k.value(name)?.map(|v| (v.data_type, v.raw)))
    }

    /// Whether `key` exists (before these operations).
    pub fn key_exists(&self, key: &str) -> Result<bool, HiveError> {
        Ok(self.hive.root().open_path(key)?.is_some())
    }

    /// Set `key`\`name` to `value` unless it already holds exactly that.
    pub fn set(&mut self, key: &str, name: &str, value: ValueData) -> Result<(), HiveError> {
        if self.current(key, name)? == Some((value.kind, value.data.clone())) {
            return Ok(());
        }
        self.ops.push(RegOp::Set {
            key: key.to_string(),
            name: name.to_string(),
            value,
        });
        Ok(())
    }

    /// Set `key`\`name` only when the value does not exist yet (an INF's NOCLOBBER).
    pub fn set_if_missing(
        &mut self,
        key: &str,
        name: &str,
        value: ValueData,
    ) -> Result<(), HiveError> {
        if self.current(key, name)?.is_none() {
            self.set(key, name, value)?;
        }
        Ok(())
    }

    /// Create `key` unless it exists.
    pub fn create_key(&mut self, key: &str) -> Result<(), HiveError> {
        if !self.key_exists(key)? {
            self.ops.push(RegOp::CreateKey {
                key: key.to_string(),
            });
        }
        Ok(())
    }

    /// Delete `key`\`name` when it exists.
    pub fn delete_value(&mut self, key: &str, name: &str) -> Result<(), HiveError> {
        if self.current(key, name)?.is_some() {
            self.ops.push(RegOp::DeleteValue {
                key: key.to_string(),
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Delete `key` (and its subtree) when it exists.
    pub fn delete_key(&mut self, key: &str) -> Result<(), HiveError> {
        if self.key_exists(key)? {
            self.ops.push(RegOp::DeleteKey {
                key: key.to_string(),
            });
        }
        Ok(())
    }
}

/// Apply `ops` to the hive `primary` (with its transaction logs, replayed first) and return the
/// committed hive bytes.
pub fn apply_ops(
    path: &str,
    primary: Vec<u8>,
    logs: Option<&[Vec<u8>]>,
    ops: &[RegOp],
) -> Result<Vec<u8>, RegEditError> {
    let werr = |source| RegEditError::Write {
        path: path.to_string(),
        source,
    };
    let mut w = HiveWriter::open(primary, logs).map_err(werr)?;
    for op in ops {
        match op {
            RegOp::Set { key, name, value } => {
                w.create_key(key).map_err(werr)?;
                w.set_value(key, name, value.clone()).map_err(werr)?;
            }
            RegOp::DeleteValue { key, name } => w.delete_value(key, name).map_err(werr)?,
            RegOp::CreateKey { key } => {
                w.create_key(key).map_err(werr)?;
            }
            RegOp::DeleteKey { key } => w.delete_key(key).map_err(werr)?,
        }
    }
    w.into_bytes().map_err(werr)
}

/// Most keys shown below a deleted or created key.
const MAX_SUBTREE_KEYS: usize = 10_000;

fn reg_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn hex_list(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One value in regedit's `.reg` syntax, with a readable comment for the hex forms of strings.
pub fn format_value(name: &str, data_type: u32, raw: &[u8]) -> String {
    let n = if name.is_empty() {
        "@".to_string()
    } else {
        reg_string(name)
    };
    let body = match RegData::decode(data_type, raw) {
        RegData::Sz(s) => reg_string(&s),
        RegData::Dword(v) => format!("dword:{v:08x}"),
        RegData::Binary(b) => format!("hex:{}", hex_list(&b)),
        RegData::ExpandSz(s) => format!("hex(2):{} ; {}", hex_list(raw), reg_string(&s)),
        RegData::MultiSz(items) => format!(
            "hex(7):{} ; {}",
            hex_list(raw),
            items
                .iter()
                .map(|s| reg_string(s))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        RegData::Qword(v) => format!("hex(b):{} ; {v:#x}", hex_list(raw)),
        _ => format!("hex({data_type:x}):{}", hex_list(raw)),
    };
    format!("{n}={body}")
}

type Values = Vec<(String, u32, Vec<u8>)>;

fn key_values(hive: &Hive, key: &str) -> Result<Option<Values>, HiveError> {
    let Some(k) = hive.root().open_path(key)? else {
        return Ok(None);
    };
    Ok(Some(
        k.values()?
            .into_iter()
            .map(|v| (v.name, v.data_type, v.raw))
            .collect(),
    ))
}

/// The key and every key below it (pre-order), as paths relative to the hive root.
fn subtree(hive: &Hive, key: &str) -> Result<Vec<String>, HiveError> {
    let mut out = Vec::new();
    let Some(k) = hive.root().open_path(key)? else {
        return Ok(out);
    };
    let mut stack = vec![(key.to_string(), k)];
    while let Some((path, k)) = stack.pop() {
        if out.len() >= MAX_SUBTREE_KEYS {
            break;
        }
        out.push(path.clone());
        let mut subs = k.subkeys()?;
        subs.reverse();
        for s in subs {
            stack.push((format!("{path}\\{}", s.name()), s));
        }
    }
    Ok(out)
}

/// The `.reg`-form diff of the keys `keys` (and, for keys created or deleted, everything below
/// them) between `before` and `after`: `-`/`+` lines under `[root\key]` headers; a key that
/// appears is `+[...]`, one that disappears `-[...]`; unchanged values are not shown.
pub fn reg_diff(
    root: &str,
    before: &Hive,
    after: &Hive,
    keys: &[String],
) -> Result<String, HiveError> {
    let mut all: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        let mut t = subtree(before, k)?;
        t.extend(subtree(after, k)?);
        if t.is_empty() {
            t.push(k.clone());
        }
        for p in t {
            if seen.insert(p.to_ascii_uppercase()) {
                all.push(p);
            }
        }
    }
    let mut out = String::new();
    for key in all {
        let old = key_values(before, &key)?;
        let new = key_values(after, &key)?;
        let mut body = String::new();
        let header = match (&old, &new) {
            (None, None) => continue,
            (None, Some(_)) => format!("+[{root}\\{key}]"),
            (Some(_), None) => format!("-[{root}\\{key}]"),
            (Some(_), Some(_)) => format!(" [{root}\\{key}]"),
        };
        let old = old.unwrap_or_default();
        let new = new.unwrap_or_default();
        for (name, t, raw) in &old {
            match new.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name)) {
                Some((_, t2, raw2)) if t2 == t && raw2 == raw => {}
                Some((n2, t2, raw2)) => {
                    let _ = writeln!(body, "-{}", format_value(name, *t, raw));
                    let _ = writeln!(body, "+{}", format_value(n2, *t2, raw2));
                }
                None => {
                    let _ = writeln!(body, "-{}", format_value(name, *t, raw));
                }
            }
        }
        for (name, t, raw) in &new {
            if !old.iter().any(|(n, ..)| n.eq_ignore_ascii_case(name)) {
                let _ = writeln!(body, "+{}", format_value(name, *t, raw));
            }
        }
        if body.is_empty() && header.starts_with(' ') {
            continue;
        }
        let _ = writeln!(out, "{header}");
        out.push_str(&body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::write::empty_hive;

    #[test]
    fn diff_shows_changed_added_deleted_values_and_keys() {
        let base = apply_ops(
            "t",
            empty_hive(5),
            None,
            &[
                RegOp::Set {
                    key: "A".into(),
                    name: "Start".into(),
                    value: ValueData::dword(3),
                },
                RegOp::Set {
                    key: "A\\StartOverride".into(),
                    name: "0".into(),
                    value: ValueData::dword(3),
                },
            ],
        )
        .unwrap();
        let before = Hive::from_bytes(base.clone()).unwrap();
        let mut e = Edits::new(&before);
        e.set("A", "Start", ValueData::dword(0)).unwrap();
        e.set("A", "Start", ValueData::dword(0)).unwrap();
        e.delete_key("A\\StartOverride").unwrap();
        e.delete_key("A\\Missing").unwrap();
        e.set("B", "", ValueData::sz("x")).unwrap();
        assert_eq!(e.ops.len(), 4, "{:?}", e.ops);
        let keys: Vec<String> = e.ops.iter().map(|o| o.key().to_string()).collect();
        let new = apply_ops("t", base, None, &e.ops).unwrap();
        let after = Hive::from_bytes(new.clone()).unwrap();
        let d = reg_diff("HKEY_LOCAL_MACHINE\\SYSTEM", &before, &after, &keys).unwrap();
        assert_eq!(
            d,
            " [HKEY_LOCAL_MACHINE\\SYSTEM\\A]\n-\"Start\"=dword:00000003\n+\"Start\"=dword:00000000\n\
             -[HKEY_LOCAL_MACHINE\\SYSTEM\\A\\StartOverride]\n-\"0\"=dword:00000003\n\
             +[HKEY_LOCAL_MACHINE\\SYSTEM\\B]\n+@=\"x\"\n"
        );
        // planning again on the result changes nothing
        let mut e2 = Edits::new(&after);
        e2.set("A", "Start", ValueData::dword(0)).unwrap();
        e2.delete_key("A\\StartOverride").unwrap();
        e2.set("B", "", ValueData::sz("x")).unwrap();
        assert!(e2.ops.is_empty());
    }

    #[test]
    fn value_forms() {
        assert_eq!(
            format_value("P", 7, &ValueData::multi_sz(&["a", "b"]).data),
            "\"P\"=hex(7):61,00,00,00,62,00,00,00,00,00 ; \"a\" \"b\""
        );
        assert_eq!(
            format_value("I", 2, &ValueData::expand_sz("%x%").data),
            "\"I\"=hex(2):25,00,78,00,25,00,00,00 ; \"%x%\""
        );
        assert_eq!(format_value("", 3, &[1, 0xff]), "@=hex:01,ff");
    }
}
