//! The planner: for one guest, run the profile's rules in order; each rule whose condition
//! holds runs its built-in transform with its parameters and yields changes (with diffs and
//! backups) or notes. Planning reads the guest only; running it on a fixed guest yields no
//! changes (idempotent).

use super::diff::unified;
use super::edit::{self, fstab::SpecResolution};
use super::model::{Change, Plan, PlanNote, PlannedChange};
use crate::guest::facts::{Fact, OsFacts};
use crate::guest::linux::files::GuestFiles;
use crate::guest::linux::{grub, network, shellvars};
use crate::rules::{Profile, Rule, Transform, version_matches};
use crate::volume::{Content, DiskSet};
use sha2::Digest;

/// What a transform can see.
pub struct Context<'a> {
    /// The guest's inspection facts.
    pub facts: &'a OsFacts,
    /// The guest's files (read through its mounted tree).
    pub files: &'a dyn GuestFiles,
    /// The disk set (to resolve device names to UUIDs).
    pub set: &'a DiskSet,
    /// The target profile whose rules run.
    pub profile: &'a Profile,
}

/// Errors that stop planning (a rule whose parameters are wrong).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A rule's parameters are wrong.
    #[error("rule {rule}: {message}")]
    Rule {
        /// The rule's ID.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// Plan the changes for one guest.
pub fn plan(ctx: &Context) -> Result<Plan, PlanError> {
    let mut plan = Plan {
        target: ctx.profile.settings.id.clone(),
        root: ctx.facts.root.clone(),
        ..Default::default()
    };
    for rule in &ctx.profile.rules {
        if let Some(why) = condition_fails(ctx, rule) {
            plan.skipped.push(note(rule, why));
            continue;
        }
        let before = plan.changes.len();
        let mut out = Out {
            rule,
            plan: &mut plan,
        };
        match rule.transform {
            Transform::Fstab => table(ctx, &mut out, false)?,
            Transform::Crypttab => table(ctx, &mut out, true)?,
            Transform::NetworkDhcp => network_dhcp(ctx, &mut out)?,
            Transform::KernelCmdline => kernel_cmdline(ctx, &mut out)?,
            Transform::GrubDefault => grub_default(ctx, &mut out)?,
            Transform::UefiFallback => uefi_fallback(ctx, &mut out)?,
            Transform::InitramfsDrivers => initramfs_drivers(ctx, &mut out)?,
            Transform::WindowsBootDrivers => super::windows::boot_drivers(ctx, &mut out)?,
            Transform::WindowsNetworkDhcp => super::windows::network_dhcp(ctx, &mut out)?,
            Transform::WindowsRtcUtc => super::windows::rtc_utc(ctx, &mut out)?,
            Transform::WindowsBcdEms => super::windows::bcd_ems(ctx, &mut out)?,
            Transform::WindowsUnattend => super::windows::unattend(ctx, &mut out)?,
        }
        if plan.changes.len() == before {
            plan.skipped.push(note(rule, "nothing to change".into()));
        }
    }
    Ok(plan)
}

fn note(rule: &Rule, message: String) -> PlanNote {
    PlanNote {
        rule: rule.id.clone(),
        requirement: rule.requirement.clone(),
        message,
    }
}

pub(super) struct Out<'a> {
    pub(super) rule: &'a Rule,
    pub(super) plan: &'a mut Plan,
}

impl Out<'_> {
    pub(super) fn change(&mut self, change: Change) {
        self.plan.changes.push(PlannedChange {
            rule: self.rule.id.clone(),
            requirement: self.rule.requirement.clone(),
            change,
        });
    }
    pub(super) fn note(&mut self, message: String) {
        self.plan.notes.push(note(self.rule, message));
    }
    /// Replace `path` (whose content is `old`) by `new`, keeping the original.
    fn edit(&mut self, ctx: &Context, path: &str, old: &[u8], new: Vec<u8>) {
        if old == new.as_slice() {
            return;
        }
        // A file edited twice in one plan (kernel-cmdline, then grub-default on grub.cfg) is
        // one change: later edits build on the earlier one.
        if let Some(pc) = self
            .plan
            .changes
            .iter_mut()
            .find(|c| matches!(&c.change, Change::EditFile { path: p, .. } if p == path))
        {
            if let Change::EditFile {
                old, new: n, diff, ..
            } = &mut pc.change
            {
                *diff = unified(
                    path,
                    &String::from_utf8_lossy(old),
                    &String::from_utf8_lossy(&new),
                );
                *n = new;
                pc.rule = format!("{}+{}", pc.rule, self.rule.id);
                if !pc.requirement.contains(&self.rule.requirement) {
                    pc.requirement = format!("{}+{}", pc.requirement, self.rule.requirement);
                }
            }
            return;
        }
        let backup = self.backup(ctx, path);
        let diff = unified(
            path,
            &String::from_utf8_lossy(old),
            &String::from_utf8_lossy(&new),
        );
        self.change(Change::EditFile {
            path: path.to_string(),
            old: old.to_vec(),
            new,
            backup,
            diff,
        });
    }
    /// Where the original of `path` is kept (the profile's pattern), or None (with a note) when
    /// a file is already there.
    pub(super) fn backup(&mut self, ctx: &Context, path: &str) -> Option<String> {
        let backup = ctx.profile.backup_path(path);
        if ctx.files.exists(&backup) || ctx.files.is_symlink(&backup).is_some() {
            self.note(format!(
                "{path}: an original is already kept at {backup}; it is left as it is"
            ));
            None
        } else {
            Some(backup)
        }
    }
    /// The current content of `path` in this plan (an earlier change's new text, or the file).
    fn current(&self, ctx: &Context, path: &str) -> Option<Vec<u8>> {
        self.plan
            .changes
            .iter()
            .rev()
            .find_map(|c| match &c.change {
                Change::EditFile { path: p, new, .. } if p == path => Some(new.clone()),
                _ => None,
            })
            .or_else(|| ctx.files.read(path))
    }
    fn original(&self, ctx: &Context, path: &str) -> Option<Vec<u8>> {
        self.plan
            .changes
            .iter()
            .find_map(|c| match &c.change {
                Change::EditFile { path: p, old, .. } if p == path => Some(old.clone()),
                _ => None,
            })
            .or_else(|| ctx.files.read(path))
    }
    fn edit_text(&mut self, ctx: &Context, path: &str, f: impl FnOnce(&str) -> String) {
        if let Some(cur) = self.current(ctx, path) {
            let new = f(&String::from_utf8_lossy(&cur));
            if new.as_bytes() != cur.as_slice() {
                let old = self.original(ctx, path).unwrap_or(cur);
                self.edit(ctx, path, &old, new.into_bytes());
            }
        }
    }
}

