//! `guestfix rules list|explain`: what a target profile holds.

use super::inspect::{json_string, load_profile};
use super::{CliError, EXIT_OK};
use std::io::Write;

fn print(s: &str) -> Result<(), CliError> {
    std::io::stdout()
        .lock()
        .write_all(s.as_bytes())
        .map_err(|e| CliError::usage(e.to_string()))
}

fn rule_json(r: &guestfix::rules::Rule) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "requirement": r.requirement,
        "order": r.order,
        "description": r.description,
        "transform": r.transform,
        "when": {
            "os": r.when.os, "distro": r.when.distro, "version": r.when.version,
            "files": r.when.files, "facts": r.when.facts,
        },
        "params": serde_json::to_value(&r.params).unwrap_or_default(),
        "source": r.source,
    })
}

pub fn list(target: &str, json: bool) -> Result<u8, CliError> {
    let p = load_profile(target)?;
    if json {
        let v: Vec<_> = p.rules.iter().map(rule_json).collect();
        print(&json_string(&v)?)?;
    } else {
        let mut t = format!("target {}: {}\n", p.settings.id, p.settings.description);
        for r in &p.rules {
            t.push_str(&format!(
                "{:>4} {:<24} {:<7} {:<18} {}\n",
                r.order, r.id, r.requirement, r.transform, r.description
            ));
        }
        print(&t)?;
    }
    Ok(EXIT_OK)
}

pub fn explain(id: &str, target: &str, json: bool) -> Result<u8, CliError> {
    let p = load_profile(target)?;
    let r = p
        .rules
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| CliError::usage(format!("no rule {id:?} in target {target}")))?;
    if json {
        print(&json_string(&rule_json(r))?)?;
    } else {
        let w = &r.when;
        let mut when = Vec::new();
        if let Some(os) = &w.os {
            when.push(format!("os is {os}"));
        }
        if !w.distro.is_empty() {
            when.push(format!("distro is one of {}", w.distro.join(", ")));
        }
        if !w.version.is_empty() {
            when.push(format!("version matches {}", w.version.join(", ")));
        }
        if !w.files.is_empty() {
            when.push(format!("files exist: {}", w.files.join(", ")));
        }
        if !w.facts.is_empty() {
            when.push(format!("facts hold: {}", w.facts.join(", ")));
        }
        let params = toml::to_string(&r.params).unwrap_or_default();
        print(&format!(
            "rule {} ({}), from {}\n  {}\n  runs transform {} at order {}\n  when: {}\n  params:\n{}",
            r.id,
            r.requirement,
            r.source,
            r.description,
            r.transform,
            r.order,
            if when.is_empty() { "always".into() } else { when.join("; ") },
            params.lines().map(|l| format!("    {l}\n")).collect::<String>()
        ))?;
    }
    Ok(EXIT_OK)
}
