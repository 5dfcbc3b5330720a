//! Rendering an [`Inspection`]: a human summary, and XML compatible with virt-inspector's
//! output (it validates against virt-inspector.rng from guestfs-tools). The JSON form is the
//! serde serialisation of the facts (docs/inspect-json.md).

use super::facts::{Fact, Inspection, OsFacts};
use std::fmt::Write;

/// Values virt-inspector.rng accepts for <distro>; others are left out of the XML (the element
/// is optional), and stay in the JSON.
const RNG_DISTROS: &[&str] = &[
    "alpinelinux",
    "altlinux",
    "archlinux",
    "buildroot",
    "centos",
    "cirros",
    "coreos",
    "debian",
    "fedora",
    "freebsd",
    "freedos",
    "frugalware",
    "gentoo",
    "kalilinux",
    "kylin",
    "linuxmint",
    "mageia",
    "mandriva",
    "meego",
    "msdos",
    "neokylin",
    "netbsd",
    "openbsd",
    "openmandriva",
    "opensuse",
    "oraclelinux",
    "pardus",
    "pldlinux",
    "redhat-based",
    "rhel",
    "scientificlinux",
    "slackware",
    "sles",
    "suse-based",
    "ttylinux",
    "ubuntu",
    "voidlinux",
    "windows",
];
const RNG_PKG_FORMATS: &[&str] = &[
    "apk", "deb", "ebuild", "pacman", "pisi", "pkgsrc", "rpm", "xbps",
];
const RNG_PKG_MGMT: &[&str] = &[
    "apk", "apt", "dnf", "pacman", "pisi", "portage", "up2date", "urpmi", "xbps", "yum", "zypper",
];

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn fact_str<T: ToString>(f: &Fact<T>) -> String {
    match f {
        Fact::Known(v) => v.to_string(),
        Fact::Unknown { unknown } => format!("unknown ({unknown})"),
    }
}

/// virt-inspector compatible XML.
pub fn to_xml(insp: &Inspection) -> String {
    let mut x = String::from("<?xml version=\"1.0\"?>\n<operatingsystems>\n");
    for os in &insp.operating_systems {
        x.push_str("  <operatingsystem>\n");
        // libguestfs names a root in a Btrfs subvolume `btrfsvol:DEVICE/SUBVOL`.
        let root = match os.root.split_once(':') {
            Some((dev, sv)) => format!("btrfsvol:{dev}/{}", sv.trim_start_matches('/')),
            None => os.root.clone(),
        };
        let _ = writeln!(x, "    <root>{}</root>", esc(&root));
        let _ = writeln!(x, "    <name>{}</name>", esc(&os.os_type));
        if let Some(a) = os.arch.known() {
            let _ = writeln!(x, "    <arch>{}</arch>", esc(a));
        }
        if let Some(d) = os
            .distro
            .known()
            .filter(|d| RNG_DISTROS.contains(&d.as_str()))
        {
            let _ = writeln!(x, "    <distro>{}</distro>", esc(d));
        }
        if let Some(p) = xml_product_name(os) {
            let _ = writeln!(x, "    <product_name>{}</product_name>", esc(p));
        }
        let _ = writeln!(
            x,
            "    <major_version>{}</major_version>",
            os.major_version.known().copied().unwrap_or(0)
        );
        let _ = writeln!(
            x,
            "    <minor_version>{}</minor_version>",
            os.minor_version.known().copied().unwrap_or(0)
        );
        if let Some(w) = &os.windows {
            if let Some(r) = w.get("system_root").and_then(|v| v.as_str()) {
                let _ = writeln!(x, "    <windows_systemroot>{}</windows_systemroot>", esc(r));
            }
            if let Some(r) = w.get("current_control_set").and_then(|v| v.as_str()) {
                let _ = writeln!(
                    x,
                    "    <windows_current_control_set>{}</windows_current_control_set>",
                    esc(r)
                );
            }
        }
        if let Some(p) = os
            .package_format
            .known()
            .filter(|p| RNG_PKG_FORMATS.contains(&p.as_str()))
        {
            let _ = writeln!(x, "    <package_format>{}</package_format>", esc(p));
        }
        if let Some(p) = os
            .package_management
            .known()
            .filter(|p| RNG_PKG_MGMT.contains(&p.as_str()))
        {
            let _ = writeln!(x, "    <package_management>{}</package_management>", esc(p));
        }
        if let Some(h) = os.hostname.known() {
            let _ = writeln!(x, "    <hostname>{}</hostname>", esc(h));
        }
        write_mounts(&mut x, os);
        write_filesystems(&mut x, insp, os);
        if let Some(w) = &os.windows {
            if let Some(m) = w.get("drive_mappings").and_then(|v| v.as_object()) {
                if !m.is_empty() {
                    x.push_str("    <drive_mappings>\n");
                    for (letter, dev) in m {
                        let _ = writeln!(
                            x,
                            "      <drive_mapping name=\"{}\">{}</drive_mapping>",
                            esc(letter),
                            esc(dev.as_str().unwrap_or(""))
                        );
                    }
                    x.push_str("    </drive_mappings>\n");
                }
            }
        }
        if let Some(apps) = os.applications.known() {
            x.push_str("    <applications>\n");
            let deb = os.package_format.known().map(String::as_str) == Some("deb");
            for a in apps {
                x.push_str("      <application>\n");
                let _ = writeln!(x, "        <name>{}</name>", esc(&a.name));
                if a.epoch != 0 {
                    let _ = writeln!(x, "        <epoch>{}</epoch>", a.epoch);
                }
                let (version, release) = if deb {
                    vi_deb_version(&a.version, &a.release)
                } else {
                    (a.version.clone(), a.release.clone())
                };
                let _ = writeln!(x, "        <version>{}</version>", esc(&version));
                if !release.is_empty() {
                    let _ = writeln!(x, "        <release>{}</release>", esc(&release));
                }
                if !a.arch.is_empty() {
                    let _ = writeln!(x, "        <arch>{}</arch>", esc(&a.arch));
                }
                x.push_str("      </application>\n");
            }
            x.push_str("    </applications>\n");
        }
        x.push_str("  </operatingsystem>\n");
    }
    x.push_str("</operatingsystems>\n");
    x
}

