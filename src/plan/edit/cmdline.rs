//! Kernel command line edits: `root=`/`resume=` device names → `UUID=` (MOD-L3's rule applied
//! to the boot loader, so the root is found after the disk is renamed), and parameters added
//! where the plan says so (`console=ttyS0,115200n8`, `net.ifnames=0 biosdevname=0` for LNX-4)
//! without duplicating them. Applied to every place a command line lives: grub.cfg `linux`
//! lines and its `kernelopts` fallback, `/etc/default/grub` `GRUB_CMDLINE_LINUX(_DEFAULT)`, BLS
//! `options`, grubenv `kernelopts`, GRUB legacy `kernel` lines.

use super::fstab::SpecResolution;
use super::{split_eol, split_lines_keep};
use crate::guest::linux::cmdline::params;
use crate::guest::linux::grub::{grubenv, words};
use crate::guest::linux::shellvars;

/// Kernel parameters whose value is a device to make stable.
pub const DEVICE_PARAMS: &[&str] = &["root", "resume"];

/// What to do to a command line.
pub struct CmdlineEdit<'a> {
    /// Device spec → UUID resolver (same contract as the fstab editor).
    pub resolve: &'a dyn Fn(&str) -> SpecResolution,
    /// Parameters to ensure (`console=ttyS0,115200n8`, `net.ifnames=0`, `quiet`).
    pub add: &'a [&'a str],
}

fn is_device(v: &str) -> bool {
    v.starts_with("/dev/")
        || ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="]
            .iter()
            .any(|p| v.starts_with(p))
}

/// Edit one command line. Parameters keep their order and spacing; additions go at the end.
/// A parameter to add that is present with another value is replaced (except `console=`,
/// which may repeat: another console is added only if this exact one is missing).
pub fn edit_cmdline(cmdline: &str, e: &CmdlineEdit) -> String {
    if cmdline.matches('"').count() % 2 == 1 {
        // an unterminated quote swallows the rest of the line: editing would guess
        return cmdline.to_string();
    }
    let ps = params(cmdline);
    let mut out = String::with_capacity(cmdline.len() + 64);
    let mut last = 0;
    let mut replaced: Vec<&str> = Vec::new();
    for p in &ps {
        let mut new_text: Option<String> = None;
        if let Some(v) = &p.value {
            if DEVICE_PARAMS.contains(&p.key.as_str()) && is_device(v) {
                if let SpecResolution::Uuid(u) = (e.resolve)(v) {
                    new_text = Some(format!("{}=UUID={u}", p.key));
                }
            }
        }
        for a in e.add {
            let (ak, av) = a.split_once('=').map_or((*a, None), |(k, v)| (k, Some(v)));
            if ak == p.key && ak != "console" && av.is_some() && p.value.as_deref() != av {
                new_text = Some((*a).to_string());
                replaced.push(a);
            }
        }
        if let Some(t) = new_text {
            out.push_str(cmdline.get(last..p.span.0).unwrap_or(""));
            out.push_str(&t);
            last = p.span.1;
        }
    }
    out.push_str(cmdline.get(last..).unwrap_or(""));
    for a in e.add {
        if replaced.contains(a) {
            continue;
        }
        let (ak, av) = a.split_once('=').map_or((*a, None), |(k, v)| (k, Some(v)));
        // a console on the same device (`console=ttyS0` vs `console=ttyS0,115200n8`) counts
        let device = |v: Option<&str>| v.map(|v| v.split(',').next().unwrap_or(v).to_string());
        let present = ps
            .iter()
            .any(|p| p.key == ak && (ak != "console" || device(p.value.as_deref()) == device(av)));
        if !present {
            let trimmed_len = out.trim_end().len();
            let tail = out.split_off(trimmed_len);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(a);
            out.push_str(&tail);
        }
    }
    out
}