/// Why a rule's condition does not hold, or None when it does.
fn condition_fails(ctx: &Context, rule: &Rule) -> Option<String> {
    let w = &rule.when;
    let f = ctx.facts;
    if let Some(os) = &w.os {
        if *os != f.os_type {
            return Some(format!("for {os} guests"));
        }
    }
    let distro = f.distro.known().cloned().unwrap_or_default();
    if !w.distro.is_empty() && !w.distro.contains(&distro) {
        return Some(format!("for {} only", w.distro.join(", ")));
    }
    let version = f.version.known().cloned().unwrap_or_default();
    if !w.version.is_empty() && !w.version.iter().any(|p| version_matches(p, &version)) {
        return Some(format!("for versions {}", w.version.join(", ")));
    }
    for file in &w.files {
        if !ctx.files.exists(file) {
            return Some(format!("{file} does not exist"));
        }
    }
    for fact in &w.facts {
        let holds = match fact.as_str() {
            "uefi" => f.boot_modes.uefi,
            "bios" => f.boot_modes.bios,
            "static-network" => f
                .network
                .known()
                .is_some_and(|n| n.interfaces.iter().any(|i| !i.addresses.is_empty())),
            "lvm" => ctx.set.volumes.iter().any(|v| v.lv.is_some()),
            "btrfs" => f.mountpoints.iter().any(|m| m.fstype == "btrfs"),
            other => return Some(format!("unknown fact {other:?}")),
        };
        if !holds {
            return Some(format!("fact {fact} does not hold"));
        }
    }
    None
}

/// How device names resolve for this guest: [`resolver`], except for the name fstab gives
/// the root filesystem. That entry names the filesystem this fstab was read from, whatever its
/// spelling (`/dev/sda6` of another machine, `/dev/disk/by-id/…-part1`, a UUID of a root that
/// was copied to a new filesystem): unless it already names that root, it becomes the root's
/// `UUID=` (MOD-L3, issue 23).
fn guest_resolver<'a>(ctx: &'a Context) -> impl Fn(&str) -> SpecResolution + 'a {
    let base = resolver(ctx.set);
    let (root, root_uuid) = match guest_root(ctx) {
        Some((v, u)) => (Some(v), u),
        None => (None, None),
    };
    let root_spec = ctx.files.read("/etc/fstab").and_then(|t| {
        crate::guest::linux::fstab::entries(&String::from_utf8_lossy(&t))
            .into_iter()
            .find(|(_, e)| e.file == "/")
            .map(|(_, e)| e.spec)
    });
    let root_key = root_spec.as_deref().map(spec_key);
    move |spec: &str| {
        if root_key.as_deref() != Some(&spec_key(spec)) {
            return base(spec);
        }
        let names_root = crate::guest::mount::resolve_spec(ctx.set, spec.trim_matches('"'))
            .zip(root)
            .is_some_and(|(v, r)| v.name == r.name);
        match &root_uuid {
            Some(u) if !names_root => SpecResolution::Uuid(u.clone()),
            _ => base(spec),
        }
    }
}

/// The volume this guest's root filesystem is on, and its filesystem UUID.
fn guest_root<'a>(ctx: &Context<'a>) -> Option<(&'a crate::volume::Volume, Option<String>)> {
    // `DEVICE:SUBVOL` for a root in a Btrfs subvolume: the filesystem is the device's
    let dev = ctx
        .facts
        .root
        .split_once(':')
        .map_or(ctx.facts.root.as_str(), |(d, _)| d);
    let v = ctx.set.find(dev)?;
    let uuid = match &v.content {
        Content::Filesystem { uuid, .. } => uuid.clone(),
        _ => None,
    };
    Some((v, uuid))
}

/// One spelling for the names udev gives one device: `/dev/disk/by-uuid/X` is `UUID=X`.
fn spec_key(spec: &str) -> String {
    let s = spec.trim_matches('"');
    for (pfx, key) in [
        ("/dev/disk/by-uuid/", "UUID="),
        ("/dev/disk/by-label/", "LABEL="),
        ("/dev/disk/by-partuuid/", "PARTUUID="),
        ("/dev/disk/by-partlabel/", "PARTLABEL="),
    ] {
        if let Some(v) = s.strip_prefix(pfx) {
            return format!("{key}{v}").to_ascii_lowercase();
        }
    }
    if s.starts_with("UUID=") || s.starts_with("PARTUUID=") {
        return s.to_ascii_lowercase();
    }
    s.to_string()
}

