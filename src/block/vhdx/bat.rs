//! VHDX block allocation table: payload block entries interleaved with sector-bitmap entries
//! (one bitmap entry after every `chunk_ratio` payload entries).

/// Payload block states.
pub const NOT_PRESENT: u64 = 0;
pub const UNDEFINED: u64 = 1;
pub const ZERO: u64 = 2;
pub const UNMAPPED: u64 = 3;
pub const FULLY_PRESENT: u64 = 6;
pub const PARTIALLY_PRESENT: u64 = 7;

/// What a payload block maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Zero,
    Data(u64),
    Partial,
    Bad(u64),
}

pub fn decode(entry: u64) -> Block {
    match entry & 7 {
        NOT_PRESENT | UNDEFINED | ZERO | UNMAPPED => Block::Zero,
        FULLY_PRESENT => Block::Data(entry & !0xF_FFFF),
        PARTIALLY_PRESENT => Block::Partial,
        s => Block::Bad(s),
    }
}

/// Index in the BAT of payload block `b`.
pub fn index(b: u64, chunk_ratio: u64) -> u64 {
    b + b / chunk_ratio.max(1)
}
