//! Checksums as the kernel computes them: "raw" crc32c (no pre/post inversion, as
//! `ext4_chksum`/`crc32c_le`) for metadata_csum, and crc16 (ANSI, reflected 0xA001) for the
//! gdt_csum/uninit_bg group descriptor checksum.

/// The kernel's `ext4_chksum(seed, data)`: crc32c without the final inversion, with `seed` as
/// the raw register value.
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    // crc32c_append(c, d) == !raw(!c, d), hence raw(s, d) == !crc32c_append(!s, d).
    !crc32c::crc32c_append(!seed, data)
}

/// The kernel's `crc16(crc, data)` (lib/crc16.c): reflected polynomial 0xA001, no inversion.
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_crc32c_relates_to_standard() {
        // Standard CRC-32C of "123456789" is 0xE3069283 = !raw(!0, data).
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc16_check_value() {
        // CRC-16/ARC check value (init 0): 0xBB3D.
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
    }
}