/// The resolver every device-name edit uses: a spec → the UUID of what it names in the image.
pub fn resolver(set: &DiskSet) -> impl Fn(&str) -> SpecResolution + '_ {
    move |spec: &str| {
        let s = spec.trim_matches('"');
        let stable = [
            "UUID=",
            "LABEL=",
            "PARTUUID=",
            "PARTLABEL=",
            "/dev/disk/by-uuid/",
            "/dev/disk/by-label/",
            "/dev/disk/by-partuuid/",
            "/dev/disk/by-partlabel/",
            "/dev/mapper/",
        ];
        // A filesystem inside a LUKS volume cannot be seen offline: an unresolved stable
        // name may be one of them.
        let sealed = set
            .volumes
            .iter()
            .any(|v| matches!(v.content, Content::Luks { .. }));
        if stable.iter().any(|p| s.starts_with(p)) {
            // MOD-L3: a stable name that matches nothing in the image is missing all the
            // same (a disk left out of the import): it gets nofail like any other.
            let found = crate::guest::mount::resolve_spec(set, s).is_some();
            return if found || sealed {
                SpecResolution::AlreadyStable
            } else {
                SpecResolution::NotInImage
            };
        }
        match crate::guest::mount::resolve_spec(set, s) {
            Some(v) if v.lv.is_some() => SpecResolution::AlreadyStable,
            Some(v) => match &v.content {
                Content::Filesystem { uuid: Some(u), .. } | Content::Swap { uuid: Some(u), .. } => {
                    SpecResolution::Uuid(u.clone())
                }
                Content::Luks { uuid: Some(u), .. } => SpecResolution::Uuid(u.clone()),
                _ => SpecResolution::NotInImage,
            },
            None => SpecResolution::NotInImage,
        }
    }
}

fn table(ctx: &Context, out: &mut Out, crypttab: bool) -> Result<(), PlanError> {
    let default = if crypttab {
        "/etc/crypttab"
    } else {
        "/etc/fstab"
    };
    let path = out.rule.param_str("file").unwrap_or(default).to_string();
    let Some(old) = ctx.files.read(&path) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&old);
    let resolve = guest_resolver(ctx);
    let types = out.rule.param_list("disable_types");
    let types: Vec<&str> = if types.is_empty() {
        edit::fstab::DEFAULT_DISABLED_TYPES.to_vec()
    } else {
        types.iter().map(String::as_str).collect()
    };
    let edited = if crypttab {
        edit::fstab::edit_crypttab(&text, &resolve)
    } else {
        edit::fstab::edit_fstab(&text, &resolve, &types)
    };
    for n in &edited.notes {
        out.note(format!("{path}:{}: {}", n.line, n.message));
    }
    out.edit(ctx, &path, &old, edited.text.into_bytes());
    Ok(())
}

fn network_dhcp(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let configs = network::inspect(ctx.files);
    let cands: Vec<&network::IfaceConfig> = configs
        .iter()
        .filter(|c| !c.is_loopback() && c.name.is_some())
        .collect();
    // The interface to keep: among those brought up at boot (else all), the one with the
    // default gateway, else the first static one, else the first configured one. Enabled ones
    // first, so that once the others are disabled (ONBOOT=no …) the same one is chosen again
    // and a second plan is empty.
    let enabled: Vec<&network::IfaceConfig> = cands.iter().copied().filter(|c| c.enabled).collect();
    let pool = if enabled.is_empty() { &cands } else { &enabled };
    let Some(primary) = pool
        .iter()
        .find(|c| c.gateway4.is_some() || c.gateway6.is_some())
        .or_else(|| pool.iter().find(|c| c.is_static()))
        .or_else(|| pool.first())
        .and_then(|c| c.name.clone())
        // Only profiles bound to no interface name (a keyfile matched by MAC, a netplan
        // `match:`): they apply to the one interface the import gives, named as the rule says.
        .or_else(|| {
            configs
                .iter()
                .any(|c| !c.is_loopback() && c.name.is_none())
                .then(|| {
                    out.rule
                        .param_str("interface")
                        .unwrap_or("eth0")
                        .to_string()
                })
        })
    else {
        return Ok(());
    };
    let target_name = out
        .rule
        .param_str("interface")
        .unwrap_or("eth0")
        .to_string();
    let follow = out.rule.param_bool("follow_ifnames").unwrap_or(true);
    let adds_ifnames_off = ctx.profile.rules.iter().any(|r| {
        r.transform == Transform::KernelCmdline
            && r.param_list("add").iter().any(|a| a == "net.ifnames=0")
    });
    let rename_to = (follow
        && adds_ifnames_off
        && primary != target_name
        && crate::check::is_predictable_name(&primary))
    .then_some(target_name.as_str());
    let others = match out.rule.param_str("other_interfaces").unwrap_or("disable") {
        "keep" => edit::network::Others::Keep,
        "disable" => edit::network::Others::Disable,
        o => {
            return Err(PlanError::Rule {
                rule: out.rule.id.clone(),
                message: format!("other_interfaces must be keep or disable, not {o:?}"),
            });
        }
    };
    let members = network::members_of(ctx.files, &primary);
    let p = edit::network::NetEdit {
        primary: &primary,
        rename_to,
        others,
        members: &members,
    };
    let mut sources: Vec<(String, network::Flavour)> = Vec::new();
    for c in &configs {
        if !sources.iter().any(|(s, _)| *s == c.source) {
            sources.push((c.source.clone(), c.flavour));
        }
    }
    for (path, flavour) in sources {
        let Some(old) = ctx.files.read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&old).into_owned();
        use network::Flavour as F;
        let fe = match flavour {
            F::Ifupdown => edit::network::ifupdown::edit(&path, &text, &p),
            F::IfcfgRh => {
                edit::network::ifcfg::edit(&path, &text, edit::network::ifcfg::Dialect::Rh, &p)
            }
            F::IfcfgSuse => {
                edit::network::ifcfg::edit(&path, &text, edit::network::ifcfg::Dialect::Suse, &p)
            }
            F::NmKeyfile => edit::network::keyfile::edit(&path, &text, &p),
            F::Networkd => edit::network::networkd::edit(&path, &text, &p),
            F::Netplan => match edit::network::netplan::edit(&path, &text, &p) {
                Ok(fe) => fe,
                Err(e) => {
                    out.note(format!("{path}: left unchanged: {e}"));
                    continue;
                }
            },
        };
        for n in &fe.notes {
            out.note(format!("{path}: {n}"));
        }
        out.edit(ctx, &path, &old, fe.text.into_bytes());
        if let Some(np) = fe.new_path.filter(|np| *np != path) {
            if ctx.files.exists(&np) {
                out.note(format!(
                    "{path}: should follow the rename to {np}, which exists already; left in place"
                ));
            } else {
                out.change(Change::RenameFile {
                    from: path.clone(),
                    to: np,
                });
            }
        }
    }
    // MOD-L2: routes tied to the static address (RHEL route-X/route6-X, SUSE ifroute-X and
    // the global `routes`) point at gateways of the old network; DHCP supplies the default.
    use network::{ifcfg_rh, ifcfg_suse};
    let route_files = [ifcfg_rh::DIR, ifcfg_suse::DIR]
        .into_iter()
        .flat_map(|dir| {
            ctx.files
                .list(dir)
                .into_iter()
                .filter(move |f| {
                    !ifcfg_rh::is_backup(f)
                        && (f.starts_with("route-")
                            || f.starts_with("route6-")
                            || f.starts_with("ifroute-")
                            || (dir == ifcfg_suse::DIR && f == "routes"))
                })
                .map(move |f| format!("{dir}/{f}"))
        });
    for path in route_files.collect::<Vec<_>>() {
        let Some(old) = ctx.files.read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&old).into_owned();
        let fe = edit::network::ifcfg::edit_routes(&path, &text, &p);
        for n in &fe.notes {
            out.note(format!("{path}: {n}"));
        }
        out.edit(ctx, &path, &old, fe.text.into_bytes());
    }
    Ok(())
}

