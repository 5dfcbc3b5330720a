//! A kernel module's `.modinfo` section (MOD-L1 driver injection): `vermagic=` (which kernel the
//! module was built for), `depends=` (modules it needs loaded first), `name=` and `alias=`.
//! The module is an ELF relocatable object (32/64-bit, either byte order), possibly compressed
//! (`.ko.xz`, `.ko.zst`, `.ko.gz`). Modules are untrusted: every offset is bounded by the data.

use std::io::Read;

/// Largest module accepted, compressed or not (the biggest in-tree ones are ~20 MiB).
pub const MAX_MODULE: u64 = 64 << 20;

/// Why a module's `.modinfo` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModinfoError {
    #[error("not an ELF object (magic {0})")]
    /// The file is not an ELF object (its first bytes, in hex).
    NotElf(String),
    #[error("ELF {what} at offset {offset} runs past the end ({len} bytes)")]
    /// A structure runs past the end of the file.
    Truncated {
        /// Which structure or field (`section header size` …).
        what: &'static str,
        /// The offset (or size) the ELF headers give it.
        offset: u64,
        /// The file's size in bytes.
        len: usize,
    },
    #[error("no .modinfo section")]
    /// The object has no `.modinfo` section.
    NoModinfo,
    #[error("{compression} data is corrupt: {reason}")]
    /// A compressed module (`.ko.xz`, `.ko.zst`, `.ko.gz`) does not decompress.
    Decompress {
        /// The compression (`xz`, `zstd`, `gzip`).
        compression: &'static str,
        /// The decoder's message.
        reason: String,
    },
    #[error("module larger than {0} bytes")]
    /// The module is larger than this many bytes.
    TooLarge(u64),
}

/// What `.modinfo` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// The module's `name=`.
    pub name: Option<String>,
    /// e.g. `6.1.0-50-amd64 SMP preempt mod_unload modversions `.
    pub vermagic: Option<String>,
    /// Module names, as written (`-` or `_`).
    pub depends: Vec<String>,
    /// Its `alias=` patterns (device IDs it binds, for udev).
    pub aliases: Vec<String>,
}

impl ModInfo {
    /// The kernel release the module was built for: the first word of `vermagic`.
    pub fn kernel_release(&self) -> Option<&str> {
        self.vermagic.as_deref()?.split_whitespace().next()
    }
}

/// The ELF bytes of a module file, decompressing `.ko.xz` / `.ko.zst` / `.ko.gz` (by magic).
pub fn elf_bytes(data: &[u8]) -> Result<Vec<u8>, ModinfoError> {
    let bounded = |r: &mut dyn Read, c: &'static str| -> Result<Vec<u8>, ModinfoError> {
        let mut out = Vec::new();
        r.take(MAX_MODULE + 1)
            .read_to_end(&mut out)
            .map_err(|e| ModinfoError::Decompress {
                compression: c,
                reason: e.to_string(),
            })?;
        if out.len() as u64 > MAX_MODULE {
            return Err(ModinfoError::TooLarge(MAX_MODULE));
        }
        Ok(out)
    };
    if data.starts_with(&[0x1f, 0x8b]) {
        return bounded(&mut flate2::read::GzDecoder::new(data), "gzip");
    }
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut dec = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| {
            ModinfoError::Decompress {
                compression: "zstd",
                reason: e.to_string(),
            }
        })?;
        return bounded(&mut dec, "zstd");
    }
    if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut out = Vec::new();
        let mut w = super::initramfs::LimitedWriter::new(&mut out, MAX_MODULE);
        lzma_rs::xz_decompress(&mut &data[..], &mut w).map_err(|e| {
            if w.exceeded {
                ModinfoError::TooLarge(MAX_MODULE)
            } else {
                ModinfoError::Decompress {
                    compression: "xz",
                    reason: format!("{e:?}"),
                }
            }
        })?;
        return Ok(out);
    }
    if data.len() as u64 > MAX_MODULE {
        return Err(ModinfoError::TooLarge(MAX_MODULE));
    }
    Ok(data.to_vec())
}

/// Read `.modinfo` from a module file (compressed or not).
pub fn read(data: &[u8]) -> Result<ModInfo, ModinfoError> {
    let elf = elf_bytes(data)?;
    parse(section(&elf, ".modinfo")?)
}

