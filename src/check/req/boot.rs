//! BOOT: boot mode and layout (BOOT-1 modes, BOOT-2 Linux filesystems, BOOT-3 Windows disk and
//! mode, BOOT-4 UEFI fallback loader, BOOT-5 GRUB, BOOT-6 root on the boot disk, BOOT-7 a
//! bootable partition).

use super::human;
use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::{DiskFacts, OsFacts};
use crate::guest::windows::WindowsFacts;

/// BOOT-1: what the disk layer noted about a disk (partition-table oddities).
pub fn boot1_disk_notes(ctx: &Ctx) -> Vec<Finding> {
    ctx.insp
        .disks
        .iter()
        .flat_map(|d| {
            d.notes.iter().map(|n| {
                Finding::new("BOOT-1", Severity::Warning, &d.device, "disk note").evidence(n)
            })
        })
        .collect()
}

/// BOOT-1: the boot modes (BIOS, UEFI) a Linux root can boot in.
pub fn boot1_linux_modes(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let bm = &os.boot_modes;
    let modes = match (bm.bios, bm.uefi) {
        (true, true) => "BIOS and UEFI",
        (true, false) => "BIOS",
        (false, true) => "UEFI",
        (false, false) => "none",
    };
    let f = if bm.bios || bm.uefi {
        Finding::new(
            "BOOT-1",
            Severity::Info,
            &os.root,
            format!("boots with {modes}"),
        )
        .evidences(bm.evidence.clone())
    } else {
        Finding::new("BOOT-1", Severity::Blocker, &os.root, "no boot mode found")
            .evidences(bm.evidence.clone())
            .fix("install GRUB for BIOS (boot code in the MBR) or UEFI (an ESP with a loader)")
    };
    vec![f]
}

/// BOOT-2: the root filesystem type (`linux_filesystems`), and Btrfs subvolumes when the profile
/// refuses them (`refuse_btrfs_subvolumes`).
pub fn boot2_linux_filesystems(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let s = ctx.settings();
    let subj = os.root.as_str();
    let mut out = Vec::new();
    if let Some(rm) = os.mountpoints.iter().find(|m| m.mountpoint == "/") {
        if s.linux_filesystems.iter().any(|f| f == &rm.fstype) {
            out.push(Finding::new(
                "BOOT-2",
                Severity::Pass,
                subj,
                format!("root filesystem {} on {}", rm.fstype, rm.device),
            ));
        } else {
            out.push(
                Finding::new(
                    "BOOT-2",
                    Severity::Blocker,
                    subj,
                    format!("root filesystem {} not supported", rm.fstype),
                )
                .evidence(format!("/ on {} ({})", rm.device, rm.fstype))
                .fix(format!("accepted: {}", s.linux_filesystems.join(", "))),
            );
        }
    }
    if s.refuse_btrfs_subvolumes {
        let subvol_mounts: Vec<String> = os
            .mountpoints
            .iter()
            .filter(|m| {
                m.fstype == "btrfs"
                    && (m.options.contains("subvol=") || m.options.contains("subvolid="))
            })
            .map(|m| format!("{} mounted from {} ({})", m.mountpoint, m.device, m.options))
            .collect();
        if !subvol_mounts.is_empty() {
            out.push(
                Finding::new("BOOT-2", Severity::Blocker, subj, "Btrfs subvolumes are refused")
                    .evidences(subvol_mounts)
                    .fix("move the root to a plain filesystem (or the top-level Btrfs volume) before export"),
            );
        }
    }
    out
}

/// BOOT-3: Windows dynamic disks (LDM volumes) are refused.
pub fn boot3_dynamic_disks(ctx: &Ctx) -> Vec<Finding> {
    ctx.insp
        .all_volumes()
        .filter(|v| v.content.as_deref() == Some("LDM"))
        .map(|v| {
            Finding::new(
                "BOOT-3",
                Severity::Blocker,
                &v.device,
                "Windows dynamic disk",
            )
            .evidence(format!("{} is a dynamic-disk (LDM) volume", v.device))
            .fix("convert the disk back to a basic disk before export")
        })
        .collect()
}

