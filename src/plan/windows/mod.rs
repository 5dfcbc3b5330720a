//! Windows plans (MOD-W1, MOD-W2, MOD-W3, GEN-4, WIN-3, WIN-7, WIN-8): registry edits in the
//! SYSTEM, SOFTWARE and BCD hives, shown as `.reg` diffs and written by our hive writer, and
//! the driver files to add. Every transform reads the hive as the plan has left it so far
//! (an earlier rule's edits included) and records only operations that change something:
//! planning a fixed guest gives no change. Driver knowledge comes from the INF files of the
//! folder the user names (`--drivers DIR`), OS knowledge from the rule parameters
//! (rules/ec2/windows.toml).

pub mod driver;
pub mod inf;
pub(crate) mod reg;

use super::model::Change;
use super::planner::{Context, Out, PlanError};
use crate::guest::windows::{MAX_BCD, MAX_HIVE, MAX_LOG, WindowsFacts};
use crate::hive::Hive;
use crate::hive::value::RegData;
use crate::hive::write::ValueData;
use reg::{Edits, RegOp};
use sha2::Digest;
use std::path::Path;

/// The SYSTEM hive of a Windows guest's tree.
pub const SYSTEM: &str = "/Windows/System32/config/SYSTEM";
/// The SOFTWARE hive.
pub const SOFTWARE: &str = "/Windows/System32/config/SOFTWARE";

fn rule_err(out: &Out, message: impl std::fmt::Display) -> PlanError {
    PlanError::Rule {
        rule: out.rule.id.clone(),
        message: message.to_string(),
    }
}

/// The bytes of `path`: a file of the guest tree, or `DEVICE:/path` on another volume.
fn read_any(ctx: &Context, path: &str, max: u64) -> Option<Vec<u8>> {
    if let Some((dev, p)) = path.split_once(':') {
        if dev.starts_with("/dev/") {
            let v = ctx.set.find(dev)?;
            let fs =
                crate::guest::mount::open_volume(v, &crate::fs::OpenOptions::default()).ok()?;
            return fs.read_file(p.as_bytes(), max).ok();
        }
    }
    ctx.files.read_up_to(path, max)
}

/// A hive as the plan sees it: the original file with its logs, and the current content (an
/// earlier change's output, or the original recovered from its logs).
struct HiveState {
    original: Vec<u8>,
    logs: Vec<Vec<u8>>,
    /// Bytes to edit next (None: edit `original` with `logs`).
    edited: Option<Vec<u8>>,
    current: Hive,
}

fn load_hive(ctx: &Context, out: &mut Out, path: &str) -> Result<Option<HiveState>, PlanError> {
    let max = if path.contains(':') {
        MAX_BCD
    } else {
        MAX_HIVE
    };
    let prior = out.plan.changes.iter().find_map(|c| match &c.change {
        Change::EditHive {
            path: p, old, new, ..
        } if p == path => Some((old.clone(), new.clone())),
        _ => None,
    });
    let (original, edited) = match prior {
        Some((old, new)) => (old, Some(new)),
        None => match read_any(ctx, path, max) {
            Some(b) => (b, None),
            None => {
                out.note(format!("{path} not found"));
                return Ok(None);
            }
        },
    };
    let mut logs = Vec::new();
    if !path.contains(':') {
        for ext in ["LOG1", "LOG2"] {
            if let Some(l) = ctx.files.read_up_to(&format!("{path}.{ext}"), MAX_LOG) {
                if !l.is_empty() {
                    logs.push(l);
                }
            }
        }
    }
    let current = match &edited {
        Some(n) => Hive::from_bytes(n.clone()),
        None => Hive::from_bytes_with_logs(original.clone(), &logs).map(|(h, _)| h),
    };
    // A hive we cannot read consistently (dirty without the logs that recover it, damaged) is
    // not edited: the rule says why, and the rest of the plan goes on.
    let current = match current {
        Ok(h) if h.is_dirty() => {
            let b = h.base_block();
            out.note(format!(
                "{path}: not edited: dirty hive (sequence numbers {}/{}) and no transaction log recovers it",
                b.primary_sequence, b.secondary_sequence
            ));
            return Ok(None);
        }
        Ok(h) => h,
        Err(e) => {
            out.note(format!("{path}: not edited: {e}"));
            return Ok(None);
        }
    };
    Ok(Some(HiveState {
        original,
        logs,
        edited,
        current,
    }))
}

