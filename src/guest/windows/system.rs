//! Facts from the SYSTEM hive: current control set, computer name, processor architecture,
//! services and drivers (WIN-5, WIN-9, MOD-W1), drive letters (MountedDevices), page file
//! (WIN-1), RealTimeIsUniversal (WIN-7), RDP and its firewall rule (WIN-6), language (WIN-4),
//! fast startup (GEN-5), sysprep state (WIN-8). Every function takes a [`Hive`], so it can be
//! tested on a hive file alone.

use crate::hive::{Hive, HiveError, Key};
use serde::{Deserialize, Serialize};

/// Most services read from one control set (a real one has 600–1000).
pub const MAX_SERVICES: usize = 20_000;
/// Most firewall rules looked at.
pub const MAX_FIREWALL_RULES: usize = 50_000;

/// One service or driver (`CurrentControlSet\Services\NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The Services subkey's name.
    pub name: String,
    /// 0 boot, 1 system, 2 automatic, 3 manual, 4 disabled.
    pub start: Option<u32>,
    /// 1 kernel driver, 2 file system driver, 0x10/0x20 Win32 service …
    #[serde(rename = "type")]
    pub service_type: Option<u32>,
    /// ImagePath: the driver or program file.
    pub image_path: Option<String>,
    /// Group: the load order group.
    pub group: Option<String>,
}

impl Service {
    /// Whether it is a kernel or file system driver (Type 1 or 2).
    pub fn is_driver(&self) -> bool {
        self.service_type.is_some_and(|t| t & 0x3 != 0)
    }
    /// Started at boot or by the system (Start 0 or 1).
    pub fn boot_start(&self) -> bool {
        matches!(self.start, Some(0) | Some(1))
    }
    /// Whether it is disabled (Start 4).
    pub fn disabled(&self) -> bool {
        self.start == Some(4)
    }
}

/// Page file settings (`Memory Management\PagingFiles`, WIN-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageFile {
    /// The PagingFiles entries as written (`C:\pagefile.sys 0 0`).
    pub entries: Vec<String>,
    /// `?:\pagefile.sys` (automatic management on all drives) or an entry without sizes /
    /// with `0 0` (system-managed size).
    pub automatic: bool,
}

/// One network interface of `Tcpip\Parameters\Interfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpipInterface {
    /// The interface's GUID (its subkey name).
    pub guid: String,
    /// EnableDHCP is set.
    pub dhcp: bool,
    /// Static IPAddress values (without `0.0.0.0`).
    pub addresses: Vec<String>,
}

/// What SYSTEM tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemFacts {
    /// The control set in use (`ControlSet001`).
    pub current_control_set: Option<String>,
    /// The computer's host name.
    pub hostname: Option<String>,
    /// PROCESSOR_ARCHITECTURE in the system environment (AMD64, x86, ARM64).
    pub processor_architecture: Option<String>,
    /// Every service and driver.
    pub services: Vec<Service>,
    /// `\DosDevices\X:` values of MountedDevices: letter and raw data.
    pub mounted_devices: Vec<(String, Vec<u8>)>,
    /// The page file settings.
    pub page_file: Option<PageFile>,
    /// TimeZoneInformation\RealTimeIsUniversal (1 = the hardware clock is UTC).
    pub real_time_is_universal: Option<u32>,
    /// Terminal Server\fDenyTSConnections (1 = RDP refused).
    pub deny_ts_connections: Option<u32>,
    /// Firewall rules allowing RDP in (name = the rule text), from FirewallPolicy.
    pub rdp_firewall_rules: Vec<String>,
    /// Whether the firewall rule list (FirewallPolicy\FirewallRules) exists at all.
    pub firewall_rules_key: bool,
    /// RDP rules present but not active.
    pub rdp_firewall_rules_inactive: Vec<String>,
    /// Session Manager\Power\HiberbootEnabled (1 = Fast Startup on).
    pub hiberboot_enabled: Option<u32>,
    /// Power\HibernateEnabled.
    pub hibernate_enabled: Option<u32>,
    /// Nls\Language Default and InstallLanguage (LCIDs in hex, 0409 = en-US).
    pub language_default: Option<String>,
    /// Nls\Language InstallLanguage (an LCID in hex).
    pub install_language: Option<String>,
    /// Control\MUI\UILanguages subkeys (installed UI language packs, e.g. en-US, de-DE).
    pub ui_languages: Vec<String>,
    /// Session Manager's PendingFileRenameOperations holds entries (a reboot is pending).
    pub pending_file_rename: bool,
    /// SYSTEM\Setup: SystemSetupInProgress, OOBEInProgress, SetupType.
    pub setup_in_progress: Option<u32>,
    /// Setup\OOBEInProgress.
    pub oobe_in_progress: Option<u32>,
    /// Setup\Status\SysprepStatus GeneralizationState (7 = not generalized).
    pub sysprep_generalization_state: Option<u32>,
    /// The Tcpip interfaces.
    pub interfaces: Vec<TcpipInterface>,
}

fn s(k: &Key<'_>, name: &str) -> Result<Option<String>, HiveError> {
    Ok(k.value(name)?.and_then(|v| v.as_string()))
}
fn d(k: &Key<'_>, name: &str) -> Result<Option<u32>, HiveError> {
    Ok(k.value(name)?.and_then(|v| v.as_dword()))
}

