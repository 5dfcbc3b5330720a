//! LNX: Linux requirements (LNX-1 kernel, LNX-2 free space, LNX-3 drivers, LNX-4 interface names,
//! LNX-5 SSH, LNX-6 DHCP client, LNX-7 BLS default, LNX-8 initramfs).

use super::human;
use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::{Fact, KernelFacts, OsFacts};
use crate::rules::{DriverSpec, LinuxMatch};

/// A Linux root's distribution, version and default kernel, matched against the OS matrix
/// (OS-2, OS-4, OS-5 and LNX-1 judge it).
pub struct LinuxVersion {
    pub distro: String,
    /// Product name and version, as the findings name the OS.
    pub name: String,
    /// The default kernel's version, else the newest kernel's.
    pub kernel: Option<String>,
    pub matched: LinuxMatch,
}

impl LinuxVersion {
    pub fn of(ctx: &Ctx, os: &OsFacts) -> LinuxVersion {
        let distro = os.distro.known().cloned().unwrap_or_default();
        let version = os.version.known().cloned().unwrap_or_default();
        let kernel = default_kernel_version(os);
        let matched = ctx
            .profile
            .matrix
            .match_linux(&distro, &version, kernel.as_deref());
        let name = format!(
            "{} {}",
            os.product_name.known().cloned().unwrap_or(distro.clone()),
            version
        );
        LinuxVersion {
            distro,
            name,
            kernel,
            matched,
        }
    }
}

/// The default kernel's version (from the boot loader), else the newest installed.
fn default_kernel_version(os: &OsFacts) -> Option<String> {
    os.bootloader
        .known()
        .and_then(|b| b.default_kernel_version.clone())
        .or_else(|| newest_kernel(os))
}

fn newest_kernel(os: &OsFacts) -> Option<String> {
    os.kernels.iter().map(|k| k.version.clone()).max_by(|a, b| {
        crate::rules::Version::parse(a)
            .map(|v| v.0)
            .cmp(&crate::rules::Version::parse(b).map(|v| v.0))
    })
}

/// The default kernel's facts (else the first kernel found).
fn default_kernel(os: &OsFacts) -> Option<&KernelFacts> {
    default_kernel_version(os)
        .and_then(|k| os.kernels.iter().find(|x| x.version == k))
        .or_else(|| os.kernels.first())
}

/// LNX-1: the default kernel is one the matrix accepts for this version.
pub fn lnx1_kernel(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let v = LinuxVersion::of(ctx, os);
    let subj = os.root.as_str();
    let f = match (v.kernel.as_deref(), v.matched.kernel_ok) {
        (Some(k), Some(false)) => Finding::new(
            "LNX-1",
            Severity::Blocker,
            subj,
            "kernel version not supported",
        )
        .evidence(format!(
            "default kernel {k}; accepted: {}",
            v.matched.accepted_kernels.join(", ")
        ))
        .fix("make a distribution kernel of an accepted version the default"),
        (Some(k), Some(true)) => Finding::new(
            "LNX-1",
            Severity::Pass,
            subj,
            format!("default kernel {k} is accepted"),
        ),
        (None, _) => Finding::new("LNX-1", Severity::Warning, subj, "default kernel unknown")
            .evidence(format!("{:?}", os.bootloader)),
        _ => return Vec::new(),
    };
    vec![f]
}

/// LNX-2: free space on the root volume (the profile's `min_root_free_bytes`).
pub fn lnx2_root_free_space(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let s = ctx.settings();
    let subj = os.root.as_str();
    let Some(rm) = os.mountpoints.iter().find(|m| m.mountpoint == "/") else {
        return Vec::new();
    };
    let free = ctx
        .insp
        .all_volumes()
        .find(|v| v.device == rm.device)
        .and_then(|v| v.free_bytes);
    let f = match free {
        Some(f) if f < s.min_root_free_bytes => Finding::new(
            "LNX-2",
            ctx.severity("LNX-2.low-free-space"),
            subj,
            "little free space on the root volume",
        )
        .evidence(format!("{} free on {}", human(f), rm.device))
        .fix(format!(
            "free at least {} before export",
            human(s.min_root_free_bytes)
        )),
        Some(f) => Finding::new(
            "LNX-2",
            Severity::Pass,
            subj,
            format!("{} free on the root volume", human(f)),
        ),
        None => return Vec::new(),
    };
    vec![f]
}

