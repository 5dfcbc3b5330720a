//! netplan (`/etc/netplan/*.yaml`, also `/run/netplan`, `/lib/netplan`): `network:` →
//! `ethernets`/`bonds`/`bridges`/`vlans`/`wifis` → per interface `dhcp4`, `dhcp6`,
//! `addresses`, `gateway4`/`gateway6`, `routes`, `nameservers.addresses`, `match`
//! (`name`, `macaddress`) and `set-name`. Parsed with yaml-rust2.

use super::super::files::GuestFiles;
use super::{Flavour, IfaceConfig, MAX_FILES, is_v6};
use yaml_rust2::{Yaml, YamlLoader};

/// The folders netplan reads YAML from.
pub const DIRS: &[&str] = &["/lib/netplan", "/etc/netplan", "/run/netplan"];

/// Device sections and the kind they declare.
pub const SECTIONS: &[(&str, &str)] = &[
    ("ethernets", "ethernet"),
    ("bonds", "bond"),
    ("bridges", "bridge"),
    ("vlans", "vlan"),
    ("wifis", "wifi"),
    ("tunnels", "other"),
    ("vrfs", "other"),
    ("dummy-devices", "other"),
    ("virtual-ethernets", "other"),
    ("modems", "other"),
    ("nm-devices", "other"),
];

/// Why a netplan file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetplanError {
    #[error("YAML syntax error: {0}")]
    /// The YAML does not parse.
    Syntax(String),
    #[error("no `network:` mapping")]
    /// The file has no `network:` mapping.
    NoNetwork,
    #[error("{0} bytes: larger than any netplan file ({MAX_YAML} at most)")]
    /// The file is larger than any netplan file (its size in bytes).
    TooLarge(usize),
    #[error("line {0} nests deeper than a netplan file can ({MAX_COLUMN} columns)")]
    /// A line nests deeper than a netplan file can (its line number).
    TooDeep(usize),
}

/// Largest netplan file parsed (they are a few hundred bytes).
pub const MAX_YAML: usize = 1024 * 1024;
/// Deepest content column accepted: block nesting needs one column per level, so this bounds
/// the depth of the parsed tree (the YAML tree is dropped recursively; an unbounded depth
/// would overflow the stack). Flow nesting is bounded by yaml-rust2 itself (255).
pub const MAX_COLUMN: usize = 512;

/// Reject input whose nesting could exhaust the stack.
fn check_depth(text: &str) -> Result<(), NetplanError> {
    if text.len() > MAX_YAML {
        return Err(NetplanError::TooLarge(text.len()));
    }
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start_matches([' ', '\t']);
        let mut col = line.len() - t.len();
        let mut rest = t;
        // compact nested sequences / complex keys on one line: `- - - x`, `? - x`
        while let Some(r) = rest
            .strip_prefix("- ")
            .or_else(|| rest.strip_prefix("? "))
            .or_else(|| rest.strip_prefix(": "))
        {
            let r2 = r.trim_start_matches([' ', '\t']);
            col += rest.len() - r2.len();
            rest = r2;
        }
        if col > MAX_COLUMN {
            return Err(NetplanError::TooDeep(n + 1));
        }
    }
    Ok(())
}

fn truthy(y: &Yaml) -> bool {
    match y {
        Yaml::Boolean(b) => *b,
        Yaml::String(s) => matches!(s.as_str(), "yes" | "true" | "on" | "y"),
        _ => false,
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Load the single YAML document of a netplan file.
pub fn load(text: &str) -> Result<Yaml, NetplanError> {
    check_depth(text)?;
    let docs = YamlLoader::load_from_str(text).map_err(|e| NetplanError::Syntax(e.to_string()))?;
    let doc = docs.into_iter().next().unwrap_or(Yaml::Null);
    if doc["network"].is_badvalue() {
        return Err(NetplanError::NoNetwork);
    }
    Ok(doc)
}

/// The interface configs of one netplan file.
pub fn parse(text: &str, path: &str) -> Result<Vec<IfaceConfig>, NetplanError> {
    let doc = load(text)?;
    let net = &doc["network"];
    let mut out = Vec::new();
    for (section, kind) in SECTIONS {
        let Some(h) = net[*section].as_hash() else {
            continue;
        };
        for (k, v) in h {
            let Some(id) = scalar(k) else { continue };
            let mut c = IfaceConfig::new(Flavour::Netplan, path);
            c.kind = kind.to_string();
            let m = &v["match"];
            c.name = scalar(&v["set-name"])
                .or_else(|| scalar(&m["name"]))
                .or_else(|| m.is_badvalue().then(|| id.clone()));
            c.mac = scalar(&m["macaddress"]);
            c.dhcp4 = truthy(&v["dhcp4"]);
            c.dhcp6 = truthy(&v["dhcp6"]);
            if let Some(a) = v["addresses"].as_vec() {
                for x in a {
                    match x {
                        Yaml::Hash(h) => c.addresses.extend(h.keys().filter_map(scalar)),
                        other => c.addresses.extend(scalar(other)),
                    }
                }
            }
            c.gateway4 = scalar(&v["gateway4"]);
            c.gateway6 = scalar(&v["gateway6"]);
            if let Some(rs) = v["routes"].as_vec() {
                for r in rs {
                    let to = scalar(&r["to"]).unwrap_or_default();
                    let via = scalar(&r["via"]).unwrap_or_default();
                    if to == "default" || to == "0.0.0.0/0" || to == "::/0" {
                        if is_v6(&via) {
                            c.gateway6.get_or_insert(via.clone());
                        } else {
                            c.gateway4.get_or_insert(via.clone());
                        }
                    }
                    c.routes.push(format!("{to} via {via}"));
                }
            }
            if let Some(d) = v["nameservers"]["addresses"].as_vec() {
                c.dns.extend(d.iter().filter_map(scalar));
            }
            c.enabled = !truthy(&v["optional"]) || c.dhcp4 || c.is_static();
            out.push(c);
        }
    }
    Ok(out)
}

/// The netplan files in effect: `*.yaml` of the three directories, a name in a later
/// directory shadowing the same name in an earlier one, in name order.
pub fn files_in_use(files: &dyn GuestFiles) -> Vec<String> {
    let mut by_name: std::collections::BTreeMap<String, String> = Default::default();
    for d in DIRS {
        for n in files.list(d).into_iter().take(MAX_FILES) {
            if n.ends_with(".yaml") {
                by_name.insert(n.clone(), format!("{d}/{n}"));
            }
        }
    }
    by_name.into_values().collect()
}

/// Every interface the guest's netplan files configure.
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    files_in_use(files)
        .into_iter()
        .filter_map(|p| {
            let t = files.read_small(&p, super::MAX_CONFIG)?;
            parse(&t, &p).ok()
        })
        .flatten()
        .collect()
}