/// Record `ops` on the hive at `path` (shown under `root`): written with our hive writer now,
/// so the plan holds the exact bytes `apply` writes, and the diff is read back from them.
fn edit_hive(
    ctx: &Context,
    out: &mut Out,
    path: &str,
    root: &str,
    st: HiveState,
    ops: Vec<RegOp>,
) -> Result<(), PlanError> {
    if ops.is_empty() {
        return Ok(());
    }
    let (base, logs): (Vec<u8>, Option<&[Vec<u8>]>) = match &st.edited {
        Some(n) => (n.clone(), None),
        None => (
            st.original.clone(),
            (!st.logs.is_empty()).then_some(st.logs.as_slice()),
        ),
    };
    let new = reg::apply_ops(path, base, logs, &ops).map_err(|e| rule_err(out, e))?;
    // The hive before any edit of this plan: on the first edit, the one already read.
    let before = match &st.edited {
        None => st.current,
        Some(_) => Hive::from_bytes_with_logs(st.original.clone(), &st.logs)
            .map(|(h, _)| h)
            .map_err(|e| rule_err(out, format!("{path}: {e}")))?,
    };
    let after = Hive::from_bytes(new.clone()).map_err(|e| {
        rule_err(
            out,
            format!("{path}: our own output does not read back: {e}"),
        )
    })?;
    let mut keys: Vec<String> = Vec::new();
    if let Some(pc) = out
        .plan
        .changes
        .iter()
        .find(|c| matches!(&c.change, Change::EditHive { path: p, .. } if p == path))
    {
        if let Change::EditHive { keys: k, .. } = &pc.change {
            keys = k.clone();
        }
    }
    for op in &ops {
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(op.key())) {
            keys.push(op.key().to_string());
        }
    }
    let diff = reg::reg_diff(root, &before, &after, &keys)
        .map_err(|e| rule_err(out, format!("{path}: {e}")))?;
    let rule = out.rule.id.clone();
    let requirement = out.rule.requirement.clone();
    if let Some(pc) = out
        .plan
        .changes
        .iter_mut()
        .find(|c| matches!(&c.change, Change::EditHive { path: p, .. } if p == path))
    {
        if let Change::EditHive {
            new: n,
            keys: k,
            diff: d,
            ..
        } = &mut pc.change
        {
            *n = new;
            *k = keys;
            *d = diff;
        }
        if !pc.rule.split('+').any(|r| r == rule) {
            pc.rule = format!("{}+{rule}", pc.rule);
        }
        if !pc.requirement.split('+').any(|r| r == requirement) {
            pc.requirement = format!("{}+{requirement}", pc.requirement);
        }
        return Ok(());
    }
    let backup = if path.contains(':') {
        let (dev, p) = path.split_once(':').unwrap_or(("", path));
        let b = ctx.profile.backup_path(p);
        if read_any(ctx, &format!("{dev}:{b}"), 1).is_some() {
            out.note(format!(
                "{path}: an original is already kept at {b}; it is left as it is"
            ));
            None
        } else {
            Some(format!("{dev}:{b}"))
        }
    } else {
        out.backup(ctx, path)
    };
    out.change(Change::EditHive {
        path: path.to_string(),
        old: st.original,
        new,
        backup,
        root: root.to_string(),
        keys,
        diff,
    });
    Ok(())
}

/// Control sets to edit: every `ControlSetNNN` (param `control_sets = "all"`, the default),
/// or the one `Select\Current` names.
fn control_sets(out: &Out, hive: &Hive) -> Result<Vec<String>, PlanError> {
    let e = |e: crate::hive::HiveError| rule_err(out, format!("SYSTEM: {e}"));
    let current = hive
        .current_control_set()
        .map_err(e)?
        .map(|k| k.name().to_string());
    if out.rule.param_str("control_sets") == Some("current") {
        return Ok(current.into_iter().collect());
    }
    let mut sets: Vec<String> = hive
        .root()
        .subkeys()
        .map_err(e)?
        .iter()
        .map(|k| k.name().to_string())
        .filter(|n| {
            n.len() == 13
                && n.get(..10)
                    .is_some_and(|p| p.eq_ignore_ascii_case("ControlSet"))
                && n.bytes().skip(10).all(|b| b.is_ascii_digit())
        })
        .collect();
    if sets.is_empty() {
        sets.extend(current);
    }
    Ok(sets)
}

