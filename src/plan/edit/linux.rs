//! Every MOD-L2/L3/L4 edit of one Linux guest root, planned in one call: fstab and crypttab,
//! the kernel command lines and default entry in every GRUB file (grub.cfg, grubenv, BLS
//! entries, /etc/default/grub, menu.lst), and the network configuration in every flavour.
//! Pure: reads through [`GuestFiles`], returns the edits (old and new bytes, unified diff,
//! notes); applying them is the caller's business.

use super::cmdline::{self, CmdlineEdit};
use super::fstab::{SpecResolution, edit_crypttab, edit_fstab};
use super::grub as gedit;
use super::network::{self as enet, FileEdit, NetEdit};
use crate::guest::linux::files::GuestFiles;
use crate::guest::linux::grub::{self, LoaderKind, bls, default_grub};
use crate::guest::linux::network::{ifcfg_rh, ifcfg_suse, ifupdown, keyfile, netplan};
use crate::plan::diff::unified;

/// What to change.
pub struct LinuxEditParams<'a> {
    /// Device spec → filesystem UUID in this image (MOD-L3; also for `root=`/`resume=`).
    pub resolve: &'a dyn Fn(&str) -> SpecResolution,
    /// fstab types to disable (see [`super::fstab::DEFAULT_DISABLED_TYPES`]).
    pub disabled_fs_types: &'a [&'a str],
    /// Kernel parameters to ensure (`console=ttyS0,115200n8`, `net.ifnames=0`, `biosdevname=0`).
    pub kernel_params: &'a [&'a str],
    /// Make the entry booting this kernel version the default (MOD-L4); `None` keeps it.
    pub default_kernel: Option<&'a str>,
    /// Boot menu timeout in seconds (MOD-L4); `None` keeps it.
    pub timeout: Option<u32>,
    /// Network edit (MOD-L2); `None` leaves the network configuration alone.
    pub network: Option<NetEdit<'a>>,
}

/// One planned file change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEdit {
    pub path: String,
    /// When the file is renamed (network config following an interface rename).
    pub new_path: Option<String>,
    /// `None` when the file is created.
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
    /// `diff -u` style, `--- a/PATH` / `+++ b/PATH`.
    pub diff: String,
    pub notes: Vec<String>,
}

struct Planner<'f> {
    files: &'f dyn GuestFiles,
    out: Vec<PlannedEdit>,
}

impl Planner<'_> {
    fn text(&self, path: &str) -> Option<String> {
        self.files.read_string(path)
    }
    fn push(
        &mut self,
        path: &str,
        new_path: Option<String>,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        notes: Vec<String>,
    ) {
        if old.as_deref() == Some(new.as_slice()) && new_path.is_none() {
            return;
        }
        let o = old
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let n = String::from_utf8_lossy(&new);
        let mut diff = unified(new_path.as_deref().unwrap_or(path), &o, &n);
        if let Some(np) = &new_path {
            diff = format!("rename {path} → {np}\n{diff}");
        }
        self.out.push(PlannedEdit {
            path: path.to_string(),
            new_path,
            old,
            new,
            diff,
            notes,
        });
    }
    fn push_text(&mut self, path: &str, old: &str, new: String, notes: Vec<String>) {
        self.push(
            path,
            None,
            Some(old.as_bytes().to_vec()),
            new.into_bytes(),
            notes,
        );
    }
    fn push_file_edit(&mut self, old: &str, e: FileEdit) {
        self.push(
            &e.path,
            e.new_path,
            Some(old.as_bytes().to_vec()),
            e.text.into_bytes(),
            e.notes,
        );
    }
}

/// Plan every edit for the guest root.
pub fn plan(files: &dyn GuestFiles, p: &LinuxEditParams) -> Vec<PlannedEdit> {
    let mut pl = Planner {
        files,
        out: Vec::new(),
    };
    // MOD-L3
    if let Some(t) = pl.text("/etc/fstab") {
        let e = edit_fstab(&t, p.resolve, p.disabled_fs_types);
        let notes = e
            .notes
            .iter()
            .map(|n| format!("/etc/fstab line {}: {}", n.line, n.message))
            .collect();
        pl.push_text("/etc/fstab", &t, e.text, notes);
    }
    if let Some(t) = pl.text("/etc/crypttab") {
        let e = edit_crypttab(&t, p.resolve);
        let notes = e
            .notes
            .iter()
            .map(|n| format!("/etc/crypttab line {}: {}", n.line, n.message))
            .collect();
        pl.push_text("/etc/crypttab", &t, e.text, notes);
    }
    plan_boot(&mut pl, p);
    if let Some(n) = &p.network {
        plan_network(&mut pl, n);
    }
    pl.out
}

