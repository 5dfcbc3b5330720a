//! GRUB 2 `grub.cfg` as written by grub-mkconfig: menu entries and submenus (with their
//! `linux`/`initrd` lines), `set default=` (numeric, title, id or `${saved_entry}`),
//! `set timeout=`, the `blscfg` command (entries come from /boot/loader/entries) and the
//! `kernelopts` fallback RHEL 8 writes next to it.

use super::words::{self, Word};
use super::{BootEntry, MenuLevel, kernel_version_of};

/// Deepest menu nesting accepted (GRUB configs nest 2 levels; bounds work on hostile input).
const MAX_DEPTH: usize = 64;

/// What a parsed grub.cfg says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grub2Cfg {
    /// The bootable entries, in menu order.
    pub entries: Vec<BootEntry>,
    /// The `set default=` that decides the default (see [`parse`]).
    pub default: Option<String>,
    /// The `set timeout=` value.
    pub timeout: Option<String>,
    /// Top-level menu position where `blscfg` inserts the BLS entries, when used.
    pub bls_position: Option<usize>,
    /// `set kernelopts="…"` written as a fallback when grubenv has none (RHEL 8).
    pub kernelopts_fallback: Option<String>,
    /// Unbalanced `{`/`}` (a damaged file).
    pub unbalanced: bool,
    /// Variables set outside entries (`set tuned_params=""` …), for expanding entry lines.
    pub vars: Vec<(String, String)>,
    /// The config boots grubenv's `next_entry` once when it is set
    /// (`if [ "${next_entry}" ] ; then set default="${next_entry}" …`).
    pub honours_next_entry: bool,
}

enum Frame {
    Submenu { level: MenuLevel, children: usize },
    Entry(Box<BootEntry>),
    Block,
}

/// The `--id` of a menuentry line (`--id x`, `--id=x`, or `$menuentry_id_option 'x'`).
fn entry_id(w: &[Word]) -> Option<String> {
    let mut it = w.iter().peekable();
    while let Some(x) = it.next() {
        if let Some(v) = x.text.strip_prefix("--id=") {
            return Some(v.to_string());
        }
        if x.text == "--id"
            || x.text == "$menuentry_id_option"
            || x.text == "${menuentry_id_option}"
        {
            return it.peek().map(|n| n.text.clone());
        }
    }
    None
}

/// Value of a `set name=value` / `name=value` statement.
pub fn set_value(w: &[Word], name: &str) -> Option<String> {
    let first = w.first()?;
    let assign = if first.text == "set" {
        w.get(1)?
    } else {
        first
    };
    assign
        .text
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .map(str::to_string)
}

