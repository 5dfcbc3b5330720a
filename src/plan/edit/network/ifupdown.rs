//! ifupdown / ifupdown-ng `interfaces` files (and files they include).

use super::super::{split_eol, split_lines_keep};
use super::{FileEdit, NetEdit, Others, disabled};
use crate::guest::linux::network::ifupdown::parse;
use std::collections::HashMap;

/// Stanza options that belong to a static configuration.
const STATIC_OPTIONS: &[&str] = &[
    "address",
    "netmask",
    "gateway",
    "broadcast",
    "network",
    "pointopoint",
    "dns-nameservers",
    "dns-nameserver",
    "dns-search",
    "hwaddress",
];

fn is_route_option(key: &str, value: &str) -> bool {
    matches!(
        key,
        "up" | "post-up" | "pre-up" | "down" | "pre-down" | "post-down"
    ) && (value.contains("route add")
        || value.contains("route del")
        || value.contains("ip route")
        || value.contains("ip -6 route"))
}

enum Action {
    /// Replace the whole line content.
    Set(String),
    Disable(&'static str),
    /// Insert a line before this one.
    Before(String),
    /// Insert a line after this one (and possibly change this one).
    SetAndAfter(String, String),
}

/// Edit one interfaces file.
pub fn edit(path: &str, text: &str, p: &NetEdit) -> FileEdit {
    let ifs = parse(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut actions: HashMap<usize, Action> = HashMap::new();
    let mut notes = Vec::new();
    let new_name = p.final_name().to_string();
    let primary_auto = ifs.auto.iter().any(|(n, _)| p.is_primary(n));
    let mut inserted_auto = false;
    let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
    for s in &ifs.stanzas {
        if s.name == "lo" {
            continue;
        }
        // A second static stanza of the primary (`iface eth0 inet static` again after
        // `# control-alias eth0`, or an alias `eth0:1`) is a second address of the old network:
        // DHCP gives the interface one, so the stanza is disabled whole (issue 23).
        let base = s.name.split(':').next().unwrap_or(&s.name);
        let alias = base != s.name && p.is_primary(base);
        let again = p.is_primary(&s.name) && seen.contains(&(s.name.as_str(), s.family.as_deref()));
        let is_static = s.method.as_deref() == Some("static")
            || s.options.iter().any(|(k, _, _)| k == "address");
        if (alias || again) && is_static {
            let why = "a second address of the interface; DHCP gives it one";
            actions.insert(s.line, Action::Disable(why));
            for (_, _, l) in &s.options {
                actions.insert(*l, Action::Disable(why));
            }
            notes.push(format!("{}: second static stanza disabled", s.name));
            continue;
        }
        if !p.is_primary(&s.name) {
            continue;
        }
        seen.push((s.name.as_str(), s.family.as_deref()));
        let header = lines.get(s.line).copied().unwrap_or("");
        let mut words: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        let indent_len = header.len() - header.trim_start().len();
        let indent = header.get(..indent_len).unwrap_or("").to_string();
        let mut changed = false;
        if let Some(w) = words.get_mut(1) {
            if *w != new_name {
                notes.push(format!("{} renamed {new_name} (net.ifnames=0)", s.name));
                *w = new_name.clone();
                changed = true;
            }
        }
        let has_static = s.options.iter().any(|(k, _, _)| k == "address");
        let is_dhcp_method = matches!(s.method.as_deref(), Some("dhcp" | "auto"));
        if let Some(m) = words.get_mut(3) {
            if m == "static" {
                *m = "dhcp".into();
                changed = true;
                notes.push(format!(
                    "{}: {} static → dhcp",
                    s.name,
                    s.family.as_deref().unwrap_or("inet")
                ));
            }
        }
        // ifupdown-ng: `iface eth0` with addresses and no method → `use dhcp`
        let needs_use_dhcp = s.family.is_none()
            && has_static
            && !s.options.iter().any(|(k, v, _)| k == "use" && v == "dhcp");
        let new_header = format!("{indent}{}", words.join(" "));
        if needs_use_dhcp {
            let opt_indent = s
                .options
                .first()
                .and_then(|(_, _, l)| lines.get(*l))
                .map(|l| {
                    l.get(..l.len() - l.trim_start().len())
                        .unwrap_or("\t")
                        .to_string()
                })
                .unwrap_or_else(|| "\t".into());
            actions.insert(
                s.line,
                Action::SetAndAfter(
                    if changed {
                        new_header.clone()
                    } else {
                        header.to_string()
                    },
                    format!("{opt_indent}use dhcp"),
                ),
            );
            notes.push(format!("{}: static addresses → use dhcp", s.name));
        } else if changed {
            actions.insert(s.line, Action::Set(new_header));
        }
        if !primary_auto && !inserted_auto {
            // make sure the interface comes up at boot
            let cur = actions.remove(&s.line);
            let before = format!("{indent}auto {new_name}");
            match cur {
                None => {
                    actions.insert(s.line, Action::Before(before));
                }
                Some(Action::Set(h)) => {
                    actions.insert(s.line, Action::Set(format!("{before}\n{h}")));
                }
                Some(Action::SetAndAfter(h, a)) => {
                    actions.insert(s.line, Action::SetAndAfter(format!("{before}\n{h}"), a));
                }
                Some(other) => {
                    actions.insert(s.line, other);
                }
            }
            inserted_auto = true;
        }
        for (k, v, l) in &s.options {
            if STATIC_OPTIONS.contains(&k.as_str())
                && (has_static || is_dhcp_method || k == "hwaddress")
            {
                let why = if k == "hwaddress" {
                    "the MAC address changes on import"
                } else {
                    "static address, DHCP after import"
                };
                actions.insert(*l, Action::Disable(why));
            } else if is_route_option(k, v) {
                actions.insert(*l, Action::Disable("static route of the old network"));
            }
        }
    }
    // auto / allow-hotplug lines: rename the primary, drop others when disabling
    for (name, l) in &ifs.auto {
        let Some(line) = lines.get(*l) else { continue };
        let disable_other = p.others == Others::Disable
            && !p.is_primary(name)
            && !p.is_member(name)
            && name != "lo";
        let rename = p.is_primary(name) && *name != new_name;
        if !(disable_other || rename) {
            continue;
        }
        let cur = match actions.get(l) {
            Some(Action::Set(s)) => s.clone(),
            Some(Action::Disable(_)) => continue,
            _ => line.to_string(),
        };
        let indent_len = cur.len() - cur.trim_start().len();
        let mut w: Vec<String> = cur.split_whitespace().map(str::to_string).collect();
        if rename {
            for x in w.iter_mut().skip(1) {
                if x == name {
                    *x = new_name.clone();
                }
            }
        }
        if disable_other {
            let before = w.len();
            w = w
                .into_iter()
                .enumerate()
                .filter(|(i, x)| *i == 0 || x != name)
                .map(|(_, x)| x)
                .collect();
            if w.len() < before {
                notes.push(format!(
                    "{name}: not started at boot (only one interface after import)"
                ));
            }
        }
        if w.len() <= 1 {
            actions.insert(*l, Action::Disable("only one interface after import"));
        } else {
            actions.insert(
                *l,
                Action::Set(format!(
                    "{}{}",
                    cur.get(..indent_len).unwrap_or(""),
                    w.join(" ")
                )),
            );
        }
    }
    let mut out = String::with_capacity(text.len() + 128);
    for (i, line) in split_lines_keep(text).into_iter().enumerate() {
        let (content, eol) = split_eol(line);
        let eol_or_nl = if eol.is_empty() { "\n" } else { eol };
        match actions.get(&i) {
            None => out.push_str(line),
            Some(Action::Set(s)) => {
                out.push_str(s);
                out.push_str(eol);
            }
            Some(Action::Disable(why)) => {
                out.push_str(&disabled(content, why));
                out.push_str(eol);
            }
            Some(Action::Before(b)) => {
                out.push_str(b);
                out.push_str(eol_or_nl);
                out.push_str(line);
            }
            Some(Action::SetAndAfter(s, a)) => {
                out.push_str(s);
                out.push_str(eol_or_nl);
                out.push_str(a);
                out.push_str(eol);
            }
        }
    }
    FileEdit {
        path: path.to_string(),
        new_path: None,
        text: out,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::linux::network::ifupdown::configs;

    /// Issue 23: a second static stanza of the primary (control-alias, `eth0:1`) is disabled
    /// whole, not turned into a second DHCP stanza.
    #[test]
    fn second_static_stanzas_are_disabled() {
        let t = "auto eth0\niface eth0 inet static\n\taddress 10.0.0.5/24\n\tgateway 10.0.0.1\n\n\
                 # control-alias eth0\niface eth0 inet static\n\taddress 10.0.0.6/24\n\n\
                 auto eth0:1\niface eth0:1 inet static\n\taddress 10.0.0.7/24\n";
        let p = NetEdit {
            primary: "eth0",
            rename_to: None,
            others: Others::Disable,
            members: &[],
        };
        let e = edit("/etc/network/interfaces", t, &p);
        let stanzas: Vec<&str> = e.text.lines().filter(|l| l.starts_with("iface")).collect();
        assert_eq!(stanzas, vec!["iface eth0 inet dhcp"], "{}", e.text);
        assert!(e.text.contains("disabled (a second address of the interface; DHCP gives it one): iface eth0 inet static"));
        assert!(
            e.text.contains("gives it one): address 10.0.0.6/24"),
            "{}",
            e.text
        );
        assert!(e.text.contains("): iface eth0:1 inet static"), "{}", e.text);
        assert_eq!(edit("/etc/network/interfaces", &e.text, &p).text, e.text);
    }

    #[test]
    fn debian_inet_static_follows_rename() {
        // the layout Debian's installer (netcfg) writes for a static address
        let t = "# The loopback network interface\nauto lo\niface lo inet loopback\n\n# The primary network interface\nallow-hotplug ens192\niface ens192 inet static\n\taddress 10.1.2.3/24\n\tgateway 10.1.2.1\n\t# dns-* options are implemented by the resolvconf package, if installed\n\tdns-nameservers 10.1.2.53\n\tdns-search example.com\n\tup ip route add 10.9.0.0/16 via 10.1.2.254\n\nauto ens224\niface ens224 inet static\n\taddress 192.168.7.2/24\n";
        let p = NetEdit {
            primary: "ens192",
            rename_to: Some("eth0"),
            others: Others::Disable,
            members: &[],
        };
        let e = edit("/etc/network/interfaces", t, &p);
        assert_eq!(
            e.text,
            "# The loopback network interface\nauto lo\niface lo inet loopback\n\n# The primary network interface\nallow-hotplug eth0\niface eth0 inet dhcp\n\t# guestfix: disabled (static address, DHCP after import): address 10.1.2.3/24\n\t# guestfix: disabled (static address, DHCP after import): gateway 10.1.2.1\n\t# dns-* options are implemented by the resolvconf package, if installed\n\t# guestfix: disabled (static address, DHCP after import): dns-nameservers 10.1.2.53\n\t# guestfix: disabled (static address, DHCP after import): dns-search example.com\n\t# guestfix: disabled (static route of the old network): up ip route add 10.9.0.0/16 via 10.1.2.254\n\n# guestfix: disabled (only one interface after import): auto ens224\niface ens224 inet static\n\taddress 192.168.7.2/24\n"
        );
        assert_eq!(edit("/etc/network/interfaces", &e.text, &p).text, e.text);
        let cs = configs(&parse(&e.text), "x");
        let eth0 = cs
            .iter()
            .find(|c| c.name.as_deref() == Some("eth0"))
            .unwrap();
        assert!(eth0.dhcp4 && !eth0.is_static() && eth0.dns.is_empty());
    }
}