/// `<product_name>`: virt-inspector (libguestfs) ignores Debian's os-release (it has no minor
/// version) and names the product after the contents of /etc/debian_version ("12.15"), which is
/// guestfix's `version` fact; everything else keeps the os-release / registry product name.
fn xml_product_name(os: &OsFacts) -> Option<&String> {
    if os.distro.known().map(String::as_str) == Some("debian") {
        if let Some(v) = os.version.known() {
            return Some(v);
        }
    }
    os.product_name.known()
}

/// virt-inspector splits a dpkg `Version:` at its FIRST hyphen (upstream "3.1", release
/// "20221030-2"), where Debian policy (and guestfix's facts) split at the last one ("3.1-20221030",
/// "2"). The XML follows virt-inspector; the JSON keeps the policy split.
fn vi_deb_version(version: &str, release: &str) -> (String, String) {
    let full = if release.is_empty() {
        version.to_string()
    } else {
        format!("{version}-{release}")
    };
    match full.split_once('-') {
        Some((v, r)) => (v.to_string(), r.to_string()),
        None => (full, String::new()),
    }
}

/// fstab entries that name a `/dev/…` block device absent from the image (a second disk that
/// was not given): virt-inspector still lists them as mount points and filesystems (with no
/// type); CD-ROM and floppy devices it skips.
fn vi_unresolved_devices(os: &OsFacts) -> Vec<(&str, &str)> {
    os.unresolved_fstab
        .iter()
        .filter(|p| p.spec.starts_with("/dev/") && p.mountpoint.starts_with('/'))
        .filter(|p| {
            !["/dev/sr", "/dev/fd", "/dev/cdrom", "/dev/scd"]
                .iter()
                .any(|pre| p.spec.starts_with(pre))
        })
        .map(|p| (p.spec.as_str(), p.mountpoint.as_str()))
        .collect()
}

/// Swap volumes on the root's own disk: virt-inspector lists the swap areas of the guest's
/// fstab among its filesystems. guestfix's facts keep no swap fstab entries, so this takes the
/// swap volumes of the disk that holds the root.
fn swap_devices<'a>(insp: &'a Inspection, os: &OsFacts) -> Vec<&'a str> {
    let root_dev = os.root.split(':').next().unwrap_or("");
    insp.disks
        .iter()
        .filter(|d| d.volumes.iter().any(|v| v.device == root_dev))
        .flat_map(|d| &d.volumes)
        .filter(|v| v.content.as_deref() == Some("swap"))
        .map(|v| v.device.as_str())
        .collect()
}

fn write_mounts(x: &mut String, os: &OsFacts) {
    // virt-inspector lists mount points longest first.
    let mut mps: Vec<(&str, &str)> = os
        .mountpoints
        .iter()
        .filter(|m| m.mountpoint.starts_with('/') || m.mountpoint.ends_with(':'))
        .map(|m| (m.device.as_str(), m.mountpoint.as_str()))
        .chain(vi_unresolved_devices(os))
        .collect();
    mps.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.1.cmp(b.1)));
    x.push_str("    <mountpoints>\n");
    for (dev, mp) in mps {
        let _ = writeln!(
            x,
            "      <mountpoint dev=\"{}\">{}</mountpoint>",
            esc(dev),
            esc(mp)
        );
    }
    x.push_str("    </mountpoints>\n");
}