fn hive_err(out: &Out, what: &str) -> impl Fn(crate::hive::HiveError) -> PlanError + use<> {
    let rule = out.rule.id.clone();
    let what = what.to_string();
    move |e| PlanError::Rule {
        rule: rule.clone(),
        message: format!("{what}: {e}"),
    }
}

/// A string parameter of the rule, or `default`.
fn param(out: &Out, key: &str, default: &str) -> String {
    out.rule.param_str(key).unwrap_or(default).to_string()
}

fn windows_facts(ctx: &Context) -> WindowsFacts {
    WindowsFacts::from_os(ctx.facts).unwrap_or_default()
}

fn version(ctx: &Context) -> (u32, u32) {
    (
        ctx.facts.major_version.known().copied().unwrap_or(0),
        ctx.facts.minor_version.known().copied().unwrap_or(0),
    )
}

fn parse_version(s: &str) -> (u32, u32) {
    let mut it = s.split('.').map(|x| x.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

/// WIN-7: `TimeZoneInformation\RealTimeIsUniversal` = DWORD 1 in every control set.
pub(super) fn rtc_utc(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let Some(st) = load_hive(ctx, out, SYSTEM)? else {
        return Ok(());
    };
    let mut e = Edits::new(&st.current);
    for cs in control_sets(out, &st.current)? {
        e.set(
            &format!("{cs}\\Control\\TimeZoneInformation"),
            "RealTimeIsUniversal",
            ValueData::dword(1),
        )
        .map_err(hive_err(out, SYSTEM))?;
    }
    let ops = e.ops;
    edit_hive(ctx, out, SYSTEM, "HKEY_LOCAL_MACHINE\\SYSTEM", st, ops)
}

/// GEN-4 (WIN-9): every interface with a static address gets DHCP (its static values removed,
/// shown in the diff); the TCP/IP and DHCP client services are enabled when disabled.
pub(super) fn network_dhcp(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let Some(st) = load_hive(ctx, out, SYSTEM)? else {
        return Ok(());
    };
    let remove = out.rule.param_list("remove_values");
    let services: Vec<(String, u32)> = out
        .rule
        .params
        .get("enable_services")
        .and_then(|v| v.as_table())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), u32::try_from(v.as_integer()?).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let herr = hive_err(out, SYSTEM);
    let mut e = Edits::new(&st.current);
    let mut changed_ifaces = Vec::new();
    for cs in control_sets(out, &st.current)? {
        let ifaces_path = format!("{cs}\\Services\\Tcpip\\Parameters\\Interfaces");
        if let Some(ifaces) = st.current.root().open_path(&ifaces_path).map_err(&herr)? {
            for k in ifaces.subkeys().map_err(&herr)? {
                let dhcp = k
                    .value("EnableDHCP")
                    .map_err(&herr)?
                    .and_then(|v| v.as_dword());
                let addrs: Vec<String> =
                    match k.value("IPAddress").map_err(&herr)?.map(|v| v.decoded) {
                        Some(RegData::MultiSz(a)) => a,
                        Some(RegData::Sz(s)) => vec![s],
                        _ => Vec::new(),
                    };
                let static_addr = addrs.iter().any(|a| !a.is_empty() && a != "0.0.0.0");
                if dhcp == Some(1) && !static_addr {
                    continue;
                }
                if !static_addr && dhcp.is_none() {
                    continue;
                }
                let kp = format!("{ifaces_path}\\{}", k.name());
                e.set(&kp, "EnableDHCP", ValueData::dword(1))
                    .map_err(&herr)?;
                for v in &remove {
                    e.delete_value(&kp, v).map_err(&herr)?;
                }
                if !changed_ifaces.contains(&k.name().to_string()) {
                    changed_ifaces.push(k.name().to_string());
                }
            }
        }
        for (svc, start) in &services {
            let sp = format!("{cs}\\Services\\{svc}");
            let Some(k) = st.current.root().open_path(&sp).map_err(&herr)? else {
                out.note(format!("{cs}: no {svc} service to enable"));
                continue;
            };
            if k.value("Start").map_err(&herr)?.and_then(|v| v.as_dword()) == Some(4) {
                e.set(&sp, "Start", ValueData::dword(*start))
                    .map_err(&herr)?;
            }
        }
    }
    let ops = e.ops;
    edit_hive(ctx, out, SYSTEM, "HKEY_LOCAL_MACHINE\\SYSTEM", st, ops)
}

/// WIN-3 / MOD-W3: EMS off in the BCD store the boot manager reads, for the default loader
/// (and any other loader or the boot manager itself where it is on).
pub(super) fn bcd_ems(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let w = windows_facts(ctx);
    let Some(b) = &w.bcd else {
        out.note("no BCD store was read; EMS cannot be checked or turned off".into());
        return Ok(());
    };
    let path = b.source.clone();
    let Some(st) = load_hive(ctx, out, &path)? else {
        return Ok(());
    };
    let loader_el = param(out, "loader_element", "260000B0");
    let bootmgr_el = param(out, "bootmgr_element", "26000020");
    let herr = hive_err(out, &path);
    let mut e = Edits::new(&st.current);
    let objects = st.current.root().subkey("Objects").map_err(&herr)?;
    for o in objects
        .map(|o| o.subkeys())
        .transpose()
        .map_err(&herr)?
        .unwrap_or_default()
    {
        let is_bootmgr = o
            .name()
            .eq_ignore_ascii_case("{9dea862c-5cdd-4e70-acc1-f32b344d4795}");
        let el = if is_bootmgr { &bootmgr_el } else { &loader_el };
        let kp = format!("Objects\\{}\\Elements\\{el}", o.name());
        let Some(k) = st.current.root().open_path(&kp).map_err(&herr)? else {
            continue;
        };
        let Some(v) = k.value("Element").map_err(&herr)? else {
            continue;
        };
        if v.raw.first().is_some_and(|x| *x != 0) {
            let mut off = v.raw.clone();
            off.iter_mut().for_each(|x| *x = 0);
            e.set(
                &kp,
                "Element",
                ValueData {
                    kind: v.data_type,
                    data: off,
                },
            )
            .map_err(&herr)?;
        }
    }
    let ops = e.ops;
    edit_hive(ctx, out, &path, "HKEY_LOCAL_MACHINE\\BCD00000000", st, ops)
}

/// WIN-8 / MOD-W3: a sysprepped image gets the rule's answer file (EULA accepted, en-US
/// locales, `{arch}` replaced by the guest's processorArchitecture) where Windows looks for it
/// first; an answer file already there is left as it is.
pub(super) fn unattend(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    if !windows_facts(ctx).sysprepped() {
        return Ok(());
    }
    let path = param(out, "path", "/Windows/Panther/unattend.xml");
    let template = out
        .rule
        .param_str("template")
        .ok_or_else(|| rule_err(out, "the rule needs a template"))?
        .to_string();
    let exists =
        out.plan.changes.iter().any(|c| c.change.path() == path) || ctx.files.exists(&path);
    if exists {
        out.note(format!("{path} exists already; it is left as it is"));
        return Ok(());
    }
    let arch = match ctx.facts.arch.known().map(String::as_str) {
        Some("x86_64") => "amd64",
        Some("aarch64") => "arm64",
        _ => "x86",
    };
    let content = template.replace("{arch}", arch).into_bytes();
    out.change(Change::AddFile {
        path,
        size: content.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(&content)),
        content,
        copied_from: None,
    });
    Ok(())
}