/// Whether the initramfs was deliberately not read (`check --quick`).
fn initramfs_not_read(k: &KernelFacts) -> bool {
    k.initramfs_not_read
}

fn norm(m: &str) -> String {
    m.replace('-', "_")
}

fn has(list: &[String], m: &str) -> bool {
    list.iter().any(|x| norm(x) == norm(m))
}

/// A module usable before the root is mounted (in the initramfs or built in).
fn at_boot(k: &KernelFacts, m: &str) -> bool {
    has(&k.initramfs_drivers, m) || has(&k.builtin_drivers, m)
}

/// A module only on the root filesystem (/lib/modules).
fn on_disk(k: &KernelFacts, m: &str) -> bool {
    has(&k.module_drivers, m)
}

/// LNX-3: the platform's boot-disk driver (`boot_drivers`) in the initramfs, and every
/// `required_drivers` entry in the initramfs or at least in /lib/modules, for the default kernel.
pub fn lnx3_drivers(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let s = ctx.settings();
    let Some(k) = default_kernel(os) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !s.boot_drivers.is_empty() && k.initramfs_readable.known() == Some(&true) {
        let missing = ctx.severity("LNX-3.no-boot-driver");
        out.push(lnx3_boot_driver(&s.boot_drivers, k, &os.root, missing));
    }
    let pkg = module_package(ctx, os, &k.version);
    for d in &s.required_drivers {
        out.push(lnx3_required_driver(d, k, &os.root, pkg.as_deref()));
    }
    out
}

/// The package that holds kernel `kver`'s modules on this guest's distribution: the MOD-L1
/// rule's `packages` table (distro → name, `{kver}` replaced), when the profile has one.
fn module_package(ctx: &Ctx, os: &OsFacts, kver: &str) -> Option<String> {
    let distro = os.distro.known()?;
    ctx.profile
        .rules
        .iter()
        .filter(|r| r.transform == crate::rules::Transform::InitramfsDrivers)
        .find_map(|r| r.param_table_str("packages", distro))
        .map(|p| p.replace("{kver}", kver))
}

/// LNX-3: the platform's boot-disk driver must be usable before the root is mounted.
fn lnx3_boot_driver(
    drivers: &[DriverSpec],
    k: &KernelFacts,
    subj: &str,
    missing: Severity,
) -> Finding {
    let names: Vec<&str> = drivers.iter().map(|d| d.name.as_str()).collect();
    let ok: Vec<&str> = drivers
        .iter()
        .filter(|d| d.modules.iter().any(|m| at_boot(k, m)))
        .map(|d| d.name.as_str())
        .collect();
    if !ok.is_empty() {
        return Finding::new(
            "LNX-3",
            Severity::Pass,
            subj,
            format!(
                "boot-disk driver {} available at boot for {}",
                ok.join(", "),
                k.version
            ),
        );
    }
    let later: Vec<&str> = drivers
        .iter()
        .filter(|d| d.modules.iter().any(|m| on_disk(k, m)))
        .map(|d| d.name.as_str())
        .collect();
    Finding::new("LNX-3", missing, subj, "no boot-disk driver of the platform in the initramfs")
        .evidence(format!(
            "kernel {}: none of {} in the initramfs or built in (initramfs has: {}){}",
            k.version,
            names.join(", "),
            if k.initramfs_drivers.is_empty() { "no storage/network drivers".into() } else { k.initramfs_drivers.join(" ") },
            if later.is_empty() { String::new() } else { format!("; {} only in /lib/modules", later.join(", ")) }
        ))
        .fix("`guestfix plan` appends the driver to the initramfs from the guest's own modules (MOD-L1), or rebuild the initramfs with it (dracut --add-drivers nvme / update-initramfs) before export")
}

