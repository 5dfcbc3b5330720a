//! NetworkManager keyfiles (`/etc/NetworkManager/system-connections/*`, `*.nmconnection`):
//! `[connection]` `id`, `type`, `interface-name`, `autoconnect`; `[ethernet]`/`[802-3-ethernet]`
//! `mac-address`; `[ipv4]`/`[ipv6]` `method` (`auto`, `manual`, `dhcp`, `disabled`, `ignore`,
//! `link-local`), `address1=`/`addresses1=` (`ADDR/PREFIX,GW` or the old `ADDR;PREFIX;GW;`),
//! `gateway`, `dns`, `route1=`.

use super::super::files::GuestFiles;
use super::ini::Ini;
use super::{Flavour, IfaceConfig, MAX_FILES};

/// The folders NetworkManager reads keyfiles from.
pub const DIRS: &[&str] = &[
    "/etc/NetworkManager/system-connections",
    "/usr/lib/NetworkManager/system-connections",
    "/run/NetworkManager/system-connections",
];

/// Is `key` an address key (`address`, `address1`, `addresses2` …)?
pub fn is_address_key(key: &str) -> bool {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    base == "address" || base == "addresses"
}

/// Is `key` a route key (`route1`, `routes2`, `route1_options` …)?
pub fn is_route_key(key: &str) -> bool {
    let k = key.strip_suffix("_options").unwrap_or(key);
    let base = k.trim_end_matches(|c: char| c.is_ascii_digit());
    base == "route" || base == "routes"
}

/// `ADDR/PREFIX,GW` or `ADDR;PREFIX;GW;` → (`ADDR/PREFIX`, gateway).
pub fn parse_address(v: &str) -> (String, Option<String>) {
    if v.contains(';') {
        let f: Vec<&str> = v.split(';').collect();
        let a = f.first().copied().unwrap_or("");
        let p = f.get(1).copied().unwrap_or("");
        let gw = f.get(2).filter(|g| !g.is_empty()).map(|g| g.to_string());
        let addr = if p.is_empty() {
            a.to_string()
        } else {
            format!("{a}/{p}")
        };
        (addr, gw)
    } else {
        let mut it = v.splitn(2, ',');
        let a = it.next().unwrap_or("").to_string();
        let gw = it.next().filter(|g| !g.is_empty()).map(str::to_string);
        (a, gw)
    }
}

/// Parse one keyfile's `text`, found at `path`.
pub fn parse(text: &str, path: &str) -> IfaceConfig {
    let ini = Ini::parse(text);
    let mut c = IfaceConfig::new(Flavour::NmKeyfile, path);
    c.name = ini.get("connection", "interface-name").map(str::to_string);
    c.mac = ini
        .get("ethernet", "mac-address")
        .or_else(|| ini.get("802-3-ethernet", "mac-address"))
        .map(str::to_string);
    c.kind = match ini.get("connection", "type").unwrap_or("") {
        "ethernet" | "802-3-ethernet" => "ethernet",
        "bond" => "bond",
        "bridge" => "bridge",
        "vlan" => "vlan",
        "team" => "team",
        "wifi" | "802-11-wireless" => "wifi",
        "loopback" => "loopback",
        _ => "other",
    }
    .to_string();
    c.enabled = ini
        .get("connection", "autoconnect")
        .is_none_or(|v| v != "false");
    for (fam, v6) in [("ipv4", false), ("ipv6", true)] {
        let method = ini.get(fam, "method").unwrap_or("auto");
        let dhcp = matches!(method, "auto" | "dhcp");
        if v6 {
            c.dhcp6 = dhcp;
        } else {
            c.dhcp4 = dhcp;
        }
        for e in ini.in_section(fam) {
            if is_address_key(&e.key) {
                let (a, gw) = parse_address(&e.value);
                if !a.is_empty() {
                    c.addresses.push(a);
                }
                if let Some(g) = gw {
                    let slot = if v6 { &mut c.gateway6 } else { &mut c.gateway4 };
                    slot.get_or_insert(g);
                }
            } else if is_route_key(&e.key) && !e.key.ends_with("_options") {
                c.routes.push(e.value.clone());
            } else if e.key == "gateway" {
                let slot = if v6 { &mut c.gateway6 } else { &mut c.gateway4 };
                *slot = Some(e.value.clone());
            } else if e.key == "dns" {
                c.dns.extend(
                    e.value
                        .split([';', ','])
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                );
            }
        }
    }
    c
}

/// Names NetworkManager's keyfile plugin skips: hidden files (where guestfix keeps the
/// originals), editor and package leftovers.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || [
            ".bak",
            ".orig",
            ".rej",
            ".swp",
            ".tmp",
            ".rpmnew",
            ".rpmsave",
            ".dpkg-old",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Every connection the guest's keyfiles configure.
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    let mut out = Vec::new();
    for d in DIRS {
        for n in files.list(d).into_iter().take(MAX_FILES) {
            if ignored(&n) {
                continue;
            }
            let p = format!("{d}/{n}");
            if let Some(t) = files.read_small(&p, super::MAX_CONFIG) {
                if t.contains("[connection]") {
                    out.push(parse(&t, &p));
                }
            }
        }
    }
    out
}
