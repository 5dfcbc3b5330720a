//! Debian ifupdown / ifupdown-ng `/etc/network/interfaces`: `auto`/`allow-hotplug` lines,
//! `iface NAME [inet|inet6 METHOD]` stanzas with indented options (`address`, `netmask`,
//! `gateway`, `dns-nameservers`, ifupdown-ng `use dhcp`), and `source` / `source-directory`
//! includes (`interfaces.d`).

use super::super::files::GuestFiles;
use super::{Flavour, IfaceConfig, MAX_FILES, is_v6, netmask_prefix};

/// The main interfaces file (it may `source` others).
pub const MAIN: &str = "/etc/network/interfaces";
/// Include depth limit (a file including itself must not loop).
const MAX_INCLUDE_DEPTH: usize = 8;

/// One `iface` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// The interface name.
    pub name: String,
    /// The address family (`inet`, `inet6`).
    pub family: Option<String>,
    /// The method (`dhcp`, `static`, `manual`, `loopback`).
    pub method: Option<String>,
    /// 0-based line of the `iface` line.
    pub line: usize,
    /// `key value` options with their 0-based lines.
    pub options: Vec<(String, String, usize)>,
}

/// A parsed interfaces file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interfaces {
    /// The `iface` stanzas, in file order.
    pub stanzas: Vec<Stanza>,
    /// Interfaces brought up at boot (`auto`, `allow-auto`, `allow-hotplug`), with lines.
    pub auto: Vec<(String, usize)>,
    /// `source` / `source-directory` arguments.
    pub sources: Vec<(String, bool)>,
}

const STANZA_WORDS: &[&str] = &[
    "iface",
    "auto",
    "allow-auto",
    "allow-hotplug",
    "mapping",
    "source",
    "source-directory",
    "template",
    "rename",
];

