//! Checks on one Windows root: OS-1, OS-3 (matrix), OS-4 (end of life), OS-5 (Server vs client,
//! SQL Server edition), BOOT-3 (the boot mode the service would choose, GPT→MBR conversion),
//! WIN-1..WIN-9 (WIN-6 includes the SAM's enabled local accounts without a password), GEN-1
//! (P2V signs), GEN-3 (BitLocker drive letters), GEN-4 (static IPs) and GEN-5 (a hibernation
//! image in hiberfil.sys is a blocker; fast startup or a dirty hive a warning). The generic volume findings (GEN-3 blocker,
//! GEN-5 dirty NTFS, BOOT-3 dynamic disk) are in disk.rs.

use super::{Finding, Severity, disk::human};
use crate::guest::facts::{Inspection, OsFacts};
use crate::guest::windows::{PLATFORM_NETWORK, PLATFORM_STORAGE, WindowsFacts};
use crate::rules::Profile;

/// 2 TiB: BOOT-3's size limit for legacy BIOS / GPT→MBR conversion.
const TWO_TIB: u64 = 2 << 40;
/// Default WIN-1 free space when the profile says none.
const DEFAULT_MIN_FREE: u64 = 6 << 30;

pub(super) fn check(
    insp: &Inspection,
    os: &OsFacts,
    profile: &Profile,
    today: &str,
    out: &mut Vec<Finding>,
) {
    let s = &profile.settings;
    let subj = os.root.as_str();
    let Some(w) = WindowsFacts::from_os(os) else {
        out.push(
            Finding::new("OS-3", Severity::Warning, subj, "Windows facts missing")
                .evidence("the inspection holds no Windows registry facts for this root"),
        );
        return;
    };
    let sys = w.system.clone().unwrap_or_default();
    let sw = w.software.clone().unwrap_or_default();
    for (k, why) in &w.unknown {
        if k == "system" || k == "software" {
            out.push(
                Finding::new(
                    "OS-3",
                    Severity::Warning,
                    subj,
                    format!("{} hive could not be read", k.to_uppercase()),
                )
                .evidence(why.clone()),
            );
        }
    }

    // OS-1: architecture.
    let arch = os.arch.known().cloned();
    match &arch {
        Some(a) if s.accepted_arch.contains(a) => out.push(Finding::new(
            "OS-1",
            Severity::Pass,
            subj,
            format!("architecture {a}"),
        )),
        Some(a) => {
            let why = if a == "i386" {
                match &s.refuse_32bit_since {
                    Some(d) if today >= d.as_str() => {
                        format!("32-bit guests are refused since {d}")
                    }
                    _ => "32-bit guest".into(),
                }
            } else {
                format!("{a} guests are refused")
            };
            out.push(
                Finding::new(
                    "OS-1",
                    Severity::Blocker,
                    subj,
                    format!("architecture {a} not supported"),
                )
                .evidence(why)
                .fix(format!(
                    "only {} guests can be imported",
                    s.accepted_arch.join(", ")
                )),
            )
        }
        None => out.push(
            Finding::new("OS-1", Severity::Warning, subj, "architecture unknown")
                .evidence(format!("{:?}", os.arch)),
        ),
    }

    // OS-3 / OS-4: the matrix.
    let product = w.matrix_product.clone().unwrap_or_default();
    let edition = w.edition.clone().unwrap_or_default();
    let build = w.build.clone().unwrap_or_default();
    let m = profile
        .matrix
        .match_windows(&product, &edition, arch.as_deref().unwrap_or(""));
    let named = format!(
        "{product} (EditionID {edition}, build {build}, {})",
        w.installation_type.as_deref().unwrap_or("type unknown")
    );
    let mut os3 = Vec::new();
    match &m.entry {
        None => os3.push(format!("{named} is not in the accepted Windows versions")),
        Some(e) => {
            if !m.edition_ok {
                os3.push(format!(
                    "edition {edition} is not accepted for {} (accepted: {})",
                    e.product,
                    e.editions.join(", ")
                ));
            }
            if !m.arch_ok {
                os3.push(format!(
                    "{} is accepted only as {}",
                    e.product,
                    e.arch.join(", ")
                ));
            }
            if let Some(t) = &w.installation_type {
                if e.refuse_installation_types
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(t))
                {
                    os3.push(format!(
                        "installation type {t} is refused for {}",
                        e.product
                    ));
                }
            }
            if e.requires_uefi && w.boot_mode.as_deref() != Some("uefi") {
                os3.push(format!(
                    "{} needs UEFI; this installation boots {}",
                    e.product,
                    w.boot_mode.as_deref().unwrap_or("in an unknown mode")
                ));
            }
            if e.client {
                let lang = sys
                    .language_default
                    .clone()
                    .or(sys.install_language.clone());
                match lang.as_deref() {
                    Some(l) if l.eq_ignore_ascii_case("0409") => {}
                    Some(l) => os3.push(format!(
                        "client editions need US-English as the OS language; Nls\\Language Default is {l}"
                    )),
                    None => {}
                }
            }
        }
    }
    let client_entry = m.entry.as_ref().filter(|e| e.client);
    if let (true, Some(e)) = (os3.is_empty(), client_entry) {
        // Accepted, with the conditions OS-3 puts on client editions.
        let mut ev = vec![
            named.clone(),
            "client editions are bring-your-own-licence (OS-5)".to_string(),
            format!(
                "OS language {} (US-English required)",
                sys.language_default.as_deref().unwrap_or("unknown")
            ),
        ];
        if e.requires_uefi {
            ev.push(format!(
                "{} needs UEFI: it boots {}",
                e.product,
                w.boot_mode.as_deref().unwrap_or("?")
            ));
        }
        out.push(
            Finding::new(
                "OS-3",
                Severity::Info,
                subj,
                format!("{product}: client edition, accepted on conditions"),
            )
            .evidences(ev),
        );
    } else if os3.is_empty() {
        out.push(
            Finding::new(
                "OS-3",
                Severity::Pass,
                subj,
                format!("{product} is accepted"),
            )
            .evidence(named.clone()),
        );
    } else {
        out.push(
            Finding::new(
                "OS-3",
                Severity::Blocker,
                subj,
                format!("{product} is not accepted as it is"),
            )
            .evidence(named.clone())
            .evidences(os3)
            .fix("use an accepted Windows version, edition and boot mode (see the OS matrix)"),
        );
    }
    if let Some(e) = &m.entry {
        if e.eol {
            out.push(
                Finding::new(
                    "OS-4",
                    Severity::Warning,
                    subj,
                    format!("{} is end of life", e.product),
                )
                .evidence("imported, but untested by the import service")
                .fix("plan an upgrade to a supported release"),
            );
        } else {
            out.push(Finding::new(
                "OS-4",
                Severity::Pass,
                subj,
                format!("{} is not end of life", e.product),
            ));
        }
    }

    // OS-5: licensing.
    match w.is_client() {
        Some(true) => out.push(
            Finding::new(
                "OS-5",
                Severity::Info,
                subj,
                "Windows client edition: bring-your-own-licence only",
            )
            .evidence(format!(
                "InstallationType {}",
                w.installation_type.as_deref().unwrap_or("?")
            )),
        ),
        Some(false) => out.push(
            Finding::new("OS-5", Severity::Info, subj, "Windows Server").evidence(format!(
                "InstallationType {}",
                w.installation_type.as_deref().unwrap_or("?")
            )),
        ),
        None => {}
    }
    for q in &sw.sql_server {
        out.push(
            Finding::new(
                "OS-5",
                Severity::Info,
                subj,
                format!(
                    "SQL Server {} installed",
                    q.edition.as_deref().unwrap_or("(edition unknown)")
                ),
            )
            .evidence(format!(
                "instance {} ({}), version {}",
                q.name,
                q.id,
                q.version.as_deref().unwrap_or("?")
            )),
        );
    }

    boot3(insp, os, &w, out);
    win_checks(s.windows_min_free_bytes, os, &w, &product, out);
    win9_security_and_licensing(s, os, &w, out);
    gen_checks(insp, os, &w, out);
}

