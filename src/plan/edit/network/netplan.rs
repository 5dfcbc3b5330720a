//! netplan YAML, edited line by line (comments, order and formatting kept) for block-style
//! files as written by installers and cloud-init, then re-parsed to check the result means
//! what was intended.

use super::super::{split_eol, split_lines_keep};
use super::{FileEdit, NetEdit, Others, disabled};
use crate::guest::linux::network::netplan::{self, NetplanError, SECTIONS};
use yaml_rust2::Yaml;

/// Why a netplan file was not edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetplanEditError {
    #[error("the file does not parse: {0}")]
    /// The file does not parse as netplan.
    Input(#[from] NetplanError),
    #[error("the edited file would not mean what was intended: {0}")]
    /// The edited file, parsed again, does not say what was intended.
    Validation(String),
    #[error("the device {0} is written in flow style, which is not edited")]
    /// The device is written in YAML flow style (`{ … }`), which is not edited.
    FlowStyle(String),
    #[error("{0} lines: more than a netplan file has ({MAX_LINES} at most)")]
    /// The file has more lines than a netplan file has (its line count).
    TooLong(usize),
}

/// Most lines edited (the block scans are quadratic in the worst case).
pub const MAX_LINES: usize = 5000;

/// Keys of a device block that belong to a static configuration.
const STATIC_KEYS: &[&str] = &[
    "addresses",
    "gateway4",
    "gateway6",
    "routes",
    "nameservers",
    "routing-policy",
];

#[derive(Debug, Clone)]
struct Line<'a> {
    raw: &'a str,
    content: &'a str,
    eol: &'a str,
    indent: usize,
    /// Mapping key on this line (`key:` or `- key:` not included).
    key: Option<String>,
    /// Text after `key:` (trimmed, comment not removed).
    value: String,
    blank: bool,
    list_item: bool,
}

fn lex(text: &str) -> Vec<Line<'_>> {
    split_lines_keep(text)
        .into_iter()
        .map(|raw| {
            let (content, eol) = split_eol(raw);
            let t = content.trim_start();
            let indent = content.len() - t.len();
            let blank = t.is_empty() || t.starts_with('#');
            let list_item = t.starts_with("- ") || t == "-";
            let mut key = None;
            let mut value = String::new();
            if !blank && !list_item {
                if let Some(i) = t.find(':') {
                    let k = t.get(..i).unwrap_or("").trim();
                    let after = t.get(i + 1..).unwrap_or("");
                    if !k.is_empty() && (after.is_empty() || after.starts_with([' ', '\t'])) {
                        key = Some(k.trim_matches(['"', '\'']).to_string());
                        value = after.trim().to_string();
                    }
                }
            }
            Line {
                raw,
                content,
                eol,
                indent,
                key,
                value,
                blank,
                list_item,
            }
        })
        .collect()
}

/// The lines (exclusive end) of the block a key line at `i` opens: deeper lines, and list items
/// at the same indentation (YAML allows `key:` then `- item` at the same column).
fn block_end(lines: &[Line], i: usize) -> usize {
    let Some(head) = lines.get(i) else { return i };
    let mut j = i + 1;
    while let Some(l) = lines.get(j) {
        if l.blank || l.indent > head.indent || (l.indent == head.indent && l.list_item) {
            j += 1;
        } else {
            break;
        }
    }
    // trailing comments/blank lines belong to what follows
    while j > i + 1 && lines.get(j - 1).is_some_and(|l| l.blank) {
        j -= 1;
    }
    j
}

/// Direct child key lines of the block opened at `i`.
fn children(lines: &[Line], i: usize) -> Vec<usize> {
    let end = block_end(lines, i);
    let mut out = Vec::new();
    let mut child_indent = None;
    for j in i + 1..end {
        let Some(l) = lines.get(j) else { break };
        if l.blank || l.key.is_none() {
            continue;
        }
        let ci = *child_indent.get_or_insert(l.indent);
        if l.indent == ci {
            out.push(j);
        }
    }
    out
}

