//! A bounded LZO1X decompressor (the "safe" decoder semantics: every input read and every
//! back-reference is checked, output never exceeds the caller's limit). Written from the
//! stream description in the Linux kernel's `Documentation/staging/lzo.rst`.

use super::le::corrupt;
use crate::fs::FsError;

struct In<'a> {
    data: &'a [u8],
    pos: usize,
}

impl In<'_> {
    fn byte(&mut self) -> Result<u8, FsError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| corrupt("lzo stream", "input ends inside an instruction"))?;
        self.pos += 1;
        Ok(b)
    }

    fn le16(&mut self) -> Result<usize, FsError> {
        let lo = self.byte()? as usize;
        let hi = self.byte()? as usize;
        Ok(lo | (hi << 8))
    }

    /// Length extension: zero bytes add 255 each, then a non-zero byte ends it.
    fn ext(&mut self, base: usize) -> Result<usize, FsError> {
        let mut len = base;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(len + b as usize);
            }
            len += 255;
        }
    }
}

fn literals(inp: &mut In, out: &mut Vec<u8>, n: usize, max: usize) -> Result<(), FsError> {
    if out.len() + n > max {
        return Err(corrupt("lzo stream", "output exceeds the expected size"));
    }
    let end = inp
        .pos
        .checked_add(n)
        .filter(|&e| e <= inp.data.len())
        .ok_or_else(|| corrupt("lzo stream", "literal run past the input end"))?;
    out.extend_from_slice(&inp.data[inp.pos..end]);
    inp.pos = end;
    Ok(())
}

fn copy_match(out: &mut Vec<u8>, dist: usize, len: usize, max: usize) -> Result<(), FsError> {
    if dist == 0 || dist > out.len() {
        return Err(corrupt(
            "lzo stream",
            format!("back-reference {dist} before the start of output"),
        ));
    }
    if out.len() + len > max {
        return Err(corrupt("lzo stream", "output exceeds the expected size"));
    }
    let start = out.len() - dist;
    for i in 0..len {
        let b = out[start + i];
        out.push(b);
    }
    Ok(())
}

/// Decompress one LZO1X block, producing at most `max` bytes.
pub fn decompress(src: &[u8], max: usize) -> Result<Vec<u8>, FsError> {
    let mut out = Vec::with_capacity(max.min(1 << 17));
    let mut inp = In { data: src, pos: 0 };
    // state: literals copied by the previous instruction (0..3), or 4 after a long literal run.
    let mut state: usize;
    let first = inp.byte()?;
    if first >= 18 {
        let n = first as usize - 17;
        literals(&mut inp, &mut out, n, max)?;
        state = if n <= 3 { n } else { 4 };
    } else if first == 17 {
        return Err(corrupt(
            "lzo stream",
            "bitstream version 1 is not used by btrfs",
        ));
    } else {
        inp.pos = 0;
        state = 0;
    }
    loop {
        let b = inp.byte()? as usize;
        let (dist, len, next_state);
        if b < 16 {
            if state == 0 {
                let n = if b == 0 { inp.ext(15)? + 3 } else { b + 3 };
                literals(&mut inp, &mut out, n, max)?;
                state = 4;
                continue;
            }
            let h = inp.byte()? as usize;
            next_state = b & 3;
            if state == 4 {
                dist = (h << 2) + ((b >> 2) & 3) + 2049;
                len = 3;
            } else {
                dist = (h << 2) + ((b >> 2) & 3) + 1;
                len = 2;
            }
        } else if b < 32 {
            let l = b & 7;
            len = 2 + if l == 0 { inp.ext(7)? } else { l };
            let v = inp.le16()?;
            next_state = v & 3;
            let d = 16384 + ((b & 8) << 11) + (v >> 2);
            if d == 16384 {
                // End of stream.
                if inp.pos != src.len() {
                    // Trailing bytes are tolerated (btrfs pads segments), nothing else to do.
                }
                return Ok(out);
            }
            dist = d;
        } else if b < 64 {
            let l = b & 31;
            len = 2 + if l == 0 { inp.ext(31)? } else { l };
            let v = inp.le16()?;
            next_state = v & 3;
            dist = (v >> 2) + 1;
        } else {
            let h = inp.byte()? as usize;
            next_state = b & 3;
            dist = (h << 3) + ((b >> 2) & 7) + 1;
            len = if b < 128 {
                3 + ((b >> 5) & 1)
            } else {
                5 + ((b >> 5) & 3)
            };
        }
        copy_match(&mut out, dist, len, max)?;
        literals(&mut inp, &mut out, next_state, max)?;
        state = next_state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_only_stream_and_end_marker() {
        // 22..255: copy (b-17) literals; then 0x11 0x00 0x00 ends the stream.
        let mut s = vec![17 + 5];
        s.extend_from_slice(b"hello");
        s.extend_from_slice(&[0x11, 0, 0]);
        assert_eq!(decompress(&s, 100).unwrap(), b"hello");
        assert!(decompress(&s, 4).is_err());
    }

    #[test]
    fn truncated_and_bad_distance_are_errors() {
        assert!(decompress(&[17 + 5, b'a'], 100).is_err());
        // Literal "ab" then a 3-byte match (0x40 form) at distance 9 > output length.
        let s = [17 + 2, b'a', b'b', 0x40, 1, 0x11, 0, 0];
        assert!(decompress(&s, 100).is_err());
    }
}