fn parse(sec: &[u8]) -> Result<ModInfo, ModinfoError> {
    let mut m = ModInfo::default();
    for field in sec.split(|&b| b == 0) {
        let field = String::from_utf8_lossy(field);
        let Some((k, v)) = field.split_once('=') else {
            continue;
        };
        match k {
            "name" => m.name = Some(v.to_string()),
            "vermagic" => m.vermagic = Some(v.to_string()),
            "depends" => m
                .depends
                .extend(v.split(',').filter(|d| !d.is_empty()).map(str::to_string)),
            "alias" => m.aliases.push(v.to_string()),
            _ => {}
        }
    }
    Ok(m)
}

/// Little helper reading fixed-width fields in the ELF's byte order.
struct Elf<'a> {
    d: &'a [u8],
    le: bool,
    wide: bool,
}

impl<'a> Elf<'a> {
    fn bytes(&self, at: u64, len: u64, what: &'static str) -> Result<&'a [u8], ModinfoError> {
        let t = ModinfoError::Truncated {
            what,
            offset: at,
            len: self.d.len(),
        };
        let s = usize::try_from(at).map_err(|_| t.clone())?;
        let n = usize::try_from(len).map_err(|_| t.clone())?;
        self.d.get(s..s.checked_add(n).ok_or(t.clone())?).ok_or(t)
    }
    fn u(&self, at: u64, len: u64, what: &'static str) -> Result<u64, ModinfoError> {
        let b = self.bytes(at, len, what)?;
        let fold = |v: u64, &x: &u8| (v << 8) | u64::from(x);
        Ok(if self.le {
            b.iter().rev().fold(0, fold)
        } else {
            b.iter().fold(0, fold)
        })
    }
    /// An address/offset-sized field: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, at: u64, what: &'static str) -> Result<u64, ModinfoError> {
        self.u(at, if self.wide { 8 } else { 4 }, what)
    }
}

/// The content of the section named `name`.
fn section<'a>(d: &'a [u8], name: &str) -> Result<&'a [u8], ModinfoError> {
    if d.get(..4) != Some(b"\x7fELF") {
        return Err(ModinfoError::NotElf(
            d.iter().take(4).map(|b| format!("{b:02x}")).collect(),
        ));
    }
    let e = Elf {
        d,
        wide: d.get(4) == Some(&2),
        le: d.get(5) != Some(&2),
    };
    // e_shoff, e_shentsize, e_shnum, e_shstrndx (ELF64 / ELF32 layouts).
    let (shoff, rest) = if e.wide {
        (e.word(0x28, "e_shoff")?, 0x3a)
    } else {
        (e.word(0x20, "e_shoff")?, 0x2e)
    };
    let shentsize = e.u(rest, 2, "e_shentsize")?;
    let shnum = e.u(rest + 2, 2, "e_shnum")?;
    let shstrndx = e.u(rest + 4, 2, "e_shstrndx")?;
    let min_ent = if e.wide { 0x40 } else { 0x28 };
    if shentsize < min_ent {
        return Err(ModinfoError::Truncated {
            what: "section header size",
            offset: shentsize,
            len: d.len(),
        });
    }
    // (offset, size) of section `i`'s data, and its name offset.
    let header = |i: u64| -> Result<(u64, u64, u64), ModinfoError> {
        let h = shoff
            .checked_add(i.saturating_mul(shentsize))
            .ok_or(ModinfoError::Truncated {
                what: "section header",
                offset: shoff,
                len: d.len(),
            })?;
        let name = e.u(h, 4, "sh_name")?;
        let (off, size) = if e.wide {
            (e.word(h + 0x18, "sh_offset")?, e.word(h + 0x20, "sh_size")?)
        } else {
            (e.word(h + 0x10, "sh_offset")?, e.word(h + 0x14, "sh_size")?)
        };
        Ok((off, size, name))
    };
    let (str_off, str_size, _) = header(shstrndx)?;
    let strtab = e.bytes(str_off, str_size, "section name table")?;
    for i in 0..shnum {
        let (off, size, n) = header(i)?;
        let Some(rest) = usize::try_from(n).ok().and_then(|n| strtab.get(n..)) else {
            continue;
        };
        let sname = rest.split(|&b| b == 0).next().unwrap_or_default();
        if sname == name.as_bytes() {
            return e.bytes(off, size, ".modinfo");
        }
    }
    Err(ModinfoError::NoModinfo)
}
