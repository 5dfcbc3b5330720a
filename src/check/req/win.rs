//! WIN: Windows requirements (WIN-1 free space and page file, WIN-2 SR-IOV, WIN-3 EMS, WIN-4
//! language, WIN-5 Hyper-V, WIN-6 remote access and accounts, WIN-7 RealTimeIsUniversal, WIN-8
//! sysprep, WIN-9 first-boot failure causes).

use super::human;
use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::OsFacts;
use crate::guest::windows::{SamFacts, SoftwareFacts, SystemFacts, WindowsFacts};

/// WIN-1: free space on the system volume (`windows_min_free_bytes`) and the page file.
pub fn win1_free_space(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let min = ctx.settings().windows_min_free_bytes;
    let mut out = vec![match w.system_volume_free_bytes {
        Some(f) if f >= min => {
            Finding::new("WIN-1", Severity::Pass, subj, "enough free space on C:")
                .evidence(format!("{} free (≥ {})", human(f), human(min)))
        }
        Some(f) => Finding::new(
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
        None => Finding::new("WIN-1", Severity::Warning, subj, "free space unknown").evidence(
            w.unknown
                .get("system_volume_free_bytes")
                .cloned()
                .unwrap_or_default(),
        ),
    }];
    if let Some(p) = w.system.as_ref().and_then(|s| s.page_file.as_ref()) {
        if p.automatic {
            out.push(
                Finding::new(
                    "WIN-1",
                    ctx.severity("WIN-1.automatic-page-file"),
                    subj,
                    "automatic page-file management",
                )
                .evidence(format!("PagingFiles = {}", p.entries.join("; ")))
                .fix("set a fixed-size page file: automatic management may create a 16 GB pagefile.sys on C:"),
            );
        }
    }
    out
}

/// WIN-2: Windows Server 2012 R2 gets the SR-IOV network drivers from the service.
pub fn win2_sriov(_: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let product = w.matrix_product.as_deref().unwrap_or_default();
    if !product.to_ascii_lowercase().contains("2012 r2") {
        return Vec::new();
    }
    vec![Finding::new(
        "WIN-2",
        Severity::Info,
        &os.root,
        "Windows Server 2012 R2: the service installs the SR-IOV network drivers",
    )]
}

/// WIN-3: Emergency Management Services enabled in the BCD.
pub fn win3_ems(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let f = match &w.bcd {
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
            Finding::new(
                "WIN-3",
                ctx.severity("WIN-3.ems"),
                subj,
                "Emergency Management Services enabled in the BCD",
            )
            .evidences(ev)
            .fix("`guestfix plan` turns EMS off in the BCD store (rule windows-bcd-ems, MOD-W3)")
        }
        Some(b) => Finding::new("WIN-3", Severity::Pass, subj, "EMS not enabled")
            .evidence(b.source.clone()),
        None => Finding::new("WIN-3", Severity::Warning, subj, "BCD store not read")
            .evidence(w.unknown.get("bcd").cloned().unwrap_or_default()),
    };
    vec![f]
}

/// WIN-4: language packs with non-ASCII names; English (US) recommended.
pub fn win4_language(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let Some(sys) = &w.system else {
        return Vec::new();
    };
    let mut out = Vec::new();
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
                ctx.severity("WIN-4.language"),
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
    out
}

