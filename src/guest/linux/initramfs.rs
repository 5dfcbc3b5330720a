//! Initramfs / initrd reading (LNX-8, LNX-3, MOD-L1): the kernel unpacks a sequence of cpio
//! archives, each plain or compressed (gzip, xz, lzma, zstd, lz4 legacy, bzip2), often an
//! uncompressed early-microcode archive followed by the compressed main one. We list every file
//! in every archive, bounded in size and count, and derive the kernel modules present.
//!
//! After a compressed member ends, more archives may follow (plain or compressed, after zero
//! padding): the kernel unpacks them all, and so do we — driver injection (MOD-L1) appends an
//! uncompressed archive after the distribution's one, and re-inspection must see it. The
//! content of a few small files (modules.dep, conf/modules …) can be captured on the way
//! ([`list_capturing`]); a later archive's copy of a file replaces an earlier one, as in the
//! kernel.

use crate::formats::cpio::{Header, TRAILER};
use std::io::Read;

/// Bounds for reading an initramfs from an untrusted image.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes any decompressed archive may expand to.
    pub max_unpacked: u64,
    /// Most files listed.
    pub max_entries: usize,
    /// Most archives in the sequence.
    pub max_archives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 1 << 30,
            max_entries: 200_000,
            max_archives: 16,
        }
    }
}

/// Why an initramfs could not be read (LNX-8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitramfsError {
    #[error("empty file")]
    /// The file is empty.
    Empty,
    #[error("not a cpio archive or known compression at offset {offset} (magic {magic})")]
    /// Neither a cpio archive nor a known compression.
    UnknownFormat {
        /// Where, in bytes.
        offset: usize,
        /// The bytes found there, in hex.
        magic: String,
    },
    #[error("{compression} data is corrupt: {reason}")]
    /// A compressed member does not decompress.
    Decompress {
        /// The compression (`gzip`, `zstd` …).
        compression: &'static str,
        /// The decoder's message.
        reason: String,
    },
    #[error("decompressed data exceeds {limit} bytes")]
    /// The decompressed data exceed the bound.
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    #[error("cpio entry at offset {offset}: {reason}")]
    /// A cpio entry is malformed.
    Cpio {
        /// Where the entry starts (in the decompressed archive), in bytes.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    #[error("more than {0} entries or archives")]
    /// More entries or archives than the bound (the bound).
    TooMany(usize),
    #[error("{name}: {size} bytes is more than the {limit} kept of a captured file")]
    /// A captured file is larger than [`Capture::max_file`].
    CaptureTooLarge {
        /// Its path.
        name: String,
        /// Its size in bytes.
        size: usize,
        /// The bound in bytes.
        limit: usize,
    },
}

/// Which files' content [`list_capturing`] keeps, and how much.
pub struct Capture<'a> {
    /// Called with each path (no leading `./` or `/`).
    pub wanted: &'a dyn Fn(&str) -> bool,
    /// Most bytes of one captured file.
    pub max_file: usize,
    /// Most bytes of all captured files together.
    pub max_total: usize,
}

impl Capture<'_> {
    fn check(&self, name: &str, size: usize, kept: usize) -> Result<bool, InitramfsError> {
        if !(self.wanted)(name) {
            return Ok(false);
        }
        if size > self.max_file || kept.saturating_add(size) > self.max_total {
            return Err(InitramfsError::CaptureTooLarge {
                name: name.to_string(),
                size,
                limit: self.max_file.min(self.max_total.saturating_sub(kept)),
            });
        }
        Ok(true)
    }
}

/// One archive of the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// none, gzip, xz, lzma, zstd, lz4, bzip2.
    pub compression: &'static str,
    /// Where the archive starts in the file, in bytes.
    pub offset: usize,
    /// Number of cpio entries it holds.
    pub entries: usize,
    /// Offset just after the archive (its compressed member), when the decoder can tell; the
    /// last archive of a file with `Some` ends where the data ends (trailing zeros aside).
    pub end: Option<usize>,
}