/// LNX-3: one required driver (its severity when missing is the profile's, default warning).
fn lnx3_required_driver(
    d: &DriverSpec,
    k: &KernelFacts,
    subj: &str,
    package: Option<&str>,
) -> Finding {
    let boot = d.modules.iter().any(|m| at_boot(k, m));
    let disk = d.modules.iter().any(|m| on_disk(k, m));
    let mods = d.modules.join("/");
    if boot {
        Finding::new(
            "LNX-3",
            Severity::Pass,
            subj,
            format!("{} driver present for {}", d.name, k.version),
        )
    } else if disk && initramfs_not_read(k) {
        Finding::new(
            "LNX-3",
            Severity::Info,
            subj,
            format!(
                "{} driver in /lib/modules; initramfs not examined (--quick)",
                d.name
            ),
        )
        .evidence(format!("kernel {}: {mods} in /lib/modules", k.version))
    } else if disk {
        Finding::new(
            "LNX-3",
            Severity::Info,
            subj,
            format!("{} driver only in /lib/modules", d.name),
        )
        .evidence(format!(
            "kernel {}: {mods} is not in the initramfs; it loads once the root is mounted",
            k.version
        ))
    } else {
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
            "kernel {}: no {mods} module in the initramfs or /lib/modules",
            k.version
        ))
        .fix(match package {
            // issue 26: the exact package; once its modules are on the disk, the MOD-L1 rule
            // appends the driver to the initramfs from them
            Some(p) => format!(
                "install {p} in the guest (it holds the {} driver); `guestfix plan` then appends the driver to the initramfs from the guest's modules (MOD-L1)",
                d.name
            ),
            None => format!(
                "install the {} driver (or let the MOD-L1 rule take it from a modules_dir)",
                d.name
            ),
        })
    }
}

/// LNX-4: predictable interface names unless they are disabled (net.ifnames=0, udev rule).
pub fn lnx4_interface_names(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(n) = os.network.known() else {
        return Vec::new();
    };
    if n.predictable_names_disabled {
        return vec![
            Finding::new(
                "LNX-4",
                Severity::Pass,
                subj,
                "predictable interface names disabled",
            )
            .evidences(n.evidence.clone()),
        ];
    }
    let mut ev: Vec<String> = n
        .interfaces
        .iter()
        .filter(|i| is_predictable_name(&i.name))
        .map(|i| format!("{} in {}", i.name, i.file))
        .collect();
    ev.push("no net.ifnames=0 / biosdevname=0 on the default kernel command line and no udev rule pinning ethX names".into());
    vec![
        Finding::new(
            "LNX-4",
            ctx.severity("LNX-4.predictable-names"),
            subj,
            "predictable network interface names are in use",
        )
        .evidences(ev)
        .fix("guestfix plan adds net.ifnames=0 biosdevname=0 and renames the config to eth0"),
    ]
}

/// ens33, enp0s3, eno1, enx…, wlp2s0: systemd's predictable names (LNX-4).
pub fn is_predictable_name(n: &str) -> bool {
    let b = n.as_bytes();
    (n.starts_with("en") || n.starts_with("wl") || n.starts_with("ww"))
        && b.len() > 3
        && matches!(b[2], b'o' | b's' | b'p' | b'x' | b'P')
}