/// Every file that holds a kernel command line or the GRUB default, as found in the guest.
struct BootFiles {
    grub_cfgs: Vec<String>,
    default_grub: Option<String>,
    /// `/etc/default/grub.d/*.cfg` in the order update-grub sources them (after
    /// /etc/default/grub: their assignments win).
    default_grub_d: Vec<String>,
    bls: Vec<String>,
    grubenv: Option<String>,
    legacy: Vec<String>,
}

/// The guest path a symlink at `path` with target `target` points at (`..` resolved, never
/// above `/`).
fn link_target(path: &str, target: &str) -> Option<String> {
    let mut comps: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let (dir, _) = crate::fs::write::split_path(path);
        dir.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop()?;
            }
            c => comps.push(c),
        }
    }
    Some(format!("/{}", comps.join("/")))
}

fn boot_files(files: &dyn GuestFiles) -> BootFiles {
    let existing = |ps: &[&str]| -> Vec<String> {
        ps.iter()
            .filter(|p| files.is_symlink(p).is_none() && files.read(p).is_some())
            .map(|p| p.to_string())
            .collect()
    };
    let mut grub_cfgs = existing(&["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"]);
    for d in files.list("/boot/efi/EFI") {
        for p in [format!("/boot/efi/EFI/{d}/grub.cfg")] {
            if files
                .read(&p)
                .is_some_and(|t| String::from_utf8_lossy(&t).contains("linux"))
            {
                grub_cfgs.push(p);
            }
        }
    }
    let bls = files
        .list("/boot/loader/entries")
        .into_iter()
        .filter(|n| n.ends_with(".conf") && !n.starts_with('.'))
        .map(|n| format!("/boot/loader/entries/{n}"))
        .collect();
    BootFiles {
        grub_cfgs,
        default_grub: existing(&["/etc/default/grub"]).into_iter().next(),
        default_grub_d: {
            let mut d: Vec<String> = files
                .list("/etc/default/grub.d")
                .into_iter()
                .filter(|n| n.ends_with(".cfg"))
                .map(|n| format!("/etc/default/grub.d/{n}"))
                .collect();
            d.sort();
            let ps: Vec<&str> = d.iter().map(String::as_str).collect();
            existing(&ps)
        },
        bls,
        // RHEL/Rocky 8 UEFI: /boot/grub2/grubenv is a symlink to the ESP's
        // EFI/<distro>/grubenv, the file GRUB reads: edits go there (issue 23)
        grubenv: ["/boot/grub2/grubenv", "/boot/grub/grubenv"]
            .iter()
            .find_map(|p| match files.is_symlink(p) {
                None => files.read(p).map(|_| p.to_string()),
                Some(t) => link_target(p, &t)
                    .filter(|r| files.is_symlink(r).is_none() && files.read(r).is_some()),
            }),
        legacy: existing(&["/boot/grub/menu.lst", "/boot/grub/grub.conf"]),
    }
}