/// What an initramfs holds.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The archives, in file order.
    pub archives: Vec<ArchiveInfo>,
    /// Every path, without a leading `./` or `/`.
    pub files: Vec<String>,
    /// Captured contents (see [`Capture`]), in archive order.
    pub contents: Vec<(String, Vec<u8>)>,
}

impl Listing {
    /// The captured content of `path` as the kernel leaves it: the last archive's copy.
    pub fn content(&self, path: &str) -> Option<&[u8]> {
        self.contents
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.as_slice())
    }

    fn captured_bytes(&self) -> usize {
        self.contents.iter().map(|(_, c)| c.len()).sum()
    }

    /// Kernel module names (`virtio_blk`, `nvme` …) of every `.ko[.xz|.zst|.gz]` file, with `-`
    /// normalised to `_` as modprobe does.
    pub fn modules(&self) -> Vec<String> {
        let mut m: Vec<String> = self.files.iter().filter_map(|f| module_name(f)).collect();
        m.sort();
        m.dedup();
        m
    }
}

/// The module name of a `.ko` path, if it is one.
pub fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2"]
        .iter()
        .find_map(|ext| base.strip_suffix(ext))?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// List an initramfs image.
pub fn list(data: &[u8], limits: &Limits) -> Result<Listing, InitramfsError> {
    list_capturing(data, limits, None)
}

/// List an initramfs image, keeping the content of the files `capture` wants.
pub fn list_capturing(
    data: &[u8],
    limits: &Limits,
    capture: Option<&Capture>,
) -> Result<Listing, InitramfsError> {
    if data.is_empty() {
        return Err(InitramfsError::Empty);
    }
    let mut out = Listing::default();
    let mut pos = 0usize;
    while pos < data.len() {
        // Archives are padded with zeros (to 4 bytes, sometimes to 512).
        pos = data[pos..]
            .iter()
            .position(|&b| b != 0)
            .map_or(data.len(), |n| pos + n);
        if pos >= data.len() {
            break;
        }
        if out.archives.len() >= limits.max_archives {
            return Err(InitramfsError::TooMany(limits.max_archives));
        }
        let rest = &data[pos..];
        let before = out.files.len();
        if rest.starts_with(b"07070") {
            // The kernel looks for a plain archive only at 4-byte aligned offsets.
            if pos % 4 != 0 {
                return Err(InitramfsError::Cpio {
                    offset: pos,
                    reason: "archive not at a 4-byte aligned offset (the kernel rejects it)".into(),
                });
            }
            let used = read_cpio(rest, &mut out, limits, pos, capture)?;
            out.archives.push(ArchiveInfo {
                compression: "none",
                offset: pos,
                entries: out.files.len() - before,
                end: Some(pos + used),
            });
            pos += used;
            continue;
        }
        // Unknown bytes after an archive: the kernel reports them but keeps what it unpacked.
        if !out.archives.is_empty() && !known_compression(rest) {
            break;
        }
        let (compression, used) = stream_compressed(rest, limits, &mut out, capture)?;
        out.archives.push(ArchiveInfo {
            compression,
            offset: pos,
            entries: out.files.len() - before,
            end: used.map(|u| pos + u),
        });
        match used {
            // A decoder that stops exactly at the end of its member: more archives may follow.
            Some(u) if u > 0 => pos += u,
            // Otherwise the member is taken to run to the end of the file.
            _ => break,
        }
    }
    if out.archives.is_empty() {
        return Err(InitramfsError::Empty);
    }
    Ok(out)
}

/// The cpio header at `b[pos..]`, its errors placed at their offset in the image.
fn header(b: &[u8], pos: usize, base: usize) -> Result<Header, InitramfsError> {
    Header::parse(b.get(pos..).unwrap_or(&[])).map_err(|e| InitramfsError::Cpio {
        offset: base + pos + e.at,
        reason: e.reason,
    })
}

