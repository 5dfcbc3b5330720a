//! Checks on one Linux root: OS-1, OS-2, OS-4, OS-5, BOOT-1, BOOT-2, BOOT-4, BOOT-5, BOOT-6,
//! GEN-2 (several boot-loader configs), GEN-4, LNX-1..LNX-8, and MOD-L3 (fstab entries that
//! match nothing in the image).

use super::{Finding, Severity, disk::human};
use crate::guest::facts::{Fact, Inspection, OsFacts};
use crate::guest::inspect::INITRAMFS_NOT_READ;
use crate::rules::{LinuxSupport, Profile};

pub(super) fn check(
    insp: &Inspection,
    os: &OsFacts,
    profile: &Profile,
    today: &str,
    out: &mut Vec<Finding>,
) {
    let s = &profile.settings;
    let subj = os.root.as_str();
    let mut push = |f: Finding| out.push(f);

    // OS-1 / LNX-1: architecture.
    match os.arch.known() {
        Some(a) if s.accepted_arch.contains(a) => push(Finding::new(
            "OS-1",
            Severity::Pass,
            subj,
            format!("architecture {a}"),
        )),
        Some(a) => {
            let why = if a == "i386" || a == "i686" {
                match &s.refuse_32bit_since {
                    Some(d) if today >= d.as_str() => {
                        format!("32-bit guests are refused since {d}")
                    }
                    _ => "32-bit guest".into(),
                }
            } else {
                format!("{a} guests are refused")
            };
            push(
                Finding::new(
                    "OS-1",
                    Severity::Blocker,
                    subj,
                    format!("architecture {a} not supported"),
                )
                .evidence(why)
                .fix(format!(
                    "only {} guests can be imported",
                    s.accepted_arch.join(", ")
                )),
            )
        }
        None => push(
            Finding::new("OS-1", Severity::Warning, subj, "architecture unknown")
                .evidence(format!("{:?}", os.arch)),
        ),
    }

    // OS-2 / OS-4 / LNX-1: distro, version and default kernel against the matrix.
    let distro = os.distro.known().cloned().unwrap_or_default();
    let version = os.version.known().cloned().unwrap_or_default();
    let kernel = os
        .bootloader
        .known()
        .and_then(|b| b.default_kernel_version.clone())
        .or_else(|| newest_kernel(os));
    let m = profile
        .matrix
        .match_linux(&distro, &version, kernel.as_deref());
    let name = format!(
        "{} {}",
        os.product_name.known().cloned().unwrap_or(distro.clone()),
        version
    );
    match &m.support {
        LinuxSupport::Supported { eol } => {
            push(Finding::new(
                "OS-2",
                Severity::Pass,
                subj,
                format!("{name} is supported"),
            ));
            if *eol {
                push(
                    Finding::new(
                        "OS-4",
                        Severity::Warning,
                        subj,
                        format!("{name} is end of life"),
                    )
                    .evidence("imported, but untested by the import service")
                    .fix("plan an upgrade to a supported release"),
                );
            }
        }
        LinuxSupport::PointReleaseNotListed { listed, eol } => {
            push(
                Finding::new(
                    "OS-2",
                    Severity::Warning,
                    subj,
                    format!("{name}: this point release is not in the tested list"),
                )
                .evidence(format!("listed: {}", listed.join(", ")))
                .fix("the major version is accepted; a listed point release is safest"),
            );
            if *eol {
                push(Finding::new(
                    "OS-4",
                    Severity::Warning,
                    subj,
                    format!("{name} is end of life"),
                ));
            }
        }
        LinuxSupport::VersionNotListed { listed } => push(
            Finding::new(
                "OS-2",
                Severity::Blocker,
                subj,
                format!("{name} is not a supported version"),
            )
            .evidence(format!(
                "supported {distro} versions: {}",
                listed.join(", ")
            ))
            .fix("upgrade or reinstall on a supported release"),
        ),
        LinuxSupport::DistroNotListed => push(
            Finding::new(
                "OS-2",
                Severity::Blocker,
                subj,
                format!(
                    "distribution {:?} is not supported",
                    if distro.is_empty() {
                        "unknown"
                    } else {
                        &distro
                    }
                ),
            )
            .evidence(format!(
                "distro: {:?}, version: {:?}",
                os.distro, os.version
            )),
        ),
    }
    match (kernel.as_deref(), m.kernel_ok) {
        (Some(k), Some(false)) => push(
            Finding::new(
                "LNX-1",
                Severity::Blocker,
                subj,
                "kernel version not supported",
            )
            .evidence(format!(
                "default kernel {k}; accepted: {}",
                m.accepted_kernels.join(", ")
            ))
            .fix("make a distribution kernel of an accepted version the default"),
        ),
        (Some(k), Some(true)) => push(Finding::new(
            "LNX-1",
            Severity::Pass,
            subj,
            format!("default kernel {k} is accepted"),
        )),
        (None, _) => push(
            Finding::new("LNX-1", Severity::Warning, subj, "default kernel unknown")
                .evidence(format!("{:?}", os.bootloader)),
        ),
        _ => {}
    }
    // OS-5: licensing facts.
    if matches!(distro.as_str(), "rhel" | "sles") {
        push(
            Finding::new(
                "OS-5",
                Severity::Info,
                subj,
                format!("{name} needs its own subscription"),
            )
            .fix("bring your own licence/subscription"),
        );
    }

    // BOOT-2: root filesystem type, Btrfs subvolumes.
    let root_mount = os.mountpoints.iter().find(|m| m.mountpoint == "/");
    if let Some(rm) = root_mount {
        if s.linux_filesystems.iter().any(|f| f == &rm.fstype) {
            push(Finding::new(
                "BOOT-2",
                Severity::Pass,
                subj,
                format!("root filesystem {} on {}", rm.fstype, rm.device),
            ));
        } else {
            push(
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
            push(
                Finding::new("BOOT-2", Severity::Blocker, subj, "Btrfs subvolumes are refused")
                    .evidences(subvol_mounts)
                    .fix("move the root to a plain filesystem (or the top-level Btrfs volume) before export"),
            );
        }
    }

    // BOOT-1 / BOOT-4: boot modes.
    let bm = &os.boot_modes;
    let modes = match (bm.bios, bm.uefi) {
        (true, true) => "BIOS and UEFI",
        (true, false) => "BIOS",
        (false, true) => "UEFI",
        (false, false) => "none",
    };
    if bm.bios || bm.uefi {
        push(
            Finding::new(
                "BOOT-1",
                Severity::Info,
                subj,
                format!("boots with {modes}"),
            )
            .evidences(bm.evidence.clone()),
        );
    } else {
        push(
            Finding::new("BOOT-1", Severity::Blocker, subj, "no boot mode found")
                .evidences(bm.evidence.clone())
                .fix("install GRUB for BIOS (boot code in the MBR) or UEFI (an ESP with a loader)"),
        );
    }
    if bm.bios && bm.uefi {
        push(
            Finding::new(
                "FMT-5",
                Severity::Info,
                subj,
                "hybrid BIOS+UEFI GRUB: import works, export is refused",
            )
            .evidences(bm.evidence.clone()),
        );
    }
    if bm.uefi {
        match bm.uefi_fallback_loader {
            Some(true) => push(Finding::new("BOOT-4", Severity::Pass, subj, "fallback loader EFI/BOOT/BOOTX64.EFI present")),
            _ => push(
                Finding::new(
                    "BOOT-4",
                    if bm.bios { Severity::Warning } else { Severity::Blocker },
                    subj,
                    "UEFI fallback loader \\EFI\\BOOT\\BOOTX64.EFI missing",
                )
                .evidence(format!("ESP {}", bm.esp_device.clone().unwrap_or_default()))
                .fix("guestfix plan adds it from the distribution's loader (rule uefi-fallback-debian)"),
            ),
        }
    }

    // BOOT-5 / LNX-7 / GEN-2: boot loader.
    match os.bootloader.known() {
        Some(b) => {
            push(Finding::new(
                "BOOT-5",
                if b.kind == "grub-legacy" {
                    Severity::Info
                } else {
                    Severity::Pass
                },
                subj,
                if b.kind == "grub-legacy" {
                    format!(
                        "boot loader GRUB legacy ({}): accepted; its menu is edited directly",
                        b.config_files.join(", ")
                    )
                } else {
                    format!("boot loader {} ({})", b.kind, b.config_files.join(", "))
                },
            ));
            if b.kind == "grub2-bls" && b.default_kernel.is_none() {
                push(
                    Finding::new(
                        "LNX-7",
                        Severity::Blocker,
                        subj,
                        "BLS-style GRUB found but the default kernel could not be detected",
                    )
                    .evidences(b.config_files.clone())
                    .fix("set saved_entry in grubenv (grub2-set-default) so the default is resolvable"),
                );
            } else if b.default_kernel.is_some() {
                push(Finding::new(
                    "LNX-7",
                    Severity::Pass,
                    subj,
                    format!(
                        "default entry resolves to {}",
                        b.default_kernel.clone().unwrap_or_default()
                    ),
                ));
            }
        }
        None => push(
            Finding::new(
                "BOOT-5",
                Severity::Blocker,
                subj,
                "no GRUB legacy or GRUB 2 configuration found",
            )
            .evidence(format!("{:?}", os.bootloader))
            .fix("Linux guests must boot with GRUB legacy or GRUB 2"),
        ),
    }
    for n in os
        .notes
        .iter()
        .filter(|n| n.contains("multiple different grub"))
    {
        push(
            Finding::new(
                "GEN-2",
                Severity::Blocker,
                subj,
                "multiple different grub/menu.lst files found",
            )
            .evidence(n.clone())
            .fix("keep one boot-loader configuration"),
        );
    }

    // BOOT-6: root on the boot disk.
    if let Some(rm) = root_mount {
        let boot_disk = insp
            .disks
            .first()
            .map(|d| d.device.clone())
            .unwrap_or_default();
        if !boot_disk.is_empty()
            && !rm.device.starts_with("/dev/mapper")
            && !rm.device.starts_with(&boot_disk)
            && rm.device.starts_with("/dev/sd")
        {
            push(
                Finding::new(
                    "BOOT-6",
                    Severity::Blocker,
                    subj,
                    "root is not on the boot disk",
                )
                .evidence(format!("/ on {}, boot loader on {boot_disk}", rm.device))
                .fix("move the root partition to the disk that holds the boot loader"),
            );
        }
    }

    // MOD-L3 / MOD-L4: device names that change when the disk moves to another bus.
    if let Some(cl) = os
        .bootloader
        .known()
        .and_then(|b| b.default_cmdline.clone())
    {
        let named: Vec<String> = cl
            .split_whitespace()
            .filter(|w| {
                ["root=/dev/", "resume=/dev/"]
                    .iter()
                    .any(|p| w.starts_with(p))
                    && !w.contains("/dev/mapper/")
                    && !w.contains("/dev/disk/")
            })
            .map(str::to_string)
            .collect();
        if named.is_empty() {
            push(Finding::new(
                "MOD-L4",
                Severity::Pass,
                subj,
                "kernel command line names its root by a stable name",
            ));
        } else {
            push(
                Finding::new("MOD-L4", Severity::Warning, subj, "kernel command line names devices that will not exist after import")
                    .evidence(format!("default entry: {}", named.join(" ")))
                    .fix("guestfix plan replaces them with UUID= (on NVMe or virtio the root is not found otherwise)"),
            );
        }
    }
    let by_name: Vec<String> = os
        .mountpoints
        .iter()
        .filter(|m| is_device_name(&m.spec))
        .map(|m| format!("{} on {}", m.mountpoint, m.spec))
        .collect();
    if !by_name.is_empty() {
        push(
            Finding::new(
                "MOD-L3",
                Severity::Warning,
                subj,
                "fstab mounts filesystems by device name",
            )
            .evidences(by_name)
            .fix("guestfix plan replaces the device names with UUID="),
        );
    }

    // MOD-L3: fstab entries that match nothing in the image.
    for p in &os.unresolved_fstab {
        push(
            Finding::new("MOD-L3", Severity::Warning, subj, format!("fstab entry for {} matches nothing in the image", p.mountpoint))
                .evidence(format!("{}:{}: {} {} {} ({})", p.file, p.line, p.spec, p.mountpoint, p.fstype, p.reason))
                .fix("guestfix plan adds nofail (or disables it); fix the device name after import and drop nofail"),
        );
    }

    // GEN-4 / LNX-4: network.
    match os.network.known() {
        Some(n) => {
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
                push(
                    Finding::new(
                        "GEN-4",
                        Severity::Warning,
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
                push(
                    Finding::new(
                        "GEN-4",
                        Severity::Warning,
                        subj,
                        "several network interfaces configured; the VM will have one",
                    )
                    .evidence(names.into_iter().collect::<Vec<_>>().join(", ")),
                );
            }
            let predictable: Vec<String> = n
                .interfaces
                .iter()
                .filter(|i| is_predictable_name(&i.name))
                .map(|i| format!("{} in {}", i.name, i.file))
                .collect();
            if n.predictable_names_disabled {
                push(
                    Finding::new(
                        "LNX-4",
                        Severity::Pass,
                        subj,
                        "predictable interface names disabled",
                    )
                    .evidences(n.evidence.clone()),
                );
            } else {
                let mut ev = predictable;
                ev.push("no net.ifnames=0 / biosdevname=0 on the default kernel command line and no udev rule pinning ethX names".into());
                push(
                    Finding::new("LNX-4", Severity::Warning, subj, "predictable network interface names are in use")
                        .evidences(ev)
                        .fix("guestfix plan adds net.ifnames=0 biosdevname=0 and renames the config to eth0"),
                );
            }
        }
        None => push(
            Finding::new(
                "GEN-4",
                Severity::Warning,
                subj,
                "network configuration could not be read",
            )
            .evidence(format!("{:?}", os.network)),
        ),
    }

    // LNX-2: free space on the root volume.
    if let Some(rm) = root_mount {
        let free = insp
            .all_volumes()
            .find(|v| v.device == rm.device)
            .and_then(|v| v.free_bytes);
        match free {
            Some(f) if f < s.min_root_free_bytes => push(
                Finding::new(
                    "LNX-2",
                    Severity::Warning,
                    subj,
                    "little free space on the root volume",
                )
                .evidence(format!("{} free on {}", human(f), rm.device))
                .fix(format!(
                    "free at least {} before export",
                    human(s.min_root_free_bytes)
                )),
            ),
            Some(f) => push(Finding::new(
                "LNX-2",
                Severity::Pass,
                subj,
                format!("{} free on the root volume", human(f)),
            )),
            None => {}
        }
    }

    // LNX-3 / LNX-8: drivers and initramfs of the default kernel.
    let dk = kernel
        .as_deref()
        .and_then(|k| os.kernels.iter().find(|x| x.version == k))
        .or_else(|| os.kernels.first());
    match dk {
        Some(k) => {
            // `check --quick` does not decompress the initramfs: say what was not examined.
            let not_read = matches!(&k.initramfs_readable, Fact::Unknown { unknown } if unknown == INITRAMFS_NOT_READ);
            match k.initramfs_readable.known() {
                Some(true) => push(Finding::new("LNX-8", Severity::Pass, subj, format!("initramfs of {} is readable", k.version))),
                None if not_read => push(
                    Finding::new("LNX-8", Severity::Info, subj, "initramfs not examined (--quick): its readability and drivers were not checked")
                        .evidence(format!("kernel {}: initramfs {}", k.version, k.initramfs.clone().unwrap_or_else(|| "none".into())))
                        .fix("run `guestfix check` without --quick for the LNX-3/LNX-8 driver checks"),
                ),
                _ => push(
                    Finding::new("LNX-8", Severity::Blocker, subj, "Could not read your initramfs/initrd to determine which drivers are needed")
                        .evidence(format!("kernel {}: initramfs {}: {}", k.version, k.initramfs.clone().unwrap_or_else(|| "none".into()), k.initramfs_error.clone().unwrap_or_else(|| format!("{:?}", k.initramfs_readable))))
                        .fix("regenerate the initramfs (update-initramfs -u / dracut -f) before export"),
                ),
            }
            let has = |list: &[String], m: &str| list.iter().any(|x| norm(x) == norm(m));
            let at_boot = |m: &str| has(&k.initramfs_drivers, m) || has(&k.builtin_drivers, m);
            let on_disk = |m: &str| has(&k.module_drivers, m);
            // The platform's boot-disk driver must be usable before the root is mounted.
            if !s.boot_drivers.is_empty() && k.initramfs_readable.known() == Some(&true) {
                let names: Vec<&str> = s.boot_drivers.iter().map(|d| d.name.as_str()).collect();
                let ok: Vec<&str> = s
                    .boot_drivers
                    .iter()
                    .filter(|d| d.modules.iter().any(|m| at_boot(m)))
                    .map(|d| d.name.as_str())
                    .collect();
                if ok.is_empty() {
                    let later: Vec<&str> = s
                        .boot_drivers
                        .iter()
                        .filter(|d| d.modules.iter().any(|m| on_disk(m)))
                        .map(|d| d.name.as_str())
                        .collect();
                    push(
                        Finding::new("LNX-3", Severity::Warning, subj, "no boot-disk driver of the platform in the initramfs")
                            .evidence(format!(
                                "kernel {}: none of {} in the initramfs or built in (initramfs has: {}){}",
                                k.version,
                                names.join(", "),
                                if k.initramfs_drivers.is_empty() { "no storage/network drivers".into() } else { k.initramfs_drivers.join(" ") },
                                if later.is_empty() { String::new() } else { format!("; {} only in /lib/modules", later.join(", ")) }
                            ))
                            .fix("rebuild the initramfs with the driver (dracut --add-drivers nvme / update-initramfs) before export, or let a rule add it (MOD-L1)"),
                    );
                } else {
                    push(Finding::new(
                        "LNX-3",
                        Severity::Pass,
                        subj,
                        format!(
                            "boot-disk driver {} available at boot for {}",
                            ok.join(", "),
                            k.version
                        ),
                    ));
                }
            }
            for d in &s.required_drivers {
                let boot = d.modules.iter().any(|m| at_boot(m));
                let disk = d.modules.iter().any(|m| on_disk(m));
                if boot {
                    push(Finding::new(
                        "LNX-3",
                        Severity::Pass,
                        subj,
                        format!("{} driver present for {}", d.name, k.version),
                    ));
                } else if disk && not_read {
                    push(
                        Finding::new(
                            "LNX-3",
                            Severity::Info,
                            subj,
                            format!(
                                "{} driver in /lib/modules; initramfs not examined (--quick)",
                                d.name
                            ),
                        )
                        .evidence(format!(
                            "kernel {}: {} in /lib/modules",
                            k.version,
                            d.modules.join("/")
                        )),
                    );
                } else if disk {
                    push(
                        Finding::new("LNX-3", Severity::Info, subj, format!("{} driver only in /lib/modules", d.name))
                            .evidence(format!("kernel {}: {} is not in the initramfs; it loads once the root is mounted", k.version, d.modules.join("/"))),
                    );
                } else {
                    push(
                        Finding::new(
                            "LNX-3",
                            if d.severity.as_deref() == Some("blocker") {
                                Severity::Blocker
                            } else {
                                Severity::Warning
                            },
                            subj,
                            format!("{} driver missing", d.name),
                        )
                        .evidence(format!(
                            "kernel {}: no {} module in the initramfs or /lib/modules",
                            k.version,
                            d.modules.join("/")
                        ))
                        .fix(format!(
                            "install the {} driver (or let a rule with modules_dir add it, MOD-L1)",
                            d.name
                        )),
                    );
                }
            }
        }
        None => push(
            Finding::new("LNX-8", Severity::Blocker, subj, "no kernel found")
                .fix("install a distribution kernel"),
        ),
    }

    // LNX-5 / LNX-6: remote access and DHCP client.
    match os.ssh_server.known() {
        Some(s) if s.installed && s.enabled => push(
            Finding::new(
                "LNX-5",
                Severity::Pass,
                subj,
                "SSH server installed and enabled",
            )
            .evidences(s.evidence.clone()),
        ),
        Some(s) if s.installed => push(
            Finding::new(
                "LNX-5",
                Severity::Warning,
                subj,
                "SSH server installed but not enabled",
            )
            .evidences(s.evidence.clone())
            .fix("enable sshd before export"),
        ),
        _ => push(
            Finding::new("LNX-5", Severity::Warning, subj, "no SSH server found")
                .fix("install and enable an SSH server, add a non-root user with a public key"),
        ),
    }
    match os.dhcp_client.known() {
        Some(c) if !c.is_empty() => push(Finding::new("LNX-6", Severity::Pass, subj, format!("DHCP client: {}", c.join(", ")))),
        _ => push(
            Finding::new("LNX-6", Severity::Blocker, subj, "no DHCP client found")
                .evidence(format!("{:?}", os.dhcp_client))
                .fix("install a DHCP client (isc-dhcp-client, dhcpcd, NetworkManager, systemd-networkd)"),
        ),
    }
}

/// A kernel device name that depends on the disk's bus and order (/dev/sda1, /dev/vdb, /dev/xvda1,
/// /dev/nvme0n1p1, /dev/hda1).
fn is_device_name(spec: &str) -> bool {
    spec.strip_prefix("/dev/").is_some_and(|d| {
        ["sd", "hd", "vd", "xvd", "nvme"]
            .iter()
            .any(|p| d.starts_with(p))
    })
}

fn norm(m: &str) -> String {
    m.replace('-', "_")
}

fn newest_kernel(os: &OsFacts) -> Option<String> {
    os.kernels.iter().map(|k| k.version.clone()).max_by(|a, b| {
        crate::rules::Version::parse(a)
            .map(|v| v.0)
            .cmp(&crate::rules::Version::parse(b).map(|v| v.0))
    })
}

/// ens33, enp0s3, eno1, enx…, wlp2s0: systemd's predictable names (LNX-4).
pub fn is_predictable_name(n: &str) -> bool {
    let b = n.as_bytes();
    (n.starts_with("en") || n.starts_with("wl") || n.starts_with("ww"))
        && b.len() > 3
        && matches!(b[2], b'o' | b's' | b'p' | b'x' | b'P')
}
