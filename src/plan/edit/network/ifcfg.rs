//! `ifcfg-*` files: RHEL `/etc/sysconfig/network-scripts` and SUSE `/etc/sysconfig/network`
//! (plus their route files). Lines stay `KEY=value` and shell-parseable.

use super::super::{split_eol, split_lines_keep};
use super::{FileEdit, NetEdit, Others, disabled};
use crate::guest::linux::shellvars;

/// Which ifcfg dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Red Hat's `network-scripts/ifcfg-*`.
    Rh,
    /// SUSE's `sysconfig/network/ifcfg-*`.
    Suse,
}

/// One shell assignment on a single line, with the value's byte range in the line.
fn line_assignment(content: &str) -> Option<(String, String, (usize, usize))> {
    let t = content.trim_start();
    if t.starts_with('#') {
        return None;
    }
    let v = shellvars::parse(content);
    match v.as_slice() {
        [a] => Some((a.key.clone(), a.value.clone(), a.value_span)),
        _ => None,
    }
}

/// Write `new` in the quoting style of the value it replaces.
fn styled(orig: &str, new: &str) -> String {
    if orig.starts_with('\'') {
        format!("'{new}'")
    } else if orig.starts_with('"') {
        format!("\"{new}\"")
    } else {
        shellvars::quote(new)
    }
}

fn is_static_key(d: Dialect, key: &str) -> bool {
    let strip = |k: &str| k.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
    match d {
        Dialect::Rh => {
            let k = strip(key);
            matches!(
                k.as_str(),
                "IPADDR" | "NETMASK" | "PREFIX" | "GATEWAY" | "NETWORK" | "BROADCAST" | "DNS"
            ) || matches!(key, "IPV6ADDR" | "IPV6ADDR_SECONDARIES" | "IPV6_DEFAULTGW")
        }
        Dialect::Suse => {
            key == "IPADDR"
                || key.starts_with("IPADDR_")
                || key.starts_with("PREFIXLEN")
                || matches!(key, "NETMASK" | "BROADCAST" | "NETWORK" | "REMOTE_IPADDR")
        }
    }
}

