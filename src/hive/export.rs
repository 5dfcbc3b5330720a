//! Text exports of a whole hive: the `.reg` form `hivexregedit --export` writes (every value as
//! `hex(type):` bytes), and a line-per-fact dump used to compare hives.

use super::{Hive, HiveError};
use std::fmt::Write as _;

/// Walk bound for exports.
pub const EXPORT_MAX_KEYS: usize = 4_000_000;

fn reg_quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Export in the `.reg` dialect of `hivexregedit --export` with the prefix `\`: a header, then
/// for each key (pre-order) `[\path]`, its values as `"name"=hex(type):..` (`@` for the default
/// value), and a blank line.
pub fn export_reg(hive: &Hive) -> Result<String, HiveError> {
    let mut out = String::from("Windows Registry Editor Version 5.00\n\n");
    hive.walk(EXPORT_MAX_KEYS, |path, key| {
        let _ = writeln!(out, "[\\{path}]");
        for v in key.values()? {
            let name = if v.name.is_empty() {
                "@".to_string()
            } else {
                format!("\"{}\"", reg_quote(&v.name))
            };
            let _ = writeln!(out, "{name}=hex({:x}):{}", v.data_type, hex(&v.raw));
        }
        out.push('\n');
        Ok(())
    })?;
    Ok(out)
}

/// One line per key (path, class name) and per value (path, name, type, data bytes), in walk
/// order: a complete logical dump for comparing two hives.
pub fn dump_lines(hive: &Hive) -> Result<Vec<String>, HiveError> {
    let mut out = Vec::new();
    hive.walk(EXPORT_MAX_KEYS, |path, key| {
        let class = key.class_name()?.unwrap_or_default();
        out.push(format!("K [{path}] class={class:?}"));
        for v in key.values()? {
            out.push(format!(
                "V [{path}] {:?} type={} data={}",
                v.name,
                v.data_type,
                hex(&v.raw)
            ));
        }
        Ok(())
    })?;
    Ok(out)
}
