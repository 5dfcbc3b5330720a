//! Network configuration in every flavour a Linux guest may use (MOD-L2, GEN-4, LNX-4, LNX-6):
//! ifupdown `interfaces`, RHEL `ifcfg-*`, SUSE `ifcfg-*` (wicked), netplan, NetworkManager
//! keyfiles, systemd-networkd; plus whether predictable interface names are in use.
//! Each flavour reads into the same [`IfaceConfig`].

pub mod ifcfg_rh;
pub mod ifcfg_suse;
pub mod ifupdown;
pub(crate) mod ini;
pub mod keyfile;
pub mod names;
pub mod netplan;
pub mod networkd;

use super::files::GuestFiles;

/// Which configuration system a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Flavour {
    /// Debian's `/etc/network/interfaces`.
    Ifupdown,
    /// Red Hat's `/etc/sysconfig/network-scripts/ifcfg-*`.
    IfcfgRh,
    /// SUSE's `/etc/sysconfig/network/ifcfg-*`.
    IfcfgSuse,
    /// Netplan YAML (`/etc/netplan/*.yaml`).
    Netplan,
    /// NetworkManager keyfiles (`system-connections/*.nmconnection`).
    NmKeyfile,
    /// systemd-networkd `.network` files.
    Networkd,
}

/// One interface (or connection profile) as configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IfaceConfig {
    /// The configuration system.
    pub flavour: Flavour,
    /// File the configuration lives in.
    pub source: String,
    /// Interface name it applies to (`DEVICE=`, `iface X`, `interface-name=`, `Name=`); `None`
    /// when it matches otherwise (MAC, type) or any interface.
    pub name: Option<String>,
    /// Match by MAC address (`HWADDR=`, `mac-address=`, `MACAddress=`, netplan `macaddress`).
    pub mac: Option<String>,
    /// `ethernet`, `bond`, `bridge`, `vlan`, `loopback`, `wifi`, `team`, `other`.
    pub kind: String,
    /// It takes an IPv4 address by DHCP.
    pub dhcp4: bool,
    /// It takes an IPv6 address by DHCP(v6).
    pub dhcp6: bool,
    /// Static addresses, `addr/prefix` when the prefix is known.
    pub addresses: Vec<String>,
    /// The static IPv4 default gateway.
    pub gateway4: Option<String>,
    /// The static IPv6 default gateway.
    pub gateway6: Option<String>,
    /// Static DNS servers.
    pub dns: Vec<String>,
    /// Static routes, as written.
    pub routes: Vec<String>,
    /// Brought up at boot (`ONBOOT=yes`, `auto`, `STARTMODE=auto`, `autoconnect`).
    pub enabled: bool,
}

impl IfaceConfig {
    pub(crate) fn new(flavour: Flavour, source: &str) -> Self {
        IfaceConfig {
            flavour,
            source: source.to_string(),
            name: None,
            mac: None,
            kind: "ethernet".into(),
            dhcp4: false,
            dhcp6: false,
            addresses: Vec::new(),
            gateway4: None,
            gateway6: None,
            dns: Vec::new(),
            routes: Vec::new(),
            enabled: true,
        }
    }
    /// Has a static IPv4 or IPv6 address (what MOD-L2 turns into DHCP).
    pub fn is_static(&self) -> bool {
        !self.addresses.is_empty()
    }
    /// A loopback interface (never touched).
    pub fn is_loopback(&self) -> bool {
        self.kind == "loopback" || self.name.as_deref() == Some("lo")
    }
}

