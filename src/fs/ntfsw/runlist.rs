//! Mapping pairs: a non-resident attribute's run list, decoded to `(vcn, lcn, length)` runs and
//! encoded back (length and delta-LCN as minimal little-endian signed integers).

use super::error::{NtfsWriteError, corrupt};

/// Most runs decoded from one attribute.
pub const MAX_RUNS: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub vcn: u64,
    /// `None`: a hole (sparse).
    pub lcn: Option<u64>,
    pub len: u64,
}

fn read_int(b: &[u8], signed: bool) -> i64 {
    let mut v: i64 = 0;
    for (i, &x) in b.iter().enumerate() {
        v |= i64::from(x) << (8 * i);
    }
    if signed && !b.is_empty() && b.len() < 8 && b[b.len() - 1] & 0x80 != 0 {
        v |= -1i64 << (8 * b.len());
    }
    v
}

/// Decode mapping pairs starting at `vcn`, checking every run lies below `clusters`.
pub fn decode(mp: &[u8], vcn: u64, clusters: u64, what: &str) -> Result<Vec<Run>, NtfsWriteError> {
    let mut out = Vec::new();
    let (mut pos, mut vcn, mut lcn) = (0usize, vcn, 0i64);
    loop {
        let Some(&h) = mp.get(pos) else {
            return Err(corrupt(what, "mapping pairs without terminator"));
        };
        if h == 0 {
            return Ok(out);
        }
        let (nl, no) = (usize::from(h & 0xF), usize::from(h >> 4));
        if nl == 0 || nl > 8 || no > 8 {
            return Err(corrupt(what, format!("mapping pair header {h:#x}")));
        }
        let len_b = mp
            .get(pos + 1..pos + 1 + nl)
            .ok_or_else(|| corrupt(what, "mapping pairs truncated"))?;
        let off_b = mp
            .get(pos + 1 + nl..pos + 1 + nl + no)
            .ok_or_else(|| corrupt(what, "mapping pairs truncated"))?;
        let len = read_int(len_b, true);
        if len <= 0 {
            return Err(corrupt(what, format!("run length {len}")));
        }
        let len = len as u64;
        let run_lcn = if no == 0 {
            None
        } else {
            lcn = lcn
                .checked_add(read_int(off_b, true))
                .ok_or_else(|| corrupt(what, "LCN overflow"))?;
            let l = u64::try_from(lcn).map_err(|_| corrupt(what, format!("negative LCN {lcn}")))?;
            if l.checked_add(len).is_none_or(|e| e > clusters) {
                return Err(corrupt(
                    what,
                    format!("run {l}+{len} past the {clusters} clusters"),
                ));
            }
            Some(l)
        };
        out.push(Run {
            vcn,
            lcn: run_lcn,
            len,
        });
        if out.len() > MAX_RUNS {
            return Err(corrupt(what, format!("more than {MAX_RUNS} runs")));
        }
        vcn = vcn
            .checked_add(len)
            .ok_or_else(|| corrupt(what, "VCN overflow"))?;
        pos += 1 + nl + no;
    }
}

/// Smallest little-endian two's-complement encoding of `v`.
fn int_bytes(v: i64) -> Vec<u8> {
    let all = v.to_le_bytes();
    let mut n = 8;
    while n > 1 {
        let top = all[n - 1];
        let next_sign = all[n - 2] & 0x80 != 0;
        if (top == 0 && !next_sign) || (top == 0xFF && next_sign) {
            n -= 1;
        } else {
            break;
        }
    }
    all[..n].to_vec()
}

/// Encode runs (from VCN 0, in order) as mapping pairs with the terminating zero.
pub fn encode(runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0i64;
    for r in runs {
        let lb = int_bytes(r.len as i64);
        let ob = match r.lcn {
            Some(l) => {
                let d = int_bytes(l as i64 - prev);
                prev = l as i64;
                d
            }
            None => Vec::new(),
        };
        out.push((lb.len() as u8) | ((ob.len() as u8) << 4));
        out.extend_from_slice(&lb);
        out.extend_from_slice(&ob);
    }
    out.push(0);
    out
}

/// Total clusters of runs.
pub fn clusters(runs: &[Run]) -> u64 {
    runs.iter().fold(0u64, |a, r| a.saturating_add(r.len))
}

/// Append `(lcn, len)` to `runs`, merging with the last run when contiguous.
pub fn push(runs: &mut Vec<Run>, lcn: u64, len: u64) {
    let vcn = clusters(runs);
    if let Some(last) = runs.last_mut() {
        if last.lcn.is_some_and(|l| l + last.len == lcn) {
            last.len += len;
            return;
        }
    }
    runs.push(Run {
        vcn,
        lcn: Some(lcn),
        len,
    });
}

/// Keep the first `keep` clusters; returns the `(lcn, len)` ranges cut off.
pub fn truncate(runs: &mut Vec<Run>, keep: u64) -> Vec<(u64, u64)> {
    let mut freed = Vec::new();
    let mut out = Vec::new();
    for r in runs.iter() {
        if r.vcn >= keep {
            if let Some(l) = r.lcn {
                freed.push((l, r.len));
            }
        } else if r.vcn + r.len > keep {
            let k = keep - r.vcn;
            out.push(Run { len: k, ..*r });
            if let Some(l) = r.lcn {
                freed.push((l + k, r.len - k));
            }
        } else {
            out.push(*r);
        }
    }
    *runs = out;
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let runs = vec![
            Run {
                vcn: 0,
                lcn: Some(1000),
                len: 5,
            },
            Run {
                vcn: 5,
                lcn: Some(10),
                len: 300,
            },
            Run {
                vcn: 305,
                lcn: Some(70000),
                len: 1,
            },
        ];
        let mp = encode(&runs);
        assert_eq!(decode(&mp, 0, 1 << 20, "t").ok(), Some(runs));
        assert_eq!(int_bytes(-1), vec![0xFF]);
        assert_eq!(int_bytes(128), vec![0x80, 0]);
        assert_eq!(int_bytes(-129), vec![0x7F, 0xFF]);
    }
}
