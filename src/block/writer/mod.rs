//! Output: the copy-on-write overlay (qcow2 over the source image) and full-copy writers
//! (sparse raw, qcow2 holding only the non-zero clusters).

pub mod raw;

pub use super::qcow2::writer::Qcow2Writer;

use super::{BlockDev, BlockError, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Full-copy output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    /// A raw image: the disk's bytes.
    Raw,
    /// A qcow2 image.
    Qcow2,
    /// Stream-optimized VMDK (FMT-5).
    Vmdk,
    /// Dynamic VHD (FMT-5).
    Vhd,
    /// Fixed VHD (FMT-1).
    #[serde(rename = "vhd-fixed")]
    VhdFixed,
    /// Dynamic VHDX (FMT-1).
    Vhdx,
    /// OVA: OVF descriptor, stream-optimized VMDK, SHA-256 manifest (FMT-1).
    Ova,
}

impl std::str::FromStr for OutFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(OutFormat::Raw),
            "qcow2" => Ok(OutFormat::Qcow2),
            "vmdk" => Ok(OutFormat::Vmdk),
            "vhd" | "vpc" => Ok(OutFormat::Vhd),
            "vhd-fixed" => Ok(OutFormat::VhdFixed),
            "vhdx" => Ok(OutFormat::Vhdx),
            "ova" => Ok(OutFormat::Ova),
            o => Err(format!(
                "unknown output format {o:?} (raw, qcow2, vmdk, vhd, vhd-fixed, vhdx, ova)"
            )),
        }
    }
}

/// What a full copy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// The format written.
    pub format: OutFormat,
    /// The virtual disk size, in bytes.
    pub virtual_size: u64,
    /// Bytes of guest data written (non-zero blocks).
    pub data_bytes: u64,
    /// Bytes skipped because they were zero.
    pub zero_bytes: u64,
}

/// Size of the blocks the copy reads and tests for zeros.
pub const COPY_BLOCK: usize = 64 << 10;

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
        OutFormat::Vmdk
        | OutFormat::Vhd
        | OutFormat::VhdFixed
        | OutFormat::Vhdx
        | OutFormat::Ova => {
            let (data_bytes, zero_bytes) = match format {
                OutFormat::Vmdk => {
                    super::vmdk::stream_writer::write_stream_vmdk(src, out, progress)?
                }
                OutFormat::Vhd => super::vhd::writer::write_dynamic_vhd(src, out, progress)?,
                OutFormat::VhdFixed => super::vhd::writer::write_fixed_vhd(src, out, progress)?,
                OutFormat::Vhdx => super::vhdx::writer::write_vhdx(src, out, progress)?,
                _ => super::ova::writer::write_ova(src, out, progress)?,
            };
            return Ok(CopyStats {
                format,
                virtual_size: size,
                data_bytes,
                zero_bytes,
            });
        }
    };
    let data_bytes = AtomicU64::new(0);
    // A qcow2 output places clusters in the order they are written: one worker keeps the file
    // layout deterministic. Raw output is positional, so its reads run in parallel.
    let threads = if format == OutFormat::Raw {
        super::alloc::default_threads()
    } else {
        1
    };
    super::alloc::for_each_data(
        src,
        threads,
        COPY_BLOCK as u64,
        &|off, chunk| {
            for (i, blk) in chunk.chunks(COPY_BLOCK).enumerate() {
                if is_zero(blk) {
                    continue;
                }
                sink.write_at(off + (i * COPY_BLOCK) as u64, blk)?;
                data_bytes.fetch_add(blk.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        },
        // Ranges the source reports as zeros are neither read nor written (the output
        // stays sparse).
        &mut |_, _| Ok(()),
        progress,
    )?;
    sink.flush()?;
    let data_bytes = data_bytes.into_inner();
    Ok(CopyStats {
        format,
        virtual_size: size,
        data_bytes,
        zero_bytes: size - data_bytes,
    })
}

/// An all-zero block to compare with (memcmp is much faster than a byte loop).
static ZERO_BLOCK: [u8; COPY_BLOCK] = [0u8; COPY_BLOCK];

/// Whether `blk` (at most [`COPY_BLOCK`] bytes) holds only zeros.
pub fn is_zero(blk: &[u8]) -> bool {
    blk.chunks(COPY_BLOCK)
        .all(|c| ZERO_BLOCK.get(..c.len()).is_some_and(|z| z == c))
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
/// the same disk (a remote source: its URL). Not possible for an OVA (QEMU cannot use a tar member as a backing file):
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
    // A remote source is recorded by its URL (QEMU's curl driver reads http(s) backing files;
    // guestfix reads them back with `allow_outside_backing`).
    let name = match source.to_str().filter(|s| super::remote::is_url(s)) {
        Some(url) => url.to_string(),
        None => {
            let abs = source.canonicalize().map_err(|e| BlockError::Io {
                path: source.to_path_buf(),
                source: e,
            })?;
            abs.to_string_lossy().into_owned()
        }
    };
    Qcow2Writer::create_overlay(out, dev, &name, fmt)
}