/// MOD-W1 / MOD-W2: boot-start storage drivers and their device bindings, from the inbox
/// drivers the rule names and from the INF files of the driver folder (`drivers_dir`, set by
/// `--drivers DIR`); old-hypervisor drivers the rule names are disabled.
pub(super) fn boot_drivers(ctx: &Context, out: &mut Out) -> Result<(), PlanError> {
    let Some(st) = load_hive(ctx, out, SYSTEM)? else {
        return Ok(());
    };
    let herr = hive_err(out, SYSTEM);
    let sets = control_sets(out, &st.current)?;
    let ver = version(ctx);
    let mut e = Edits::new(&st.current);

    // Inbox drivers: Start = 0, StartOverride removed (Windows recreates it on each boot from
    // other storage), in every control set.
    let inbox = out
        .rule
        .params
        .get("inbox")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    for item in &inbox {
        let Some(svc) = item.get("service").and_then(|v| v.as_str()) else {
            return Err(rule_err(out, "each inbox entry needs a service"));
        };
        let min = item
            .get("min_version")
            .and_then(|v| v.as_str())
            .unwrap_or("0.0");
        if ver < parse_version(min) {
            out.note(format!(
                "{svc}: inbox only from Windows {min}; this guest is {}.{}",
                ver.0, ver.1
            ));
            continue;
        }
        for cs in &sets {
            let sp = format!("{cs}\\Services\\{svc}");
            if !e.key_exists(&sp).map_err(&herr)? {
                out.note(format!("{cs}: the inbox driver {svc} is not installed"));
                continue;
            }
            e.set(&sp, "Start", ValueData::dword(0)).map_err(&herr)?;
            e.delete_key(&format!("{sp}\\StartOverride"))
                .map_err(&herr)?;
        }
    }

    // Drivers of the old hypervisor that fail on the new one.
    let disable = out.rule.param_list("disable_services");
    let filters = out.rule.param_list("remove_filters");
    for cs in &sets {
        let sp = format!("{cs}\\Services");
        if let Some(services) = st.current.root().open_path(&sp).map_err(&herr)? {
            for s in services.subkeys().map_err(&herr)? {
                if disable.iter().any(|p| glob_match(p, s.name())) {
                    let start = s.value("Start").map_err(&herr)?.and_then(|v| v.as_dword());
                    if start != Some(4) {
                        e.set(&format!("{sp}\\{}", s.name()), "Start", ValueData::dword(4))
                            .map_err(&herr)?;
                    }
                }
            }
        }
        if filters.is_empty() {
            continue;
        }
        let cp = format!("{cs}\\Control\\Class");
        if let Some(classes) = st.current.root().open_path(&cp).map_err(&herr)? {
            for c in classes.subkeys().map_err(&herr)? {
                for vname in ["LowerFilters", "UpperFilters"] {
                    let Some(v) = c.value(vname).map_err(&herr)? else {
                        continue;
                    };
                    let RegData::MultiSz(items) = v.decoded else {
                        continue;
                    };
                    let kept: Vec<&str> = items
                        .iter()
                        .map(String::as_str)
                        .filter(|i| !filters.iter().any(|f| glob_match(f, i)))
                        .collect();
                    if kept.len() != items.len() {
                        e.set(
                            &format!("{cp}\\{}", c.name()),
                            vname,
                            ValueData::multi_sz(&kept),
                        )
                        .map_err(&herr)?;
                    }
                }
            }
        }
    }

    // Drivers from the folder the user named.
    let dir = param(out, "drivers_dir", "");
    let mut files: Vec<(String, Vec<u8>, String)> = Vec::new();
    let mut staged = false;
    if !dir.is_empty() {
        let target = driver::Target {
            arch: driver::Target::inf_arch(
                ctx.facts
                    .arch
                    .known()
                    .map(String::as_str)
                    .unwrap_or("x86_64"),
            )
            .into(),
            major: ver.0,
            minor: ver.1,
            build: windows_facts(ctx)
                .build
                .as_deref()
                .and_then(|b| b.parse().ok()),
        };
        let classes = out.rule.param_list("classes");
        let boot_classes = out.rule.param_list("boot_start_classes");
        let stage_dir = param(out, "stage_dir", "");
        let mut chosen: Vec<driver::Package> = Vec::new();
        for p in driver::find_infs(Path::new(&dir)).map_err(|e| rule_err(out, e))? {
            let pkg = match driver::load(&p, &target) {
                Ok(Some(pkg)) => pkg,
                Ok(None) => continue,
                Err(err) => {
                    out.note(format!("driver skipped: {err}"));
                    continue;
                }
            };
            if !classes.iter().any(|c| c.eq_ignore_ascii_case(&pkg.class)) {
                continue;
            }
            // One package per service: the most specific decoration wins (virtio-win ships
            // one folder per Windows release).
            let rank = |p: &driver::Package| driver::decoration_rank(&p.decoration, &target);
            let svc = pkg.services[0].name.clone();
            match chosen
                .iter_mut()
                .find(|c| c.services[0].name.eq_ignore_ascii_case(&svc))
            {
                Some(c) if rank(&pkg) > rank(c) => *c = pkg,
                Some(_) => {}
                None => chosen.push(pkg),
            }
        }
        if chosen.is_empty() {
            out.note(format!(
                "{dir}: no driver INF of the classes {} for {} Windows {}.{}",
                classes.join(", "),
                target.arch,
                ver.0,
                ver.1
            ));
        }
        for pkg in &chosen {
            install_package(ctx, out, &mut e, &sets, pkg, &boot_classes, ver)?;
            for c in &pkg.copies {
                let data = std::fs::read(&c.source)
                    .map_err(|err| rule_err(out, format!("{}: {err}", c.source.display())))?;
                files.push((c.dest.clone(), data, c.source.display().to_string()));
            }
            if !stage_dir.is_empty() {
                let stem = pkg.inf_name.trim_end_matches(".inf");
                for f in &pkg.package_files {
                    let name = f
                        .file_name()
                        .map(|n| n.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    let data = std::fs::read(f)
                        .map_err(|err| rule_err(out, format!("{}: {err}", f.display())))?;
                    files.push((
                        format!("{stage_dir}/{stem}/{name}"),
                        data,
                        f.display().to_string(),
                    ));
                }
                staged = true;
            }
        }
    }
    let ops = e.ops;
    edit_hive(ctx, out, SYSTEM, "HKEY_LOCAL_MACHINE\\SYSTEM", st, ops)?;

    for (path, data, from) in files {
        if out
            .plan
            .changes
            .iter()
            .any(|c| c.change.path().eq_ignore_ascii_case(&path))
        {
            continue;
        }
        if let Some(cur) = ctx.files.read_up_to(&path, 256 << 20) {
            // Another build of the driver: replaced (the original kept), as the services and
            // bindings now name the package's.
            if cur != data {
                let backup = out.backup(ctx, &path);
                let diff = format!(
                    "binary {path}: {} bytes, sha256 {} -> {} bytes, sha256 {} (from host:{from})\n",
                    cur.len(),
                    hex::encode(sha2::Sha256::digest(&cur)),
                    data.len(),
                    hex::encode(sha2::Sha256::digest(&data)),
                );
                out.change(Change::EditFile {
                    path,
                    old: cur,
                    new: data,
                    backup,
                    diff,
                });
            }
            continue;
        }
        if out
            .plan
            .changes
            .iter()
            .any(|c| c.change.path().eq_ignore_ascii_case(&path))
        {
            continue;
        }
        out.change(Change::AddFile {
            path,
            size: data.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&data)),
            content: data,
            copied_from: Some(format!("host:{from}")),
        });
    }
    // The staged packages are found by Plug and Play through DevicePath (SOFTWARE).
    if staged {
        if let Some(dp) = out.rule.param_str("device_path").map(str::to_string) {
            device_path(ctx, out, &dp)?;
        }
    }
    Ok(())
}