/// grub.cfg: every `linux`/`linux16`/`linuxefi` line and the `set kernelopts=` fallback.
pub fn edit_grub_cfg(text: &str, e: &CmdlineEdit) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let w = words::split(content);
        let first = w.first().map(|x| x.text.as_str()).unwrap_or("");
        if matches!(first, "linux" | "linux16" | "linuxefi") {
            if let Some(a) = w.get(2) {
                let head = content.get(..a.span.0).unwrap_or("");
                let args = content.get(a.span.0..).unwrap_or("");
                let body = args.trim_end();
                let trail = args.get(body.len()..).unwrap_or("");
                out.push_str(head);
                out.push_str(&edit_cmdline(body, e));
                out.push_str(trail);
                out.push_str(eol);
                continue;
            }
        }
        // `  set kernelopts="root=… "` (RHEL 8 fallback next to blscfg)
        if let Some(i) = w.iter().position(|x| x.text.starts_with("kernelopts=")) {
            let x = &w[i];
            if i == 1 && first == "set" {
                let value = x.text.trim_start_matches("kernelopts=");
                let new = edit_cmdline(value, e);
                if new != value {
                    out.push_str(content.get(..x.span.0).unwrap_or(""));
                    out.push_str(&format!("kernelopts=\"{}\"", new.replace('"', "\\\"")));
                    out.push_str(content.get(x.span.1..).unwrap_or(""));
                    out.push_str(eol);
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    out
}

/// Re-write a shell value keeping its quoting style.
fn requote(original: &str, new: &str) -> String {
    if original.starts_with('\'') && !new.contains('\'') {
        format!("'{new}'")
    } else if original.starts_with('"') || new.contains([' ', '$', '"', '\'', '\\']) {
        let mut s = String::from("\"");
        for c in new.chars() {
            if matches!(c, '"' | '\\' | '$' | '`') {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
        s
    } else {
        shellvars::quote(new)
    }
}

/// `/etc/default/grub`: devices in both `GRUB_CMDLINE_LINUX` and `GRUB_CMDLINE_LINUX_DEFAULT`;
/// additions go to `GRUB_CMDLINE_LINUX` (which also applies to recovery entries), which is
/// appended when missing.
pub fn edit_default_grub(text: &str, e: &CmdlineEdit) -> String {
    if shellvars::has_unterminated_quote(text) {
        return text.to_string();
    }
    let vars = shellvars::parse(text);
    let devices_only = CmdlineEdit {
        resolve: e.resolve,
        add: &[],
    };
    let mut edits: Vec<((usize, usize), String)> = Vec::new();
    let mut has_linux = false;
    for a in &vars {
        let which = match a.key.as_str() {
            "GRUB_CMDLINE_LINUX" => {
                has_linux = true;
                e
            }
            "GRUB_CMDLINE_LINUX_DEFAULT" => &devices_only,
            _ => continue,
        };
        // only the last assignment counts; edit every one so that none re-adds a device name
        let new = edit_cmdline(&a.value, which);
        if new != a.value {
            let orig = text.get(a.value_span.0..a.value_span.1).unwrap_or("");
            edits.push((a.value_span, requote(orig, &new)));
        }
    }
    let mut out = String::with_capacity(text.len() + 128);
    let mut last = 0;
    for ((s, t), new) in edits {
        out.push_str(text.get(last..s).unwrap_or(""));
        out.push_str(&new);
        last = t;
    }
    out.push_str(text.get(last..).unwrap_or(""));
    if !has_linux {
        let new = edit_cmdline("", e);
        if !new.is_empty() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("GRUB_CMDLINE_LINUX={}\n", requote("\"", &new)));
        }
    }
    out
}

/// A BLS entry: its `options` line(s). When options use `$kernelopts`, additions belong in
/// grubenv's `kernelopts` (edited separately), so only devices are changed here.
pub fn edit_bls(text: &str, e: &CmdlineEdit) -> String {
    let uses_var = text
        .lines()
        .any(|l| l.trim_start().starts_with("options") && l.contains("$kernelopts"));
    let devices_only = CmdlineEdit {
        resolve: e.resolve,
        add: &[],
    };
    let which = if uses_var { &devices_only } else { e };
    let mut done = false;
    let mut out = String::with_capacity(text.len() + 128);
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let t = content.trim_start();
        if let Some(rest) = t.strip_prefix("options") {
            if rest.starts_with([' ', '\t']) || rest.is_empty() {
                let lead = content.len() - t.len();
                let value = rest.trim_start();
                let sep = &rest[..rest.len() - value.len()];
                let edit = if done { &devices_only } else { which };
                let new = edit_cmdline(value.trim_end(), edit);
                let trail = &value[value.trim_end().len()..];
                out.push_str(&content[..lead]);
                out.push_str("options");
                out.push_str(if sep.is_empty() { " " } else { sep });
                out.push_str(&new);
                out.push_str(trail);
                out.push_str(eol);
                done = true;
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// grubenv `kernelopts` (RHEL 8). The block stays 1024 bytes.
pub fn edit_grubenv(data: &[u8], e: &CmdlineEdit) -> Result<Vec<u8>, grubenv::GrubenvError> {
    let mut g = grubenv::Grubenv::parse(data)?;
    let Some(k) = g.get("kernelopts").map(str::to_string) else {
        return Ok(data.to_vec());
    };
    let new = edit_cmdline(&k, e);
    if new == k {
        return Ok(data.to_vec());
    }
    g.set("kernelopts", &new);
    g.to_bytes()
}

/// GRUB legacy menu.lst / grub.conf `kernel PATH ARGS` lines.
pub fn edit_menu_lst(text: &str, e: &CmdlineEdit) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in split_lines_keep(text) {
        let (content, eol) = split_eol(line);
        let t = content.trim_start();
        if let Some(rest) = t.strip_prefix("kernel") {
            if rest.starts_with([' ', '\t', '=']) {
                let lead = content.len() - t.len() + "kernel".len();
                // skip separator and the kernel path
                let after_sep = rest.trim_start_matches([' ', '\t', '=']);
                let path_end = after_sep.find([' ', '\t']).unwrap_or(after_sep.len());
                let args_start = lead + (rest.len() - after_sep.len()) + path_end;
                let args_all = content.get(args_start..).unwrap_or("");
                let args = args_all.trim_start();
                let gap = &args_all[..args_all.len() - args.len()];
                let body = args.trim_end();
                let trail = &args[body.len()..];
                let new = edit_cmdline(body, e);
                out.push_str(content.get(..args_start).unwrap_or(""));
                out.push_str(if gap.is_empty() && !new.is_empty() {
                    " "
                } else {
                    gap
                });
                out.push_str(&new);
                out.push_str(trail);
                out.push_str(eol);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(s: &str) -> SpecResolution {
        match s {
            "/dev/sda1" => SpecResolution::Uuid("aaaa".into()),
            "/dev/sda2" => SpecResolution::Uuid("bbbb".into()),
            _ => SpecResolution::AlreadyStable,
        }
    }

    #[test]
    fn cmdline_rules() {
        let e = CmdlineEdit {
            resolve: &res,
            add: &["console=ttyS0,115200n8", "net.ifnames=0", "biosdevname=0"],
        };
        assert_eq!(
            edit_cmdline("console=ttyS0 quiet", &e),
            "console=ttyS0 quiet net.ifnames=0 biosdevname=0"
        );
        let c = "ro root=/dev/sda1  resume=/dev/sda2 console=tty0 net.ifnames=1 quiet";
        let n = edit_cmdline(c, &e);
        assert_eq!(
            n,
            "ro root=UUID=aaaa  resume=UUID=bbbb console=tty0 net.ifnames=0 quiet console=ttyS0,115200n8 biosdevname=0"
        );
        assert_eq!(edit_cmdline(&n, &e), n);
        assert_eq!(
            edit_cmdline("", &e),
            "console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
        );
        // /dev/mapper names are stable (resolver says so) and stay
        assert_eq!(
            edit_cmdline(
                "root=/dev/mapper/vg-root ro",
                &CmdlineEdit {
                    resolve: &res,
                    add: &[]
                }
            ),
            "root=/dev/mapper/vg-root ro"
        );
    }

    #[test]
    fn default_grub_quoting() {
        let e = CmdlineEdit {
            resolve: &res,
            add: &["net.ifnames=0"],
        };
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet resume=/dev/sda2\"\nGRUB_CMDLINE_LINUX=\"\"\n";
        let n = edit_default_grub(t, &e);
        assert_eq!(
            n,
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet resume=UUID=bbbb\"\nGRUB_CMDLINE_LINUX=\"net.ifnames=0\"\n"
        );
        assert_eq!(edit_default_grub(&n, &e), n);
        assert_eq!(
            edit_default_grub("GRUB_TIMEOUT=5\n", &e),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"net.ifnames=0\"\n"
        );
    }
}
