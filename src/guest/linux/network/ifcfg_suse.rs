//! SUSE `/etc/sysconfig/network/ifcfg-*` (wicked / sysconfig): `BOOTPROTO` (`static`, `dhcp`,
//! `dhcp4`, `dhcp6`, `autoip`), `IPADDR[_x]` with `/prefix` or `NETMASK`/`PREFIXLEN`,
//! `STARTMODE` (`auto`, `hotplug`, `ifplugd`, `nfsroot`, `manual`, `off`), routes in
//! `/etc/sysconfig/network/routes` and `ifroute-*`.

use super::super::files::GuestFiles;
use super::super::shellvars;
use super::{Flavour, IfaceConfig, MAX_FILES, netmask_prefix};

/// The folder holding `ifcfg-*` files (and `routes`).
pub const DIR: &str = "/etc/sysconfig/network";

/// Parse one `ifcfg-*` file's `text`, found at `path`.
pub fn parse(text: &str, path: &str) -> IfaceConfig {
    let vars = shellvars::parse(text);
    let g = |k: &str| shellvars::get(&vars, k).filter(|v| !v.is_empty());
    let mut c = IfaceConfig::new(Flavour::IfcfgSuse, path);
    c.name = path
        .rsplit('/')
        .next()
        .and_then(|n| n.strip_prefix("ifcfg-"))
        .map(str::to_string);
    c.mac = g("LLADDR").map(str::to_string);
    c.kind = if c.name.as_deref() == Some("lo") {
        "loopback"
    } else if g("BONDING_MASTER") == Some("yes") {
        "bond"
    } else if g("BRIDGE") == Some("yes") {
        "bridge"
    } else if g("ETHERDEVICE").is_some() || g("VLAN_ID").is_some() {
        "vlan"
    } else if g("WIRELESS_MODE").is_some() || g("WIRELESS_ESSID").is_some() {
        "wifi"
    } else {
        "ethernet"
    }
    .to_string();
    let proto = g("BOOTPROTO").unwrap_or("static").to_ascii_lowercase();
    c.dhcp4 = proto.contains("dhcp") && proto != "dhcp6";
    c.dhcp6 = proto == "dhcp" || proto.contains("dhcp6");
    let prefix = g("PREFIXLEN")
        .and_then(|p| p.parse::<u32>().ok())
        .or_else(|| g("NETMASK").and_then(netmask_prefix));
    let mut seen = std::collections::BTreeSet::new();
    for a in &vars {
        if (a.key == "IPADDR" || a.key.starts_with("IPADDR_")) && !a.value.is_empty() {
            let v = match (a.value.contains('/'), prefix, a.key.as_str()) {
                (false, Some(p), "IPADDR") => format!("{}/{p}", a.value),
                _ => a.value.clone(),
            };
            if seen.insert(v.clone()) {
                c.addresses.push(v);
            }
        }
    }
    let start = g("STARTMODE").unwrap_or("manual").to_ascii_lowercase();
    c.enabled = matches!(
        start.as_str(),
        "auto" | "onboot" | "hotplug" | "ifplugd" | "nfsroot"
    );
    c
}

/// `routes` / `ifroute-X` line: `DEST GATEWAY NETMASK DEVICE`; `default GW - -`.
pub fn parse_route(line: &str) -> Option<(String, String, Option<String>)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = t.split_whitespace().collect();
    let dest = f.first()?.to_string();
    let gw = f.get(1).unwrap_or(&"-").to_string();
    let dev = f.get(3).filter(|d| **d != "-").map(|d| d.to_string());
    Some((dest, gw, dev))
}

/// Every interface the guest's `ifcfg-*` files configure.
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    let global: Vec<String> = files
        .read_small(&format!("{DIR}/routes"), super::MAX_CONFIG)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    files
        .list(DIR)
        .iter()
        .filter(|n| n.starts_with("ifcfg-") && !super::ifcfg_rh::is_backup(n))
        .take(MAX_FILES)
        .filter_map(|n| {
            let p = format!("{DIR}/{n}");
            let t = files.read_small(&p, super::MAX_CONFIG)?;
            let mut c = parse(&t, &p);
            let dev = n.trim_start_matches("ifcfg-");
            let own = files
                .read_small(&format!("{DIR}/ifroute-{dev}"), super::MAX_CONFIG)
                .unwrap_or_default();
            for l in own.lines().chain(global.iter().map(String::as_str)) {
                if let Some((dest, gw, d)) = parse_route(l) {
                    let mine = d.as_deref().is_none_or(|d| d == dev) || own.contains(l);
                    if dest == "default"
                        && mine
                        && !c.is_loopback()
                        && c.gateway4.is_none()
                        && !gw.contains(':')
                    {
                        c.gateway4 = Some(gw.clone());
                    }
                    if mine && !c.is_loopback() {
                        c.routes.push(l.trim().to_string());
                    }
                }
            }
            Some(c)
        })
        .collect()
}