/// BOOT-3: NTFS on MBR/GPT; which boot mode the service would pick, and GPT→MBR conversion.
fn boot3(insp: &Inspection, os: &OsFacts, w: &WindowsFacts, out: &mut Vec<Finding>) {
    let subj = os.root.as_str();
    let disk_idx = insp
        .disks
        .iter()
        .position(|d| d.volumes.iter().any(|v| v.device == os.root));
    let Some(d) = disk_idx.and_then(|i| insp.disks.get(i)) else {
        return;
    };
    // The image the boot disk came from (one disk per image, or the disks of one OVA).
    let mut n = 0usize;
    let format = insp
        .images
        .iter()
        .find(|im| {
            n += im.disks.len().max(1);
            disk_idx.is_some_and(|i| i < n)
        })
        .map(|im| im.format.clone())
        .unwrap_or_default();
    let dynamic = d.notes.iter().any(|n| n.contains("dynamic"))
        || d.volumes
            .iter()
            .any(|v| v.content.as_deref() == Some("LDM"));
    let mut ev = vec![format!(
        "{}: {} partition table, {} primary partition(s), {}, image format {format}{}",
        d.device,
        d.partition_table,
        d.primary_partitions,
        human(d.size),
        if dynamic { ", dynamic disk" } else { "" }
    )];
    ev.extend(w.boot_mode_evidence.iter().cloned());
    let vhdx = format == "vhdx";
    let small = d.size < TWO_TIB;
    let bios = os.boot_modes.bios;
    let uefi = os.boot_modes.uefi;
    let table_ok = matches!(d.partition_table.as_str(), "mbr" | "gpt");
    if !table_ok {
        out.push(
            Finding::new(
                "BOOT-3",
                Severity::Blocker,
                subj,
                "Windows boot disk is not MBR or GPT partitioned",
            )
            .evidences(ev),
        );
        return;
    }
    let (sev, title) = match (bios, uefi) {
        (true, true) => {
            let legacy = small && d.primary_partitions <= 4 && !dynamic && vhdx;
            ev.push(format!(
                "bootable both ways: with no boot mode given the service picks {} (legacy BIOS needs a disk < 2 TB, at most 4 primary partitions, no dynamic disk, and VHDX format)",
                if legacy { "legacy BIOS" } else { "UEFI" }
            ));
            (
                Severity::Info,
                format!(
                    "boots BIOS and UEFI; the service would choose {}",
                    if legacy { "legacy BIOS" } else { "UEFI" }
                ),
            )
        }
        (false, true) => {
            let convert = d.partition_table == "gpt"
                && vhdx
                && d.size <= TWO_TIB
                && d.primary_partitions <= 3
                && !dynamic;
            let mut why = Vec::new();
            if d.partition_table != "gpt" {
                why.push("the disk is not GPT".to_string());
            }
            if !vhdx {
                why.push(format!("the format is {format}, not VHDX"));
            }
            if d.size > TWO_TIB {
                why.push("the disk is larger than 2 TiB".into());
            }
            if d.primary_partitions > 3 {
                why.push(format!("{} primary partitions (> 3)", d.primary_partitions));
            }
            if dynamic {
                why.push("dynamic disk".into());
            }
            if convert {
                ev.push("UEFI Windows: the GPT boot volume would be converted to MBR (VHDX, ≤ 2 TiB, ≤ 3 primary partitions, not dynamic)".into());
            } else {
                ev.push(format!(
                    "UEFI Windows: the GPT boot volume is not converted to MBR because {}",
                    why.join(", ")
                ));
            }
            (
                Severity::Pass,
                if convert {
                    "UEFI boot; the service would convert GPT to MBR".into()
                } else {
                    "UEFI boot; GPT kept".into()
                },
            )
        }
        (true, false) => (Severity::Pass, "legacy BIOS boot from MBR".to_string()),
        (false, false) => (
            Severity::Warning,
            "no Windows boot manager found for BIOS or UEFI".to_string(),
        ),
    };
    out.push(Finding::new("BOOT-3", sev, subj, title).evidences(ev));
}

