//! Little-endian field access that never panics: out-of-range reads give 0 and out-of-range
//! writes are dropped. Callers bound their offsets; these helpers only make a slip harmless.

pub fn rd16(b: &[u8], o: usize) -> u16 {
    b.get(o..o.saturating_add(2))
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_le_bytes)
        .unwrap_or(0)
}

pub fn rd32(b: &[u8], o: usize) -> u32 {
    b.get(o..o.saturating_add(4))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

pub fn rd8(b: &[u8], o: usize) -> u8 {
    b.get(o).copied().unwrap_or(0)
}

pub fn wr8(b: &mut [u8], o: usize, v: u8) {
    if let Some(x) = b.get_mut(o) {
        *x = v;
    }
}

pub fn wr16(b: &mut [u8], o: usize, v: u16) {
    if let Some(s) = b.get_mut(o..o.saturating_add(2)) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

pub fn wr32(b: &mut [u8], o: usize, v: u32) {
    if let Some(s) = b.get_mut(o..o.saturating_add(4)) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}