/// Append `dir` to `SOFTWARE\Microsoft\Windows\CurrentVersion\DevicePath`, keeping its type.
fn device_path(ctx: &Context, out: &mut Out, dir: &str) -> Result<(), PlanError> {
    let Some(st) = load_hive(ctx, out, SOFTWARE)? else {
        out.note(format!(
            "{SOFTWARE} not found: the staged drivers are not on DevicePath"
        ));
        return Ok(());
    };
    let herr = hive_err(out, SOFTWARE);
    let key = "Microsoft\\Windows\\CurrentVersion";
    let cur = st.current.root().open_path(key).map_err(&herr)?;
    let (kind, old) = match cur
        .and_then(|k| k.value("DevicePath").transpose())
        .transpose()
        .map_err(&herr)?
    {
        Some(v) => (
            v.data_type,
            match v.decoded {
                RegData::Sz(s) | RegData::ExpandSz(s) => s,
                _ => String::new(),
            },
        ),
        None => (
            crate::hive::value::REG_EXPAND_SZ,
            "%SystemRoot%\\inf".to_string(),
        ),
    };
    if old.split(';').any(|p| p.eq_ignore_ascii_case(dir)) {
        return Ok(());
    }
    let new = if old.is_empty() {
        dir.to_string()
    } else {
        format!("{old};{dir}")
    };
    let value = if kind == crate::hive::value::REG_SZ {
        ValueData::sz(&new)
    } else {
        ValueData::expand_sz(&new)
    };
    let mut e = Edits::new(&st.current);
    e.set(key, "DevicePath", value).map_err(&herr)?;
    let ops = e.ops;
    edit_hive(ctx, out, SOFTWARE, "HKEY_LOCAL_MACHINE\\SOFTWARE", st, ops)
}