fn plan_boot(pl: &mut Planner, p: &LinuxEditParams) {
    let ce = CmdlineEdit {
        resolve: p.resolve,
        add: p.kernel_params,
    };
    let boot = grub::inspect(pl.files);
    // the target default entry
    let target = boot.as_ref().and_then(|b| {
        let kv = p.default_kernel?;
        let i = b
            .entries
            .iter()
            .position(|e| e.kernel_version.as_deref() == Some(kv))?;
        Some((i, b))
    });
    let setting = target.and_then(|(i, b)| gedit::default_setting_for(&b.entries, i));
    let mut notes_missing = Vec::new();
    if let (Some(kv), None) = (p.default_kernel, &setting) {
        notes_missing.push(format!(
            "no boot entry boots kernel {kv}; the default entry is unchanged"
        ));
    }
    if let Some(b) = &boot {
        match b.kind {
            LoaderKind::Grub2 | LoaderKind::Grub2Bls => {
                let path = b.config_path.clone();
                if let Some(t) = pl.text(&path) {
                    let c1 = cmdline::edit_grub_cfg(&t, &ce);
                    let grub2_setting = setting.as_deref().filter(|_| b.kind == LoaderKind::Grub2);
                    let d = gedit::edit_grub_cfg_with(&c1, grub2_setting, p.timeout);
                    let (new, uses_saved) =
                        (d.text, d.uses_saved_entry || b.kind == LoaderKind::Grub2Bls);
                    let mut notes = notes_missing.clone();
                    if let Some(s) = &setting {
                        notes.push(format!("default boot entry: {s}"));
                    }
                    pl.push_text(&path, &t, new, notes);
                    // grubenv: saved_entry (when grub.cfg reads it) and kernelopts
                    let env_path = b.grubenv_path.clone().unwrap_or_else(|| {
                        format!(
                            "{}/grubenv",
                            path.rsplit_once('/').map(|x| x.0).unwrap_or("/boot/grub2")
                        )
                    });
                    let saved = match (b.kind, target) {
                        (LoaderKind::Grub2Bls, Some((i, bb))) => bb
                            .entries
                            .get(i)
                            .and_then(|e| e.levels.first())
                            .and_then(|l| l.id.clone()),
                        (_, Some(_)) if uses_saved => setting.clone(),
                        _ => None,
                    };
                    let old_env = pl.files.read(&env_path);
                    let mut env = old_env.clone();
                    if let Some(e) = &env {
                        if let Ok(n) = cmdline::edit_grubenv(e, &ce) {
                            env = Some(n);
                        }
                    }
                    if let Some(s) = &saved {
                        env = match &env {
                            Some(e) => gedit::edit_grubenv(e, s).ok().or(env.clone()),
                            None => gedit::new_grubenv(s).ok(),
                        };
                    }
                    if let Some(n) = env {
                        pl.push(&env_path, None, old_env, n, Vec::new());
                    }
                }
                if b.kind == LoaderKind::Grub2Bls {
                    for n in pl.files.list(bls::ENTRIES_DIR) {
                        if !n.ends_with(".conf") {
                            continue;
                        }
                        let path = format!("{}/{n}", bls::ENTRIES_DIR);
                        if let Some(t) = pl.text(&path) {
                            let new = cmdline::edit_bls(&t, &ce);
                            pl.push_text(&path, &t, new, Vec::new());
                        }
                    }
                }
            }
            LoaderKind::GrubLegacy => {
                let path = b.config_path.clone();
                if let Some(t) = pl.text(&path) {
                    let c1 = cmdline::edit_menu_lst(&t, &ce);
                    let new = match target {
                        Some((i, _)) => gedit::edit_menu_lst(&c1, i, p.timeout),
                        None => match p.timeout {
                            Some(_) => {
                                let cur = b.default.as_ref().ok().copied().unwrap_or(0);
                                gedit::edit_menu_lst(&c1, cur, p.timeout)
                            }
                            None => c1,
                        },
                    };
                    pl.push_text(&path, &t, new, notes_missing.clone());
                }
            }
        }
    }
    // /etc/default/grub (what grub-mkconfig regenerates grub.cfg from)
    if let Some(t) = pl.text(default_grub::PATH) {
        let c1 = cmdline::edit_default_grub(&t, &ce);
        let new = gedit::edit_default_grub(&c1, setting.as_deref(), p.timeout);
        let mut notes = Vec::new();
        for (line, what) in default_grub::problems(&t) {
            notes.push(format!(
                "{}: line {line} runs `{what}` as a command; fix the quoting",
                default_grub::PATH
            ));
        }
        pl.push_text(default_grub::PATH, &t, new, notes);
    }
}