/// The Windows boot disk as BOOT-3 judges it.
struct BootDisk<'a> {
    disk: &'a DiskFacts,
    /// The container format of the image the disk came from.
    format: String,
    dynamic: bool,
}

/// The disk holding the Windows root, with its image's format (one disk per image, or the disks
/// of one OVA).
fn windows_boot_disk<'a>(ctx: &Ctx<'a>, os: &OsFacts) -> Option<BootDisk<'a>> {
    let insp = ctx.insp;
    let idx = insp
        .disks
        .iter()
        .position(|d| d.volumes.iter().any(|v| v.device == os.root))?;
    let d = insp.disks.get(idx)?;
    let mut n = 0usize;
    let format = insp
        .images
        .iter()
        .find(|im| {
            n += im.disks.len().max(1);
            idx < n
        })
        .map(|im| im.format.clone())
        .unwrap_or_default();
    let dynamic = d.notes.iter().any(|n| n.contains("dynamic"))
        || d.volumes
            .iter()
            .any(|v| v.content.as_deref() == Some("LDM"));
    Some(BootDisk {
        disk: d,
        format,
        dynamic,
    })
}

/// BOOT-3: NTFS on MBR/GPT; which boot mode the service would pick, and GPT→MBR conversion.
/// The size limit is the profile's `windows_bios_max_disk_bytes` (2 TiB).
pub fn boot3_windows_mode(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(b) = windows_boot_disk(ctx, os) else {
        return Vec::new();
    };
    let d = b.disk;
    let mut ev = vec![format!(
        "{}: {} partition table, {} primary partition(s), {}, image format {}{}",
        d.device,
        d.partition_table,
        d.primary_partitions,
        human(d.size),
        b.format,
        if b.dynamic { ", dynamic disk" } else { "" }
    )];
    ev.extend(w.boot_mode_evidence.iter().cloned());
    if !matches!(d.partition_table.as_str(), "mbr" | "gpt") {
        return vec![
            Finding::new(
                "BOOT-3",
                Severity::Blocker,
                subj,
                "Windows boot disk is not MBR or GPT partitioned",
            )
            .evidences(ev),
        ];
    }
    let max = ctx.settings().windows_bios_max_disk_bytes;
    let (sev, title) = match (os.boot_modes.bios, os.boot_modes.uefi) {
        (true, true) => {
            let legacy =
                d.size < max && d.primary_partitions <= 4 && !b.dynamic && b.format == "vhdx";
            let mode = if legacy { "legacy BIOS" } else { "UEFI" };
            ev.push(format!(
                "bootable both ways: with no boot mode given the service picks {mode} (legacy BIOS needs a disk < 2 TB, at most 4 primary partitions, no dynamic disk, and VHDX format)"
            ));
            (
                Severity::Info,
                format!("boots BIOS and UEFI; the service would choose {mode}"),
            )
        }
        (false, true) => (Severity::Pass, boot3_gpt_to_mbr(&b, max, &mut ev)),
        (true, false) => (Severity::Pass, "legacy BIOS boot from MBR".to_string()),
        (false, false) => (
            Severity::Warning,
            "no Windows boot manager found for BIOS or UEFI".to_string(),
        ),
    };
    vec![Finding::new("BOOT-3", sev, subj, title).evidences(ev)]
}

/// BOOT-3 for a UEFI-only Windows: whether the service converts the GPT boot volume to MBR.
fn boot3_gpt_to_mbr(b: &BootDisk, max: u64, ev: &mut Vec<String>) -> String {
    let d = b.disk;
    let vhdx = b.format == "vhdx";
    let convert = d.partition_table == "gpt"
        && vhdx
        && d.size <= max
        && d.primary_partitions <= 3
        && !b.dynamic;
    if convert {
        ev.push("UEFI Windows: the GPT boot volume would be converted to MBR (VHDX, ≤ 2 TiB, ≤ 3 primary partitions, not dynamic)".into());
        return "UEFI boot; the service would convert GPT to MBR".into();
    }
    let mut why = Vec::new();
    if d.partition_table != "gpt" {
        why.push("the disk is not GPT".to_string());
    }
    if !vhdx {
        why.push(format!("the format is {}, not VHDX", b.format));
    }
    if d.size > max {
        why.push("the disk is larger than 2 TiB".into());
    }
    if d.primary_partitions > 3 {
        why.push(format!("{} primary partitions (> 3)", d.primary_partitions));
    }
    if b.dynamic {
        why.push("dynamic disk".into());
    }
    ev.push(format!(
        "UEFI Windows: the GPT boot volume is not converted to MBR because {}",
        why.join(", ")
    ));
    "UEFI boot; GPT kept".into()
}