/// Parse one interfaces file (without following `source` lines).
pub fn parse(text: &str) -> Interfaces {
    let mut r = Interfaces::default();
    let mut current: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        // A stanza word guestfix commented out (an `auto` line of an interface the import
        // drops) still ends the stanza before it, as it did before the edit: the lines after
        // it must not become options of that stanza on a second run (fuzz finding
        // fuzz/regressions/linuxcfg_editors/ifupdown-ng-settle).
        if let Some(orig) = crate::guest::linux::lines::disabled_original(t) {
            if orig
                .split_whitespace()
                .next()
                .is_some_and(|w| STANZA_WORDS.contains(&w))
            {
                current = None;
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut w = t.split_whitespace();
        let first = w.next().unwrap_or("");
        if STANZA_WORDS.contains(&first) {
            current = None;
        }
        match first {
            "iface" => {
                let name = w.next().unwrap_or("").to_string();
                let family = w.next().map(str::to_string);
                let method = w.next().map(str::to_string);
                r.stanzas.push(Stanza {
                    name,
                    family,
                    method,
                    line: n,
                    options: Vec::new(),
                });
                current = r.stanzas.len().checked_sub(1);
            }
            "auto" | "allow-auto" | "allow-hotplug" => {
                r.auto.extend(w.map(|x| (x.to_string(), n)));
            }
            "source" => r.sources.extend(w.map(|x| (x.to_string(), false))),
            "source-directory" => r.sources.extend(w.map(|x| (x.to_string(), true))),
            _ => {
                if let Some(s) = current.and_then(|i| r.stanzas.get_mut(i)) {
                    let rest = t.get(first.len()..).unwrap_or("").trim().to_string();
                    s.options.push((first.to_string(), rest, n));
                }
            }
        }
    }
    r
}

/// The interface configs described by one file's stanzas (inet and inet6 stanzas of the same
/// interface are merged).
pub fn configs(ifs: &Interfaces, path: &str) -> Vec<IfaceConfig> {
    let mut out: Vec<IfaceConfig> = Vec::new();
    for s in &ifs.stanzas {
        let idx = match out.iter().position(|c| c.name.as_deref() == Some(&s.name)) {
            Some(i) => i,
            None => {
                let mut c = IfaceConfig::new(Flavour::Ifupdown, path);
                c.name = Some(s.name.clone());
                c.enabled = ifs.auto.iter().any(|(n, _)| *n == s.name);
                out.push(c);
                out.len() - 1
            }
        };
        let Some(c) = out.get_mut(idx) else { continue };
        let v6 = s.family.as_deref() == Some("inet6");
        match s.method.as_deref() {
            Some("dhcp") if v6 => c.dhcp6 = true,
            Some("auto") if v6 => c.dhcp6 = true,
            Some("dhcp") => c.dhcp4 = true,
            Some("loopback") => c.kind = "loopback".into(),
            _ => {}
        }
        if s.name == "lo" {
            c.kind = "loopback".into();
        }
        let netmask = s
            .options
            .iter()
            .find(|(k, _, _)| k == "netmask")
            .map(|(_, v, _)| v.clone());
        for (k, v, _) in &s.options {
            match k.as_str() {
                "use" if v == "dhcp" => c.dhcp4 = true,
                "address" => {
                    let a = match (&netmask, v.contains('/')) {
                        (Some(m), false) => {
                            match m.parse::<u32>().ok().or_else(|| netmask_prefix(m)) {
                                Some(p) => format!("{v}/{p}"),
                                None => v.clone(),
                            }
                        }
                        _ => v.clone(),
                    };
                    c.addresses.push(a);
                }
                "gateway" if is_v6(v) => c.gateway6 = Some(v.clone()),
                "gateway" => c.gateway4 = Some(v.clone()),
                "dns-nameservers" | "dns-nameserver" => {
                    c.dns.extend(v.split_whitespace().map(str::to_string))
                }
                "up" | "post-up" if v.contains("route add") || v.contains("ip route") => {
                    c.routes.push(v.clone())
                }
                "bond-slaves" | "bond-mode" | "bond-master" if k != "bond-master" => {
                    c.kind = "bond".into()
                }
                "bridge-ports" | "bridge_ports" => c.kind = "bridge".into(),
                "vlan-raw-device" | "vlan_raw_device" => c.kind = "vlan".into(),
                _ => {}
            }
        }
    }
    out
}

/// Files an interfaces file includes (`source` globs with `*`, `source-directory`).
pub fn included_files(files: &dyn GuestFiles, base_dir: &str, ifs: &Interfaces) -> Vec<String> {
    let mut out = Vec::new();
    for (arg, is_dir) in &ifs.sources {
        let abs = if arg.starts_with('/') {
            arg.clone()
        } else {
            format!("{base_dir}/{arg}")
        };
        if *is_dir {
            for n in files.list(&abs) {
                // run-parts naming: letters, digits, '_' and '-'
                if n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push(format!("{abs}/{n}"));
                }
            }
        } else if let Some((dir, pat)) = abs.rsplit_once('/') {
            if pat.contains('*') {
                let (pre, suf) = pat.split_once('*').unwrap_or((pat, ""));
                for n in files.list(dir) {
                    if n.starts_with(pre)
                        && n.ends_with(suf)
                        && n.len() >= pre.len() + suf.len()
                        && !n.starts_with('.')
                    {
                        out.push(format!("{dir}/{n}"));
                    }
                }
            } else {
                out.push(abs.clone());
            }
        }
    }
    out
}

/// Every interfaces file in use: the main file and what it includes, recursively.
pub fn files_in_use(files: &dyn GuestFiles) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut todo = vec![(MAIN.to_string(), 0usize)];
    while let Some((p, depth)) = todo.pop() {
        if out.len() >= MAX_FILES || out.iter().any(|(q, _)| *q == p) {
            continue;
        }
        let Some(t) = files.read_small(&p, super::MAX_CONFIG) else {
            continue;
        };
        let ifs = parse(&t);
        if depth < MAX_INCLUDE_DEPTH {
            let mut inc = included_files(files, "/etc/network", &ifs);
            inc.reverse();
            todo.extend(inc.into_iter().map(|f| (f, depth + 1)));
        }
        out.push((p, t));
    }
    out
}

/// Every interface the guest's interfaces files configure (following `source` lines).
pub fn read(files: &dyn GuestFiles) -> Vec<IfaceConfig> {
    let mut all: Vec<IfaceConfig> = Vec::new();
    let used = files_in_use(files);
    let autos: Vec<String> = used
        .iter()
        .flat_map(|(_, t)| parse(t).auto.into_iter().map(|(n, _)| n))
        .collect();
    for (p, t) in &used {
        for mut c in configs(&parse(t), p) {
            c.enabled = c.name.as_ref().is_some_and(|n| autos.contains(n));
            all.push(c);
        }
    }
    all
}