fn plan_network(pl: &mut Planner, n: &NetEdit) {
    // RHEL ifcfg + route files
    for f in pl.files.list(ifcfg_rh::DIR) {
        let path = format!("{}/{f}", ifcfg_rh::DIR);
        if ifcfg_rh::is_backup(&f) {
            continue;
        }
        let Some(t) = pl.text(&path) else { continue };
        if f.starts_with("ifcfg-") {
            let e = enet::ifcfg::edit(&path, &t, enet::ifcfg::Dialect::Rh, n);
            pl.push_file_edit(&t, e);
        } else if f.starts_with("route-") || f.starts_with("route6-") {
            let e = enet::ifcfg::edit_routes(&path, &t, n);
            pl.push_file_edit(&t, e);
        }
    }
    // SUSE
    for f in pl.files.list(ifcfg_suse::DIR) {
        let path = format!("{}/{f}", ifcfg_suse::DIR);
        if ifcfg_rh::is_backup(&f) {
            continue;
        }
        let Some(t) = pl.text(&path) else { continue };
        if f.starts_with("ifcfg-") {
            let e = enet::ifcfg::edit(&path, &t, enet::ifcfg::Dialect::Suse, n);
            pl.push_file_edit(&t, e);
        } else if f.starts_with("ifroute-") || f == "routes" {
            let e = enet::ifcfg::edit_routes(&path, &t, n);
            pl.push_file_edit(&t, e);
        }
    }
    // ifupdown
    for (path, t) in ifupdown::files_in_use(pl.files) {
        let e = enet::ifupdown::edit(&path, &t, n);
        pl.push_file_edit(&t, e);
    }
    // netplan (only /etc: /run is not on the disk, /lib is the vendor's)
    for path in netplan::files_in_use(pl.files)
        .into_iter()
        .filter(|p| p.starts_with("/etc/"))
    {
        let Some(t) = pl.text(&path) else { continue };
        match enet::netplan::edit(&path, &t, n) {
            Ok(e) => pl.push_file_edit(&t, e),
            Err(err) => pl.out.push(PlannedEdit {
                path: path.clone(),
                new_path: None,
                old: Some(t.clone().into_bytes()),
                new: t.into_bytes(),
                diff: String::new(),
                notes: vec![format!(
                    "{path}: not edited: {err}; convert it to DHCP by hand"
                )],
            }),
        }
    }
    // NetworkManager keyfiles
    for d in keyfile::DIRS.iter().filter(|d| d.starts_with("/etc/")) {
        for f in pl.files.list(d) {
            let path = format!("{d}/{f}");
            let Some(t) = pl.text(&path) else { continue };
            if t.contains("[connection]") {
                let e = enet::keyfile::edit(&path, &t, n);
                pl.push_file_edit(&t, e);
            }
        }
    }
    // systemd-networkd units in /etc
    for f in pl.files.list("/etc/systemd/network") {
        if !f.ends_with(".network") {
            continue;
        }
        let path = format!("/etc/systemd/network/{f}");
        if let Some(t) = pl.text(&path) {
            let e = enet::networkd::edit(&path, &t, n);
            pl.push_file_edit(&t, e);
        }
    }
    // LNX-4: MAC-bound names
    if let Some(t) = pl.text(enet::udev::PATH) {
        let e = enet::udev::edit(enet::udev::PATH, &t);
        pl.push_file_edit(&t, e);
    }
}
