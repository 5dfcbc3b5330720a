//! systemd-networkd `.network` units (`/etc/systemd/network`, `/run/systemd/network`,
//! `/lib/systemd/network`, `/usr/lib/systemd/network`): `[Match]` `Name=`, `MACAddress=`,
//! `Type=`; `[Network]` `DHCP=`, `Address=`, `Gateway=`, `DNS=`; `[Address]` and `[Route]`
//! sections. A unit in /etc shadows one of the same name in the lower directories.

use super::super::files::GuestFiles;
use super::ini::Ini;
use super::{Flavour, IfaceConfig, MAX_FILES, is_v6};

/// The folders systemd-networkd reads `.network` files from.
pub const DIRS: &[&str] = &[
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
    "/run/systemd/network",
    "/etc/systemd/network",
];

/// Parse one `.network` file's `text`, found at `path`.
pub fn parse(text: &str, path: &str) -> IfaceConfig {
    let ini = Ini::parse(text);
    let mut c = IfaceConfig::new(Flavour::Networkd, path);
    c.name = ini.get("Match", "Name").map(str::to_string);
    c.mac = ini.get("Match", "MACAddress").map(str::to_string);
    c.kind = match ini.get("Match", "Type") {
        Some("ether") | None => "ethernet",
        Some("bond") => "bond",
        Some("bridge") => "bridge",
        Some("vlan") => "vlan",
        Some("wlan") => "wifi",
        Some("loopback") => "loopback",
        Some(_) => "other",
    }
    .to_string();
    let dhcp = ini.get("Network", "DHCP").unwrap_or("no");
    c.dhcp4 = matches!(dhcp, "yes" | "ipv4" | "true" | "both");
    c.dhcp6 = matches!(dhcp, "yes" | "ipv6" | "true" | "both");
    for a in ini
        .all("Network", "Address")
        .into_iter()
        .chain(ini.all("Address", "Address"))
    {
        c.addresses.extend(a.split_whitespace().map(str::to_string));
    }
    for g in ini
        .all("Network", "Gateway")
        .into_iter()
        .chain(ini.all("Route", "Gateway"))
    {
        let slot = if is_v6(g) {
            &mut c.gateway6
        } else {
            &mut c.gateway4
        };
        slot.get_or_insert(g.to_string());
    }
    for d in ini.all("Network", "DNS") {
        c.dns.extend(d.split_whitespace().map(str::to_string));
    }
    for r in ini.in_section("Route") {
        c.routes.push(format!("{}={}", r.key, r.value));
    }
    c.enabled = true;
    c
}

/// The `.network` units in effect (name shadowing across directories, name order).
pub fn files_in_use(files: &dyn GuestFiles, ext: &str) -> Vec<String> {
    let mut by_name: std::collections::BTreeMap<String, String> = Default::default();
    for d in DIRS {
        for n in files.list(d).into_iter().take(MAX_FILES) {
            if n.ends_with(ext) {
                by_name.insert(n.clone(), format!("{d}/{n}"));
            }
        }
    }
    // a unit symlinked to /dev/null is masked
    by_name
        .into_values()
        .filter(|p| files.is_symlink(p).as_deref() != Some("/dev/null"))
        .collect()
}

/// Every interface the guest's `.network` files configure.
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    files_in_use(files, ".network")
        .into_iter()
        .filter_map(|p| {
            files
                .read_small(&p, super::MAX_CONFIG)
                .map(|t| parse(&t, &p))
        })
        .collect()
}