/// Read one cpio archive (newc, crc or odc) up to its TRAILER!!!; returns the bytes used.
fn read_cpio(
    b: &[u8],
    out: &mut Listing,
    limits: &Limits,
    base: usize,
    capture: Option<&Capture>,
) -> Result<usize, InitramfsError> {
    let mut pos = 0usize;
    loop {
        if b.len() < pos.saturating_add(6) {
            return Err(InitramfsError::Cpio {
                offset: base + pos,
                reason: format!("archive ends without {TRAILER}"),
            });
        }
        let h = header(b, pos, base)?;
        let (name_at, namesize, filesize, align) = (pos + h.len, h.namesize, h.filesize, h.align);
        let name_end = name_at
            .checked_add(namesize)
            .filter(|&e| e <= b.len() && namesize > 0)
            .ok_or(InitramfsError::Cpio {
                offset: base + pos,
                reason: format!("name of {namesize} bytes runs past the end"),
            })?;
        let raw = &b[name_at..name_end - 1];
        let name = String::from_utf8_lossy(raw).into_owned();
        let data_at = align_up(name_end, align);
        let data_end = data_at
            .checked_add(filesize)
            .filter(|&e| e <= b.len())
            .ok_or(InitramfsError::Cpio {
                offset: base + pos,
                reason: format!("{name}: {filesize} bytes of data run past the end"),
            })?;
        if name == TRAILER {
            return Ok(align_up(data_end, align).min(b.len()));
        }
        let clean = name.trim_start_matches("./").trim_start_matches('/');
        if !clean.is_empty() && clean != "." {
            if out.files.len() >= limits.max_entries {
                return Err(InitramfsError::TooMany(limits.max_entries));
            }
            if let Some(c) = capture {
                if c.check(clean, filesize, out.captured_bytes())? {
                    out.contents
                        .push((clean.to_string(), b[data_at..data_end].to_vec()));
                }
            }
            out.files.push(clean.to_string());
        }
        pos = align_up(data_end, align);
    }
}

fn align_up(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

/// Whether `d` starts like a compressed member the reader knows.
fn known_compression(d: &[u8]) -> bool {
    d.starts_with(&[0x1f, 0x8b])
        || d.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || d.starts_with(b"BZh")
        || d.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || d.starts_with(&[0x5d, 0, 0])
        || d.starts_with(&[0x02, 0x21, 0x4c, 0x18])
}

/// Walk the cpio archives inside a compressed member while decompressing, keeping only names
/// (and captured files): memory stays small however large the archive is. Returns the
/// compression and, for decoders that stop exactly at the end of their member (gzip, zstd, xz),
/// how many input bytes the member used.
fn stream_compressed(
    d: &[u8],
    limits: &Limits,
    out: &mut Listing,
    capture: Option<&Capture>,
) -> Result<(&'static str, Option<usize>), InitramfsError> {
    let lim = limits.max_unpacked;
    let mut rest: &[u8] = d;
    let (name, exact) = {
        let (name, reader, exact): (&'static str, Box<dyn Read + '_>, bool) =
            if d.starts_with(&[0x1f, 0x8b]) {
                // The bufread decoder consumes exactly one gzip member from `rest`.
                let dec = flate2::bufread::GzDecoder::new(&mut rest);
                ("gzip", Box::new(dec), true)
            } else if d.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                let dec = ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| {
                    InitramfsError::Decompress {
                        compression: "zstd",
                        reason: e.to_string(),
                    }
                })?;
                ("zstd", Box::new(dec), true)
            } else if d.starts_with(b"BZh") {
                ("bzip2", Box::new(bzip2_rs::DecoderReader::new(d)), false)
            } else {
                // xz, lzma and lz4 decoders here write into a buffer: decompress (bounded),
                // then walk.
                let (c, unpacked, used) = decompress(d, limits)?;
                walk_stream(&mut &unpacked[..], c, lim, out, limits, capture)?;
                return Ok((c, used));
            };
        let mut r = std::io::BufReader::with_capacity(1 << 16, reader.take(lim + 1));
        walk_stream(&mut r, name, lim, out, limits, capture)?;
        (name, exact)
    };
    Ok((name, exact.then(|| d.len() - rest.len())))
}

