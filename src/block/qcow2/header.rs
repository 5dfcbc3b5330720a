//! The qcow2 header (versions 2 and 3) and its header extensions.
//! Layout: docs/interop/qcow2.txt in the QEMU tree (read, not copied).

use crate::block::BlockError;
use crate::block::util::{be32, be64, sub};

pub const MAGIC: &[u8; 4] = b"QFI\xfb";
pub const EXT_END: u32 = 0;
pub const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;
#[allow(dead_code)] // unused since the module became crate-private (issue 24); part of the on-disk format
pub const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
pub const EXT_EXTERNAL_DATA: u32 = 0x4441_5441;

/// Incompatible feature bits.
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
#[allow(dead_code)] // unused since the module became crate-private (issue 24); part of the on-disk format
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
pub const INCOMPAT_EXTERNAL_DATA: u64 = 1 << 2;
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
pub const INCOMPAT_EXTENDED_L2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0x1f;

/// Largest virtual size accepted (QEMU's own limit is 2^56 bytes of L1 reach; we keep to
/// 256 TiB which is far beyond FMT-4's 16 TiB).
pub const MAX_VIRTUAL_SIZE: u64 = 1 << 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Deflate,
    Zstd,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    pub size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    #[allow(dead_code)]
    // unused since the module became crate-private (issue 24); part of the on-disk format
    pub nb_snapshots: u32,
    pub incompatible: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    pub compression: Compression,
    pub backing_file: Option<String>,
    pub backing_format: Option<String>,
}

impl Header {
    /// Parse from the first bytes of the file (`buf` holds at least the first cluster or the
    /// whole file when it is smaller than 64 KiB).
    pub fn parse(buf: &[u8], path: &str) -> Result<Header, BlockError> {
        let bad = |r: String| BlockError::corrupt(path, format!("qcow2 header: {r}"));
        if buf.len() < 72 {
            return Err(BlockError::Truncated {
                path: path.into(),
                what: "qcow2 header".into(),
                offset: 0,
                len: 72,
                file_size: buf.len() as u64,
            });
        }
        if sub(buf, 0, 4) != MAGIC {
            return Err(bad("bad magic".into()));
        }
        let version = be32(buf, 4);
        if version != 2 && version != 3 {
            return Err(BlockError::unsupported(
                path,
                format!("qcow2 version {version}"),
            ));
        }
        let cluster_bits = be32(buf, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(format!("cluster_bits {cluster_bits} outside 9..=21")));
        }
        let size = be64(buf, 24);
        if size > MAX_VIRTUAL_SIZE {
            return Err(BlockError::TooLarge {
                path: path.into(),
                what: "qcow2 virtual size".into(),
                size,
                limit: MAX_VIRTUAL_SIZE,
            });
        }
        let mut h = Header {
            version,
            cluster_bits,
            size,
            crypt_method: be32(buf, 32),
            l1_size: be32(buf, 36),
            l1_table_offset: be64(buf, 40),
            refcount_table_offset: be64(buf, 48),
            refcount_table_clusters: be32(buf, 56),
            nb_snapshots: be32(buf, 60),
            incompatible: 0,
            refcount_order: 4,
            header_length: 72,
            compression: Compression::Deflate,
            backing_file: None,
            backing_format: None,
        };
        if version == 3 {
            if buf.len() < 104 {
                return Err(bad("v3 header shorter than 104 bytes".into()));
            }
            h.incompatible = be64(buf, 72);
            h.refcount_order = be32(buf, 96);
            h.header_length = be32(buf, 100);
            if h.header_length < 104 || h.header_length as usize > buf.len() {
                return Err(bad(format!("header_length {} invalid", h.header_length)));
            }
            if h.incompatible & INCOMPAT_COMPRESSION != 0 {
                if h.header_length < 105 {
                    return Err(bad(
                        "compression type bit set but no compression_type field".into(),
                    ));
                }
                h.compression = match buf.get(104).copied().unwrap_or(0) {
                    0 => Compression::Deflate,
                    1 => Compression::Zstd,
                    t => {
                        return Err(BlockError::unsupported(
                            path,
                            format!("qcow2 compression type {t}"),
                        ));
                    }
                };
            }
        }
        if h.crypt_method != 0 {
            return Err(BlockError::Encrypted {
                path: path.into(),
                method: match h.crypt_method {
                    1 => "qcow2 AES".into(),
                    2 => "qcow2 LUKS".into(),
                    m => format!("qcow2 crypt_method {m}"),
                },
            });
        }
        let unknown = h.incompatible & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(BlockError::unsupported(
                path,
                format!("qcow2 unknown incompatible features {unknown:#x}"),
            ));
        }
        if h.incompatible & INCOMPAT_EXTERNAL_DATA != 0 {
            return Err(BlockError::unsupported(path, "qcow2 external data file"));
        }
        if h.incompatible & INCOMPAT_EXTENDED_L2 != 0 {
            return Err(BlockError::unsupported(
                path,
                "qcow2 extended L2 entries (subclusters)",
            ));
        }
        // Header extensions.
        let mut off = h.header_length as usize;
        let mut guard = 0;
        loop {
            guard += 1;
            if guard > 1024 || off + 8 > buf.len() {
                break;
            }
            let typ = be32(buf, off);
            let len = be32(buf, off + 4) as usize;
            if typ == EXT_END {
                break;
            }
            let data = sub(buf, off + 8, len);
            if data.len() != len {
                return Err(bad(format!(
                    "header extension {typ:#x} runs past the first cluster"
                )));
            }
            if typ == EXT_BACKING_FORMAT {
                h.backing_format = Some(String::from_utf8_lossy(data).into_owned());
            }
            if typ == EXT_EXTERNAL_DATA {
                return Err(BlockError::unsupported(path, "qcow2 external data file"));
            }
            off = off + 8 + len.div_ceil(8) * 8;
        }
        // Backing file name.
        let bfo = be64(buf, 8);
        let bfs = be32(buf, 16) as u64;
        if bfo != 0 && bfs != 0 {
            if bfs > 1023 {
                return Err(bad(format!("backing file name of {bfs} bytes (max 1023)")));
            }
            let end = bfo.saturating_add(bfs);
            if end > buf.len() as u64 {
                return Err(bad(
                    "backing file name lies outside the first cluster".into()
                ));
            }
            let name = sub(buf, bfo as usize, bfs as usize);
            h.backing_file = Some(String::from_utf8_lossy(name).into_owned());
        }
        Ok(h)
    }

    pub fn cluster_size(&self) -> u64 {
        1u64 << self.cluster_bits
    }
}
