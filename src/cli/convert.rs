//! `guestfix convert IMAGE OUT --format raw|qcow2|vmdk|vhd [--json]` (vmdk = stream-optimized,
//! vhd = dynamic): full copy of a disk image into a new
//! container, reading the source natively (no qemu) and skipping zero blocks.

use super::{CliError, EXIT_OK};
use guestfix::block::writer::{self, OutFormat};
use guestfix::block::{self, BlockError};
use std::io::IsTerminal;
use std::path::Path;

fn block_err(e: BlockError) -> CliError {
    match e {
        // A host I/O problem (missing file, permissions, full disk) is exit 2.
        e if e.is_access() => CliError::usage(e.to_string()),
        // Anything about the image itself is exit 1.
        other => CliError::image(other.to_string()),
    }
}

pub fn run(image: &Path, out: &Path, format: &str, json: bool) -> Result<u8, CliError> {
    let fmt: OutFormat = format.parse().map_err(CliError::usage)?;
    let opts = super::block_options();
    let (disks, info) = block::open_with_info(image, &opts).map_err(block_err)?;
    if disks.len() != 1 {
        return Err(CliError::usage(format!(
            "{} holds {} disks; convert takes an image with one disk",
            image.display(),
            disks.len()
        )));
    }
    let Some(src) = disks.into_iter().next() else {
        return Err(CliError::image(format!("{}: no disk", image.display())));
    };
    let size = src.len();
    let bar = if !json && std::io::stdout().is_terminal() {
        let b = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            b.set_style(style);
        }
        Some(b)
    } else {
        None
    };
    let start = std::time::Instant::now();
    let stats = writer::copy_image(&*src, out, fmt, &mut |n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    })
    .map_err(block_err)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let secs = start.elapsed().as_secs_f64();
    if json {
        let v = serde_json::json!({
            "source": image.display().to_string(),
            "source_format": info.format,
            "source_subformat": info.subformat,
            "output": out.display().to_string(),
            "format": stats.format,
            "virtual_size": stats.virtual_size,
            "data_bytes": stats.data_bytes,
            "zero_bytes": stats.zero_bytes,
            "seconds": secs,
        });
        println!("{v}");
    } else {
        println!(
            "{} ({}) -> {} ({}): {} bytes, {} bytes of data, {:.2}s",
            image.display(),
            info.format,
            out.display(),
            format,
            stats.virtual_size,
            stats.data_bytes,
            secs
        );
    }
    Ok(EXIT_OK)
}