/// Parse consecutive cpio archives from a stream (newc/crc/odc), skipping file data.
fn walk_stream<R: Read>(
    r: &mut R,
    compression: &'static str,
    limit: u64,
    out: &mut Listing,
    limits: &Limits,
    capture: Option<&Capture>,
) -> Result<(), InitramfsError> {
    let mut pos: u64 = 0;
    let derr = |e: std::io::Error| InitramfsError::Decompress {
        compression,
        reason: e.to_string(),
    };
    let mut seen_archive = false;
    loop {
        // Skip zero padding between archives; stop cleanly at the end of the stream.
        let mut b = [0u8; 1];
        let first = loop {
            match r.read(&mut b) {
                Ok(0) => {
                    return if seen_archive {
                        Ok(())
                    } else {
                        Err(InitramfsError::Cpio {
                            offset: pos as usize,
                            reason: format!("{compression} member does not hold a cpio archive"),
                        })
                    };
                }
                Ok(_) => {
                    pos += 1;
                    if b[0] != 0 {
                        break b[0];
                    }
                }
                Err(e) => return Err(derr(e)),
            }
        };
        if pos > limit {
            return Err(InitramfsError::TooLarge { limit });
        }
        let mut magic = [first, 0, 0, 0, 0, 0];
        r.read_exact(&mut magic[1..]).map_err(derr)?;
        pos += 5;
        let Some(hdr_len) = Header::len_for_magic(&magic) else {
            return Err(InitramfsError::Cpio {
                offset: pos as usize - 6,
                reason: format!("{compression} member does not hold a cpio archive"),
            });
        };
        let mut hdr = vec![0u8; hdr_len];
        hdr[..6].copy_from_slice(&magic);
        r.read_exact(&mut hdr[6..]).map_err(derr)?;
        pos += hdr_len as u64 - 6;
        let h = header(&hdr, 0, 0)?;
        let (namesize, filesize, align) = (h.namesize, h.filesize, h.align as u64);
        if namesize == 0 || namesize > 4096 {
            return Err(InitramfsError::Cpio {
                offset: pos as usize,
                reason: format!("name size {namesize}"),
            });
        }
        let mut name = vec![0u8; namesize];
        r.read_exact(&mut name).map_err(derr)?;
        pos += namesize as u64;
        skip(r, pos.next_multiple_of(align) - pos).map_err(derr)?;
        pos = pos.next_multiple_of(align);
        let name = String::from_utf8_lossy(&name[..namesize - 1]).into_owned();
        if filesize as u64 > limit {
            return Err(InitramfsError::TooLarge { limit });
        }
        let clean = name.trim_start_matches("./").trim_start_matches('/');
        let keep = match capture {
            Some(c) if name != TRAILER && !clean.is_empty() => {
                c.check(clean, filesize, out.captured_bytes())?
            }
            _ => false,
        };
        if keep {
            let mut content = vec![0u8; filesize];
            r.read_exact(&mut content).map_err(derr)?;
            out.contents.push((clean.to_string(), content));
        } else {
            skip(r, filesize as u64).map_err(derr)?;
        }
        pos += filesize as u64;
        skip(r, pos.next_multiple_of(align) - pos).map_err(derr)?;
        pos = pos.next_multiple_of(align);
        if pos > limit {
            return Err(InitramfsError::TooLarge { limit });
        }
        if name == TRAILER {
            seen_archive = true;
            continue;
        }
        if !clean.is_empty() && clean != "." {
            if out.files.len() >= limits.max_entries {
                return Err(InitramfsError::TooMany(limits.max_entries));
            }
            out.files.push(clean.to_string());
        }
    }
}

fn skip<R: Read>(r: &mut R, n: u64) -> std::io::Result<()> {
    let got = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    if got < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "archive ends early",
        ));
    }
    Ok(())
}

