//! systemd-networkd `.network` units.

use super::super::{split_eol, split_lines_keep};
use super::{FileEdit, NetEdit, Others, disabled};
use crate::guest::linux::network::ini::Ini;

/// `Name=` patterns are shell globs; `*` and `?` are what units use.
pub fn glob_match(pat: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    // bound the work: names and patterns are short
    pat.len() <= 256 && name.len() <= 256 && m(pat.as_bytes(), name.as_bytes())
}

/// Edit one `.network` unit.
pub fn edit(path: &str, text: &str, p: &NetEdit) -> FileEdit {
    let ini = Ini::parse(text);
    let names: Vec<String> = ini
        .all("Match", "Name")
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect();
    let ty = ini.get("Match", "Type");
    let primary = if names.is_empty() {
        // matches by MAC or type only: an ethernet unit applies to the import's interface
        matches!(ty, None | Some("ether"))
    } else {
        names
            .iter()
            .any(|n| glob_match(n, p.primary) || p.rename_to.is_some_and(|r| glob_match(n, r)))
    };
    let member = ["Bond", "Bridge"]
        .iter()
        .filter_map(|k| ini.get("Network", k))
        .any(|m| p.is_primary(m))
        || names.iter().any(|n| p.is_member(n));
    if ty == Some("loopback")
        || names.iter().any(|n| n == "lo")
        || (!primary && (p.others == Others::Keep || member))
    {
        return FileEdit::unchanged(path, text);
    }
    let mut notes = Vec::new();
    let mut out = String::with_capacity(text.len() + 128);
    let mut section = String::new();
    let mut seen_dhcp = false;
    let mut has_network = false;
    let mut in_network = false;
    let lines = split_lines_keep(text);
    let last = lines.len().saturating_sub(1);
    let v6_static = ini
        .all("Network", "Address")
        .into_iter()
        .chain(ini.all("Address", "Address"))
        .any(|a| a.contains(':'));
    let dhcp_value = if v6_static { "yes" } else { "ipv4" };
    let flush_dhcp = |out: &mut String, in_network: bool, seen: bool| {
        if in_network && !seen {
            out.push_str(&format!("DHCP={dhcp_value}\n"));
        }
    };
    for (i, line) in lines.into_iter().enumerate() {
        let (content, eol) = split_eol(line);
        let t = content.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if primary {
                flush_dhcp(&mut out, in_network, seen_dhcp);
                if in_network {
                    seen_dhcp = true;
                }
            }
            section = name.trim().to_string();
            in_network = section == "Network";
            has_network |= in_network;
            if primary && matches!(section.as_str(), "Address" | "Route") {
                out.push_str(&disabled(content, "static address, DHCP after import"));
                out.push_str(eol);
            } else {
                out.push_str(line);
            }
            if !primary && section == "Link" && ini.get("Link", "Unmanaged") != Some("yes") {
                out.push_str("Unmanaged=yes\n");
                notes.push(format!(
                    "{path}: not managed after import (only one interface)"
                ));
            }
            continue;
        }
        let kv = (!t.starts_with('#') && !t.starts_with(';'))
            .then(|| t.split_once('='))
            .flatten()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()));
        let Some((k, v)) = kv else {
            out.push_str(line);
            continue;
        };
        if !primary {
            out.push_str(line);
            continue;
        }
        match (section.as_str(), k.as_str()) {
            ("Network", "DHCP") => {
                seen_dhcp = true;
                if v != "yes" && v != dhcp_value {
                    out.push_str(&format!("DHCP={dhcp_value}{eol}"));
                    notes.push(format!("{path}: DHCP={v} → {dhcp_value}"));
                } else {
                    out.push_str(line);
                }
            }
            ("Network", "Address" | "Gateway" | "DNS") | ("Address" | "Route", _) => {
                out.push_str(&disabled(content, "static address, DHCP after import"));
                out.push_str(eol);
            }
            ("Match", "MACAddress") | ("Link", "MACAddress") => {
                out.push_str(&disabled(content, "the MAC address changes on import"));
                out.push_str(eol);
            }
            ("Match", "Name") => match p.rename_to {
                Some(n) if v == p.primary => out.push_str(&format!("Name={n}{eol}")),
                _ => out.push_str(line),
            },
            _ => out.push_str(line),
        }
        if i == last && eol.is_empty() {
            out.push('\n');
        }
    }
    if primary {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        flush_dhcp(&mut out, in_network, seen_dhcp);
        if !has_network {
            out.push_str(&format!("\n[Network]\nDHCP={dhcp_value}\n"));
        }
        if out != text {
            notes.push(format!("{path}: static configuration replaced by DHCP"));
        }
        if names.is_empty() && ini.get("Match", "MACAddress").is_some() {
            // matching only by MAC: match the interface by name instead
            out = out.replacen(
                "[Match]\n",
                &format!("[Match]\nName={}\n", p.final_name()),
                1,
            );
        }
    } else if ini.sections.iter().all(|(n, _)| n != "Link") {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\n[Link]\nUnmanaged=yes\n");
        notes.push(format!(
            "{path}: not managed after import (only one interface)"
        ));
    }
    FileEdit {
        path: path.to_string(),
        new_path: None,
        text: out,
        notes,
    }
}
