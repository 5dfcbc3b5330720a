//! Output: the copy-on-write overlay (qcow2 over the source image) and full-copy writers
//! (sparse raw, qcow2 holding only the non-zero clusters).

pub mod raw;

pub use super::qcow2::writer::Qcow2Writer;

use super::{BlockDev, BlockError, OpenOptions};
use std::path::Path;

/// Full-copy output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Raw,
    Qcow2,
    /// Stream-optimized VMDK (FMT-5).
    Vmdk,
    /// Dynamic VHD (FMT-5).
    Vhd,
}

impl std::str::FromStr for OutFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(OutFormat::Raw),
            "qcow2" => Ok(OutFormat::Qcow2),
            "vmdk" => Ok(OutFormat::Vmdk),
            "vhd" | "vpc" => Ok(OutFormat::Vhd),
            o => Err(format!(
                "unknown output format {o:?} (raw, qcow2, vmdk, vhd)"
            )),
        }
    }
}

/// What a full copy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    pub format: OutFormat,
    pub virtual_size: u64,
    /// Bytes of guest data written (non-zero blocks).
    pub data_bytes: u64,
    /// Bytes skipped because they were zero.
    pub zero_bytes: u64,
}

/// Size of the blocks the copy reads and tests for zeros.
pub const COPY_BLOCK: usize = 64 << 10;
const READ_CHUNK: usize = 4 << 20;

/// Copy `src` into a new image at `out`, skipping zero blocks. `progress` gets the number of
/// bytes done so far.
pub fn copy_image(
    src: &dyn BlockDev,
    out: &Path,
    format: OutFormat,
    progress: &mut dyn FnMut(u64),
) -> Result<CopyStats, BlockError> {
    let size = src.len();
    let sink: Box<dyn super::WritableDev> = match format {
        OutFormat::Raw => Box::new(raw::SparseRawWriter::create(out, size)?),
        OutFormat::Qcow2 => Box::new(Qcow2Writer::create_standalone(out, size)?),
        OutFormat::Vmdk | OutFormat::Vhd => {
            let (data_bytes, zero_bytes) = if format == OutFormat::Vmdk {
                super::vmdk::stream_writer::write_stream_vmdk(src, out, progress)?
            } else {
                super::vhd::writer::write_dynamic_vhd(src, out, progress)?
            };
            return Ok(CopyStats {
                format,
                virtual_size: size,
                data_bytes,
                zero_bytes,
            });
        }
    };
    let mut stats = CopyStats {
        format,
        virtual_size: size,
        data_bytes: 0,
        zero_bytes: 0,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = 0u64;
    while off < size {
        let n = ((size - off) as usize).min(READ_CHUNK);
        let chunk = buf.get_mut(..n).unwrap_or(&mut []);
        src.read_at(off, chunk)?;
        for (i, blk) in chunk.chunks(COPY_BLOCK).enumerate() {
            if blk.iter().all(|&b| b == 0) {
                stats.zero_bytes += blk.len() as u64;
            } else {
                sink.write_at(off + (i * COPY_BLOCK) as u64, blk)?;
                stats.data_bytes += blk.len() as u64;
            }
        }
        off += n as u64;
        progress(off);
    }
    sink.flush()?;
    Ok(stats)
}

/// QEMU's name of a container format, for a backing-format header extension.
pub fn qemu_format_name(format: &str) -> Option<&'static str> {
    match format {
        "raw" => Some("raw"),
        "qcow2" => Some("qcow2"),
        "vmdk" => Some("vmdk"),
        "vhd" => Some("vpc"),
        "vhdx" => Some("vhdx"),
        _ => None,
    }
}

/// Open `source` and create a qcow2 overlay at `out` backed by it: the source file is never
/// written; the overlay records the source's absolute path and format so that QEMU tools see
/// the same disk. Not possible for an OVA (QEMU cannot use a tar member as a backing file):
/// convert it first.
pub fn create_overlay(
    source: &Path,
    out: &Path,
    opts: &OpenOptions,
) -> Result<Qcow2Writer, BlockError> {
    let (disks, info) = super::open_with_info(source, opts)?;
    let fmt = qemu_format_name(&info.format).ok_or_else(|| {
        BlockError::unsupported(
            source,
            format!(
                "a {} image cannot be the backing file of a qcow2 overlay; convert it first",
                info.format
            ),
        )
    })?;
    let dev = disks
        .into_iter()
        .next()
        .ok_or_else(|| BlockError::corrupt(source, "image holds no disk"))?;
    let abs = source.canonicalize().map_err(|e| BlockError::Io {
        path: source.to_path_buf(),
        source: e,
    })?;
    let name = abs.to_string_lossy().into_owned();
    Qcow2Writer::create_overlay(out, dev, &name, fmt)
}