/// Decompress an xz, lzma or lz4-legacy member (bounded); with the input bytes it used when
/// the decoder stops exactly at its end (xz).
fn decompress(
    d: &[u8],
    limits: &Limits,
) -> Result<(&'static str, Vec<u8>, Option<usize>), InitramfsError> {
    let lim = limits.max_unpacked;
    let err = |c: &'static str, e: String| InitramfsError::Decompress {
        compression: c,
        reason: e,
    };
    if d.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // The decoder refuses data after the stream: cut the stream at its footer.
        let end = xz_stream_end(d);
        let mut out = Vec::new();
        let mut w = LimitedWriter::new(&mut out, lim);
        lzma_rs::xz_decompress(&mut d.get(..end.unwrap_or(d.len())).unwrap_or(d), &mut w).map_err(
            |e| {
                if w.exceeded {
                    InitramfsError::TooLarge { limit: lim }
                } else {
                    err("xz", format!("{e:?}"))
                }
            },
        )?;
        return Ok(("xz", out, end));
    }
    if d.len() > 13 && d[0] == 0x5d && d[1] == 0 && d[2] == 0 {
        let mut out = Vec::new();
        let mut w = LimitedWriter::new(&mut out, lim);
        lzma_rs::lzma_decompress(&mut std::io::BufReader::new(d), &mut w).map_err(|e| {
            if w.exceeded {
                InitramfsError::TooLarge { limit: lim }
            } else {
                err("lzma", format!("{e:?}"))
            }
        })?;
        return Ok(("lzma", out, None));
    }
    if let Some(body) = d.strip_prefix(&[0x02, 0x21, 0x4c, 0x18]) {
        return Ok(("lz4", lz4_legacy(body, lim)?, None));
    }
    Err(InitramfsError::UnknownFormat {
        offset: 0,
        magic: d.iter().take(6).map(|b| format!("{b:02x}")).collect(),
    })
}

/// Where the xz stream starting at `d[0]` ends: just after the first stream footer (12 bytes:
/// CRC32 of the next 6, backward size, the header's stream flags, "YZ") on a 4-byte boundary
/// whose CRC and flags check out.
fn xz_stream_end(d: &[u8]) -> Option<usize> {
    let flags = d.get(6..8)?;
    let mut at = 12usize;
    while let Some(f) = d.get(at..at + 12) {
        if &f[10..12] == b"YZ"
            && &f[8..10] == flags
            && crc32fast::hash(&f[4..10]).to_le_bytes() == f[0..4]
        {
            return Some(at + 12);
        }
        at += 4;
    }
    None
}

/// The Linux kernel's lz4 "legacy" framing: blocks of (u32 LE compressed size, data), each
/// decompressing to at most 8 MiB.
fn lz4_legacy(mut d: &[u8], limit: u64) -> Result<Vec<u8>, InitramfsError> {
    const BLOCK: usize = 8 << 20;
    let mut out = Vec::new();
    while d.len() >= 4 {
        let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
        if n == 0x184C2102 {
            d = &d[4..];
            continue;
        }
        let Some(block) = d.get(4..4 + n) else { break };
        let mut buf = vec![0u8; BLOCK];
        let got = lz4_flex::block::decompress_into(block, &mut buf).map_err(|e| {
            InitramfsError::Decompress {
                compression: "lz4",
                reason: e.to_string(),
            }
        })?;
        out.extend_from_slice(&buf[..got]);
        if out.len() as u64 > limit {
            return Err(InitramfsError::TooLarge { limit });
        }
        d = &d[4 + n..];
    }
    Ok(out)
}

/// A writer into a Vec that refuses to grow past `limit` (decompression bombs).
pub(crate) struct LimitedWriter<'a> {
    out: &'a mut Vec<u8>,
    limit: u64,
    pub(crate) exceeded: bool,
}

impl<'a> LimitedWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: u64) -> Self {
        LimitedWriter {
            out,
            limit,
            exceeded: false,
        }
    }
}

impl std::io::Write for LimitedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() as u64 + buf.len() as u64 > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed data too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
