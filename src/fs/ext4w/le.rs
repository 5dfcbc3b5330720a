//! Little-endian field access that never panics: out-of-range reads give 0 and out-of-range
//! writes are dropped (the shared [`crate::bytes`] helpers, with the ext4 writer's lenient
//! meaning). Callers bound their offsets; these helpers only make a slip harmless.

use crate::bytes::{self as by, or_zero};

pub fn rd16(b: &[u8], o: usize) -> u16 {
    or_zero(by::le_u16(b, o))
}

pub fn rd32(b: &[u8], o: usize) -> u32 {
    or_zero(by::le_u32(b, o))
}

pub fn rd8(b: &[u8], o: usize) -> u8 {
    b.get(o).copied().unwrap_or(0)
}

pub fn wr8(b: &mut [u8], o: usize, v: u8) {
    let _ = by::put(b, o, &[v]);
}

pub fn wr16(b: &mut [u8], o: usize, v: u16) {
    let _ = by::put_le16(b, o, v);
}

pub fn wr32(b: &mut [u8], o: usize, v: u32) {
    let _ = by::put_le32(b, o, v);
}