/// WIN-5: the Hyper-V role (refused on Windows Server, a warning on clients).
pub fn win5_hyperv(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    if !w.hyperv_role {
        if w.system.is_none() {
            return Vec::new();
        }
        return vec![Finding::new(
            "WIN-5",
            Severity::Pass,
            subj,
            "no Hyper-V role",
        )];
    }
    let server = w.is_client() == Some(false);
    let s = w.service("vmms");
    vec![
        Finding::new(
            "WIN-5",
            if server {
                Severity::Blocker
            } else {
                ctx.severity("WIN-5.hyperv-client")
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
    ]
}

/// WIN-6: RDP enabled and allowed by the firewall, .NET 4.5+, no auto-logon, no pending
/// updates, every enabled local account with a password.
pub fn win6_access(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let mut out = Vec::new();
    if let Some(sys) = &w.system {
        out.push(win6_rdp(ctx, subj, sys));
        out.push(win6_firewall(ctx, subj, sys));
    }
    if let Some(sw) = &w.software {
        let sys = w.system.clone().unwrap_or_default();
        out.extend(win6_software(ctx, subj, sw, &sys));
    }
    out.push(match &w.sam {
        Some(sam) => win6_accounts(ctx, subj, sam),
        None => Finding::new(
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
    });
    out
}

fn win6_rdp(ctx: &Ctx, subj: &str, sys: &SystemFacts) -> Finding {
    match sys.deny_ts_connections {
        Some(0) => Finding::new("WIN-6", Severity::Pass, subj, "RDP enabled")
            .evidence("Terminal Server fDenyTSConnections = 0"),
        v => Finding::new(
            "WIN-6",
            ctx.severity("WIN-6.rdp-disabled"),
            subj,
            "RDP is disabled",
        )
        .evidence(match v {
            Some(v) => format!("Terminal Server fDenyTSConnections = {v}"),
            None => "Terminal Server fDenyTSConnections not set (RDP off by default)".into(),
        })
        .fix("enable Remote Desktop before export, or there is no way to log in"),
    }
}

fn win6_firewall(ctx: &Ctx, subj: &str, sys: &SystemFacts) -> Finding {
    if !sys.rdp_firewall_rules.is_empty() {
        Finding::new("WIN-6", Severity::Pass, subj, "firewall allows RDP in")
            .evidences(sys.rdp_firewall_rules.iter().cloned())
    } else if !sys.rdp_firewall_rules_inactive.is_empty() {
        Finding::new(
            "WIN-6",
            ctx.severity("WIN-6.rdp-firewall"),
            subj,
            "firewall RDP rules are disabled",
        )
        .evidences(sys.rdp_firewall_rules_inactive.iter().cloned())
        .fix("enable the Remote Desktop firewall rules")
    } else {
        Finding::new(
            "WIN-6",
            ctx.severity("WIN-6.rdp-firewall"),
            subj,
            "no firewall rule allowing RDP found",
        )
        .evidence(if sys.firewall_rules_key {
            "FirewallPolicy\\FirewallRules has no active inbound RDP (3389) allow rule"
        } else {
            "no FirewallPolicy\\FirewallRules key in the SYSTEM hive"
        })
        .fix("allow Remote Desktop through the Windows firewall")
    }
}

/// WIN-6 from the SOFTWARE hive: .NET, auto-logon, pending updates (with SYSTEM's pending renames).
fn win6_software(ctx: &Ctx, subj: &str, sw: &SoftwareFacts, sys: &SystemFacts) -> Vec<Finding> {
    let mut out = Vec::new();
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
        let installed = if sw.dotnet.is_empty() {
            "none".to_string()
        } else {
            sw.dotnet.join(", ")
        };
        out.push(
            Finding::new(
                "WIN-6",
                ctx.severity("WIN-6.dotnet"),
                subj,
                ".NET Framework 4.5+ missing",
            )
            .evidence(format!(".NET installed: {installed}"))
            .fix("install .NET Framework 4.5 or later (3.5 SP1 for the older agent)"),
        );
    }
    if sw.auto_logon {
        out.push(
            Finding::new(
                "WIN-6",
                ctx.severity("WIN-6.auto-logon"),
                subj,
                "auto-logon is enabled",
            )
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
                ctx.severity("WIN-6.pending-updates"),
                subj,
                "pending Windows updates / reboot",
            )
            .evidences(pending)
            .fix("install pending updates and reboot before export"),
        );
    }
    out
}

/// WIN-6: every account has a password — enabled local accounts of the SAM hive without an NT
/// hash have a blank password (disabled accounts such as Guest do not count).
fn win6_accounts(ctx: &Ctx, subj: &str, sam: &SamFacts) -> Finding {
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
    let unreadable = sam
        .unreadable
        .iter()
        .map(|u| format!("SAM account not readable: {u}"));
    if !blank.is_empty() {
        return Finding::new(
            "WIN-6",
            ctx.severity("WIN-6.blank-password"),
            subj,
            "local accounts without a password",
        )
        .evidences(blank)
        .evidences(unreadable)
        .fix("set a password on these accounts (or disable them) before export");
    }
    let enabled: Vec<&str> = sam
        .accounts
        .iter()
        .filter(|a| !a.disabled)
        .map(|a| a.name.as_str())
        .collect();
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
    .evidence(format!(
        "{} enabled local account(s) with a password: {}",
        enabled.len(),
        enabled.join(", ")
    ))
    .evidences(unreadable)
}

/// WIN-7: RealTimeIsUniversal (hardware clock in UTC).
pub fn win7_rtc(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let Some(sys) = &w.system else {
        return Vec::new();
    };
    let f = match sys.real_time_is_universal {
        Some(1) => Finding::new("WIN-7", Severity::Pass, &os.root, "RealTimeIsUniversal is set")
            .evidence("TimeZoneInformation RealTimeIsUniversal = 1"),
        v => Finding::new("WIN-7", ctx.severity("WIN-7.rtc"), &os.root, "RealTimeIsUniversal is not set")
            .evidence(match v {
                Some(v) => format!("TimeZoneInformation RealTimeIsUniversal = {v}"),
                None => "TimeZoneInformation has no RealTimeIsUniversal value".into(),
            })
            .fix("`guestfix plan` sets TimeZoneInformation\\RealTimeIsUniversal = DWORD 1 in every control set (rule windows-rtc-utc)"),
    };
    vec![f]
}

/// WIN-8: a sysprepped image gets an unattend.xml from the service.
pub fn win8_sysprep(_: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let sys = w.system.clone().unwrap_or_default();
    if !w.sysprepped() {
        if w.system.is_none() {
            return Vec::new();
        }
        return vec![Finding::new(
            "WIN-8",
            Severity::Pass,
            &os.root,
            "not sysprepped",
        )];
    }
    let ev = w
        .image_state
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
        );
    let arch = if os.arch.known().map(String::as_str) == Some("x86_64") {
        "amd64"
    } else {
        "x86"
    };
    vec![
        Finding::new("WIN-8", Severity::Info, &os.root, "the image is sysprepped")
            .evidences(ev)
            .fix(format!(
                "`guestfix plan` adds \\Windows\\Panther\\unattend.xml (EULA accepted, en-US locales, processorArchitecture {arch}; rule windows-unattend), as the service would"
            )),
    ]
}