/// The SYSTEM edits of one driver package: the services (every control set) and the device
/// bindings (CriticalDeviceDatabase before Windows 8, DriverDatabase from Windows 8 on).
fn install_package(
    _ctx: &Context,
    out: &mut Out,
    e: &mut Edits,
    sets: &[String],
    pkg: &driver::Package,
    boot_classes: &[String],
    ver: (u32, u32),
) -> Result<(), PlanError> {
    let herr = hive_err(out, SYSTEM);
    let boot = boot_classes
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&pkg.class));
    let function = pkg
        .services
        .iter()
        .find(|s| s.flags & 0x2 != 0)
        .unwrap_or(&pkg.services[0]);
    for cs in sets {
        for s in &pkg.services {
            let sp = format!("{cs}\\Services\\{}", s.name);
            let start = if boot && s.name == function.name {
                0
            } else {
                s.start_type
            };
            e.set(&sp, "Type", ValueData::dword(s.service_type))
                .map_err(&herr)?;
            e.set(&sp, "Start", ValueData::dword(start))
                .map_err(&herr)?;
            e.set(&sp, "ErrorControl", ValueData::dword(s.error_control))
                .map_err(&herr)?;
            // An equivalent ImagePath (`System32\drivers\x.sys`) is left as it is.
            let cur = e
                .hive()
                .root()
                .open_path(&sp)
                .map_err(&herr)?
                .map(|k| k.value("ImagePath"))
                .transpose()
                .map_err(&herr)?
                .flatten()
                .and_then(|v| match v.decoded {
                    RegData::Sz(x) | RegData::ExpandSz(x) => Some(x),
                    _ => None,
                });
            if cur.as_deref().map(norm_image_path) != Some(norm_image_path(&s.image_path)) {
                e.set(&sp, "ImagePath", ValueData::expand_sz(&s.image_path))
                    .map_err(&herr)?;
            }
            if let Some(g) = &s.group {
                e.set(&sp, "Group", ValueData::sz(g)).map_err(&herr)?;
            }
            if let Some(d) = &s.display_name {
                e.set_if_missing(&sp, "DisplayName", ValueData::sz(d))
                    .map_err(&herr)?;
            }
            e.delete_key(&format!("{sp}\\StartOverride"))
                .map_err(&herr)?;
            for r in &s.addreg {
                let key = match r.root.as_str() {
                    "HKR" => {
                        if r.subkey.is_empty() {
                            sp.clone()
                        } else {
                            format!("{sp}\\{}", r.subkey)
                        }
                    }
                    "HKLM" => {
                        let sub = r.subkey.trim_start_matches('\\');
                        let Some(rest) = strip_prefix_ci(sub, "System\\CurrentControlSet\\") else {
                            out.note(format!(
                                "{}: AddReg HKLM\\{sub} is outside SYSTEM\\CurrentControlSet; not written",
                                pkg.inf_name
                            ));
                            continue;
                        };
                        format!("{cs}\\{rest}")
                    }
                    other => {
                        out.note(format!("{}: AddReg root {other} not written", pkg.inf_name));
                        continue;
                    }
                };
                if r.delete {
                    e.delete_value(&key, &r.name).map_err(&herr)?;
                    continue;
                }
                match &r.value {
                    None => e.create_key(&key).map_err(&herr)?,
                    Some(v) if r.no_clobber => {
                        e.set_if_missing(&key, &r.name, v.clone()).map_err(&herr)?
                    }
                    Some(v) => e.set(&key, &r.name, v.clone()).map_err(&herr)?,
                }
            }
        }
    }
    let pci_ids: Vec<&String> = pkg
        .models
        .iter()
        .flat_map(|m| m.hardware_ids.iter())
        .filter(|id| id.len() > 4 && strip_prefix_ci(id, "PCI\\").is_some())
        .collect();
    if pci_ids.is_empty() {
        out.note(format!(
            "{}: no PCI hardware IDs; no device binding written",
            pkg.inf_name
        ));
        return Ok(());
    }
    if ver < (6, 2) {
        for cs in sets {
            for id in &pci_ids {
                let kp = format!(
                    "{cs}\\Control\\CriticalDeviceDatabase\\{}",
                    id.replace('\\', "#").to_ascii_lowercase()
                );
                e.set(&kp, "Service", ValueData::sz(&function.name))
                    .map_err(&herr)?;
                e.set(&kp, "ClassGUID", ValueData::sz(&pkg.class_guid))
                    .map_err(&herr)?;
            }
        }
        return Ok(());
    }
    // Windows 8+: a DriverDatabase entry as virt-v2v writes it, with the package label form of
    // libguestfs-common da55dc4 (`<inf>_<arch>_0000000000000000`) and the INF's own install
    // section as the configuration name.
    let inf = &pkg.inf_name;
    let arch = if pkg.decoration.is_empty() {
        "amd64".to_string()
    } else {
        pkg.decoration
            .split('.')
            .next()
            .unwrap_or("NTamd64")
            .get(2..)
            .unwrap_or("amd64")
            .to_ascii_lowercase()
    };
    let label = format!("{inf}_{arch}_0000000000000000");
    let confs: Vec<&str> = pkg.models.iter().map(|m| m.install.as_str()).collect();
    let dd = "DriverDatabase";
    let fi = format!("{dd}\\DriverInfFiles\\{inf}");
    e.set(&fi, "", ValueData::multi_sz(&[&label]))
        .map_err(&herr)?;
    e.set(&fi, "Active", ValueData::sz(&label)).map_err(&herr)?;
    e.set(&fi, "Configurations", ValueData::multi_sz(&confs))
        .map_err(&herr)?;
    let pk = format!("{dd}\\DriverPackages\\{label}");
    e.set(&pk, "", ValueData::sz(inf)).map_err(&herr)?;
    let mut version = vec![0x00, 0xff, 0x09, 0x00, 0, 0, 0, 0];
    version.extend(guid_bytes(&pkg.class_guid).unwrap_or([0; 16]));
    version.extend([0u8; 24]);
    e.set(&pk, "Version", ValueData::binary(version))
        .map_err(&herr)?;
    if !pkg.provider.is_empty() {
        e.set(&pk, "Provider", ValueData::sz(&pkg.provider))
            .map_err(&herr)?;
    }
    for m in &pkg.models {
        let svc = function.name.as_str();
        let ck = format!("{pk}\\Configurations\\{}", m.install);
        e.set(&ck, "ConfigFlags", ValueData::dword(0))
            .map_err(&herr)?;
        e.set(&ck, "Service", ValueData::sz(svc)).map_err(&herr)?;
        for id in m.hardware_ids.iter().filter(|id| pci_ids.contains(id)) {
            let Some(bare) = strip_prefix_ci(id, "PCI\\") else {
                continue;
            };
            e.set(
                &format!("{dd}\\DeviceIds\\PCI\\{bare}"),
                inf,
                ValueData::binary(vec![0x01, 0xff, 0x00, 0x00]),
            )
            .map_err(&herr)?;
            e.set(
                &format!("{pk}\\Descriptors\\PCI\\{bare}"),
                "Configuration",
                ValueData::sz(&m.install),
            )
            .map_err(&herr)?;
        }
    }
    Ok(())
}