fn write_filesystems(x: &mut String, insp: &Inspection, os: &OsFacts) {
    let mut devs: Vec<&str> = os
        .mountpoints
        .iter()
        .map(|m| m.device.as_str())
        .chain(vi_unresolved_devices(os).into_iter().map(|(d, _)| d))
        .chain(swap_devices(insp, os))
        .collect();
    devs.sort();
    devs.dedup();
    x.push_str("    <filesystems>\n");
    for d in devs {
        let v = insp
            .disks
            .iter()
            .flat_map(|dk| &dk.volumes)
            .find(|v| v.device == d);
        let _ = writeln!(x, "      <filesystem dev=\"{}\">", esc(d));
        if let Some(v) = v {
            if let Some(t) = &v.content {
                let _ = writeln!(x, "        <type>{}</type>", esc(t));
            }
            if let Some(l) = &v.label {
                let _ = writeln!(x, "        <label>{}</label>", esc(l));
            }
            if let Some(u) = &v.uuid {
                let _ = writeln!(x, "        <uuid>{}</uuid>", esc(u));
            }
        }
        x.push_str("      </filesystem>\n");
    }
    x.push_str("    </filesystems>\n");
}

/// A human summary.
pub fn to_text(insp: &Inspection) -> String {
    let mut t = String::new();
    for img in &insp.images {
        let _ = writeln!(
            t,
            "image {}: {} , virtual size {} bytes{}",
            img.path,
            img.format,
            img.virtual_size,
            if img.disks.is_empty() {
                String::new()
            } else {
                format!(", disks {}", img.disks.join(", "))
            }
        );
    }
    for d in &insp.disks {
        let _ = writeln!(
            t,
            "disk {}: {} bytes, {} partition table{}",
            d.device,
            d.size,
            d.partition_table,
            if d.mbr_boot_code {
                ", MBR boot code"
            } else {
                ""
            }
        );
        for v in &d.volumes {
            let _ = writeln!(
                t,
                "  {:<18} {:>14} {:<14} {} {}",
                v.device,
                v.size,
                v.content.clone().unwrap_or_else(|| "-".into()),
                v.uuid
                    .clone()
                    .map(|u| format!("UUID={u}"))
                    .unwrap_or_default(),
                v.part_type.clone().unwrap_or_default()
            );
        }
    }
    if insp.operating_systems.is_empty() {
        t.push_str("no operating system found\n");
    }
    for os in &insp.operating_systems {
        let _ = writeln!(t, "\n{} root {}", os.os_type, os.root);
        let _ = writeln!(t, "  product:   {}", fact_str(&os.product_name));
        let _ = writeln!(
            t,
            "  distro:    {} {}",
            fact_str(&os.distro),
            fact_str(&os.version)
        );
        let _ = writeln!(t, "  arch:      {}", fact_str(&os.arch));
        let _ = writeln!(t, "  hostname:  {}", fact_str(&os.hostname));
        let _ = writeln!(
            t,
            "  packages:  {} / {}",
            fact_str(&os.package_format),
            fact_str(&os.package_management)
        );
        let modes: Vec<&str> = [(os.boot_modes.bios, "BIOS"), (os.boot_modes.uefi, "UEFI")]
            .iter()
            .filter(|(b, _)| *b)
            .map(|(_, n)| *n)
            .collect();
        let _ = writeln!(
            t,
            "  boot:      {}",
            if modes.is_empty() {
                "none found".into()
            } else {
                modes.join(" + ")
            }
        );
        if let Some(b) = os.bootloader.known() {
            let _ = writeln!(
                t,
                "  bootloader: {} default {} ({})",
                b.kind,
                b.default_kernel_version.clone().unwrap_or_default(),
                b.default_cmdline.clone().unwrap_or_default()
            );
        }
        for k in &os.kernels {
            let _ = writeln!(
                t,
                "  kernel {} initramfs {} drivers: {}",
                k.version,
                match k.initramfs_readable.known() {
                    Some(true) => "readable",
                    Some(false) => "UNREADABLE",
                    None => "?",
                },
                k.initramfs_drivers.join(" ")
            );
        }
        for m in &os.mountpoints {
            let _ = writeln!(
                t,
                "  mount {:<12} {} ({})",
                m.mountpoint, m.device, m.fstype
            );
        }
        for p in &os.unresolved_fstab {
            let _ = writeln!(
                t,
                "  fstab {}:{} {} -> nothing in the image ({})",
                p.file, p.line, p.spec, p.reason
            );
        }
        if let Some(n) = os.network.known() {
            for i in &n.interfaces {
                let _ = writeln!(
                    t,
                    "  net {} [{}] {} {}",
                    i.name,
                    i.flavour,
                    if i.dhcp4 {
                        "dhcp".to_string()
                    } else {
                        format!("static {}", i.addresses.join(","))
                    },
                    i.file
                );
            }
        }
        if let Some(a) = os.applications.known() {
            let _ = writeln!(t, "  applications: {}", a.len());
        }
    }
    let _ = writeln!(
        t,
        "\nread {} bytes in {} reads",
        insp.bytes_read, insp.reads
    );
    t
}
