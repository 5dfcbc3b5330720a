//! `$UpCase`: the volume's upper-case table, and the file-name collation built on it.

use std::cmp::Ordering;

pub struct UpCase(pub Vec<u16>);

impl UpCase {
    /// From `$UpCase`'s bytes (at most 65536 entries; characters past the table map to
    /// themselves).
    pub fn from_bytes(b: &[u8]) -> UpCase {
        UpCase(
            b.chunks_exact(2)
                .take(65536)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        )
    }
    pub fn up(&self, c: u16) -> u16 {
        self.0.get(usize::from(c)).copied().unwrap_or(c)
    }
    /// Case-insensitive comparison (upper-cased code units, then length).
    pub fn cmp_ic(&self, a: &[u16], b: &[u16]) -> Ordering {
        for (x, y) in a.iter().zip(b) {
            match self.up(*x).cmp(&self.up(*y)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        a.len().cmp(&b.len())
    }
    /// `$I30` collation (COLLATION_FILE_NAME): case-insensitive first, then case-sensitive.
    pub fn collate(&self, a: &[u16], b: &[u16]) -> Ordering {
        self.cmp_ic(a, b).then_with(|| a.cmp(b))
    }
}