/// LNX-5: an SSH server installed and enabled.
pub fn lnx5_ssh(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let f = match os.ssh_server.known() {
        Some(s) if s.installed && s.enabled => Finding::new(
            "LNX-5",
            Severity::Pass,
            subj,
            "SSH server installed and enabled",
        )
        .evidences(s.evidence.clone()),
        Some(s) if s.installed => Finding::new(
            "LNX-5",
            ctx.severity("LNX-5.ssh-not-enabled"),
            subj,
            "SSH server installed but not enabled",
        )
        .evidences(s.evidence.clone())
        .fix("enable sshd before export"),
        _ => Finding::new(
            "LNX-5",
            ctx.severity("LNX-5.no-ssh"),
            subj,
            "no SSH server found",
        )
        .fix("install and enable an SSH server, add a non-root user with a public key"),
    };
    vec![f]
}

/// LNX-6: a DHCP client.
pub fn lnx6_dhcp_client(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let f = match os.dhcp_client.known() {
        Some(c) if !c.is_empty() => Finding::new(
            "LNX-6",
            Severity::Pass,
            subj,
            format!("DHCP client: {}", c.join(", ")),
        ),
        _ => Finding::new("LNX-6", Severity::Blocker, subj, "no DHCP client found")
            .evidence(match &os.dhcp_client {
                Fact::Unknown { unknown } => format!("not determined: {unknown}"),
                Fact::Known(_) => "no DHCP client binary (dhclient, dhcpcd, NetworkManager, \
                                   systemd-networkd, wicked, udhcpc), enabled network service, \
                                   installed package or network renderer that provides one"
                    .to_string(),
            })
            .fix(
                "install a DHCP client (isc-dhcp-client, dhcpcd, NetworkManager, systemd-networkd)",
            ),
    };
    vec![f]
}

/// LNX-7: a BLS-style GRUB whose default entry resolves to a kernel.
pub fn lnx7_bls_default(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(b) = os.bootloader.known() else {
        return Vec::new();
    };
    if b.kind == "grub2-bls" && b.default_kernel.is_none() {
        vec![
            Finding::new(
                "LNX-7",
                Severity::Blocker,
                subj,
                "BLS-style GRUB found but the default kernel could not be detected",
            )
            .evidences(b.config_files.clone())
            .fix("set saved_entry in grubenv (grub2-set-default) so the default is resolvable"),
        ]
    } else if let Some(k) = &b.default_kernel {
        vec![Finding::new(
            "LNX-7",
            Severity::Pass,
            subj,
            format!("default entry resolves to {k}"),
        )]
    } else {
        Vec::new()
    }
}

/// LNX-8: the default kernel's initramfs is a readable archive (`check --quick` does not read
/// it: then an info says what was not examined).
pub fn lnx8_initramfs(_: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(k) = default_kernel(os) else {
        return vec![
            Finding::new("LNX-8", Severity::Blocker, subj, "no kernel found")
                .fix("install a distribution kernel"),
        ];
    };
    let initramfs = k.initramfs.clone().unwrap_or_else(|| "none".into());
    let f = match k.initramfs_readable.known() {
        Some(true) => Finding::new(
            "LNX-8",
            Severity::Pass,
            subj,
            format!("initramfs of {} is readable", k.version),
        ),
        None if initramfs_not_read(k) => Finding::new(
            "LNX-8",
            Severity::Info,
            subj,
            "initramfs not examined (--quick): its readability and drivers were not checked",
        )
        .evidence(format!("kernel {}: initramfs {initramfs}", k.version))
        .fix("run `guestfix check` without --quick for the LNX-3/LNX-8 driver checks"),
        _ => Finding::new(
            "LNX-8",
            Severity::Blocker,
            subj,
            "Could not read your initramfs/initrd to determine which drivers are needed",
        )
        .evidence(format!(
            "kernel {}: initramfs {initramfs}: {}",
            k.version,
            k.initramfs_error
                .clone()
                .unwrap_or_else(|| format!("{:?}", k.initramfs_readable))
        ))
        .fix("regenerate the initramfs (update-initramfs -u / dracut -f) before export"),
    };
    vec![f]
}