/// WIN-9: security software or policy that blocks driver installation, and editions without
/// volume licensing. The lists are profile settings (rules/ec2/profile.toml).
fn win9_security_and_licensing(
    s: &crate::rules::ProfileSettings,
    os: &OsFacts,
    w: &WindowsFacts,
    out: &mut Vec<Finding>,
) {
    let subj = os.root.as_str();
    if w.system.is_some() {
        let mut found: Vec<String> = s
            .windows_security_services
            .iter()
            .filter_map(|n| w.service(n).filter(|x| !x.disabled()).map(|x| (n, x)))
            .map(|(n, x)| {
                format!(
                    "service {n} (Start={}{})",
                    x.start.map(|v| v.to_string()).unwrap_or("?".into()),
                    x.image_path
                        .as_deref()
                        .map(|p| format!(", {p}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        if let Some(sw) = &w.software {
            found.extend(sw.device_install_restrictions.iter().map(|r| {
                format!("policy Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions: {r}")
            }));
        }
        if found.is_empty() {
            out.push(Finding::new(
                "WIN-9",
                Severity::Pass,
                subj,
                "no security product or policy known to block driver installation",
            ));
        } else {
            out.push(
                Finding::new(
                    "WIN-9",
                    Severity::Warning,
                    subj,
                    "antivirus or hardening may block driver installation",
                )
                .evidences(found)
                .fix("disable the security agent and device-installation restrictions for the import; re-enable them after the first boot"),
            );
        }
    }
    if let Some(ed) = w.software.as_ref().and_then(|x| x.edition_id.as_deref()) {
        if s.windows_no_volume_licensing_editions
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ed))
        {
            out.push(
                Finding::new(
                    "WIN-9",
                    Severity::Warning,
                    subj,
                    "edition without volume licensing (activation fails after import)",
                )
                .evidence(format!("EditionID {ed}"))
                .fix("bring your own license for this edition, or upgrade to an edition with volume licensing"),
            );
        }
    }
}

fn win_checks(
    min_free: Option<u64>,
    os: &OsFacts,
    w: &WindowsFacts,
    product: &str,
    out: &mut Vec<Finding>,
) {
    let subj = os.root.as_str();
    let sys = w.system.clone().unwrap_or_default();
    let sw = w.software.clone().unwrap_or_default();
    let have_sys = w.system.is_some();
    let have_sw = w.software.is_some();

    // WIN-1: free space and page file.
    let min = min_free.unwrap_or(DEFAULT_MIN_FREE);
    match w.system_volume_free_bytes {
        Some(f) if f >= min => out.push(
            Finding::new("WIN-1", Severity::Pass, subj, "enough free space on C:")
                .evidence(format!("{} free (≥ {})", human(f), human(min))),
        ),
        Some(f) => out.push(
            Finding::new(
                "WIN-1",
                Severity::Blocker,
                subj,
                "not enough free space on the system volume",
            )
            .evidence(format!(
                "{} free on {}; {} needed",
                human(f),
                subj,
                human(min)
            ))
            .fix("free space on C: or grow the volume before export"),
        ),
        None => out.push(
            Finding::new("WIN-1", Severity::Warning, subj, "free space unknown").evidence(
                w.unknown
                    .get("system_volume_free_bytes")
                    .cloned()
                    .unwrap_or_default(),
            ),
        ),
    }
    if let Some(p) = &sys.page_file {
        if p.automatic {
            out.push(
                Finding::new(
                    "WIN-1",
                    Severity::Warning,
                    subj,
                    "automatic page-file management",
                )
                .evidence(format!("PagingFiles = {}", p.entries.join("; ")))
                .fix("set a fixed-size page file: automatic management may create a 16 GB pagefile.sys on C:"),
            );
        }
    }

    // WIN-2: Server 2012 R2 gets SR-IOV drivers from the service.
    if product.to_ascii_lowercase().contains("2012 r2") {
        out.push(Finding::new(
            "WIN-2",
            Severity::Info,
            subj,
            "Windows Server 2012 R2: the service installs the SR-IOV network drivers",
        ));
    }

    // WIN-3: EMS.
    match &w.bcd {
        Some(b) if b.ems_enabled() => {
            let mut ev = Vec::new();
            if b.boot_manager_ems == Some(true) {
                ev.push(format!("{}: boot manager bootems = yes", b.source));
            }
            for l in b.loaders.iter().filter(|l| l.ems == Some(true)) {
                ev.push(format!(
                    "{}: loader {} ({}) ems = yes",
                    b.source,
                    l.id,
                    l.description.as_deref().unwrap_or("")
                ));
            }
            out.push(
                Finding::new(
                    "WIN-3",
                    Severity::Warning,
                    subj,
                    "Emergency Management Services enabled in the BCD",
                )
                .evidences(ev)
                .fix("EMS is not supported; it is disabled in the imported image (guestfix plan does it, MOD-W3)"),
            );
        }
        Some(b) => out.push(
            Finding::new("WIN-3", Severity::Pass, subj, "EMS not enabled")
                .evidence(b.source.clone()),
        ),
        None => out.push(
            Finding::new("WIN-3", Severity::Warning, subj, "BCD store not read")
                .evidence(w.unknown.get("bcd").cloned().unwrap_or_default()),
        ),
    }

    // WIN-4: language packs.
    if have_sys {
        let bad: Vec<&String> = sys.ui_languages.iter().filter(|l| !l.is_ascii()).collect();
        if !bad.is_empty() {
            out.push(
                Finding::new(
                    "WIN-4",
                    Severity::Blocker,
                    subj,
                    "language pack with a non-ASCII name",
                )
                .evidences(
                    bad.iter()
                        .map(|l| format!("Control\\MUI\\UILanguages\\{l}")),
                )
                .fix("remove the language pack before export"),
            );
        }
        let lang = sys.language_default.clone().unwrap_or_default();
        if !lang.is_empty() && !lang.eq_ignore_ascii_case("0409") {
            out.push(
                Finding::new(
                    "WIN-4",
                    Severity::Warning,
                    subj,
                    "OS language is not English (US)",
                )
                .evidence(format!("Nls\\Language Default = {lang}"))
                .fix("English is recommended"),
            );
        } else if bad.is_empty() {
            out.push(
                Finding::new("WIN-4", Severity::Pass, subj, "OS language English (US)").evidences(
                    std::iter::once(format!("Nls\\Language Default = {lang}")).chain(
                        sys.ui_languages
                            .iter()
                            .map(|l| format!("language pack {l}")),
                    ),
                ),
            );
        }
    }

    // WIN-5: Hyper-V role.
    let server = w.is_client() == Some(false);
    if w.hyperv_role {
        let s = w.service("vmms");
        out.push(
            Finding::new(
                "WIN-5",
                if server {
                    Severity::Blocker
                } else {
                    Severity::Warning
                },
                subj,
                "Hyper-V role installed",
            )
            .evidence(format!(
                "service vmms (Start={}, {})",
                s.and_then(|s| s.start)
                    .map(|x| x.to_string())
                    .unwrap_or("?".into()),
                s.and_then(|s| s.image_path.clone()).unwrap_or_default()
            ))
            .fix("remove the Hyper-V role before export: Windows Server with Hyper-V is refused"),
        );
    } else if have_sys {
        out.push(Finding::new(
            "WIN-5",
            Severity::Pass,
            subj,
            "no Hyper-V role",
        ));
    }

    // WIN-6: RDP, firewall, .NET, auto-logon, pending updates.
    if have_sys {
        match sys.deny_ts_connections {
            Some(0) => out.push(
                Finding::new("WIN-6", Severity::Pass, subj, "RDP enabled")
                    .evidence("Terminal Server fDenyTSConnections = 0"),
            ),
            v => out.push(
                Finding::new("WIN-6", Severity::Warning, subj, "RDP is disabled")
                    .evidence(match v {
                        Some(v) => format!("Terminal Server fDenyTSConnections = {v}"),
                        None => {
                            "Terminal Server fDenyTSConnections not set (RDP off by default)".into()
                        }
                    })
                    .fix("enable Remote Desktop before export, or there is no way to log in"),
            ),
        }
        if !sys.rdp_firewall_rules.is_empty() {
            out.push(
                Finding::new("WIN-6", Severity::Pass, subj, "firewall allows RDP in")
                    .evidences(sys.rdp_firewall_rules.iter().cloned()),
            );
        } else if !sys.rdp_firewall_rules_inactive.is_empty() {
            out.push(
                Finding::new(
                    "WIN-6",
                    Severity::Warning,
                    subj,
                    "firewall RDP rules are disabled",
                )
                .evidences(sys.rdp_firewall_rules_inactive.iter().cloned())
                .fix("enable the Remote Desktop firewall rules"),
            );
        } else {
            out.push(
                Finding::new(
                    "WIN-6",
                    Severity::Warning,
                    subj,
                    "no firewall rule allowing RDP found",
                )
                .evidence(if sys.firewall_rules_key {
                    "FirewallPolicy\\FirewallRules has no active inbound RDP (3389) allow rule"
                } else {
                    "no FirewallPolicy\\FirewallRules key in the SYSTEM hive"
                })
                .fix("allow Remote Desktop through the Windows firewall"),
            );
        }
    }
    if have_sw {
        let ok45 = sw.dotnet.iter().any(|v| {
            let mut it = v.split(['.', ' ']);
            let a: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let b: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            (a, b) >= (4, 5)
        });
        if ok45 {
            out.push(
                Finding::new("WIN-6", Severity::Pass, subj, ".NET Framework 4.5 or later")
                    .evidence(format!(".NET {}", sw.dotnet.join(", "))),
            );
        } else {
            out.push(
                Finding::new(
                    "WIN-6",
                    Severity::Warning,
                    subj,
                    ".NET Framework 4.5+ missing",
                )
                .evidence(format!(
                    ".NET installed: {}",
                    if sw.dotnet.is_empty() {
                        "none".to_string()
                    } else {
                        sw.dotnet.join(", ")
                    }
                ))
                .fix("install .NET Framework 4.5 or later (3.5 SP1 for the older agent)"),
            );
        }
        if sw.auto_logon {
            out.push(
                Finding::new("WIN-6", Severity::Warning, subj, "auto-logon is enabled")
                    .evidence("Winlogon AutoAdminLogon = 1")
                    .fix("disable auto-logon before export"),
            );
        }
        let mut pending: Vec<String> = sw.pending_reboot.clone();
        if sys.pending_file_rename {
            pending.push("Session Manager PendingFileRenameOperations".into());
        }
        if !pending.is_empty() {
            out.push(
                Finding::new(
                    "WIN-6",
                    Severity::Warning,
                    subj,
                    "pending Windows updates / reboot",
                )
                .evidences(pending)
                .fix("install pending updates and reboot before export"),
            );
        }
    }
    win6_accounts(subj, w, out);

    // WIN-7: RealTimeIsUniversal.
    if have_sys {
        match sys.real_time_is_universal {
            Some(1) => out.push(
                Finding::new("WIN-7", Severity::Pass, subj, "RealTimeIsUniversal is set")
                    .evidence("TimeZoneInformation RealTimeIsUniversal = 1"),
            ),
            v => out.push(
                Finding::new("WIN-7", Severity::Warning, subj, "RealTimeIsUniversal is not set")
                    .evidence(match v {
                        Some(v) => format!("TimeZoneInformation RealTimeIsUniversal = {v}"),
                        None => "TimeZoneInformation has no RealTimeIsUniversal value".into(),
                    })
                    .fix("set HKLM\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation\\RealTimeIsUniversal = 1 (DWORD)"),
            ),
        }
    }

    // WIN-8: sysprep.
    let generalized = w
        .image_state
        .as_deref()
        .is_some_and(|s| s.contains("GENERALIZE") || s.contains("OOBE"))
        || sys.oobe_in_progress == Some(1)
        || sys.setup_in_progress == Some(1);
    if generalized {
        out.push(
            Finding::new("WIN-8", Severity::Info, subj, "the image is sysprepped")
                .evidences(
                    w.image_state
                        .iter()
                        .map(|s| format!("Windows\\Setup\\State\\State.ini ImageState = {s}"))
                        .chain(
                            sys.setup_in_progress
                                .filter(|v| *v == 1)
                                .map(|_| "Setup SystemSetupInProgress = 1".to_string()),
                        )
                        .chain(
                            sys.oobe_in_progress
                                .filter(|v| *v == 1)
                                .map(|_| "Setup OOBEInProgress = 1".to_string()),
                        ),
                )
                .fix(format!(
                    "the service adds an unattend.xml (EULA accepted, en-US locale, processorArchitecture {})",
                    if os.arch.known().map(String::as_str) == Some("x86_64") { "amd64" } else { "x86" }
                )),
        );
    } else if have_sys {
        out.push(Finding::new(
            "WIN-8",
            Severity::Pass,
            subj,
            "not sysprepped",
        ));
    }

    // WIN-9: first-boot failure causes.
    if have_sys {
        let mut bad = Vec::new();
        match w.service("Tcpip") {
            None => bad.push("no Tcpip service".to_string()),
            Some(s) if s.disabled() => bad.push("Tcpip service disabled (Start=4)".into()),
            _ => {}
        }
        match w.service("Dhcp") {
            None => bad.push("no Dhcp client service".to_string()),
            Some(s) if s.disabled() => bad.push("Dhcp client service disabled (Start=4)".into()),
            _ => {}
        }
        if bad.is_empty() {
            out.push(Finding::new(
                "WIN-9",
                Severity::Pass,
                subj,
                "TCP/IP and the DHCP client are enabled",
            ));
        } else {
            out.push(
                Finding::new("WIN-9", Severity::Blocker, subj, "TCP/IP or DHCP disabled")
                    .evidences(bad)
                    .fix("enable the Tcpip and Dhcp services"),
            );
        }
        let boot_disk = os
            .root
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('p')
            .to_string();
        let off: Vec<String> = w
            .drive_mappings
            .iter()
            .filter(|(_, v)| !v.starts_with(&boot_disk))
            .map(|(l, v)| format!("{l}: is {v}, not on the boot disk"))
            .collect();
        if !off.is_empty() {
            out.push(
                Finding::new(
                    "WIN-9",
                    Severity::Warning,
                    subj,
                    "drive letters on other disks (only the boot disk is imported)",
                )
                .evidences(off)
                .fix("make sure nothing Windows needs at boot (e.g. an AD database) lives there"),
            );
        }
        if let Some(b) = &w.bcd {
            // The boot menu is the display order (the recovery loader is not in it); a store
            // without one shows every Windows loader.
            let menu = if b.display_order.is_empty() {
                b.loaders.len()
            } else {
                b.display_order.len()
            };
            if menu > 1 {
                out.push(
                    Finding::new(
                        "WIN-9",
                        Severity::Warning,
                        subj,
                        "several boot entries / a boot menu",
                    )
                    .evidences(
                        b.loaders
                            .iter()
                            .filter(|l| {
                                b.display_order.is_empty() || b.display_order.contains(&l.id)
                            })
                            .map(|l| {
                                format!(
                                    "{}: {} {}",
                                    b.source,
                                    l.id,
                                    l.description.as_deref().unwrap_or("")
                                )
                            }),
                    )
                    .fix("leave one Windows boot entry"),
                );
            }
        }
        let boot_storage: Vec<&str> = PLATFORM_STORAGE
            .iter()
            .copied()
            .filter(|n| w.service(n).is_some_and(|s| s.boot_start()))
            .collect();
        let net: Vec<&str> = PLATFORM_NETWORK
            .iter()
            .copied()
            .filter(|n| w.service(n).is_some_and(|s| !s.disabled()))
            .collect();
        let present: Vec<String> = w
            .drivers
            .iter()
            .map(|d| {
                format!(
                    "{} ({}, Start={})",
                    d.name,
                    d.family,
                    d.start.map(|x| x.to_string()).unwrap_or("?".into())
                )
            })
            .collect();
        if boot_storage.is_empty() || net.is_empty() {
            out.push(
                Finding::new(
                    "MOD-W1",
                    Severity::Info,
                    subj,
                    format!(
                        "platform {} drivers not installed; the import (MOD-W1/W2) adds them",
                        match (boot_storage.is_empty(), net.is_empty()) {
                            (true, true) => "storage and network",
                            (true, false) => "storage",
                            _ => "network",
                        }
                    ),
                )
                .evidences(present),
            );
        } else {
            out.push(
                Finding::new(
                    "MOD-W1",
                    Severity::Pass,
                    subj,
                    "platform storage and network drivers present",
                )
                .evidences(present),
            );
        }
    }
}

/// WIN-6: every account has a password — enabled local accounts of the SAM hive without an NT
/// hash have a blank password (disabled accounts such as Guest do not count).
fn win6_accounts(subj: &str, w: &WindowsFacts, out: &mut Vec<Finding>) {
    let Some(sam) = &w.sam else {
        out.push(
            Finding::new(
                "WIN-6",
                Severity::Warning,
                subj,
                "account passwords unknown",
            )
            .evidence(
                w.unknown
                    .get("sam")
                    .cloned()
                    .unwrap_or_else(|| "the SAM hive was not read".into()),
            )
            .fix("make sure every account has a password"),
        );
        return;
    };
    let blank: Vec<String> = sam
        .blank_password_accounts()
        .map(|a| {
            format!(
                "{} (RID {}): enabled, no NT password hash in SAM{}",
                a.name,
                a.rid,
                if a.password_not_required {
                    "; password not required (ACB_PWNOTREQ)"
                } else {
                    ""
                }
            )
        })
        .collect();
    let mut ev: Vec<String> = sam
        .unreadable
        .iter()
        .map(|u| format!("SAM account not readable: {u}"))
        .collect();
    if blank.is_empty() {
        let enabled: Vec<&str> = sam
            .accounts
            .iter()
            .filter(|a| !a.disabled)
            .map(|a| a.name.as_str())
            .collect();
        ev.insert(
            0,
            format!(
                "{} enabled local account(s) with a password: {}",
                enabled.len(),
                enabled.join(", ")
            ),
        );
        out.push(
            Finding::new(
                "WIN-6",
                if sam.unreadable.is_empty() {
                    Severity::Pass
                } else {
                    Severity::Warning
                },
                subj,
                "every enabled local account has a password",
            )
            .evidences(ev),
        );
    } else {
        let mut all = blank;
        all.extend(ev);
        out.push(
            Finding::new(
                "WIN-6",
                Severity::Warning,
                subj,
                "local accounts without a password",
            )
            .evidences(all)
            .fix("set a password on these accounts (or disable them) before export"),
        );
    }
}

fn gen_checks(insp: &Inspection, os: &OsFacts, w: &WindowsFacts, out: &mut Vec<Finding>) {
    let subj = os.root.as_str();
    let sys = w.system.clone().unwrap_or_default();
    // GEN-1: P2V.
    if w.p2v_signs.is_empty() {
        out.push(Finding::new(
            "GEN-1",
            Severity::Pass,
            subj,
            "no signs of a physical-to-virtual conversion",
        ));
    } else {
        out.push(
            Finding::new(
                "GEN-1",
                Severity::Warning,
                subj,
                "signs of a physical-to-virtual (P2V) conversion",
            )
            .evidences(w.p2v_signs.iter().cloned())
            .fix("P2V-converted guests are not supported; import a VM installed on a hypervisor"),
        );
    }
    // GEN-3: which drive letters are BitLocker volumes.
    for v in insp.all_volumes() {
        if v.content.as_deref() == Some("BitLocker") {
            let letters: Vec<&String> = w
                .drive_mappings
                .iter()
                .filter(|(_, d)| **d == v.device)
                .map(|(l, _)| l)
                .collect();
            out.push(
                Finding::new(
                    "GEN-3",
                    Severity::Info,
                    subj,
                    "BitLocker volume of this Windows",
                )
                .evidence(format!(
                    "{} is BitLocker-encrypted{}",
                    v.device,
                    if letters.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (drive {})",
                            letters
                                .iter()
                                .map(|l| format!("{l}:"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ))
                .fix("turn BitLocker off (manage-bde -off) and wait for decryption before export"),
            );
        }
    }
    // GEN-4: static addresses.
    let statics: Vec<String> = sys
        .interfaces
        .iter()
        .filter(|i| !i.dhcp && !i.addresses.is_empty())
        .map(|i| format!("interface {}: static {}", i.guid, i.addresses.join(", ")))
        .collect();
    if !statics.is_empty() {
        out.push(
            Finding::new("GEN-4", Severity::Warning, subj, "static IP address")
                .evidences(statics)
                .fix("after import the VM gets one interface with DHCP; static IPs are removed"),
        );
    } else if w.system.is_some() {
        out.push(Finding::new(
            "GEN-4",
            Severity::Pass,
            subj,
            "interfaces use DHCP",
        ));
    }
    // GEN-5: hibernation and fast startup (a dirty NTFS is reported by the disk checks).
    // A hibernation image (hibr/HIBR over a whole first page) is a blocker: a resume would
    // load it and lose what the import changed. A resumed/zeroed hiberfil.sys is only the
    // file; fast startup (HiberbootEnabled=1) makes the next shutdown a hibernation: warning.
    let header = w.hiberfil_evidence.clone();
    let fast = sys.hiberboot_enabled == Some(1);
    let fast_ev = "Session Manager\\Power HiberbootEnabled = 1 (fast startup)".to_string();
    match w.hiberfil.as_deref() {
        Some("hibernated") => {
            let mut ev: Vec<String> = header.into_iter().collect();
            if fast {
                ev.push(
                    fast_ev.clone() + ": a fast-startup shutdown hibernated the kernel session",
                );
            }
            out.push(
                Finding::new(
                    "GEN-5",
                    Severity::Blocker,
                    subj,
                    "Windows is hibernated: hiberfil.sys holds a hibernation image",
                )
                .evidences(ev)
                .fix("boot the VM, then shut it down fully (shutdown /s /t 0; powercfg /h off) before export"),
            );
            return;
        }
        Some("hibernation header truncated") => out.push(
            Finding::new(
                "GEN-5",
                Severity::Warning,
                subj,
                "hibernation signature in a truncated hiberfil.sys",
            )
            .evidences(header.clone())
            .fix("boot the VM and shut it down fully (powercfg /h off) before export"),
        ),
        _ => {}
    }
    let mut ev = Vec::new();
    if fast {
        ev.push(fast_ev);
        ev.extend(header.clone());
    }
    let dirty_hive = w.notes.iter().any(|n| n.contains("dirty hive"));
    for n in w.notes.iter().filter(|n| n.contains("dirty hive")) {
        ev.push(n.clone());
    }
    let title = match (fast, dirty_hive) {
        (true, false) => "fast startup is on: a shutdown leaves Windows hibernated",
        (false, true) => "dirty registry hive: Windows may not have shut down cleanly",
        _ => "fast startup / dirty hive: Windows may not have shut down cleanly",
    };
    if ev.is_empty() {
        if w.hiberfil.as_deref() == Some("hibernation header truncated") {
            return;
        }
        out.push(
            Finding::new(
                "GEN-5",
                Severity::Pass,
                subj,
                "no hibernation or fast startup",
            )
            .evidences(header),
        );
    } else {
        out.push(
            Finding::new("GEN-5", Severity::Warning, subj, title)
                .evidences(ev)
                .fix("disable fast startup (powercfg /h off) and shut down fully before export"),
        );
    }
}