/// WIN-9: first-boot failure causes — TCP/IP or DHCP disabled, drive letters off the boot disk,
/// a boot menu, security products or policy blocking driver installation
/// (`windows_security_services`), editions without volume licensing
/// (`windows_no_volume_licensing_editions`).
pub fn win9_first_boot(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let mut out = Vec::new();
    if w.system.is_some() {
        out.push(win9_network_services(subj, w));
        out.extend(win9_other_disks(ctx, os, w));
        out.extend(win9_boot_menu(ctx, subj, w));
        out.push(win9_security(ctx, subj, w));
    }
    out.extend(win9_licensing(ctx, subj, w));
    out
}

fn win9_network_services(subj: &str, w: &WindowsFacts) -> Finding {
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
        Finding::new(
            "WIN-9",
            Severity::Pass,
            subj,
            "TCP/IP and the DHCP client are enabled",
        )
    } else {
        Finding::new("WIN-9", Severity::Blocker, subj, "TCP/IP or DHCP disabled")
            .evidences(bad)
            .fix("`guestfix plan` enables the Tcpip and Dhcp services (rule windows-network-dhcp)")
    }
}

/// Drive letters on other disks than the boot disk (only the boot disk is imported).
fn win9_other_disks(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Option<Finding> {
    let boot_disk = os
        .root
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches('p');
    let off: Vec<String> = w
        .drive_mappings
        .iter()
        .filter(|(_, v)| !v.starts_with(boot_disk))
        .map(|(l, v)| format!("{l}: is {v}, not on the boot disk"))
        .collect();
    if off.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            "WIN-9",
            ctx.severity("WIN-9.other-disks"),
            &os.root,
            "drive letters on other disks (only the boot disk is imported)",
        )
        .evidences(off)
        .fix("make sure nothing Windows needs at boot (e.g. an AD database) lives there"),
    )
}

/// Several Windows boot entries. The boot menu is the display order (the recovery loader is not
/// in it); a store without one shows every Windows loader.
fn win9_boot_menu(ctx: &Ctx, subj: &str, w: &WindowsFacts) -> Option<Finding> {
    let b = w.bcd.as_ref()?;
    let menu = if b.display_order.is_empty() {
        b.loaders.len()
    } else {
        b.display_order.len()
    };
    if menu <= 1 {
        return None;
    }
    let entries = b
        .loaders
        .iter()
        .filter(|l| b.display_order.is_empty() || b.display_order.contains(&l.id))
        .map(|l| {
            format!(
                "{}: {} {}",
                b.source,
                l.id,
                l.description.as_deref().unwrap_or("")
            )
        });
    Some(
        Finding::new(
            "WIN-9",
            ctx.severity("WIN-9.boot-menu"),
            subj,
            "several boot entries / a boot menu",
        )
        .evidences(entries)
        .fix("leave one Windows boot entry"),
    )
}

/// Security software or policy that blocks driver installation (the profile's list).
fn win9_security(ctx: &Ctx, subj: &str, w: &WindowsFacts) -> Finding {
    let mut found: Vec<String> = ctx
        .settings()
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
        return Finding::new(
            "WIN-9",
            Severity::Pass,
            subj,
            "no security product or policy known to block driver installation",
        );
    }
    Finding::new(
        "WIN-9",
        ctx.severity("WIN-9.security-software"),
        subj,
        "antivirus or hardening may block driver installation",
    )
    .evidences(found)
    .fix("disable the security agent and device-installation restrictions for the import; re-enable them after the first boot")
}

/// An edition without volume licensing (the profile's list): activation fails after import.
fn win9_licensing(ctx: &Ctx, subj: &str, w: &WindowsFacts) -> Option<Finding> {
    let ed = w.software.as_ref()?.edition_id.as_deref()?;
    if !ctx
        .settings()
        .windows_no_volume_licensing_editions
        .iter()
        .any(|e| e.eq_ignore_ascii_case(ed))
    {
        return None;
    }
    Some(
        Finding::new(
            "WIN-9",
            ctx.severity("WIN-9.no-volume-licensing"),
            subj,
            "edition without volume licensing (activation fails after import)",
        )
        .evidence(format!("EditionID {ed}"))
        .fix("bring your own license for this edition, or upgrade to an edition with volume licensing"),
    )
}