fn kernel_cmdline(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let resolve = guest_resolver(ctx);
    let add = out.rule.param_list("add");
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    // root= naming a device not in the image: the root this guest was found on
    let root_uuid = guest_root(ctx).and_then(|(_, u)| u);
    // resume= naming a device not in the image: the image's one swap, else dropped
    let swaps: Vec<&String> = ctx
        .set
        .volumes
        .iter()
        .filter_map(|v| match &v.content {
            Content::Swap { uuid: Some(u), .. } => Some(u),
            _ => None,
        })
        .collect();
    let swap = match swaps.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    let e = edit::cmdline::CmdlineEdit {
        resolve: &resolve,
        add: &add,
        resume_swap: swap.as_deref(),
        root_uuid: root_uuid.as_deref(),
    };
    let b = boot_files(ctx.files);
    for p in &b.grub_cfgs {
        out.edit_text(ctx, p, |t| edit::cmdline::edit_grub_cfg(t, &e));
    }
    // /etc/default/grub and its drop-ins: what GRUB_CMDLINE_LINUX_DEFAULT (the last
    // assignment of all, put after GRUB_CMDLINE_LINUX by update-grub) gives already is not
    // added again (issue 23)
    let default_cmdline = b
        .default_grub
        .iter()
        .chain(&b.default_grub_d)
        .filter_map(|p| ctx.files.read_string(p))
        .flat_map(|t| shellvars::parse(&t))
        .filter(|a| a.key == "GRUB_CMDLINE_LINUX_DEFAULT")
        .last()
        .map(|a| a.value)
        .unwrap_or_default();
    let add_d = edit::cmdline::not_in(&add, &default_cmdline);
    let ed = edit::cmdline::CmdlineEdit { add: &add_d, ..e };
    if let Some(p) = &b.default_grub {
        out.edit_text(ctx, p, |t| edit::cmdline::edit_default_grub(t, &ed));
    }
    for p in &b.default_grub_d {
        out.edit_text(ctx, p, |t| edit::cmdline::edit_default_grub_dropin(t, &ed));
    }
    for p in &b.bls {
        out.edit_text(ctx, p, |t| edit::cmdline::edit_bls(t, &e));
    }
    for p in &b.legacy {
        out.edit_text(ctx, p, |t| edit::cmdline::edit_menu_lst(t, &e));
    }
    if let Some(p) = &b.grubenv {
        if let Some(cur) = out.current(ctx, p) {
            match edit::cmdline::edit_grubenv(&cur, &e) {
                Ok(new) if new != cur => {
                    let old = out.original(ctx, p).unwrap_or(cur);
                    out.edit(ctx, p, &old, new);
                }
                Ok(_) => {}
                Err(err) => out.note(format!("{p}: left unchanged: {err}")),
            }
        }
    }
    Ok(())
}

fn grub_default(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let Some(cfg) = grub::inspect(ctx.files) else {
        out.note("no GRUB configuration found".into());
        return Ok(());
    };
    let timeout = out
        .rule
        .param_int("timeout")
        .and_then(|t| u32::try_from(t).ok());
    // The newest kernel the profile's matrix accepts; else the newest kernel.
    let distro = ctx.facts.distro.known().cloned().unwrap_or_default();
    let version = ctx.facts.version.known().cloned().unwrap_or_default();
    let mut best: Option<(usize, crate::rules::Version, bool)> = None;
    for (i, e) in cfg.entries.iter().enumerate() {
        let Some(kv) = &e.kernel_version else {
            continue;
        };
        if e.title.to_ascii_lowercase().contains("recovery")
            || e.title.to_ascii_lowercase().contains("rescue")
            || kv.contains("rescue")
        {
            continue;
        }
        let ok = ctx
            .profile
            .matrix
            .match_linux(&distro, &version, Some(kv))
            .kernel_ok
            == Some(true);
        let v = release_key(kv);
        let better = match &best {
            None => true,
            Some((_, bv, bok)) => (ok, &v) > (*bok, bv),
        };
        if better {
            best = Some((i, v, ok));
        }
    }
    let Some((index, _, _)) = best else {
        out.note("no boot entry with a kernel version".into());
        return Ok(());
    };
    let Some(setting) = edit::grub::default_setting_for(&cfg.entries, index) else {
        out.note("the newest kernel's entry cannot be named unambiguously".into());
        return Ok(());
    };
    let b = boot_files(ctx.files);
    let already = cfg.default.as_ref().ok() == Some(&index);
    match cfg.kind {
        grub::LoaderKind::GrubLegacy => {
            for p in &b.legacy {
                out.edit_text(ctx, p, |t| edit::grub::edit_menu_lst(t, index, timeout));
            }
        }
        _ => {
            let mut uses_saved = cfg.kind == grub::LoaderKind::Grub2Bls;
            for p in &b.grub_cfgs {
                let setting_here = if already {
                    cfg.default_expanded.clone().unwrap_or(setting.clone())
                } else {
                    setting.clone()
                };
                out.edit_text(ctx, p, |t| {
                    let r = edit::grub::edit_grub_cfg(t, &setting_here, timeout);
                    uses_saved |= r.uses_saved_entry;
                    r.text
                });
            }
            if let Some(p) = &b.default_grub {
                let s = if uses_saved || already {
                    None
                } else {
                    Some(setting.as_str())
                };
                out.edit_text(ctx, p, |t| edit::grub::edit_default_grub(t, s, timeout));
            }
            // Drop-ins override /etc/default/grub: what they set is set there too, so that
            // the next update-grub keeps it; nothing is added to them.
            for p in &b.default_grub_d {
                out.edit_text(ctx, p, |t| {
                    let keys: Vec<String> =
                        shellvars::parse(t).into_iter().map(|a| a.key).collect();
                    let has = |k: &str| keys.iter().any(|x| x == k);
                    let s = if uses_saved || already || !has("GRUB_DEFAULT") {
                        None
                    } else {
                        Some(setting.as_str())
                    };
                    let tm = timeout.filter(|_| has("GRUB_TIMEOUT"));
                    edit::grub::edit_default_grub(t, s, tm)
                });
            }
            // A pending one-time boot (grubenv next_entry, LNX-7) of another entry would be
            // the first boot after import: it is cleared too.
            let pending_other = cfg
                .next_entry
                .as_ref()
                .is_some_and(|(_, r)| r.as_ref().ok() != Some(&index));
            // (the saved_entry edit below clears it already)
            let sets_saved = uses_saved && !already;
            if pending_other && !sets_saved {
                if let Some(p) = &b.grubenv {
                    if let Some(cur) = out.current(ctx, p) {
                        match edit::grub::clear_next_entry(&cur) {
                            Ok(new) => {
                                let old = out.original(ctx, p).unwrap_or(cur);
                                out.edit(ctx, p, &old, new);
                            }
                            Err(e) => out.note(format!("{p}: next_entry left set: {e}")),
                        }
                    }
                }
            }
            if sets_saved {
                match &b.grubenv {
                    Some(p) => {
                        if let Some(cur) = out.current(ctx, p) {
                            match edit::grub::edit_grubenv(&cur, &setting) {
                                Ok(new) => {
                                    let old = out.original(ctx, p).unwrap_or(cur);
                                    out.edit(ctx, p, &old, new);
                                }
                                Err(e) => out.note(format!("{p}: left unchanged: {e}")),
                            }
                        }
                    }
                    None => out.note("grub.cfg uses ${saved_entry} but there is no grubenv; the default cannot be set".into()),
                }
            }
        }
    }
    Ok(())
}

