//! Architecture from the guest's own binaries: the ELF header (Linux) or the PE header
//! (Windows), as virt-inspector names them (x86_64, i386, aarch64, armv7l, ppc64le, s390x …).

/// The architecture an ELF file was built for.
pub fn elf_arch(b: &[u8]) -> Option<&'static str> {
    if b.len() < 20 || &b[..4] != b"\x7fELF" {
        return None;
    }
    let class64 = b[4] == 2;
    let le = b[5] == 1;
    let machine = if le {
        u16::from_le_bytes([b[18], b[19]])
    } else {
        u16::from_be_bytes([b[18], b[19]])
    };
    Some(match machine {
        0x3e => "x86_64",
        0x03 => "i386",
        0xb7 => "aarch64",
        0x28 => "armv7l",
        0x15 if class64 && le => "ppc64le",
        0x15 => "ppc64",
        0x14 => "ppc",
        0x16 => "s390x",
        0xf3 if class64 => "riscv64",
        0xf3 => "riscv32",
        0x08 => "mips",
        0x2b => "sparc64",
        0x102 => "loongarch64",
        _ => return None,
    })
}

/// The architecture of a Linux kernel image: an x86 bzImage (setup header `HdrS` at 0x202;
/// `XLF_KERNEL_64` in xloadflags at 0x236 means a 64-bit kernel) or an arm64 `Image`
/// (`ARM\x64` at 0x38).
pub fn kernel_image_arch(b: &[u8]) -> Option<&'static str> {
    if b.get(0x38..0x3c) == Some(b"ARM\x64") {
        return Some("aarch64");
    }
    if b.get(0x202..0x206) != Some(b"HdrS") {
        return None;
    }
    let version = u16::from_le_bytes([*b.get(0x206)?, *b.get(0x207)?]);
    let xloadflags = u16::from_le_bytes([*b.get(0x236)?, *b.get(0x237)?]);
    Some(if version >= 0x020c && xloadflags & 1 != 0 {
        "x86_64"
    } else {
        "i386"
    })
}

/// The architecture of a PE file (Windows executables).
pub fn pe_arch(b: &[u8]) -> Option<&'static str> {
    if b.len() < 0x40 || &b[..2] != b"MZ" {
        return None;
    }
    let off = u32::from_le_bytes([b[0x3c], b[0x3d], b[0x3e], b[0x3f]]) as usize;
    let hdr = b.get(off..off.checked_add(6)?)?;
    if &hdr[..4] != b"PE\0\0" {
        return None;
    }
    Some(match u16::from_le_bytes([hdr[4], hdr[5]]) {
        0x8664 => "x86_64",
        0x014c => "i386",
        0xaa64 => "aarch64",
        0x01c4 => "armv7l",
        0x0200 => "ia64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_binaries() {
        // The test host's own /bin/sh is an x86_64 ELF on this machine kind.
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(elf_arch(&sh), Some(std::env::consts::ARCH));
        assert_eq!(elf_arch(b"\x7fELF"), None);
        assert_eq!(elf_arch(b"#!/bin/sh\n echo hello world"), None);
    }

    #[test]
    fn kernel_images() {
        let mut k = vec![0u8; 0x240];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        k[0x236] = 0x1f;
        assert_eq!(kernel_image_arch(&k), Some("x86_64"));
        k[0x236] = 0;
        assert_eq!(kernel_image_arch(&k), Some("i386"));
        let mut a = vec![0u8; 0x40];
        a[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(kernel_image_arch(&a), Some("aarch64"));
        assert_eq!(kernel_image_arch(b"short"), None);
    }

    #[test]
    fn pe_headers() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        assert_eq!(pe_arch(&pe), Some("x86_64"));
        pe[0x84..0x86].copy_from_slice(&0x014cu16.to_le_bytes());
        assert_eq!(pe_arch(&pe), Some("i386"));
        pe[0x3c] = 0xff;
        pe[0x3d] = 0xff;
        assert_eq!(pe_arch(&pe), None);
        assert_eq!(pe_arch(b"MZ"), None);
    }
}
