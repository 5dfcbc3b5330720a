//! MOD: findings about what the import changes (and `guestfix plan` will do): MOD-L3 fstab,
//! MOD-L4 the kernel command line, MOD-W1 the platform's Windows drivers.

use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::OsFacts;
use crate::guest::windows::{PLATFORM_NETWORK, PLATFORM_STORAGE, WindowsFacts};

/// A kernel device name that depends on the disk's bus and order (/dev/sda1, /dev/vdb, /dev/xvda1,
/// /dev/nvme0n1p1, /dev/hda1).
fn is_device_name(spec: &str) -> bool {
    spec.strip_prefix("/dev/").is_some_and(|d| {
        ["sd", "hd", "vd", "xvd", "nvme"]
            .iter()
            .any(|p| d.starts_with(p))
    })
}

/// MOD-L4: device names on the default kernel command line that change when the disk moves to
/// another bus.
pub fn modl4_cmdline_device_names(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(cl) = os
        .bootloader
        .known()
        .and_then(|b| b.default_cmdline.as_ref())
    else {
        return Vec::new();
    };
    let named: Vec<&str> = cl
        .split_whitespace()
        .filter(|w| {
            ["root=/dev/", "resume=/dev/"]
                .iter()
                .any(|p| w.starts_with(p))
                && !w.contains("/dev/mapper/")
                && !w.contains("/dev/disk/")
        })
        .collect();
    let f = if named.is_empty() {
        Finding::new(
            "MOD-L4",
            Severity::Pass,
            subj,
            "kernel command line names its root by a stable name",
        )
    } else {
        Finding::new("MOD-L4", ctx.severity("MOD-L4.device-names"), subj, "kernel command line names devices that will not exist after import")
            .evidence(format!("default entry: {}", named.join(" ")))
            .fix("guestfix plan replaces them with UUID= (on NVMe or virtio the root is not found otherwise)")
    };
    vec![f]
}

/// MOD-L3: fstab entries that mount by device name, and entries that match nothing in the image.
pub fn modl3_fstab(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let mut out = Vec::new();
    let by_name: Vec<String> = os
        .mountpoints
        .iter()
        .filter(|m| is_device_name(&m.spec))
        .map(|m| format!("{} on {}", m.mountpoint, m.spec))
        .collect();
    if !by_name.is_empty() {
        out.push(
            Finding::new(
                "MOD-L3",
                ctx.severity("MOD-L3.device-names"),
                subj,
                "fstab mounts filesystems by device name",
            )
            .evidences(by_name)
            .fix("guestfix plan replaces the device names with UUID="),
        );
    }
    for p in &os.unresolved_fstab {
        out.push(
            Finding::new("MOD-L3", ctx.severity("MOD-L3.unresolved"), subj, format!("fstab entry for {} matches nothing in the image", p.mountpoint))
                .evidence(format!("{}:{}: {} {} {} ({})", p.file, p.line, p.spec, p.mountpoint, p.fstype, p.reason))
                .fix("guestfix plan adds nofail (or disables it); fix the device name after import and drop nofail"),
        );
    }
    out
}

/// MOD-W1: whether the platform's boot-start storage and network drivers are installed (the
/// import adds them otherwise).
pub fn modw1_platform_drivers(_: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    if w.system.is_none() {
        return Vec::new();
    }
    let boot_storage = PLATFORM_STORAGE
        .iter()
        .any(|n| w.service(n).is_some_and(|s| s.boot_start()));
    let net = PLATFORM_NETWORK
        .iter()
        .any(|n| w.service(n).is_some_and(|s| !s.disabled()));
    let present = w.drivers.iter().map(|d| {
        format!(
            "{} ({}, Start={})",
            d.name,
            d.family,
            d.start.map(|x| x.to_string()).unwrap_or("?".into())
        )
    });
    let f = if boot_storage && net {
        Finding::new(
            "MOD-W1",
            Severity::Pass,
            &os.root,
            "platform storage and network drivers present",
        )
    } else {
        let missing = match (boot_storage, net) {
            (false, false) => "storage and network",
            (false, true) => "storage",
            _ => "network",
        };
        Finding::new(
            "MOD-W1",
            Severity::Info,
            &os.root,
            format!("platform {missing} drivers not installed; the import (MOD-W1/W2) adds them"),
        )
        .fix("`guestfix plan --drivers DIR` installs them from their INF files (rule windows-boot-drivers); stornvme is made boot-start where it is inbox")
    };
    vec![f.evidences(present)]
}