fn find_child(lines: &[Line], parent: usize, key: &str) -> Option<usize> {
    children(lines, parent)
        .into_iter()
        .find(|&j| lines.get(j).and_then(|l| l.key.as_deref()) == Some(key))
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim_matches(['"', '\'']),
        "true" | "yes" | "on" | "y" | "True"
    )
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Edit a netplan file.
pub fn edit(path: &str, text: &str, p: &NetEdit) -> Result<FileEdit, NetplanEditError> {
    let doc = netplan::load(text)?;
    let lines = lex(text);
    if lines.len() > MAX_LINES {
        return Err(NetplanEditError::TooLong(lines.len()));
    }
    let mut set: std::collections::HashMap<usize, String> = Default::default();
    let mut disable: std::collections::HashMap<usize, &'static str> = Default::default();
    let mut insert_after: std::collections::HashMap<usize, Vec<String>> = Default::default();
    let mut notes = Vec::new();
    let final_name = p.final_name().to_string();

    let Some(net) = lines
        .iter()
        .position(|l| l.indent == 0 && l.key.as_deref() == Some("network"))
    else {
        return Err(NetplanEditError::Input(NetplanError::NoNetwork));
    };
    // devices that are members of a bond/bridge whose name is primary stay
    let mut members: Vec<String> = Vec::new();
    for (sec, _) in SECTIONS {
        if let Some(h) = doc["network"][*sec].as_hash() {
            for (k, v) in h {
                if scalar(k).is_some_and(|n| p.is_primary(&n)) {
                    if let Some(ifs) = v["interfaces"].as_vec() {
                        members.extend(ifs.iter().filter_map(scalar));
                    }
                }
            }
        }
    }
    let mut primary_found = false;
    for sec_line in children(&lines, net) {
        let Some(sec) = lines.get(sec_line).and_then(|l| l.key.clone()) else {
            continue;
        };
        if !SECTIONS.iter().any(|(s, _)| *s == sec) {
            continue;
        }
        for dev_line in children(&lines, sec_line) {
            let Some(dev) = lines.get(dev_line) else {
                continue;
            };
            let Some(id) = dev.key.clone() else { continue };
            let y = &doc["network"][sec.as_str()][id.as_str()];
            let match_name = scalar(&y["match"]["name"]);
            let set_name = scalar(&y["set-name"]);
            let is_primary = p.is_primary(&id)
                || match_name.as_deref().is_some_and(|n| p.is_primary(n))
                || set_name.as_deref().is_some_and(|n| p.is_primary(n));
            if !is_primary {
                if p.others == Others::Disable
                    && sec == "ethernets"
                    && id != "lo"
                    && !members.contains(&id)
                    && !p.is_member(&id)
                {
                    let end = block_end(&lines, dev_line);
                    for j in dev_line..end {
                        if lines.get(j).is_some_and(|l| !l.content.trim().is_empty()) {
                            disable.insert(j, "only one interface after import");
                        }
                    }
                    notes.push(format!(
                        "{id}: configuration disabled (only one interface after import)"
                    ));
                }
                continue;
            }
            primary_found = true;
            if dev.value.starts_with('{') && dev.value != "{}" {
                return Err(NetplanEditError::FlowStyle(id));
            }
            let kids = children(&lines, dev_line);
            let child_indent = kids
                .first()
                .and_then(|&j| lines.get(j))
                .map(|l| l.indent)
                .unwrap_or(dev.indent + 2);
            let pad = " ".repeat(child_indent);
            // rename the device id itself when it is the interface name
            if let Some(n) = p.rename_to {
                if id == p.primary && match_name.is_none() && n != id {
                    let head = dev.content.get(..dev.indent).unwrap_or("");
                    let rest = dev.content.trim_start().get(id.len()..).unwrap_or("");
                    set.insert(dev_line, format!("{head}{n}{rest}"));
                    notes.push(format!("{id} renamed {n} (net.ifnames=0)"));
                }
            }
            if dev.value == "{}" {
                let head = dev.content.get(..dev.indent).unwrap_or("");
                let key = set
                    .get(&dev_line)
                    .map(|s| s.trim().trim_end_matches("{}").trim().to_string())
                    .unwrap_or_else(|| format!("{}:", dev.key.clone().unwrap_or_default()));
                set.insert(dev_line, format!("{head}{key}"));
                insert_after
                    .entry(dev_line)
                    .or_default()
                    .push(format!("{pad}dhcp4: true"));
                notes.push(format!("{id}: dhcp4 enabled"));
                continue;
            }
            let v6_static = y["addresses"]
                .as_vec()
                .is_some_and(|a| a.iter().filter_map(scalar).any(|s| s.contains(':')));
            for &k in &kids {
                let Some(l) = lines.get(k) else { continue };
                let key = l.key.as_deref().unwrap_or("");
                if STATIC_KEYS.contains(&key) || key == "macaddress" {
                    let end = block_end(&lines, k);
                    for j in k..end {
                        if lines.get(j).is_some_and(|l| {
                            !l.content.trim().is_empty() && !l.content.trim_start().starts_with('#')
                        }) {
                            disable.insert(
                                j,
                                if key == "macaddress" {
                                    "the MAC address changes on import"
                                } else {
                                    "static address, DHCP after import"
                                },
                            );
                        }
                    }
                } else if (key == "dhcp4" || (key == "dhcp6" && v6_static)) && !truthy(&l.value) {
                    set.insert(k, format!("{pad}{key}: true"));
                } else if key == "match" {
                    if let Some(m) = find_child(&lines, k, "macaddress") {
                        disable.insert(m, "the MAC address changes on import");
                        if find_child(&lines, k, "name").is_none() {
                            let mpad = " "
                                .repeat(lines.get(m).map(|l| l.indent).unwrap_or(child_indent + 2));
                            insert_after
                                .entry(m)
                                .or_default()
                                .push(format!("{mpad}name: {final_name}"));
                        }
                    }
                    if let (Some(nl), Some(n)) = (find_child(&lines, k, "name"), p.rename_to) {
                        if match_name.as_deref() == Some(p.primary) {
                            let mpad = " ".repeat(lines.get(nl).map(|l| l.indent).unwrap_or(0));
                            set.insert(nl, format!("{mpad}name: {n}"));
                        }
                    }
                } else if key == "set-name" {
                    if let Some(n) = p.rename_to {
                        if set_name.as_deref() != Some(n) {
                            set.insert(k, format!("{pad}set-name: {n}"));
                        }
                    }
                }
            }
            let has = |k: &str| {
                kids.iter()
                    .any(|&j| lines.get(j).and_then(|l| l.key.as_deref()) == Some(k))
            };
            let mut add = Vec::new();
            if !has("dhcp4") {
                add.push(format!("{pad}dhcp4: true"));
            }
            if v6_static && !has("dhcp6") {
                add.push(format!("{pad}dhcp6: true"));
            }
            if !add.is_empty() {
                insert_after.entry(dev_line).or_default().extend(add);
            }
            if !disable.is_empty() || !set.is_empty() || insert_after.contains_key(&dev_line) {
                notes.push(format!("{id}: static configuration replaced by DHCP"));
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 256);
    for (i, l) in lines.iter().enumerate() {
        let nl = if l.eol.is_empty() { "\n" } else { l.eol };
        if let Some(why) = disable.get(&i) {
            out.push_str(&disabled(l.content, why));
            out.push_str(l.eol);
        } else if let Some(s) = set.get(&i) {
            out.push_str(s);
            out.push_str(l.eol);
        } else {
            out.push_str(l.raw);
        }
        if let Some(extra) = insert_after.get(&i) {
            if l.eol.is_empty() {
                out.push('\n');
            }
            for e in extra {
                out.push_str(e);
                out.push_str(nl);
            }
        }
    }
    if !primary_found {
        return Ok(FileEdit::unchanged(path, text));
    }
    validate(&out, p)?;
    Ok(FileEdit {
        path: path.to_string(),
        new_path: None,
        text: out,
        notes,
    })
}

/// The edited file must parse, and the primary must be DHCP with no static addresses,
/// gateway, routes or DNS.
pub fn validate(text: &str, p: &NetEdit) -> Result<(), NetplanEditError> {
    let cs = netplan::parse(text, "x").map_err(|e| NetplanEditError::Validation(e.to_string()))?;
    for c in cs
        .iter()
        .filter(|c| c.name.as_deref().is_some_and(|n| p.is_primary(n)))
    {
        if !c.dhcp4
            || c.is_static()
            || c.gateway4.is_some()
            || !c.routes.is_empty()
            || !c.dns.is_empty()
        {
            return Err(NetplanEditError::Validation(format!("{c:?}")));
        }
    }
    Ok(())
}
