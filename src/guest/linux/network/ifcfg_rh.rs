//! RHEL/CentOS/Fedora `/etc/sysconfig/network-scripts/ifcfg-*` (initscripts and NetworkManager's
//! ifcfg-rh plugin): `DEVICE`, `BOOTPROTO`, `IPADDR[n]`/`PREFIX[n]`/`NETMASK[n]`, `GATEWAY`,
//! `DNS1..`, `IPV6INIT`, `IPV6ADDR`, `IPV6ADDR_SECONDARIES`, `IPV6_DEFAULTGW`, `DHCPV6C`,
//! `IPV6_AUTOCONF`, `ONBOOT`, `TYPE`, `HWADDR`; static routes in `route-*`/`route6-*`.

use super::super::files::GuestFiles;
use super::super::shellvars::{self, Assignment};
use super::{Flavour, IfaceConfig, MAX_FILES, netmask_prefix};

/// The folder holding `ifcfg-*` files.
pub const DIR: &str = "/etc/sysconfig/network-scripts";

fn yes(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("yes" | "y" | "true" | "1")
    )
}

/// Parse one ifcfg file (`file_name` like `ifcfg-eth0` gives the default device name).
pub fn parse(text: &str, path: &str) -> IfaceConfig {
    let vars = shellvars::parse(text);
    let g = |k: &str| shellvars::get(&vars, k).filter(|v| !v.is_empty());
    let mut c = IfaceConfig::new(Flavour::IfcfgRh, path);
    let file_dev = path
        .rsplit('/')
        .next()
        .and_then(|n| n.strip_prefix("ifcfg-"))
        .map(str::to_string);
    c.name = g("DEVICE").map(str::to_string).or(file_dev);
    c.mac = g("HWADDR").map(str::to_string);
    let ty = g("TYPE").unwrap_or("").to_ascii_lowercase();
    c.kind = match ty.as_str() {
        "bond" => "bond",
        "bridge" => "bridge",
        "vlan" => "vlan",
        "team" => "team",
        "wireless" => "wifi",
        "infiniband" => "infiniband",
        _ if g("DEVICE") == Some("lo") || c.name.as_deref() == Some("lo") => "loopback",
        _ if yes(g("VLAN")) => "vlan",
        _ => "ethernet",
    }
    .to_string();
    let proto = g("BOOTPROTO").unwrap_or("none").to_ascii_lowercase();
    c.dhcp4 = matches!(proto.as_str(), "dhcp" | "bootp");
    c.dhcp6 = yes(g("DHCPV6C")) || (yes(g("IPV6INIT")) && yes(g("IPV6_AUTOCONF")));
    // IPADDR, IPADDR0..IPADDR255 with PREFIXn or NETMASKn
    let addr = |suffix: &str| {
        let ip = g(&format!("IPADDR{suffix}"))?;
        let prefix = g(&format!("PREFIX{suffix}"))
            .and_then(|p| p.parse::<u32>().ok())
            .or_else(|| g(&format!("NETMASK{suffix}")).and_then(netmask_prefix));
        Some(match prefix {
            Some(p) => format!("{ip}/{p}"),
            None => ip.to_string(),
        })
    };
    if let Some(a) = addr("") {
        c.addresses.push(a);
    }
    for i in 0..256 {
        if let Some(a) = addr(&i.to_string()) {
            c.addresses.push(a);
        }
    }
    if let Some(a) = g("IPV6ADDR") {
        c.addresses.push(a.to_string());
    }
    if let Some(s) = g("IPV6ADDR_SECONDARIES") {
        c.addresses.extend(s.split_whitespace().map(str::to_string));
    }
    c.gateway4 = g("GATEWAY").map(str::to_string);
    c.gateway6 = g("IPV6_DEFAULTGW").map(str::to_string);
    for i in 1..=10 {
        if let Some(d) = g(&format!("DNS{i}")) {
            c.dns.push(d.to_string());
        }
    }
    c.enabled = g("ONBOOT").is_none_or(|v| yes(Some(v)));
    c
}

/// All `KEY=value` assignments of a file (for the editors).
pub fn assignments(text: &str) -> Vec<Assignment> {
    shellvars::parse(text)
}

/// Read every `ifcfg-*` (not backups) and attach `route-*`/`route6-*` lines.
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    read_dir(files, DIR)
}

pub(crate) fn read_dir(files: &dyn GuestFiles, dir: &str) -> Vec<IfaceConfig> {
    let names = files.list(dir);
    names
        .iter()
        .filter(|n| n.starts_with("ifcfg-") && !is_backup(n))
        .take(MAX_FILES)
        .filter_map(|n| {
            let p = format!("{dir}/{n}");
            let t = files.read_small(&p, super::MAX_CONFIG)?;
            let mut c = parse(&t, &p);
            let dev = n.trim_start_matches("ifcfg-");
            for r in [format!("route-{dev}"), format!("route6-{dev}")] {
                if let Some(rt) = files.read_small(&format!("{dir}/{r}"), super::MAX_CONFIG) {
                    c.routes.extend(
                        rt.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(str::to_string),
                    );
                }
            }
            Some(c)
        })
        .collect()
}

/// Files initscripts ignores (`ifcfg-eth0.bak`, `~`, `.rpmnew` …).
pub fn is_backup(name: &str) -> bool {
    name.ends_with('~')
        || [".bak", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", ".old"]
            .iter()
            .any(|s| name.ends_with(s))
}
