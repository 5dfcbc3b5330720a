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
    /// For a `resume=` device that is not in the image: the UUID of the swap to resume from
    /// instead; with `None` the parameter is dropped (no initramfs then waits for a device
    /// that will never come).
    pub resume_swap: Option<&'a str>,
    /// For a `root=` device that is not in the image: the UUID of the root filesystem this
    /// guest was found on (the one its command lines boot); `None` leaves it.
    pub root_uuid: Option<&'a str>,
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
        let (mut start, mut end) = p.span;
        if let Some(v) = &p.value {
            if DEVICE_PARAMS.contains(&p.key.as_str()) && is_device(v) {
                match ((e.resolve)(v), p.key.as_str(), e.resume_swap) {
                    (SpecResolution::Uuid(u), ..) => new_text = Some(format!("{}=UUID={u}", p.key)),
                    (SpecResolution::NotInImage, "resume", Some(u)) => {
                        new_text = Some(format!("resume=UUID={u}"))
                    }
                    (SpecResolution::NotInImage, "root", _) => {
                        if let Some(u) = e.root_uuid {
                            new_text = Some(format!("root=UUID={u}"))
                        }
                    }
                    (SpecResolution::NotInImage, "resume", None) => {
                        // dropped, with the white space before it (after it, at the start)
                        let before = cmdline.get(last..start).unwrap_or("");
                        start -= before.len() - before.trim_end().len();
                        if start == 0 {
                            let after = cmdline.get(end..).unwrap_or("");
                            end += after.len() - after.trim_start().len();
                        }
                        new_text = Some(String::new());
                    }
                    _ => {}
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
            out.push_str(cmdline.get(last..start).unwrap_or(""));
            out.push_str(&t);
            last = end;
        }
    }
    out.push_str(cmdline.get(last..).unwrap_or(""));
    // With no console on the line, the rule's consoles are appended in its order like any
    // parameter (the last one ends up last); otherwise `consoles` places them.
    let has_console = ps.iter().any(|p| p.key == "console");
    for a in e.add {
        let (ak, _) = a.split_once('=').unwrap_or((a, ""));
        if replaced.contains(a) || (ak == "console" && has_console) {
            continue;
        }
        if !ps.iter().any(|p| p.key == ak) {
            append(&mut out, a);
        }
    }
    consoles(out, e.add)
}

/// Append a parameter before any trailing white space.
fn append(out: &mut String, param: &str) {
    let tail = out.split_off(out.trim_end().len());
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(param);
    out.push_str(&tail);
}

/// The device a `console=` value names (`ttyS0` of `ttyS0,115200n8`).
fn console_device(v: &str) -> &str {
    v.split(',').next().unwrap_or(v)
}

/// The consoles the rule asks for, in the order the kernel must see them: the kernel makes the
/// LAST `console=` the primary one (where boot messages and the login go), so the rule's last
/// console must end up last. A console on a device already named (`console=ttyS0` for
/// `console=ttyS0,115200n8`) counts as present and is never duplicated; a missing one goes
/// before the primary console when that is already last, and the primary console is moved to
/// the end when another console follows it (issue 23).
fn consoles(cmdline: String, add: &[&str]) -> String {
    let wanted: Vec<&str> = add
        .iter()
        .filter_map(|a| a.strip_prefix("console="))
        .collect();
    let Some(primary) = wanted.last().map(|v| console_device(v)) else {
        return cmdline;
    };
    let ps = params(&cmdline);
    let present: Vec<&crate::guest::linux::cmdline::Param> =
        ps.iter().filter(|p| p.key == "console").collect();
    let has = |dev: &str| {
        present
            .iter()
            .any(|p| p.value.as_deref().map(console_device) == Some(dev))
    };
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|v| console_device(v) != primary && !has(console_device(v)))
        .copied()
        .collect();
    let last_dev = present
        .last()
        .and_then(|p| p.value.as_deref())
        .map(console_device);
    let inserted: String = missing.iter().map(|v| format!("console={v} ")).collect();
    if last_dev == Some(primary) {
        // the primary is last already: the missing ones go just before it
        let Some(p) = present.last() else {
            return cmdline;
        };
        if missing.is_empty() {
            return cmdline;
        }
        let mut out = cmdline.clone();
        out.insert_str(p.span.0, &inserted);
        return out;
    }
    // The primary is missing, or another console follows it: it goes (back) to the end.
    let mut out = cmdline.clone();
    let mut primary_text = format!("console={}", wanted.last().copied().unwrap_or(primary));
    if let Some(p) = present
        .iter()
        .rev()
        .find(|p| p.value.as_deref().map(console_device) == Some(primary))
    {
        primary_text = cmdline.get(p.span.0..p.span.1).unwrap_or("").to_string();
        // remove it with the white space before it (or after it, at the start)
        let (mut a, mut b) = p.span;
        let before = cmdline.get(..a).unwrap_or("");
        let ws = before.len() - before.trim_end().len();
        if ws > 0 {
            a -= ws;
        } else {
            let after = cmdline.get(b..).unwrap_or("");
            b += after.len() - after.trim_start().len();
        }
        out.replace_range(a..b, "");
    }
    for v in &missing {
        append(&mut out, &format!("console={v}"));
    }
    append(&mut out, &primary_text);
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
    edit_grub_defaults(text, e, true)
}