/// Sort key of a kernel release: its numeric components, all of them ("6.1.0-26" → 6,1,0,26).
fn release_key(kv: &str) -> crate::rules::Version {
    crate::rules::Version(
        kv.split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect(),
    )
}

fn uefi_fallback(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let bm = &ctx.facts.boot_modes;
    if !bm.uefi || bm.uefi_fallback_loader == Some(true) {
        return Ok(());
    }
    // The ESP as the guest mounts it (fstab /boot/efi).
    let esp = ["/boot/efi", "/efi", "/boot"].iter().find(|m| {
        ctx.facts
            .mountpoints
            .iter()
            .any(|x| x.mountpoint == **m && x.fstype == "vfat")
    });
    let Some(esp) = esp else {
        out.note("the EFI system partition is not mounted by the guest's fstab; add EFI/BOOT/BOOTX64.EFI by hand".into());
        return Ok(());
    };
    let target = format!("{esp}/EFI/BOOT/BOOTX64.EFI");
    if ctx.files.exists(&target) {
        return Ok(());
    }
    for l in out.rule.param_list("loaders") {
        let src = format!("{esp}/{l}");
        if let Some(content) = ctx.files.read_large(&src) {
            out.change(Change::AddFile {
                path: target.clone(),
                size: content.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(&content)),
                content,
                copied_from: Some(src),
            });
            return Ok(());
        }
    }
    out.note(format!(
        "no loader to copy to {target} (looked for {})",
        out.rule.param_list("loaders").join(", ")
    ));
    Ok(())
}

fn initramfs_drivers(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let f = ctx.facts;
    let default = f
        .bootloader
        .known()
        .and_then(|b| b.default_kernel_version.clone());
    // The default kernel; every installed one with `all_kernels = true`.
    let kernels: Vec<&crate::guest::facts::KernelFacts> =
        if out.rule.param_bool("all_kernels") == Some(true) {
            f.kernels.iter().collect()
        } else {
            f.kernels
                .iter()
                .find(|k| Some(&k.version) == default.as_ref())
                .or(f.kernels.last())
                .into_iter()
                .collect()
        };
    let mut added: Vec<String> = Vec::new();
    let mut flavours: Vec<super::drivers::Flavour> = Vec::new();
    for k in kernels {
        let (names, flavour) = kernel_drivers(ctx, out, k)?;
        for d in names {
            if !added.contains(&d) {
                added.push(d);
            }
        }
        if !flavours.contains(&flavour) {
            flavours.push(flavour);
        }
    }
    if !added.is_empty() {
        persist_drivers(ctx, out, &added, &flavours);
    }
    Ok(())
}