/// BOOT-4: a UEFI Linux root needs the fallback loader on the ESP (a blocker when it cannot boot
/// BIOS either).
pub fn boot4_uefi_fallback(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let bm = &os.boot_modes;
    if !bm.uefi {
        return Vec::new();
    }
    let f = match bm.uefi_fallback_loader {
        Some(true) => Finding::new(
            "BOOT-4",
            Severity::Pass,
            &os.root,
            "fallback loader EFI/BOOT/BOOTX64.EFI present",
        ),
        _ => Finding::new(
            "BOOT-4",
            ctx.severity(if bm.bios {
                "BOOT-4.no-fallback-loader-bios-too"
            } else {
                "BOOT-4.no-fallback-loader"
            }),
            &os.root,
            "UEFI fallback loader \\EFI\\BOOT\\BOOTX64.EFI missing",
        )
        .evidence(format!("ESP {}", bm.esp_device.clone().unwrap_or_default()))
        .fix("guestfix plan adds it from the distribution's loader (rule uefi-fallback-debian)"),
    };
    vec![f]
}

/// BOOT-5: Linux boots with GRUB legacy or GRUB 2.
pub fn boot5_grub(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let f = match os.bootloader.known() {
        Some(b) if b.kind == "grub-legacy" => Finding::new(
            "BOOT-5",
            Severity::Info,
            subj,
            format!(
                "boot loader GRUB legacy ({}): accepted; its menu is edited directly",
                b.config_files.join(", ")
            ),
        ),
        Some(b) => Finding::new(
            "BOOT-5",
            Severity::Pass,
            subj,
            format!("boot loader {} ({})", b.kind, b.config_files.join(", ")),
        ),
        None => Finding::new(
            "BOOT-5",
            Severity::Blocker,
            subj,
            "no GRUB legacy or GRUB 2 configuration found",
        )
        .evidence(format!("{:?}", os.bootloader))
        .fix("Linux guests must boot with GRUB legacy or GRUB 2"),
    };
    vec![f]
}

/// BOOT-6: the Linux root sits on the first (boot) disk.
pub fn boot6_root_on_boot_disk(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let Some(rm) = os.mountpoints.iter().find(|m| m.mountpoint == "/") else {
        return Vec::new();
    };
    let boot_disk = ctx
        .insp
        .disks
        .first()
        .map(|d| d.device.clone())
        .unwrap_or_default();
    if boot_disk.is_empty()
        || rm.device.starts_with("/dev/mapper")
        || rm.device.starts_with(&boot_disk)
        || !rm.device.starts_with("/dev/sd")
    {
        return Vec::new();
    }
    vec![
        Finding::new(
            "BOOT-6",
            Severity::Blocker,
            &os.root,
            "root is not on the boot disk",
        )
        .evidence(format!("/ on {}, boot loader on {boot_disk}", rm.device))
        .fix("move the root partition to the disk that holds the boot loader"),
    ]
}

/// BOOT-7: a bootable partition (or MBR boot code) on the first disk.
pub fn boot7_bootable_partition(ctx: &Ctx) -> Vec<Finding> {
    let Some(d0) = ctx.insp.disks.first() else {
        return Vec::new();
    };
    let bootable = d0.mbr_boot_code
        || d0.volumes.iter().any(|v| {
            v.bootable || matches!(v.part_type.as_deref(), Some("EFI System" | "BIOS boot"))
        });
    let f = if bootable {
        Finding::new(
            "BOOT-7",
            Severity::Pass,
            &d0.device,
            "boot disk has boot code or a bootable partition",
        )
    } else {
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
        .fix("install a boot loader on the first disk before export")
    };
    vec![f]
}