/// Edit one ifcfg file. `path` is its guest path (`…/ifcfg-ens192`).
pub fn edit(path: &str, text: &str, d: Dialect, p: &NetEdit) -> FileEdit {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let dev_from_file = file.strip_prefix("ifcfg-").unwrap_or(file);
    let vars = shellvars::parse(text);
    let device = match d {
        Dialect::Rh => shellvars::get(&vars, "DEVICE")
            .filter(|v| !v.is_empty())
            .unwrap_or(dev_from_file),
        Dialect::Suse => dev_from_file,
    }
    .to_string();
    if device == "lo" {
        return FileEdit::unchanged(path, text);
    }
    if shellvars::has_unterminated_quote(text) {
        let mut e = FileEdit::unchanged(path, text);
        e.notes.push(format!(
            "{path}: not edited, a quote is left open (the shell cannot read it)"
        ));
        return e;
    }
    let primary = p.is_primary(&device);
    let slave_of_primary = ["MASTER", "BRIDGE", "TEAM_MASTER"]
        .iter()
        .filter_map(|k| shellvars::get(&vars, k))
        .any(|m| p.is_primary(m))
        || p.is_member(&device);
    if !primary && (slave_of_primary || p.others == Others::Keep) {
        return FileEdit::unchanged(path, text);
    }
    let mut notes = Vec::new();
    let mut out = String::with_capacity(text.len() + 128);
    let mut seen_proto = false;
    let mut seen_device = false;
    let mut seen_onboot = false;
    let had_v6_static = shellvars::get(&vars, "IPV6ADDR").is_some_and(|v| !v.is_empty());
    let mut seen_dhcpv6 = false;
    let rename = p.rename_to.filter(|n| *n != device && primary);
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let Some((key, value, (vs, ve))) = line_assignment(content) else {
            out.push_str(line);
            continue;
        };
        let orig = content.get(vs..ve).unwrap_or("");
        let replace = |new: &str| -> String {
            format!(
                "{}{}{}{eol}",
                content.get(..vs).unwrap_or(""),
                styled(orig, new),
                content.get(ve..).unwrap_or("")
            )
        };
        if !primary {
            // another interface: do not start it at boot
            let (k, off) = match d {
                Dialect::Rh => ("ONBOOT", "no"),
                Dialect::Suse => ("STARTMODE", "off"),
            };
            if key == k {
                seen_onboot = true;
                if value != off {
                    out.push_str(&replace(off));
                    notes.push(format!(
                        "{device}: not started at boot (only one interface after import)"
                    ));
                    continue;
                }
            }
            out.push_str(line);
            continue;
        }
        match key.as_str() {
            "BOOTPROTO" => {
                seen_proto = true;
                if !value.eq_ignore_ascii_case("dhcp") {
                    out.push_str(&replace("dhcp"));
                    notes.push(format!("{device}: BOOTPROTO {value} → dhcp"));
                } else {
                    out.push_str(line);
                }
            }
            k if is_static_key(d, k) && !value.is_empty() => {
                out.push_str(&disabled(content, "static address, DHCP after import"));
                out.push_str(eol);
            }
            "HWADDR" | "MACADDR" | "LLADDR" if !value.is_empty() => {
                out.push_str(&disabled(content, "the MAC address changes on import"));
                out.push_str(eol);
            }
            "PEERDNS" | "DEFROUTE" if value.eq_ignore_ascii_case("no") => {
                out.push_str(&disabled(
                    content,
                    "DHCP must supply DNS and the default route",
                ));
                out.push_str(eol);
            }
            "IPV6_AUTOCONF" if had_v6_static && value.eq_ignore_ascii_case("no") => {
                out.push_str(&disabled(
                    content,
                    "static IPv6 address, DHCPv6 after import",
                ));
                out.push_str(eol);
            }
            "DHCPV6C" => {
                seen_dhcpv6 = true;
                if had_v6_static && !value.eq_ignore_ascii_case("yes") {
                    out.push_str(&replace("yes"));
                } else {
                    out.push_str(line);
                }
            }
            "ONBOOT" if d == Dialect::Rh => {
                seen_onboot = true;
                if !value.eq_ignore_ascii_case("yes") {
                    out.push_str(&replace("yes"));
                } else {
                    out.push_str(line);
                }
            }
            "STARTMODE" if d == Dialect::Suse => {
                seen_onboot = true;
                if value != "auto" {
                    out.push_str(&replace("auto"));
                } else {
                    out.push_str(line);
                }
            }
            "DEVICE" if d == Dialect::Rh => {
                seen_device = true;
                match rename {
                    Some(n) if value == device => {
                        out.push_str(&replace(n));
                        notes.push(format!("{device} renamed {n} (net.ifnames=0)"));
                    }
                    _ => out.push_str(line),
                }
            }
            "NAME" if d == Dialect::Rh => match rename {
                Some(n) if value == device => out.push_str(&replace(n)),
                _ => out.push_str(line),
            },
            _ => out.push_str(line),
        }
    }
    let mut append = |kv: String| {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&kv);
        out.push('\n');
    };
    if !primary {
        if !seen_onboot {
            append(match d {
                Dialect::Rh => "ONBOOT=no".into(),
                Dialect::Suse => "STARTMODE='off'".into(),
            });
            notes.push(format!(
                "{device}: not started at boot (only one interface after import)"
            ));
        }
        return FileEdit {
            path: path.to_string(),
            new_path: None,
            text: out,
            notes,
        };
    }
    if !seen_proto {
        append(match d {
            Dialect::Rh => "BOOTPROTO=dhcp".into(),
            Dialect::Suse => "BOOTPROTO='dhcp'".into(),
        });
        notes.push(format!("{device}: BOOTPROTO=dhcp added"));
    }
    if d == Dialect::Suse && !seen_onboot {
        append("STARTMODE='auto'".into());
    }
    if had_v6_static && !seen_dhcpv6 && d == Dialect::Rh {
        append("DHCPV6C=yes".into());
    }
    if let (Some(n), false, Dialect::Rh) = (rename, seen_device, d) {
        append(format!("DEVICE={n}"));
    }
    let new_path = rename.map(|n| format!("{dir}/ifcfg-{n}"));
    let disabled_now = out.matches("# guestfix: disabled (static address").count()
        - text.matches("# guestfix: disabled (static address").count();
    if disabled_now > 0 {
        notes.push(format!(
            "{device}: {disabled_now} static address/gateway/DNS setting(s) disabled; DHCP supplies them after import"
        ));
    }
    FileEdit {
        path: path.to_string(),
        new_path,
        text: out,
        notes,
    }
}

/// RHEL `route-X`/`route6-X` or SUSE `ifroute-X` of the primary interface: every route is
/// disabled (they were tied to the static address). SUSE's global `routes` file: the
/// `default` routes and routes naming the primary device are disabled.
pub fn edit_routes(path: &str, text: &str, p: &NetEdit) -> FileEdit {
    let file = path.rsplit('/').next().unwrap_or(path);
    let dev = file
        .strip_prefix("route6-")
        .or_else(|| file.strip_prefix("route-"))
        .or_else(|| file.strip_prefix("ifroute-"));
    let global = file == "routes";
    if !global && !dev.is_some_and(|d| p.is_primary(d)) {
        return FileEdit::unchanged(path, text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut n = 0;
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let t = content.trim();
        let take = !t.is_empty()
            && !t.starts_with('#')
            && (!global || {
                let f: Vec<&str> = t.split_whitespace().collect();
                f.first() == Some(&"default") || f.get(3).is_some_and(|d| p.is_primary(d))
            });
        if take {
            out.push_str(&disabled(content, "static route of the old network"));
            out.push_str(eol);
            n += 1;
        } else {
            out.push_str(line);
        }
    }
    FileEdit {
        path: path.to_string(),
        new_path: None,
        text: out,
        notes: if n > 0 {
            vec![format!("{n} static route line(s) disabled")]
        } else {
            Vec::new()
        },
    }
}
