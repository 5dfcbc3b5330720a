//! Checks on the container and the disk set as a whole: FMT-1, FMT-4, FMT-5, BOOT-7, GEN-2
//! (several OS roots), GEN-3 (encryption), GEN-5 (unclean shutdown), GEN-6, GEN-7.

use super::{Finding, Severity};
use crate::guest::facts::Inspection;
use crate::rules::Profile;

const TIB: u64 = 1 << 40;

pub(super) fn check(insp: &Inspection, profile: &Profile, out: &mut Vec<Finding>) {
    let s = &profile.settings;
    for img in &insp.images {
        // FMT-1: accepted container formats.
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
        // FMT-4: size limits.
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
        for n in &img.notes {
            out.push(
                Finding::new("FMT-3", Severity::Warning, &img.path, "container note").evidence(n),
            );
        }
    }
    // FMT-3: a file that is no disk image the service knows (unknown magic, empty).
    for (img, d) in insp.images.iter().zip(&insp.disks) {
        if img.format == "raw" && d.partition_table == "none" && d.volumes.iter().all(|v| v.content.is_none()) {
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
    let disks = insp.disks.len();
    if disks > s.max_volumes {
        out.push(
            Finding::new("FMT-4", Severity::Blocker, "disk set", "too many volumes")
                .evidence(format!("{disks} disks; at most {}", s.max_volumes)),
        );
    }
    // FMT-5: export limits (informational for import).
    if let Some(max) = s.export_max_volume_bytes {
        for d in &insp.disks {
            if d.size > max {
                out.push(
                    Finding::new(
                        "FMT-5",
                        Severity::Info,
                        &d.device,
                        "volume larger than 1 TiB cannot be exported again",
                    )
                    .evidence(format!("{} is {}", d.device, human(d.size))),
                );
            }
        }
    }
    // GEN-3: encrypted volumes. GEN-5: dirty filesystems. GEN-6: LVM notes.
    {
        for v in insp.all_volumes() {
            match v.content.as_deref() {
                Some(c @ ("crypto_LUKS" | "BitLocker")) => out.push(
                    Finding::new("GEN-3", Severity::Blocker, &v.device, "encrypted volume")
                        .evidence(format!("{} holds {c}", v.device))
                        .fix("decrypt the volume before export; encrypted volumes are refused"),
                ),
                Some("LDM") => out.push(
                    Finding::new(
                        "BOOT-3",
                        Severity::Blocker,
                        &v.device,
                        "Windows dynamic disk",
                    )
                    .evidence(format!("{} is a dynamic-disk (LDM) volume", v.device))
                    .fix("convert the disk back to a basic disk before export"),
                ),
                Some("linux_raid_member") => out.push(
                    Finding::new(
                        "GEN-3",
                        Severity::Warning,
                        &v.device,
                        "software RAID member",
                    )
                    .evidence(format!("{} is an MD RAID member", v.device)),
                ),
                _ => {}
            }
            if let Some(dirty) = &v.dirty {
                out.push(
                    Finding::new(
                        "GEN-5",
                        Severity::Warning,
                        &v.device,
                        "filesystem was not shut down cleanly",
                    )
                    .evidence(format!("{}: {dirty}", v.device))
                    .fix("boot the VM and shut it down cleanly before export"),
                );
            }
        }
    }
    for d in &insp.disks {
        for n in &d.notes {
            out.push(Finding::new("BOOT-1", Severity::Warning, &d.device, "disk note").evidence(n));
        }
    }
    // GEN-6: LVM that cannot be activated.
    for w in insp.warnings.iter().filter(|w| w.starts_with("LVM")) {
        out.push(
            Finding::new(
                "GEN-6",
                Severity::Blocker,
                "disk set",
                "logical volume group activation failed",
            )
            .evidence(w.clone())
            .fix("repair the volume group (missing or corrupt physical volumes) before export"),
        );
    }
    if !insp
        .all_volumes()
        .any(|v| matches!(v.content.as_deref(), Some("crypto_LUKS" | "BitLocker")))
    {
        out.push(Finding::new(
            "GEN-3",
            Severity::Pass,
            "disk set",
            "no encrypted volumes",
        ));
    }
    // BOOT-7: a bootable partition on the first (boot) disk.
    if let Some(d0) = insp.disks.first() {
        let bootable = d0.mbr_boot_code
            || d0.volumes.iter().any(|v| {
                v.bootable || matches!(v.part_type.as_deref(), Some("EFI System" | "BIOS boot"))
            });
        if bootable {
            out.push(Finding::new(
                "BOOT-7",
                Severity::Pass,
                &d0.device,
                "boot disk has boot code or a bootable partition",
            ));
        } else {
            out.push(
                Finding::new(
                    "BOOT-7",
                    Severity::Blocker,
                    &d0.device,
                    "No bootable partition found",
                )
                .evidence(format!(
                    "{}: no MBR boot code, no active partition, no ESP or BIOS boot partition",
                    d0.device
                ))
                .fix("install a boot loader on the first disk before export"),
            );
        }
    }
    // GEN-7 / GEN-2: operating systems found.
    let oses = &insp.operating_systems;
    if oses.is_empty() {
        out.push(
            Finding::new(
                "GEN-7",
                Severity::Blocker,
                "disk set",
                "Unknown OS / missing OS files",
            )
            .evidence("no Linux root (/etc/fstab, /etc/os-release) or Windows root (\\Windows\\System32) found")
            .fix("check that the image holds the system disk of the VM"),
        );
    } else {
        out.push(Finding::new(
            "GEN-7",
            Severity::Pass,
            "disk set",
            format!("{} operating system(s) found", oses.len()),
        ));
    }
    if oses.len() > 1 {
        out.push(
            Finding::new(
                "GEN-2",
                Severity::Blocker,
                "disk set",
                "multi-boot guest: multiple directories found",
            )
            .evidences(
                oses.iter()
                    .map(|o| format!("{} root on {}", o.os_type, o.root)),
            )
            .fix("import one operating system per image; remove the others"),
        );
    }
}

pub(super) fn human(b: u64) -> String {
    if b >= TIB {
        format!("{:.1} TiB", b as f64 / TIB as f64)
    } else if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}
