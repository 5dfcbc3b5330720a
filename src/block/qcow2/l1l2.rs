//! qcow2 L1/L2 table entries: what one guest cluster maps to.

/// Host-offset bits of an L1 or (standard) L2 entry.
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
pub const COPIED: u64 = 1 << 63;
pub const COMPRESSED: u64 = 1 << 62;
pub const ZERO: u64 = 1;

/// What a guest cluster maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Not allocated here: read from the backing file, or zeros.
    Unallocated,
    /// Reads as zeros (v3 zero flag).
    Zero,
    /// Stored uncompressed at this host offset.
    Data(u64),
    /// Compressed: host offset and byte length of the compressed stream (upper bound).
    Compressed { offset: u64, len: u64 },
}

/// Decode an L2 entry (standard, 64-bit) for a file with `cluster_bits`.
pub fn decode_l2(entry: u64, cluster_bits: u32, version: u32) -> Mapping {
    if entry & COMPRESSED != 0 {
        let x = 62 - (cluster_bits - 8);
        let offset = entry & ((1u64 << x) - 1);
        let nb_sectors = ((entry >> x) & ((1u64 << (cluster_bits - 8)) - 1)) + 1;
        let len = (nb_sectors * 512).saturating_sub(offset & 511);
        return Mapping::Compressed { offset, len };
    }
    if version >= 3 && entry & ZERO != 0 {
        return Mapping::Zero;
    }
    let off = entry & OFFSET_MASK;
    if off == 0 {
        Mapping::Unallocated
    } else {
        Mapping::Data(off)
    }
}