/// MOD-L1 for one kernel: the drivers appended to its initramfs (names), or a note.
fn kernel_drivers(
    ctx: &Context,
    out: &mut Out,
    k: &crate::guest::facts::KernelFacts,
) -> Result<(Vec<String>, super::drivers::Flavour), PlanError> {
    let modules_dir = out
        .rule
        .param_str("modules_dir")
        .unwrap_or_default()
        .to_string();
    // Where missing modules come from: the rule's modules_dir on the host, else the guest's
    // own /lib/modules/<kver> (issue 26).
    let source = if modules_dir.is_empty() {
        guest_modules(ctx.files, &k.version)
    } else {
        Some(ModSource::Host(modules_dir.clone()))
    };
    let not_read = k.initramfs_not_read;
    let host = matches!(source, Some(ModSource::Host(_)));
    // A quick inspection did not decompress the initramfs, and neither does a quick plan,
    // except that a rule with a modules_dir reads the initramfs it extends (the plan's changes
    // are then the same).
    if k.initramfs_readable != Fact::Known(true) && (!not_read || !host) {
        out.note(if not_read {
            format!(
                "kernel {}: initramfs not examined (--quick): which drivers it lacks is not reported",
                k.version
            )
        } else {
            format!(
                "{}: the initramfs cannot be read; drivers cannot be checked (LNX-8)",
                k.version
            )
        });
        return Ok((Vec::new(), super::drivers::Flavour::Unknown));
    }
    let wanted: Vec<String> = out
        .rule
        .param_list("drivers")
        .into_iter()
        .map(|d| d.replace('-', "_"))
        .filter(|d| !k.builtin_drivers.contains(d))
        .collect();
    // The inspection lists the drivers of interest in the initramfs and in /lib/modules: when
    // every wanted driver is one of them, what is missing and what the guest has are known
    // without reading the initramfs again.
    let known = k.initramfs_readable == Fact::Known(true)
        && wanted
            .iter()
            .all(|d| crate::guest::inspect::DRIVERS_OF_INTEREST.contains(&d.as_str()));
    let missing: Vec<String> = wanted
        .into_iter()
        .filter(|d| !k.initramfs_drivers.contains(d))
        .collect();
    if known && missing.is_empty() {
        return Ok((Vec::new(), super::drivers::Flavour::Unknown));
    }
    let addable = match &source {
        Some(ModSource::Host(_)) => true,
        Some(ModSource::Guest { .. }) => {
            !known || missing.iter().any(|d| k.module_drivers.contains(d))
        }
        None => false,
    };
    if let (true, Some(src), Some(path)) = (addable, &source, &k.initramfs) {
        return Ok(inject_drivers(ctx, out, k, path, src));
    }
    let pkg = module_package(ctx, out.rule, &k.version);
    out.note(format!(
        "kernel {}: driver(s) {} not in the initramfs nor in /lib/modules/{}: install {}",
        k.version,
        missing.join(", "),
        k.version,
        pkg.as_deref()
            .unwrap_or("the package that holds them, or give the rule a modules_dir")
    ));
    Ok((Vec::new(), super::drivers::Flavour::Unknown))
}

/// The drivers added to the initramfs, made permanent for the guest's next initramfs rebuild
/// (issue 26), so that the first kernel update after import does not undo the fix: dracut's
/// `add_drivers` in `/etc/dracut.conf.d/`, initramfs-tools' `/etc/initramfs-tools/modules`.
fn persist_drivers(
    ctx: &Context,
    out: &mut Out,
    names: &[String],
    flavours: &[super::drivers::Flavour],
) {
    use super::drivers::Flavour;
    const WHY: &str = "# guestfix: boot drivers of the import target (MOD-L1)";
    let itools = "/etc/initramfs-tools/modules";
    let old_itools = ctx.files.read(itools);
    let is_itools = flavours.contains(&Flavour::InitramfsTools) || old_itools.is_some();
    if is_itools {
        let old = old_itools.unwrap_or_default();
        let text = String::from_utf8_lossy(&old).into_owned();
        let listed = |n: &str| {
            text.lines().any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.replace('-', "_") == n)
            })
        };
        let missing: Vec<&String> = names.iter().filter(|n| !listed(n)).collect();
        if !missing.is_empty() {
            let mut new = text.clone();
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(WHY);
            new.push('\n');
            for n in missing {
                new.push_str(n);
                new.push('\n');
            }
            if old.is_empty() && ctx.files.read(itools).is_none() {
                add_text(out, itools, new);
            } else {
                out.edit(ctx, itools, &old, new.into_bytes());
            }
        }
    }
    let dracut = flavours.contains(&Flavour::Dracut)
        || ctx.files.read("/etc/dracut.conf").is_some()
        || !ctx.files.list("/etc/dracut.conf.d").is_empty()
        || !ctx.files.list("/usr/lib/dracut").is_empty();
    if dracut {
        let path = "/etc/dracut.conf.d/90-guestfix-drivers.conf";
        let content = format!("{WHY}\nadd_drivers+=\" {} \"\n", names.join(" "));
        match ctx.files.read(path) {
            Some(old) if old == content.as_bytes() => {}
            Some(old) => out.edit(ctx, path, &old, content.into_bytes()),
            None => add_text(out, path, content),
        }
    }
}

/// A new text file.
fn add_text(out: &mut Out, path: &str, content: String) {
    out.change(Change::AddFile {
        path: path.to_string(),
        size: content.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(content.as_bytes())),
        content: content.into_bytes(),
        copied_from: None,
    });
}

/// The package that holds kernel `kver`'s modules on this guest's distribution, from the
/// rule's `packages` table (distro → name, `{kver}` replaced).
fn module_package(ctx: &Context, rule: &Rule, kver: &str) -> Option<String> {
    let distro = ctx.facts.distro.known()?;
    let p = rule.param_table_str("packages", distro)?;
    Some(p.replace("{kver}", kver))
}

/// Where the modules to add are.
enum ModSource {
    /// The rule's `modules_dir`, a host folder.
    Host(String),
    /// The guest's own modules: their folder (`/usr/lib/modules/<kver>`) and its `modules.dep`.
    Guest { dir: String, dep: String },
}

/// The guest's modules of kernel `kver`, when its `modules.dep` is there.
fn guest_modules(files: &dyn GuestFiles, kver: &str) -> Option<ModSource> {
    ["/usr/lib/modules", "/lib/modules"].iter().find_map(|pre| {
        let dir = format!("{pre}/{kver}");
        let dep = files
            .read_up_to(&format!("{dir}/modules.dep"), 16 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())?;
        Some(ModSource::Guest { dir, dep })
    })
}

