//! NetworkManager keyfiles (`system-connections/*.nmconnection`).

use super::super::{split_eol, split_lines_keep};
use super::{FileEdit, NetEdit, Others, disabled};
use crate::guest::linux::network::ini::Ini;
use crate::guest::linux::network::keyfile::{is_address_key, is_route_key};

fn section_of(lines: &[&str], upto: usize) -> String {
    lines
        .iter()
        .take(upto + 1)
        .rev()
        .find_map(|l| {
            let t = l.trim();
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default()
}

/// Edit one keyfile.
pub fn edit(path: &str, text: &str, p: &NetEdit) -> FileEdit {
    let ini = Ini::parse(text);
    let iface = ini.get("connection", "interface-name").map(str::to_string);
    let ty = ini.get("connection", "type").unwrap_or("");
    let ethernet = matches!(ty, "ethernet" | "802-3-ethernet");
    let primary = match &iface {
        Some(n) => p.is_primary(n),
        None => ethernet,
    };
    let id = ini.get("connection", "id").unwrap_or(path).to_string();
    let member = ["master", "controller"]
        .iter()
        .filter_map(|k| ini.get("connection", k))
        .any(|m| p.is_primary(m))
        || iface.as_deref().is_some_and(|n| p.is_member(n));
    if ty == "loopback" || (!primary && (p.others == Others::Keep || member)) {
        return FileEdit::unchanged(path, text);
    }
    let raw_lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + 128);
    let mut notes = Vec::new();
    let mut saw_autoconnect = false;
    let connection_header = ini
        .sections
        .iter()
        .find(|(n, _)| n == "connection")
        .map(|(_, l)| *l);
    for (i, line) in split_lines_keep(text).into_iter().enumerate() {
        let (content, eol) = split_eol(line);
        let t = content.trim();
        let sec = section_of(&raw_lines, i);
        let kv = (!t.starts_with('#') && !t.starts_with(';') && !t.starts_with('['))
            .then(|| t.split_once('='))
            .flatten()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()));
        let Some((k, v)) = kv else {
            out.push_str(line);
            if Some(i) == connection_header
                && !primary
                && ini.get("connection", "autoconnect").is_none()
            {
                out.push_str(if eol.is_empty() { "\n" } else { "" });
                out.push_str("autoconnect=false");
                out.push_str(if eol.is_empty() { "" } else { eol });
                saw_autoconnect = true;
                notes.push(format!(
                    "{id}: not connected at boot (only one interface after import)"
                ));
            }
            continue;
        };
        let lead = &content[..content.len() - content.trim_start().len()];
        let set = |out: &mut String, nv: &str| {
            out.push_str(lead);
            out.push_str(&k);
            out.push('=');
            out.push_str(nv);
            out.push_str(eol);
        };
        if !primary {
            if sec == "connection" && k == "autoconnect" {
                saw_autoconnect = true;
                if v != "false" {
                    set(&mut out, "false");
                    notes.push(format!(
                        "{id}: not connected at boot (only one interface after import)"
                    ));
                    continue;
                }
            }
            out.push_str(line);
            continue;
        }
        match (sec.as_str(), k.as_str()) {
            ("ipv4" | "ipv6", "method") if v == "manual" => {
                set(&mut out, "auto");
                notes.push(format!("{id}: [{sec}] method manual → auto (DHCP)"));
            }
            // GEN-4: the imported VM gets its IPv4 address by DHCP
            ("ipv4", "method") if matches!(v.as_str(), "disabled" | "ignore" | "link-local") => {
                set(&mut out, "auto");
                notes.push(format!("{id}: [ipv4] method {v} → auto (DHCP)"));
            }
            ("ipv4" | "ipv6", key)
                if is_address_key(key) || is_route_key(key) || matches!(key, "gateway" | "dns") =>
            {
                out.push_str(&disabled(content, "static address, DHCP after import"));
                out.push_str(eol);
            }
            ("ipv4" | "ipv6", "ignore-auto-dns" | "ignore-auto-routes" | "never-default")
                if v == "true" =>
            {
                out.push_str(&disabled(
                    content,
                    "DHCP must supply DNS and the default route",
                ));
                out.push_str(eol);
            }
            ("ethernet" | "802-3-ethernet", "mac-address") => {
                out.push_str(&disabled(content, "the MAC address changes on import"));
                out.push_str(eol);
            }
            ("connection", "interface-name") => match p.rename_to {
                Some(n) if v != n => {
                    set(&mut out, n);
                    notes.push(format!("{id}: interface {v} renamed {n} (net.ifnames=0)"));
                }
                _ => out.push_str(line),
            },
            ("connection", "autoconnect") if v == "false" => set(&mut out, "true"),
            _ => out.push_str(line),
        }
    }
    let _ = saw_autoconnect;
    FileEdit {
        path: path.to_string(),
        new_path: None,
        text: out,
        notes,
    }
}