/// A drop-in of `/etc/default/grub.d/` (sourced after `/etc/default/grub`, so its assignments
/// win): the assignments it makes are edited like [`edit_default_grub`]'s; nothing is added.
pub fn edit_default_grub_dropin(text: &str, e: &CmdlineEdit) -> String {
    edit_grub_defaults(text, e, false)
}

/// The parameters of `add` that `default_cmdline` (the effective `GRUB_CMDLINE_LINUX_DEFAULT`,
/// which update-grub puts after `GRUB_CMDLINE_LINUX`) does not already give: a console on a
/// device it names, or a parameter it sets, is left out so that the generated command line
/// holds none twice.
pub fn not_in<'a>(add: &[&'a str], default_cmdline: &str) -> Vec<&'a str> {
    let ps = params(default_cmdline);
    add.iter()
        .copied()
        .filter(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            !ps.iter().any(|p| {
                p.key == k
                    && (k != "console"
                        || p.value.as_deref().map(console_device) == Some(console_device(v)))
            })
        })
        .collect()
}

fn edit_grub_defaults(text: &str, e: &CmdlineEdit, append_missing: bool) -> String {
    if shellvars::has_unterminated_quote(text) {
        return text.to_string();
    }
    let vars = shellvars::parse(text);
    let devices_only = CmdlineEdit {
        resolve: e.resolve,
        add: &[],
        resume_swap: e.resume_swap,
        root_uuid: e.root_uuid,
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
    if !has_linux && append_missing {
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
        resume_swap: e.resume_swap,
        root_uuid: e.root_uuid,
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

    /// Issue 23: a `resume=` device that is not in the image points at the image's swap, or
    /// is dropped when there is none; one that is found becomes its UUID.
    #[test]
    fn resume_not_in_image() {
        let nothing = |_: &str| SpecResolution::NotInImage;
        let mut e = CmdlineEdit {
            resolve: &nothing,
            add: &[],
            resume_swap: Some("5w4p"),
            root_uuid: None,
        };
        let c = "ro resume=/dev/sdb2 quiet";
        assert_eq!(edit_cmdline(c, &e), "ro resume=UUID=5w4p quiet");
        e.resume_swap = None;
        assert_eq!(edit_cmdline(c, &e), "ro quiet");
        assert_eq!(edit_cmdline("resume=/dev/sdb2 ro", &e), "ro");
        assert_eq!(edit_cmdline("ro quiet", &e), "ro quiet");
        // root= is never dropped; it becomes the guest's root when given
        assert_eq!(edit_cmdline("root=/dev/sdz1 ro", &e), "root=/dev/sdz1 ro");
        e.root_uuid = Some("r00t");
        assert_eq!(edit_cmdline("root=/dev/sdz1 ro", &e), "root=UUID=r00t ro");
    }

    /// Issue 23: the serial console stays the last (primary) console, and none is duplicated.
    #[test]
    fn serial_console_stays_last() {
        let e = CmdlineEdit {
            resolve: &res,
            add: &["console=tty0", "console=ttyS0,115200n8"],
            resume_swap: None,
            root_uuid: None,
        };
        let cases = [
            // Ubuntu cloud image: serial already last → tty0 goes before it
            (
                "ro console=ttyS0 quiet",
                "ro console=tty0 console=ttyS0 quiet",
            ),
            (
                "console=tty1 console=ttyS0",
                "console=tty1 console=tty0 console=ttyS0",
            ),
            // both present, serial last: unchanged
            (
                "console=tty0 console=ttyS0,9600",
                "console=tty0 console=ttyS0,9600",
            ),
            // serial first, tty0 last → serial moved to the end, keeping its own settings
            (
                "console=ttyS0,9600 console=tty0 quiet",
                "console=tty0 quiet console=ttyS0,9600",
            ),
            ("console=ttyS0 console=tty0", "console=tty0 console=ttyS0"),
            // no console: both added, serial last
            ("ro quiet", "ro quiet console=tty0 console=ttyS0,115200n8"),
            ("", "console=tty0 console=ttyS0,115200n8"),
            // a console on another device only
            (
                "console=hvc0",
                "console=hvc0 console=tty0 console=ttyS0,115200n8",
            ),
        ];
        for (old, want) in cases {
            let n = edit_cmdline(old, &e);
            assert_eq!(n, want, "{old}");
            assert_eq!(edit_cmdline(&n, &e), n, "settles: {old}");
            let last = params(&n).into_iter().rev().find(|p| p.key == "console");
            assert_eq!(
                last.and_then(|p| p.value)
                    .map(|v| console_device(&v).to_string()),
                Some("ttyS0".to_string())
            );
        }
    }

    #[test]
    fn cmdline_rules() {
        let e = CmdlineEdit {
            resolve: &res,
            add: &["console=ttyS0,115200n8", "net.ifnames=0", "biosdevname=0"],
            resume_swap: None,
            root_uuid: None,
        };
        assert_eq!(
            edit_cmdline("console=ttyS0 quiet", &e),
            "console=ttyS0 quiet net.ifnames=0 biosdevname=0"
        );
        let c = "ro root=/dev/sda1  resume=/dev/sda2 console=tty0 net.ifnames=1 quiet";
        let n = edit_cmdline(c, &e);
        assert_eq!(
            n,
            "ro root=UUID=aaaa  resume=UUID=bbbb console=tty0 net.ifnames=0 quiet biosdevname=0 console=ttyS0,115200n8"
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
                    add: &[],
                    resume_swap: None,
                    root_uuid: None,
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
            resume_swap: None,
            root_uuid: None,
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