/// An ImagePath without the forms of "relative to the Windows folder", lower-cased.
fn norm_image_path(p: &str) -> String {
    let l = p.to_ascii_lowercase();
    for pre in [
        "\\systemroot\\",
        "%systemroot%\\",
        "\\??\\c:\\windows\\",
        "c:\\windows\\",
    ] {
        if let Some(r) = l.strip_prefix(pre) {
            return r.to_string();
        }
    }
    l
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .and_then(|_| s.get(prefix.len()..))
}

/// `{4D36E97B-E325-11CE-BFC1-08002BE10318}` in its binary (mixed-endian) form.
fn guid_bytes(s: &str) -> Option<[u8; 16]> {
    let h: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if h.len() != 32 {
        return None;
    }
    let b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[i * 2..i * 2 + 2], 16).ok())
        .collect::<Option<_>>()?;
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    out[4..6].copy_from_slice(&[b[5], b[4]]);
    out[6..8].copy_from_slice(&[b[7], b[6]]);
    out[8..].copy_from_slice(&b[8..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn guid_form_matches_virt_v2v() {
        // virt-v2v's Version value carries the SCSIAdapter class GUID as 7b e9 36 4d 25 e3 ce 11 …
        assert_eq!(
            super::guid_bytes("{4D36E97B-E325-11CE-BFC1-08002BE10318}").unwrap(),
            [
                0x7b, 0xe9, 0x36, 0x4d, 0x25, 0xe3, 0xce, 0x11, 0xbf, 0xc1, 0x08, 0x00, 0x2b, 0xe1,
                0x03, 0x18
            ]
        );
    }
}