/// Parse a grub.cfg. The default: `set default=` statements other than `${next_entry}` (a
/// one-time boot); the one outside any `if` wins, else `${saved_entry}`, else the first.
pub fn parse(text: &str, source: &str) -> Grub2Cfg {
    let mut cfg = Grub2Cfg::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut top_count = 0usize;
    let mut if_depth = 0usize;
    let mut defaults: Vec<(String, usize)> = Vec::new();
    let mut timeouts: Vec<(String, usize)> = Vec::new();
    for line in text.lines() {
        let w = words::split(line);
        let Some(first) = w.first() else { continue };
        let in_entry = stack
            .iter()
            .any(|f| matches!(f, Frame::Entry(_) | Frame::Block));
        match first.text.as_str() {
            "menuentry" | "submenu" if !in_entry && stack.len() < MAX_DEPTH => {
                let title = w
                    .get(1)
                    .filter(|t| t.text != "{" && !t.text.starts_with("--"))
                    .map(|t| t.text.clone())
                    .unwrap_or_default();
                let index = match stack.last_mut() {
                    Some(Frame::Submenu { children, .. }) => {
                        *children += 1;
                        *children - 1
                    }
                    _ => {
                        top_count += 1;
                        top_count - 1
                    }
                };
                let level = MenuLevel {
                    index,
                    title: title.clone(),
                    id: entry_id(&w),
                };
                if first.text == "submenu" {
                    stack.push(Frame::Submenu { level, children: 0 });
                } else {
                    let mut levels: Vec<MenuLevel> = stack
                        .iter()
                        .filter_map(|f| match f {
                            Frame::Submenu { level, .. } => Some(level.clone()),
                            _ => None,
                        })
                        .collect();
                    levels.push(level);
                    stack.push(Frame::Entry(Box::new(BootEntry {
                        title,
                        levels,
                        kernel: None,
                        kernel_version: None,
                        initrd: Vec::new(),
                        cmdline: String::new(),
                        source: source.to_string(),
                    })));
                }
                if w.last().map(|x| x.text.as_str()) != Some("{") {
                    // the brace is on a following line; treat the entry as open anyway
                }
            }
            "}" => match stack.pop() {
                Some(Frame::Entry(e)) => cfg.entries.push(*e),
                Some(_) => {}
                None => cfg.unbalanced = true,
            },
            "linux" | "linux16" | "linuxefi" | "kernel" => {
                if let Some(Frame::Entry(e)) = stack.last_mut() {
                    if let Some(k) = w.get(1) {
                        e.kernel = Some(k.text.clone());
                        e.kernel_version = kernel_version_of(&k.text);
                        e.cmdline = w
                            .get(2)
                            .map(|a| line.get(a.span.0..).unwrap_or("").trim_end().to_string())
                            .unwrap_or_default();
                    }
                }
            }
            "initrd" | "initrd16" | "initrdefi" => {
                if let Some(Frame::Entry(e)) = stack.last_mut() {
                    e.initrd = w.iter().skip(1).map(|x| x.text.clone()).collect();
                }
            }
            "function" => stack.push(Frame::Block),
            "if" | "fi" | "fi;" if !in_entry => {
                // one-line `if …; then …; fi` leaves the depth unchanged
                if first.text == "if" {
                    if_depth += 1;
                }
                if w.iter().any(|x| x.text == "fi" || x.text == "fi;") {
                    if_depth = if_depth.saturating_sub(1);
                }
                if first.text == "if" {
                    if let Some(p) = w.iter().position(|x| x.text == "then") {
                        if let Some(v) = w.get(p + 1..).and_then(|st| set_value(st, "default")) {
                            defaults.push((v.trim_end_matches(';').to_string(), if_depth + 1));
                        }
                    }
                }
            }
            "blscfg" if !in_entry && stack.is_empty() => cfg.bls_position = Some(top_count),
            _ if !in_entry => {
                // `if [ … ] ; then set default=…` puts the statement after `then`
                let stmt: &[Word] =
                    match w.iter().position(|x| x.text == "then" || x.text == "else") {
                        Some(p) => w.get(p + 1..).unwrap_or(&[]),
                        None => &w,
                    };
                if let Some(v) = set_value(stmt, "default") {
                    defaults.push((v, if_depth));
                } else if let Some(v) = set_value(stmt, "timeout") {
                    timeouts.push((v, if_depth));
                } else if let Some(v) = set_value(stmt, "kernelopts") {
                    cfg.kernelopts_fallback = Some(v);
                } else if if_depth == 0 && stmt.first().is_some_and(|x| x.text == "set") {
                    if let Some((k, v)) = stmt.get(1).and_then(|a| a.text.split_once('=')) {
                        cfg.vars.push((k.to_string(), v.to_string()));
                    }
                }
            }
            _ => {}
        }
        if first.text != "menuentry"
            && first.text != "submenu"
            && first.text != "function"
            && first.text != "}"
            && w.last().map(|x| x.text.as_str()) == Some("{")
        {
            stack.push(Frame::Block);
        }
    }
    if !stack.is_empty() {
        cfg.unbalanced = true;
    }
    cfg.honours_next_entry = defaults.iter().any(|(v, _)| v == "${next_entry}");
    let candidates: Vec<&(String, usize)> = defaults
        .iter()
        .filter(|(v, _)| v != "${next_entry}")
        .collect();
    cfg.default = candidates
        .iter()
        .rev()
        .find(|(_, d)| *d == 0)
        .or_else(|| candidates.iter().find(|(v, _)| v == "${saved_entry}"))
        .or_else(|| candidates.first())
        .map(|(v, _)| v.clone());
    let min_t = timeouts.iter().map(|(_, d)| *d).min();
    cfg.timeout = timeouts
        .iter()
        .find(|(_, d)| Some(*d) == min_t)
        .map(|(v, _)| v.clone());
    cfg
}
