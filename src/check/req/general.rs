//! GEN: general limits (GEN-1 P2V, GEN-2 multi-boot, GEN-3 encryption, GEN-4 network, GEN-5
//! clean shutdown, GEN-6 LVM, GEN-7 an OS found).

use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::OsFacts;
use crate::guest::windows::WindowsFacts;

/// GEN-1: signs of a physical-to-virtual conversion of a Windows root.
pub fn gen1_p2v(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let f = if w.p2v_signs.is_empty() {
        Finding::new(
            "GEN-1",
            Severity::Pass,
            &os.root,
            "no signs of a physical-to-virtual conversion",
        )
    } else {
        Finding::new(
            "GEN-1",
            ctx.severity("GEN-1.p2v"),
            &os.root,
            "signs of a physical-to-virtual (P2V) conversion",
        )
        .evidences(w.p2v_signs.iter().cloned())
        .fix("P2V-converted guests are not supported; import a VM installed on a hypervisor")
    };
    vec![f]
}

/// GEN-2: several OS roots in one disk set.
pub fn gen2_several_roots(ctx: &Ctx) -> Vec<Finding> {
    let oses = &ctx.insp.operating_systems;
    if oses.len() <= 1 {
        return Vec::new();
    }
    vec![
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
    ]
}

/// GEN-2: several different boot-loader configurations in one Linux root.
pub fn gen2_several_grub_configs(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    os.notes
        .iter()
        .filter(|n| n.contains("multiple different grub"))
        .map(|n| {
            Finding::new(
                "GEN-2",
                Severity::Blocker,
                &os.root,
                "multiple different grub/menu.lst files found",
            )
            .evidence(n.clone())
            .fix("keep one boot-loader configuration")
        })
        .collect()
}

fn encrypted(content: Option<&str>) -> bool {
    matches!(content, Some("crypto_LUKS" | "BitLocker"))
}

/// GEN-3: encrypted volumes (LUKS, BitLocker) are refused; MD RAID members are a warning.
pub fn gen3_encrypted_volumes(ctx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for v in ctx.insp.all_volumes() {
        match v.content.as_deref() {
            Some(c @ ("crypto_LUKS" | "BitLocker")) => out.push(
                Finding::new("GEN-3", Severity::Blocker, &v.device, "encrypted volume")
                    .evidence(format!("{} holds {c}", v.device))
                    .fix("decrypt the volume before export; encrypted volumes are refused"),
            ),
            Some("linux_raid_member") => out.push(
                Finding::new(
                    "GEN-3",
                    ctx.severity("GEN-3.raid-member"),
                    &v.device,
                    "software RAID member",
                )
                .evidence(format!("{} is an MD RAID member", v.device)),
            ),
            _ => {}
        }
    }
    if !ctx
        .insp
        .all_volumes()
        .any(|v| encrypted(v.content.as_deref()))
    {
        out.push(Finding::new(
            "GEN-3",
            Severity::Pass,
            "disk set",
            "no encrypted volumes",
        ));
    }
    out
}

/// GEN-3: which drive letters of a Windows root are BitLocker volumes.
pub fn gen3_bitlocker_letters(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for v in ctx.insp.all_volumes() {
        if v.content.as_deref() != Some("BitLocker") {
            continue;
        }
        let letters: Vec<String> = w
            .drive_mappings
            .iter()
            .filter(|(_, d)| **d == v.device)
            .map(|(l, _)| format!("{l}:"))
            .collect();
        let drives = if letters.is_empty() {
            String::new()
        } else {
            format!(" (drive {})", letters.join(", "))
        };
        out.push(
            Finding::new(
                "GEN-3",
                Severity::Info,
                &os.root,
                "BitLocker volume of this Windows",
            )
            .evidence(format!("{} is BitLocker-encrypted{drives}", v.device))
            .fix("turn BitLocker off (manage-bde -off) and wait for decryption before export"),
        );
    }
    out
}

/// GEN-4: a Linux root's static addresses and several interfaces (the VM gets one, by DHCP).
pub fn gen4_linux_network(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(n) = os.network.known() else {
        return vec![
            Finding::new(
                "GEN-4",
                Severity::Warning,
                subj,
                "network configuration could not be read",
            )
            .evidence(format!("{:?}", os.network)),
        ];
    };
    let mut out = Vec::new();
    let statics: Vec<String> = n
        .interfaces
        .iter()
        .filter(|i| !i.dhcp4 && !i.addresses.is_empty())
        .map(|i| {
            format!(
                "{} ({}): static {} in {}",
                i.name,
                i.flavour,
                i.addresses.join(", "),
                i.file
            )
        })
        .collect();
    if !statics.is_empty() {
        out.push(
            Finding::new(
                "GEN-4",
                ctx.severity("GEN-4.static-ip"),
                subj,
                "static IP configuration will not work after import",
            )
            .evidences(statics)
            .fix("guestfix plan switches it to DHCP (MOD-L2)"),
        );
    }
    let names: std::collections::BTreeSet<&str> = n
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| *n != "lo")
        .collect();
    if names.len() > 1 {
        out.push(
            Finding::new(
                "GEN-4",
                ctx.severity("GEN-4.several-interfaces"),
                subj,
                "several network interfaces configured; the VM will have one",
            )
            .evidence(names.into_iter().collect::<Vec<_>>().join(", ")),
        );
    }
    out
}

