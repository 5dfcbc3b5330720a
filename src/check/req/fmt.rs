//! FMT: the input container (FMT-1 formats, FMT-3 known failures, FMT-4 size, FMT-5 export).

use super::human;
use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::OsFacts;

/// FMT-1: accepted container formats; an image with a backing file is refused.
pub fn fmt1_format(ctx: &Ctx) -> Vec<Finding> {
    let s = ctx.settings();
    let mut out = Vec::new();
    for img in &ctx.insp.images {
        if s.accepted_formats.iter().any(|f| f == &img.format) {
            out.push(Finding::new(
                "FMT-1",
                Severity::Pass,
                &img.path,
                format!("container format {} is accepted", img.format),
            ));
        } else {
            let msg = if img.format.starts_with("vmdk") {
                "unsupported VMDK file format (only stream-optimized VMDK is accepted)".to_string()
            } else {
                format!("container format {} is not accepted", img.format)
            };
            out.push(
                Finding::new("FMT-1", Severity::Blocker, &img.path, msg)
                    .evidence(format!("format: {}", img.format))
                    .fix(format!(
                        "convert before upload: guestfix convert {} OUT --format raw (or export as OVA, stream-optimized VMDK, VHD, VHDX); accepted: {}",
                        img.path,
                        s.accepted_formats.join(", ")
                    )),
            );
        }
        if let Some(b) = &img.backing_file {
            out.push(
                Finding::new(
                    "FMT-1",
                    Severity::Blocker,
                    &img.path,
                    "image depends on a backing file",
                )
                .evidence(format!("backing file: {b}"))
                .fix("flatten it first: guestfix convert IMAGE OUT --format raw"),
            );
        }
    }
    out
}

/// FMT-3: the container's own notes, and a file that is no disk image the service knows
/// (unknown magic, empty). Images that cannot be read at all are `check::image_error_report`.
pub fn fmt3_known_failures(ctx: &Ctx) -> Vec<Finding> {
    let insp = ctx.insp;
    let mut out = Vec::new();
    for img in &insp.images {
        for n in &img.notes {
            out.push(
                Finding::new("FMT-3", Severity::Warning, &img.path, "container note").evidence(n),
            );
        }
    }
    for (img, d) in insp.images.iter().zip(&insp.disks) {
        if img.format == "raw"
            && d.partition_table == "none"
            && d.volumes.iter().all(|v| v.content.is_none())
        {
            out.push(
                Finding::new("FMT-3", Severity::Blocker, &img.path, "disk-image-size = 0 has an invalid format")
                    .evidence(format!(
                        "{}: no known container, partition table or filesystem (first bytes are no format guestfix or the import service recognises)",
                        img.path
                    ))
                    .fix("re-export the disk as OVA, stream-optimized VMDK, VHD/VHDX or raw"),
            );
        }
    }
    out
}

/// FMT-4: image size limits and the number of volumes.
pub fn fmt4_size(ctx: &Ctx) -> Vec<Finding> {
    let s = ctx.settings();
    let mut out = Vec::new();
    for img in &ctx.insp.images {
        if img.virtual_size >= s.max_image_bytes {
            out.push(
                Finding::new(
                    "FMT-4",
                    Severity::Blocker,
                    &img.path,
                    "disk image too large",
                )
                .evidence(format!("virtual size {} bytes", img.virtual_size))
                .fix("images must be smaller than 16 TiB"),
            );
        } else if s
            .manifest_needed_above_bytes
            .is_some_and(|m| img.virtual_size > m)
        {
            out.push(
                Finding::new(
                    "FMT-4",
                    Severity::Warning,
                    &img.path,
                    "disk image above 8 TiB needs a manifest and cannot use image import",
                )
                .evidence(format!("virtual size {} bytes", img.virtual_size)),
            );
        } else {
            out.push(Finding::new(
                "FMT-4",
                Severity::Pass,
                &img.path,
                format!("size {} within limits", human(img.virtual_size)),
            ));
        }
    }
    let disks = ctx.insp.disks.len();
    if disks > s.max_volumes {
        out.push(
            Finding::new("FMT-4", Severity::Blocker, "disk set", "too many volumes")
                .evidence(format!("{disks} disks; at most {}", s.max_volumes)),
        );
    }
    out
}

/// FMT-5: volumes too large to be exported again (informational for import).
pub fn fmt5_export_volume_size(ctx: &Ctx) -> Vec<Finding> {
    let Some(max) = ctx.settings().export_max_volume_bytes else {
        return Vec::new();
    };
    ctx.insp
        .disks
        .iter()
        .filter(|d| d.size > max)
        .map(|d| {
            Finding::new(
                "FMT-5",
                Severity::Info,
                &d.device,
                "volume larger than 1 TiB cannot be exported again",
            )
            .evidence(format!("{} is {}", d.device, human(d.size)))
        })
        .collect()
}

/// FMT-5: a GRUB enabled for both BIOS and UEFI imports, but is refused for export.
pub fn fmt5_hybrid_grub(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let bm = &os.boot_modes;
    if !(bm.bios && bm.uefi) {
        return Vec::new();
    }
    vec![
        Finding::new(
            "FMT-5",
            Severity::Info,
            &os.root,
            "hybrid BIOS+UEFI GRUB: import works, export is refused",
        )
        .evidences(bm.evidence.clone()),
    ]
}