/// Dotted netmask → prefix length (`255.255.255.0` → 24); `None` for non-contiguous masks.
pub fn netmask_prefix(mask: &str) -> Option<u32> {
    let ip: std::net::Ipv4Addr = mask.trim().parse().ok()?;
    let v = u32::from(ip);
    let ones = v.leading_ones();
    (v.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

/// Whether an address (with or without `/prefix`) is IPv6.
pub fn is_v6(addr: &str) -> bool {
    addr.contains(':')
}

/// Most files of one flavour read (bounds work on hostile images).
pub const MAX_FILES: usize = 512;
/// Largest network config file read (real ones are a few KiB).
pub const MAX_CONFIG: usize = 256 * 1024;

/// Every interface configuration found in the guest, all flavours. Vendor defaults shipped in
/// /lib and /usr/lib (systemd's container and VM `.network` files) are not the guest's own
/// configuration and are left out: they match interfaces the imported VM will not have.
pub fn inspect(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    let mut v = all_configs(files);
    v.retain(|c| !c.source.starts_with("/lib/") && !c.source.starts_with("/usr/lib/"));
    v
}

fn all_configs(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    let mut v = Vec::new();
    v.extend(ifupdown::read(files));
    v.extend(ifcfg_rh::read(files));
    v.extend(ifcfg_suse::read(files));
    v.extend(netplan::read(files));
    v.extend(keyfile::read(files));
    v.extend(networkd::read(files));
    v
}

/// The interfaces enslaved to `primary` (bond slaves, bridge ports, team ports) in any
/// flavour, so that disabling "other" interfaces leaves them alone.
pub fn members_of(files: &dyn GuestFiles, primary: &str) -> Vec<String> {
    use super::shellvars;
    let mut out: Vec<String> = Vec::new();
    // RHEL ifcfg: MASTER=/BRIDGE= in the member's file
    for n in files.list(ifcfg_rh::DIR) {
        if let Some(t) = n
            .strip_prefix("ifcfg-")
            .and_then(|_| files.read_small(&format!("{}/{n}", ifcfg_rh::DIR), MAX_CONFIG))
        {
            let v = shellvars::parse(&t);
            if ["MASTER", "BRIDGE", "TEAM_MASTER"]
                .iter()
                .any(|k| shellvars::get(&v, k) == Some(primary))
            {
                out.push(
                    ifcfg_rh::parse(&t, &format!("{}/{n}", ifcfg_rh::DIR))
                        .name
                        .unwrap_or_default(),
                );
            }
        }
    }
    // SUSE: BONDING_SLAVE_n / BRIDGE_PORTS in the primary's file
    if let Some(t) = files.read_small(&format!("{}/ifcfg-{primary}", ifcfg_suse::DIR), MAX_CONFIG) {
        for a in shellvars::parse(&t) {
            if a.key.starts_with("BONDING_SLAVE") || a.key == "BRIDGE_PORTS" {
                out.extend(a.value.split_whitespace().map(str::to_string));
            }
        }
    }
    // ifupdown: bond-slaves / bridge-ports of the primary's stanza
    for (_, t) in ifupdown::files_in_use(files) {
        for s in ifupdown::parse(&t)
            .stanzas
            .iter()
            .filter(|s| s.name == primary)
        {
            for (k, v, _) in &s.options {
                if matches!(
                    k.as_str(),
                    "bond-slaves" | "slaves" | "bridge-ports" | "bridge_ports" | "link"
                ) {
                    out.extend(
                        v.split_whitespace()
                            .filter(|x| *x != "none")
                            .map(str::to_string),
                    );
                }
            }
        }
    }
    // netplan: interfaces: of the primary bond/bridge
    for p in netplan::files_in_use(files) {
        if let Some(doc) = files
            .read_small(&p, MAX_CONFIG)
            .and_then(|t| netplan::load(&t).ok())
        {
            for (sec, _) in netplan::SECTIONS {
                if let Some(ifs) = doc["network"][*sec][primary]["interfaces"].as_vec() {
                    out.extend(ifs.iter().filter_map(|y| y.as_str().map(str::to_string)));
                }
            }
        }
    }
    // keyfile: master=/controller= names the primary
    for d in keyfile::DIRS {
        for n in files.list(d) {
            if let Some(t) = files.read_small(&format!("{d}/{n}"), MAX_CONFIG) {
                let ini = ini::Ini::parse(&t);
                if ["master", "controller"]
                    .iter()
                    .any(|k| ini.get("connection", k) == Some(primary))
                {
                    out.extend(ini.get("connection", "interface-name").map(str::to_string));
                }
            }
        }
    }
    // networkd: Bond=/Bridge= names the primary
    for p in networkd::files_in_use(files, ".network") {
        if let Some(t) = files.read_small(&p, MAX_CONFIG) {
            let ini = ini::Ini::parse(&t);
            if ["Bond", "Bridge"]
                .iter()
                .any(|k| ini.get("Network", k) == Some(primary))
            {
                out.extend(ini.get("Match", "Name").map(str::to_string));
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != primary);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks() {
        assert_eq!(netmask_prefix("255.255.255.0"), Some(24));
        assert_eq!(netmask_prefix("255.255.255.248"), Some(29));
        assert_eq!(netmask_prefix("0.0.0.0"), Some(0));
        assert_eq!(netmask_prefix("255.255.255.255"), Some(32));
        assert_eq!(netmask_prefix("255.0.255.0"), None);
        assert_eq!(netmask_prefix("bogus"), None);
    }
}
