//! LNX-4: are predictable interface names (`ens192`, `enp0s3`) in use, or classic `ethX`?
//! Evidence: `net.ifnames=0` / `biosdevname=0` on the kernel command line, udev's
//! `80-net-setup-link.rules` (or `80-net-name-slot.rules`) masked by a /dev/null symlink in
//! /etc/udev/rules.d, `70-persistent-net.rules` naming interfaces, and `.link` files with
//! `NamePolicy=`/`Name=`.

use super::super::cmdline;
use super::super::files::GuestFiles;
use super::ini::Ini;
use super::networkd;

/// What decides interface naming in this guest.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct NamingFacts {
    /// `net.ifnames=0` on the default kernel command line.
    pub cmdline_ifnames_off: bool,
    /// `biosdevname=0` on the default kernel command line.
    pub cmdline_biosdevname_off: bool,
    /// udev's naming rule masked (`/etc/udev/rules.d/80-net-setup-link.rules` → /dev/null).
    pub udev_rule_masked: bool,
    /// Names pinned by `70-persistent-net.rules` (`NAME="eth0"`), with their MACs.
    pub persistent_rules: Vec<(String, Option<String>)>,
    /// `.link` files that set names (`Name=` or a `NamePolicy=` other than kernel).
    pub link_files: Vec<String>,
}

impl NamingFacts {
    /// Classic `ethX` names will be used after import.
    pub fn classic_names(&self) -> bool {
        self.cmdline_ifnames_off || self.udev_rule_masked
    }
}

fn rule_value<'a>(rule: &'a str, key: &str) -> Option<&'a str> {
    let i = rule.find(key)?;
    let rest = rule.get(i + key.len()..)?;
    let rest = rest.trim_start().strip_prefix(['=', ':'].as_ref())?;
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.split('"').next()
}

/// Parse `70-persistent-net.rules`: `SUBSYSTEM=="net", ATTR{address}=="…", NAME="eth0"`.
pub fn persistent_net_rules(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("NAME="))
        .filter_map(|l| {
            let name = rule_value(l, "NAME")?.to_string();
            let mac = rule_value(l, "ATTR{address}").map(str::to_string);
            Some((name, mac))
        })
        .collect()
}

/// How the guest names its interfaces: the default kernel command line (`net.ifnames=0`, `biosdevname=0`) and udev rules.
pub fn inspect(files: &dyn GuestFiles, default_cmdline: Option<&str>) -> NamingFacts {
    let mut f = NamingFacts::default();
    if let Some(c) = default_cmdline {
        f.cmdline_ifnames_off = cmdline::ifnames_disabled(c);
        f.cmdline_biosdevname_off = cmdline::get(c, "biosdevname").as_deref() == Some("0");
    }
    for r in ["80-net-setup-link.rules", "80-net-name-slot.rules"] {
        if files
            .is_symlink(&format!("/etc/udev/rules.d/{r}"))
            .as_deref()
            == Some("/dev/null")
        {
            f.udev_rule_masked = true;
        }
    }
    if let Some(t) = files.read_small(
        "/etc/udev/rules.d/70-persistent-net.rules",
        super::MAX_CONFIG,
    ) {
        f.persistent_rules = persistent_net_rules(&t);
    }
    for p in networkd::files_in_use(files, ".link") {
        if let Some(t) = files.read_small(&p, super::MAX_CONFIG) {
            let ini = Ini::parse(&t);
            let policy = ini.get("Link", "NamePolicy").unwrap_or("");
            if ini.get("Link", "Name").is_some() || (!policy.is_empty() && policy != "kernel") {
                f.link_files.push(p);
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistent_rules() {
        let t = "# PCI device 0x8086:0x100f (e1000)\nSUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"52:54:00:12:34:56\", ATTR{type}==\"1\", KERNEL==\"eth*\", NAME=\"eth0\"\n";
        assert_eq!(
            persistent_net_rules(t),
            vec![("eth0".to_string(), Some("52:54:00:12:34:56".to_string()))]
        );
    }
}