/// GEN-4: a Windows root's static addresses.
pub fn gen4_windows_network(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let Some(sys) = &w.system else {
        return Vec::new();
    };
    let statics: Vec<String> = sys
        .interfaces
        .iter()
        .filter(|i| !i.dhcp && !i.addresses.is_empty())
        .map(|i| format!("interface {}: static {}", i.guid, i.addresses.join(", ")))
        .collect();
    let f = if statics.is_empty() {
        Finding::new("GEN-4", Severity::Pass, &os.root, "interfaces use DHCP")
    } else {
        Finding::new(
            "GEN-4",
            ctx.severity("GEN-4.static-ip"),
            &os.root,
            "static IP address",
        )
        .evidences(statics)
        .fix("`guestfix plan` sets EnableDHCP = 1 and removes the static values of these interfaces (rule windows-network-dhcp)")
    };
    vec![f]
}

/// GEN-5: filesystems that were not shut down cleanly.
pub fn gen5_dirty_filesystems(ctx: &Ctx) -> Vec<Finding> {
    ctx.insp
        .all_volumes()
        .filter_map(|v| {
            let dirty = v.dirty.as_ref()?;
            Some(
                Finding::new(
                    "GEN-5",
                    ctx.severity("GEN-5.dirty-filesystem"),
                    &v.device,
                    "filesystem was not shut down cleanly",
                )
                .evidence(format!("{}: {dirty}", v.device))
                .fix("boot the VM and shut it down cleanly before export"),
            )
        })
        .collect()
}

/// GEN-5: a hibernated Windows, fast startup, a dirty hive (a dirty NTFS is
/// [`gen5_dirty_filesystems`]). A hibernation image (hibr/HIBR over a whole first page) is a
/// blocker: a resume would load it and lose what the import changed. A resumed or zeroed
/// hiberfil.sys is only the file; fast startup (HiberbootEnabled=1) makes the next shutdown a
/// hibernation: warning.
pub fn gen5_windows_hibernation(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let header = w.hiberfil_evidence.clone();
    let fast = w.system.as_ref().and_then(|s| s.hiberboot_enabled) == Some(1);
    let fast_ev = "Session Manager\\Power HiberbootEnabled = 1 (fast startup)".to_string();
    let truncated = w.hiberfil.as_deref() == Some("hibernation header truncated");
    if w.hiberfil.as_deref() == Some("hibernated") {
        let mut ev: Vec<String> = header.into_iter().collect();
        if fast {
            ev.push(fast_ev + ": a fast-startup shutdown hibernated the kernel session");
        }
        return vec![
            Finding::new(
                "GEN-5",
                Severity::Blocker,
                subj,
                "Windows is hibernated: hiberfil.sys holds a hibernation image",
            )
            .evidences(ev)
            .fix("boot the VM, then shut it down fully (shutdown /s /t 0; powercfg /h off) before export"),
        ];
    }
    let mut out = Vec::new();
    if truncated {
        out.push(
            Finding::new(
                "GEN-5",
                Severity::Warning,
                subj,
                "hibernation signature in a truncated hiberfil.sys",
            )
            .evidences(header.clone())
            .fix("boot the VM and shut it down fully (powercfg /h off) before export"),
        );
    }
    let mut ev = Vec::new();
    if fast {
        ev.push(fast_ev);
        ev.extend(header.clone());
    }
    let dirty: Vec<&String> = w
        .notes
        .iter()
        .filter(|n| n.contains("dirty hive"))
        .collect();
    ev.extend(dirty.iter().map(|n| n.to_string()));
    let title = match (fast, !dirty.is_empty()) {
        (true, false) => "fast startup is on: a shutdown leaves Windows hibernated",
        (false, true) => "dirty registry hive: Windows may not have shut down cleanly",
        _ => "fast startup / dirty hive: Windows may not have shut down cleanly",
    };
    if !ev.is_empty() {
        out.push(
            Finding::new("GEN-5", ctx.severity("GEN-5.fast-startup"), subj, title)
                .evidences(ev)
                .fix("disable fast startup (powercfg /h off) and shut down fully before export"),
        );
    } else if !truncated {
        out.push(
            Finding::new(
                "GEN-5",
                Severity::Pass,
                subj,
                "no hibernation or fast startup",
            )
            .evidences(header),
        );
    }
    out
}

/// GEN-6: LVM volume groups the import must activate, and ones that cannot be.
pub fn gen6_lvm(ctx: &Ctx) -> Vec<Finding> {
    let insp = ctx.insp;
    let mut out = Vec::new();
    let lvs: Vec<String> = insp
        .logical_volumes
        .iter()
        .map(|v| {
            format!(
                "{} ({})",
                v.device,
                v.content.clone().unwrap_or_else(|| "?".into())
            )
        })
        .collect();
    if !lvs.is_empty() {
        out.push(
            Finding::new(
                "GEN-6",
                Severity::Info,
                "disk set",
                "LVM volume groups must be activated at import",
            )
            .evidence(format!("logical volumes mapped here: {}", lvs.join(", "))),
        );
    }
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
    out
}

/// GEN-7: at least one operating system found.
pub fn gen7_os_found(ctx: &Ctx) -> Vec<Finding> {
    let n = ctx.insp.operating_systems.len();
    let f = if n == 0 {
        Finding::new(
            "GEN-7",
            Severity::Blocker,
            "disk set",
            "Unknown OS / missing OS files",
        )
        .evidence("no Linux root (/etc/fstab, /etc/os-release) or Windows root (\\Windows\\System32) found")
        .fix("check that the image holds the system disk of the VM")
    } else {
        Finding::new(
            "GEN-7",
            Severity::Pass,
            "disk set",
            format!("{n} operating system(s) found"),
        )
    };
    vec![f]
}