/// Read the SYSTEM facts. Errors are the hive's (a damaged key list or cell); a missing key is
/// simply an absent fact.
pub fn system_facts(hive: &Hive) -> Result<SystemFacts, HiveError> {
    let mut f = SystemFacts::default();
    let root = hive.root();
    if let Some(select) = root.subkey("Select")? {
        if let Some(n) = d(&select, "Current")? {
            f.current_control_set = Some(format!("ControlSet{n:03}"));
        }
    }
    if let Some(md) = root.subkey("MountedDevices")? {
        for v in md.values()? {
            if let Some(rest) = v.name.strip_prefix("\\DosDevices\\") {
                let letter = rest.trim_end_matches(':');
                if letter.len() == 1 && letter.chars().all(|c| c.is_ascii_alphabetic()) {
                    f.mounted_devices
                        .push((letter.to_ascii_uppercase(), v.raw.clone()));
                }
            }
        }
    }
    if let Some(setup) = root.subkey("Setup")? {
        f.setup_in_progress = d(&setup, "SystemSetupInProgress")?;
        f.oobe_in_progress = d(&setup, "OOBEInProgress")?;
        if let Some(st) = setup.open_path("Status\\SysprepStatus")? {
            f.sysprep_generalization_state = d(&st, "GeneralizationState")?;
        }
    }
    let Some(ccs) = hive.current_control_set()? else {
        return Ok(f);
    };
    let ctl = ccs.subkey("Control")?;
    if let Some(ctl) = &ctl {
        if let Some(k) = ctl.open_path("ComputerName\\ComputerName")? {
            f.hostname = s(&k, "ComputerName")?;
        }
        if let Some(k) = ctl.open_path("Session Manager\\Environment")? {
            f.processor_architecture = s(&k, "PROCESSOR_ARCHITECTURE")?;
        }
        if let Some(k) = ctl.open_path("Session Manager\\Memory Management")? {
            if let Some(v) = k.value("PagingFiles")? {
                let entries: Vec<String> = v
                    .as_multi_string()
                    .or_else(|| v.as_string().map(|x| vec![x]))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| !e.trim().is_empty())
                    .collect();
                let automatic = entries.iter().any(|e| {
                    let mut w = e.split_whitespace();
                    let path = w.next().unwrap_or("");
                    let sizes: Vec<&str> = w.collect();
                    path.starts_with('?') || sizes.is_empty() || sizes.iter().all(|x| *x == "0")
                });
                f.page_file = Some(PageFile { entries, automatic });
            }
        }
        if let Some(k) = ctl.subkey("Session Manager")? {
            f.pending_file_rename = k
                .value("PendingFileRenameOperations")?
                .and_then(|v| v.as_multi_string())
                .is_some_and(|l| l.iter().any(|x| !x.is_empty()));
        }
        if let Some(k) = ctl.open_path("Session Manager\\Power")? {
            f.hiberboot_enabled = d(&k, "HiberbootEnabled")?;
        }
        if let Some(k) = ctl.subkey("Power")? {
            f.hibernate_enabled = d(&k, "HibernateEnabled")?;
        }
        if let Some(k) = ctl.subkey("TimeZoneInformation")? {
            f.real_time_is_universal = d(&k, "RealTimeIsUniversal")?;
        }
        if let Some(k) = ctl.subkey("Terminal Server")? {
            f.deny_ts_connections = d(&k, "fDenyTSConnections")?;
        }
        if let Some(k) = ctl.open_path("Nls\\Language")? {
            f.language_default = s(&k, "Default")?;
            f.install_language = s(&k, "InstallLanguage")?;
        }
        if let Some(k) = ctl.open_path("MUI\\UILanguages")? {
            f.ui_languages = k.subkeys()?.iter().map(|k| k.name().to_string()).collect();
        }
    }
    if let Some(svcs) = ccs.subkey("Services")? {
        for k in svcs.subkeys()?.into_iter().take(MAX_SERVICES) {
            f.services.push(Service {
                name: k.name().to_string(),
                start: d(&k, "Start")?,
                service_type: d(&k, "Type")?,
                image_path: s(&k, "ImagePath")?,
                group: s(&k, "Group")?,
            });
        }
        if let Some(ifs) = svcs.open_path("Tcpip\\Parameters\\Interfaces")? {
            for k in ifs.subkeys()? {
                let mut addresses = k
                    .value("IPAddress")?
                    .and_then(|v| {
                        v.as_multi_string()
                            .or_else(|| v.as_string().map(|x| vec![x]))
                    })
                    .unwrap_or_default();
                addresses.retain(|a| !a.is_empty() && a != "0.0.0.0");
                f.interfaces.push(TcpipInterface {
                    guid: k.name().to_string(),
                    dhcp: d(&k, "EnableDHCP")? == Some(1),
                    addresses,
                });
            }
        }
        if let Some(fw) =
            svcs.open_path("SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules")?
        {
            f.firewall_rules_key = true;
            for v in fw.values()?.into_iter().take(MAX_FIREWALL_RULES) {
                let Some(text) = v.as_string() else { continue };
                let up = text.to_ascii_uppercase();
                let rdp = v.name.starts_with("RemoteDesktop")
                    || (up.contains("LPORT=3389") && up.contains("DIR=IN"));
                if !rdp || !up.contains("ACTION=ALLOW") {
                    continue;
                }
                if up.contains("ACTIVE=TRUE") {
                    f.rdp_firewall_rules.push(v.name.clone());
                } else {
                    f.rdp_firewall_rules_inactive.push(v.name.clone());
                }
            }
        }
    }
    Ok(f)
}

impl SystemFacts {
    /// The service called `name` (case-insensitive, as Windows compares).
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// Our architecture name for a PROCESSOR_ARCHITECTURE value.
pub fn arch_name(pa: &str) -> Option<&'static str> {
    Some(match pa.to_ascii_uppercase().as_str() {
        "AMD64" => "x86_64",
        "X86" => "i386",
        "ARM64" => "aarch64",
        "IA64" => "ia64",
        _ => return None,
    })
}
