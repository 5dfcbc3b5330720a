//! Tar archive index (ustar, GNU long names, pax `path`/`size`), read by offset: no extraction.

use crate::block::util::{read_into, read_vec, sub};
use crate::block::{BlockDev, BlockError};

const MAX_ENTRIES: usize = 100_000;
const MAX_META: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Offset of the entry's data in the tar file.
    pub offset: u64,
    pub size: u64,
    pub typeflag: u8,
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or(&[])).into_owned()
}

fn number(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        // base-256
        let mut v: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let c = if i == 0 { c & 0x7f } else { c };
            v = v.checked_mul(256)?.checked_add(c as u64)?;
        }
        return Some(v);
    }
    let s = String::from_utf8_lossy(b);
    let t = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let s = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &s;
    while !rest.is_empty() {
        let Some((len_s, _)) = rest.split_once(' ') else {
            break;
        };
        let Ok(len) = len_s.parse::<usize>() else {
            break;
        };
        let Some(rec) = rest.get(..len) else { break };
        rest = rest.get(len..).unwrap_or("");
        let body = rec
            .get(len_s.len() + 1..)
            .unwrap_or("")
            .trim_end_matches('\n');
        if let Some((k, v)) = body.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// Name of the first regular file of the tar, reading at most a few headers (None when it is
/// not a tar).
pub fn first_name(file: &dyn BlockDev) -> Option<String> {
    let mut h = [0u8; 512];
    read_into(file, 0, &mut h, "tar header").ok()?;
    match h.get(156).copied().unwrap_or(0) {
        // Long name / pax header first: walk the headers.
        b'L' | b'x' | b'g' => list_limited(file, 1)
            .ok()?
            .into_iter()
            .next()
            .map(|e| e.name),
        _ => Some(cstr(sub(&h, 0, 100))),
    }
}

/// List the regular-file entries of a tar held by `file`.
pub fn list(file: &dyn BlockDev) -> Result<Vec<Entry>, BlockError> {
    list_limited(file, MAX_ENTRIES)
}

fn list_limited(file: &dyn BlockDev, max: usize) -> Result<Vec<Entry>, BlockError> {
    let name = file.describe();
    let flen = file.len();
    let mut out = Vec::new();
    let mut off = 0u64;
    let mut long_name: Option<String> = None;
    let mut pax_name: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut steps = 0usize;
    while off + 512 <= flen {
        steps += 1;
        if steps > MAX_ENTRIES * 2 {
            return Err(BlockError::TooLarge {
                path: name.into(),
                what: "tar entry count".into(),
                size: steps as u64,
                limit: (MAX_ENTRIES * 2) as u64,
            });
        }
        let mut h = [0u8; 512];
        read_into(file, off, &mut h, "tar header")?;
        if h.iter().all(|&c| c == 0) {
            break;
        }
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    c as u64
                }
            })
            .sum();
        let want = number(sub(&h, 148, 8));
        if want != Some(sum) {
            return Err(BlockError::Checksum {
                path: name.into(),
                what: format!("tar header at offset {off}"),
            });
        }
        let size_field = number(sub(&h, 124, 12)).ok_or_else(|| {
            BlockError::corrupt(&name, format!("tar header at offset {off}: bad size field"))
        })?;
        let size = pax_size.take().unwrap_or(size_field);
        let typeflag = h.get(156).copied().unwrap_or(0);
        let data = off + 512;
        let next = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| data.checked_add(s))
            .ok_or_else(|| BlockError::corrupt(&name, "tar entry size overflows"))?;
        if data.checked_add(size).is_none_or(|e| e > flen) {
            return Err(BlockError::Truncated {
                path: name.into(),
                what: format!("tar entry at offset {off}"),
                offset: data,
                len: size,
                file_size: flen,
            });
        }
        match typeflag {
            b'L' => {
                let d = read_vec(file, data, size, MAX_META, "tar GNU long name")?;
                long_name = Some(cstr(&d));
            }
            b'x' => {
                let d = read_vec(file, data, size, MAX_META, "tar pax header")?;
                for (k, v) in pax_records(&d) {
                    match k.as_str() {
                        "path" => pax_name = Some(v),
                        "size" => pax_size = v.parse().ok(),
                        _ => {}
                    }
                }
            }
            b'g' => {}
            _ => {
                let mut n = cstr(sub(&h, 0, 100));
                if sub(&h, 257, 5) == b"ustar" {
                    let prefix = cstr(sub(&h, 345, 155));
                    if !prefix.is_empty() {
                        n = format!("{prefix}/{n}");
                    }
                }
                if let Some(l) = long_name.take() {
                    n = l;
                }
                if let Some(p) = pax_name.take() {
                    n = p;
                }
                if matches!(typeflag, b'0' | 0 | b'7') {
                    if out.len() >= max {
                        break;
                    }
                    out.push(Entry {
                        name: n.trim_start_matches("./").to_string(),
                        offset: data,
                        size,
                        typeflag,
                    });
                    if out.len() >= max {
                        break;
                    }
                }
            }
        }
        off = next;
    }
    Ok(out)
}
