//! MOD-L4: the GRUB default entry and timeout, in `/etc/default/grub` AND in what the boot
//! loader actually reads: grub.cfg `set default=`/`set timeout=`, grubenv `saved_entry`
//! (when grub.cfg uses `${saved_entry}`, and always for BLS systems), GRUB legacy
//! `default`/`timeout`.

use super::{split_eol, split_lines_keep};
use crate::guest::linux::grub::{BootEntry, grub2, grubenv, legacy, matching_entries, words};
use crate::guest::linux::shellvars;

/// The `default` value naming `entries[index]`: its id path when that is unambiguous (ids are
/// stable across title changes), else its title path, else its numeric path (GRUB accepts all
/// three, `>` between submenu levels). The result always resolves back to `index`.
pub fn default_setting_for(entries: &[BootEntry], index: usize) -> Option<String> {
    let entry = entries.get(index)?;
    let ids: Option<Vec<String>> = entry.levels.iter().map(|l| l.id.clone()).collect();
    let candidates = [
        ids.map(|v| v.join(">")),
        Some(entry.title_path()),
        Some(entry.path()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| matching_entries(entries, c) == [index])
}

fn dq(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Result of editing grub.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubCfgEdit {
    /// The edited grub.cfg.
    pub text: String,
    /// grub.cfg takes its default from `${saved_entry}`: grubenv must be set too.
    pub uses_saved_entry: bool,
}

/// grub.cfg: rewrite the deciding `set default=` (unless it is `${saved_entry}`, then the
/// caller sets grubenv) and every `set timeout=`.
pub fn edit_grub_cfg(text: &str, setting: &str, timeout: Option<u32>) -> GrubCfgEdit {
    edit_grub_cfg_with(text, Some(setting), timeout)
}

/// [`edit_grub_cfg`] where `setting: None` changes only the timeout.
pub fn edit_grub_cfg_with(text: &str, setting: Option<&str>, timeout: Option<u32>) -> GrubCfgEdit {
    let parsed = grub2::parse(text, "");
    let current = parsed.default.clone();
    let uses_saved = current.as_deref() == Some("${saved_entry}");
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_entry = 0usize;
    // a `set default=` line GRUB would not see (inside a block) still counts: never add a
    // second one
    let mut inserted_default = text
        .lines()
        .any(|l| l.trim_start().starts_with("set default="));
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let w = words::split(content);
        let first = w.first().map(|x| x.text.as_str()).unwrap_or("");
        if let (None, Some(setting), false) = (&current, setting, inserted_default) {
            if in_entry == 0 && matches!(first, "menuentry" | "submenu") {
                // no `set default` at all (GRUB boots entry 0): add one before the menu
                out.push_str(&format!("set default={}\n", dq(setting)));
                inserted_default = true;
            }
        }
        if matches!(first, "menuentry" | "submenu" | "function") {
            in_entry += 1;
        } else if first == "}" {
            in_entry = in_entry.saturating_sub(1);
        }
        if in_entry == 0 {
            // find `set NAME=` anywhere in the statement (after `then`/`else` too)
            let mut replaced: Vec<((usize, usize), String)> = Vec::new();
            for (i, x) in w.iter().enumerate() {
                let is_set = i > 0 && w.get(i - 1).is_some_and(|p| p.text == "set");
                if !is_set {
                    continue;
                }
                if let (Some(v), Some(setting)) = (x.text.strip_prefix("default="), setting) {
                    if !uses_saved && Some(v) == current.as_deref() && v != setting {
                        replaced.push((x.span, format!("default={}", dq(setting))));
                    }
                } else if let (Some(v), Some(t)) = (x.text.strip_prefix("timeout="), timeout) {
                    if v != t.to_string() {
                        replaced.push((x.span, format!("timeout={t}")));
                    }
                }
            }
            if !replaced.is_empty() {
                let mut last = 0;
                for ((s, e), new) in replaced {
                    out.push_str(content.get(last..s).unwrap_or(""));
                    out.push_str(&new);
                    last = e;
                }
                out.push_str(content.get(last..).unwrap_or(""));
                out.push_str(eol);
                continue;
            }
        }
        out.push_str(line);
    }
    GrubCfgEdit {
        text: out,
        uses_saved_entry: uses_saved,
    }
}

/// grubenv `saved_entry` (1024 bytes kept). `next_entry` (a one-time boot) is cleared.
pub fn edit_grubenv(data: &[u8], saved_entry: &str) -> Result<Vec<u8>, grubenv::GrubenvError> {
    let mut g = grubenv::Grubenv::parse(data)?;
    let unchanged =
        g.get("saved_entry") == Some(saved_entry) && g.get("next_entry").is_none_or(str::is_empty);
    if unchanged && grubenv::Grubenv::check(data).is_ok() {
        return Ok(data.to_vec());
    }
    g.set("saved_entry", saved_entry);
    if g.get("next_entry").is_some() {
        g.set("next_entry", "");
    }
    g.to_bytes()
}

/// grubenv with `next_entry` (a pending one-time boot) emptied, as GRUB itself does once it
/// boots it; everything else kept. Unchanged when there is none.
pub fn clear_next_entry(data: &[u8]) -> Result<Vec<u8>, grubenv::GrubenvError> {
    let mut g = grubenv::Grubenv::parse(data)?;
    if g.get("next_entry").is_none_or(str::is_empty) {
        return Ok(data.to_vec());
    }
    g.set("next_entry", "");
    g.to_bytes()
}

/// A new grubenv holding only `saved_entry` (when the guest has none).
pub fn new_grubenv(saved_entry: &str) -> Result<Vec<u8>, grubenv::GrubenvError> {
    let mut g = grubenv::Grubenv::default();
    g.set("saved_entry", saved_entry);
    g.to_bytes()
}

/// `/etc/default/grub`: `GRUB_DEFAULT` (kept as `saved` when it is — grubenv carries the
/// choice then) and `GRUB_TIMEOUT`; appended when missing.
pub fn edit_default_grub(text: &str, setting: Option<&str>, timeout: Option<u32>) -> String {
    if shellvars::has_unterminated_quote(text) {
        // the shell cannot read this file; nothing appended would be seen either
        return text.to_string();
    }
    let vars = shellvars::parse(text);
    let mut edits: Vec<((usize, usize), String)> = Vec::new();
    let mut seen_default = false;
    let mut seen_timeout = false;
    for a in &vars {
        match (a.key.as_str(), setting, timeout) {
            ("GRUB_DEFAULT", Some(s), _) => {
                seen_default = true;
                if a.value != "saved" && a.value != s {
                    edits.push((a.value_span, dq(s)));
                }
            }
            ("GRUB_TIMEOUT", _, Some(t)) => {
                seen_timeout = true;
                if a.value != t.to_string() {
                    edits.push((a.value_span, t.to_string()));
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut last = 0;
    for ((s, e), new) in edits {
        out.push_str(text.get(last..s).unwrap_or(""));
        out.push_str(&new);
        last = e;
    }
    out.push_str(text.get(last..).unwrap_or(""));
    let mut append = |line: String| {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    };
    if let (false, Some(s)) = (seen_default, setting) {
        append(format!("GRUB_DEFAULT={}\n", dq(s)));
    }
    if let (false, Some(t)) = (seen_timeout, timeout) {
        append(format!("GRUB_TIMEOUT={t}\n"));
    }
    out
}

/// GRUB legacy: `default N` and `timeout N` (keeping `key value` or `key=value` style);
/// inserted before the first `title` when missing.
pub fn edit_menu_lst(text: &str, index: usize, timeout: Option<u32>) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut seen_default = false;
    let mut seen_timeout = false;
    let mut in_entries = false;
    let idx = index.to_string();
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let kv = legacy::key_value(content);
        let key = kv.map(|(k, _)| k);
        if key == Some("title") && !in_entries {
            in_entries = true;
            if !seen_default {
                out.push_str(&format!("default={idx}\n"));
                seen_default = true;
            }
            if let (false, Some(t)) = (seen_timeout, timeout) {
                out.push_str(&format!("timeout={t}\n"));
                seen_timeout = true;
            }
        }
        let new_value = match (key, in_entries) {
            (Some("default"), false) => {
                seen_default = true;
                Some(idx.clone())
            }
            (Some("timeout"), false) => {
                seen_timeout = true;
                timeout.map(|t| t.to_string())
            }
            _ => None,
        };
        match (new_value, kv) {
            (Some(nv), Some((_, v))) if v != nv => {
                // the value is the last thing on the line
                let end = content.trim_end().len();
                let start = end - v.len();
                out.push_str(content.get(..start).unwrap_or(""));
                out.push_str(&nv);
                out.push_str(content.get(end..).unwrap_or(""));
                out.push_str(eol);
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_lst_styles() {
        let t = "default 0\ntimeout 5\ntitle a\n\tkernel /a\ntitle b\n\tkernel /b\n";
        let n = edit_menu_lst(t, 1, Some(1));
        assert_eq!(
            n,
            "default 1\ntimeout 1\ntitle a\n\tkernel /a\ntitle b\n\tkernel /b\n"
        );
        assert_eq!(edit_menu_lst(&n, 1, Some(1)), n);
        let t = "# c\ntitle a\n";
        assert_eq!(
            edit_menu_lst(t, 0, Some(3)),
            "# c\ndefault=0\ntimeout=3\ntitle a\n"
        );
    }

    #[test]
    fn grubenv_saved_entry() {
        let b = new_grubenv("x").unwrap();
        let n = edit_grubenv(&b, "rhel-5.14.0").unwrap();
        assert_eq!(n.len(), 1024);
        assert_eq!(
            grubenv::Grubenv::parse(&n).unwrap().get("saved_entry"),
            Some("rhel-5.14.0")
        );
        assert_eq!(edit_grubenv(&n, "rhel-5.14.0").unwrap(), n);
    }
}