/// MOD-L1: append the missing drivers (and their dependencies), from the guest's own modules
/// or a `modules_dir`, to the default kernel's initramfs. The initramfs is read again here, with every module listed (the
/// inspection facts keep only the drivers of interest) and modules.dep / conf/modules captured.
fn inject_drivers(
    ctx: &Context,
    out: &mut Out,
    k: &crate::guest::facts::KernelFacts,
    path: &str,
    source: &ModSource,
) -> (Vec<String>, super::drivers::Flavour) {
    use super::drivers;
    use crate::guest::linux::initramfs;
    let kver = k.version.as_str();
    let max = crate::guest::inspect::MAX_INITRAMFS;
    let Some(data) = ctx.files.read_up_to(path, max) else {
        out.note(format!(
            "{path}: cannot be read (or larger than {} MiB); drivers cannot be added",
            max >> 20
        ));
        return (Vec::new(), drivers::Flavour::Unknown);
    };
    let wanted = drivers::wanted(kver);
    let cap = initramfs::Capture {
        wanted: &wanted,
        max_file: 16 << 20,
        max_total: 32 << 20,
    };
    let listing = match initramfs::list_capturing(&data, &initramfs::Limits::default(), Some(&cap))
    {
        Ok(l) => l,
        Err(e) => {
            out.note(format!("{path}: {e}; drivers cannot be added (LNX-8)"));
            return (Vec::new(), drivers::Flavour::Unknown);
        }
    };
    // Appending is only safe when the last archive is known to end where the file ends.
    let last = listing.archives.last().map(|a| (a.compression, a.end));
    if let Some((c, None)) = last {
        out.note(format!(
            "{path}: the end of its {c} archive cannot be located; drivers cannot be appended"
        ));
        return (Vec::new(), drivers::Flavour::Unknown);
    }
    let flavour = drivers::Flavour::of(&listing);
    let present = listing.modules();
    let missing: Vec<String> = out
        .rule
        .param_list("drivers")
        .into_iter()
        .map(|d| d.replace('-', "_"))
        // Built into the kernel (modules.builtin): there at boot without the initramfs.
        .filter(|d| !present.contains(d) && !k.builtin_drivers.contains(d))
        .collect();
    if missing.is_empty() {
        return (Vec::new(), drivers::Flavour::Unknown);
    }
    let (found, from) = match source {
        ModSource::Host(d) => match drivers::scan(std::path::Path::new(d), kver) {
            Ok(f) => (f, d.clone()),
            Err(e) => {
                out.note(format!("modules_dir: {e}"));
                return (Vec::new(), drivers::Flavour::Unknown);
            }
        },
        ModSource::Guest { dir, dep } => match drivers::scan_guest_dep(dir, dep) {
            Ok(f) => (f, dir.clone()),
            Err(e) => {
                out.note(format!("kernel {kver}: {e}; drivers cannot be added"));
                return (Vec::new(), flavour);
            }
        },
    };
    let load_guest = |f: &drivers::Found| -> Result<Vec<u8>, drivers::DriverError> {
        let shown = f.shown();
        match &f.source {
            drivers::Source::Guest(p) => ctx
                .files
                .read_up_to(p, crate::guest::linux::modinfo::MAX_MODULE)
                .ok_or(drivers::DriverError::Io {
                    path: shown,
                    reason: "cannot be read from the guest (or too large)".into(),
                }),
            drivers::Source::Host(_) => drivers::load_host(f),
        }
    };
    let (have, lack): (Vec<String>, Vec<String>) =
        missing.into_iter().partition(|m| found.contains_key(m));
    if !lack.is_empty() {
        let pkg = module_package(ctx, out.rule, kver);
        out.note(format!(
            "kernel {kver}: driver(s) {} not in the initramfs nor in {from}{}",
            lack.join(", "),
            pkg.map(|p| format!(": install {p}")).unwrap_or_default()
        ));
    }
    if have.is_empty() {
        return (Vec::new(), drivers::Flavour::Unknown);
    }
    let existing = drivers::Existing::from_listing(&listing, kver);
    // The archive's time stamps: SOURCE_DATE_EPOCH, else 0 — never "now", so that the archive
    // `plan` shows (size, sha256) is byte for byte the one `apply` appends.
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    match drivers::build(&existing, kver, &have, &found, &load_guest, mtime) {
        Ok(inj) => {
            let backup = out.backup(ctx, path);
            let (wrapped, compression) =
                drivers::wrap(&inj.archive, last.map(|(c, _)| c).unwrap_or("none"));
            // The kernel takes a plain archive only at a 4-byte aligned offset of the file
            // (init/initramfs.c) and skips zeros between archives; a compressed one needs no
            // padding (and gzip -t, which lsinitramfs runs, rejects zeros after a member).
            let pad = if compression == "none" {
                data.len().next_multiple_of(4) - data.len()
            } else {
                0
            };
            let mut archive = vec![0u8; pad];
            archive.extend_from_slice(&wrapped);
            out.change(Change::AppendInitramfs {
                path: path.to_string(),
                size: archive.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(&archive)),
                archive,
                compression: compression.to_string(),
                backup,
                modules: inj.modules,
                replaces: inj
                    .files
                    .iter()
                    .filter(|f| !f.ends_with('/') && listing.files.contains(f))
                    .cloned()
                    .collect(),
                files: inj.files,
            });
            (have, flavour)
        }
        Err(e) => {
            out.note(format!(
                "kernel {kver}: driver(s) {} cannot be added: {e}",
                have.join(", ")
            ));
            (Vec::new(), flavour)
        }
    }
}

/// One plan per guest of an inspection.
pub fn plans_for(
    i: &crate::guest::inspect::Inspected,
    profile: &Profile,
) -> Result<Vec<Plan>, PlanError> {
    let mut plans = Vec::new();
    for g in &i.guests {
        let facts = &i.inspection.operating_systems[g.os_index];
        let files = crate::guest::treefiles::TreeFiles(&g.tree);
        let ctx = Context {
            facts,
            files: &files,
            set: &i.set,
            profile,
        };
        plans.push(plan(&ctx)?);
    }
    Ok(plans)
}
