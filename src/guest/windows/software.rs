//! Facts from the SOFTWARE hive: product name, edition, installation type, version and build
//! (OS-3, OS-4), auto-logon and pending reboot / updates (WIN-6), .NET Framework versions (WIN-6),
//! SQL Server instances and editions (OS-5), installed programs (hypervisor tools, P2V tools).

use crate::hive::{Hive, HiveError, Key};
use serde::{Deserialize, Serialize};

/// Most uninstall entries read.
pub const MAX_PROGRAMS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One SQL Server instance.
pub struct SqlInstance {
    /// MSSQLSERVER, SQLEXPRESS …
    pub name: String,
    /// MSSQL15.MSSQLSERVER.
    pub id: String,
    /// "Standard Edition", "Enterprise Edition: Core-based Licensing", "Express Edition" …
    pub edition: Option<String>,
    /// Its version.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One installed program (an Uninstall key).
pub struct Program {
    /// DisplayName.
    pub name: String,
    /// The Uninstall subkey's own name (virt-inspector's application name).
    #[serde(default)]
    pub key: String,
    /// DisplayVersion.
    pub version: Option<String>,
    /// Publisher.
    pub publisher: Option<String>,
}

/// What SOFTWARE tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareFacts {
    /// ProductName (`Windows Server 2019 Standard`).
    pub product_name: Option<String>,
    /// EditionID (`ServerStandard`).
    pub edition_id: Option<String>,
    /// Server, Client, Server Core, Nano Server.
    pub installation_type: Option<String>,
    /// CurrentVersion ("6.3" on every Windows 10+, "6.1" on 7 / 2008 R2).
    pub current_version: Option<String>,
    /// CurrentMajorVersionNumber, else the major part of CurrentVersion (6 on Windows 7 / 2008 R2).
    pub major_version: Option<u32>,
    /// CurrentMinorVersionNumber, else the minor part of CurrentVersion.
    pub minor_version: Option<u32>,
    /// CurrentBuild (else CurrentBuildNumber).
    pub build: Option<String>,
    /// UBR: the update build revision.
    pub ubr: Option<u32>,
    /// DisplayVersion (23H2) or ReleaseId (1809).
    pub display_version: Option<String>,
    /// SystemRoot as Windows writes it (C:\Windows).
    pub system_root: Option<String>,
    /// Winlogon's AutoAdminLogon is set.
    pub auto_logon: bool,
    /// Component Based Servicing\RebootPending, WindowsUpdate\Auto Update\RebootRequired,
    /// PackagesPending.
    pub pending_reboot: Vec<String>,
    /// .NET Framework versions installed (2.0, 3.0, 3.5, 4.8 …).
    pub dotnet: Vec<String>,
    /// SQL Server instances.
    pub sql_server: Vec<SqlInstance>,
    /// Installed programs (the Uninstall keys).
    pub programs: Vec<Program>,
    /// WIN-9: Group Policy device-installation restrictions that block installing new drivers
    /// (`Policies\Microsoft\Windows\DeviceInstall\Restrictions`: `DenyUnspecified=1` …).
    pub device_install_restrictions: Vec<String>,
}

fn s(k: &Key<'_>, name: &str) -> Result<Option<String>, HiveError> {
    Ok(k.value(name)?.and_then(|v| v.as_string()))
}
fn d(k: &Key<'_>, name: &str) -> Result<Option<u32>, HiveError> {
    Ok(k.value(name)?.and_then(|v| v.as_dword()))
}

/// The .NET 4.x version a `NDP\v4\Full\Release` number stands for (Microsoft's published table:
/// the minimum release number of each version).
pub fn dotnet4_version(release: u32) -> &'static str {
    const TABLE: &[(u32, &str)] = &[
        (533_320, "4.8.1"),
        (528_040, "4.8"),
        (461_808, "4.7.2"),
        (461_308, "4.7.1"),
        (460_798, "4.7"),
        (394_802, "4.6.2"),
        (394_254, "4.6.1"),
        (393_295, "4.6"),
        (379_893, "4.5.2"),
        (378_675, "4.5.1"),
        (378_389, "4.5"),
    ];
    TABLE
        .iter()
        .find(|(min, _)| release >= *min)
        .map(|(_, v)| *v)
        .unwrap_or("4.0")
}

/// Read the SOFTWARE facts.
pub fn software_facts(hive: &Hive) -> Result<SoftwareFacts, HiveError> {
    let mut f = SoftwareFacts::default();
    let root = hive.root();
    if let Some(cv) = root.open_path("Microsoft\\Windows NT\\CurrentVersion")? {
        f.product_name = s(&cv, "ProductName")?;
        f.edition_id = s(&cv, "EditionID")?;
        f.installation_type = s(&cv, "InstallationType")?;
        f.current_version = s(&cv, "CurrentVersion")?;
        f.major_version = d(&cv, "CurrentMajorVersionNumber")?;
        f.minor_version = d(&cv, "CurrentMinorVersionNumber")?;
        f.build = match s(&cv, "CurrentBuild")? {
            Some(b) => Some(b),
            None => s(&cv, "CurrentBuildNumber")?,
        };
        f.ubr = d(&cv, "UBR")?;
        f.display_version = match s(&cv, "DisplayVersion")? {
            Some(v) => Some(v),
            None => s(&cv, "ReleaseId")?,
        };
        f.system_root = s(&cv, "SystemRoot")?;
        if f.major_version.is_none() {
            // Before Windows 10: CurrentVersion "6.1" is the version.
            if let Some((a, b)) = f.current_version.as_deref().and_then(|v| v.split_once('.')) {
                f.major_version = a.parse().ok();
                f.minor_version = b.parse().ok();
            }
        }
        if let Some(wl) = cv.subkey("Winlogon")? {
            let v = wl.value("AutoAdminLogon")?;
            f.auto_logon = v
                .as_ref()
                .and_then(|v| v.as_string())
                .is_some_and(|x| x.trim() == "1")
                || v.and_then(|v| v.as_dword()) == Some(1);
        }
    }
    if let Some(r) = root.open_path("Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions")? {
        for name in ["DenyUnspecified", "DenyDeviceClasses", "DenyDeviceIDs"] {
            if d(&r, name)? == Some(1) {
                f.device_install_restrictions.push(format!("{name}=1"));
            }
        }
    }
    for p in [
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\PackagesPending",
        "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
    ] {
        if root.open_path(p)?.is_some() {
            f.pending_reboot.push(p.to_string());
        }
    }
    if let Some(ndp) = root.open_path("Microsoft\\NET Framework Setup\\NDP")? {
        for k in ndp.subkeys()? {
            let name = k.name().to_string();
            if name.eq_ignore_ascii_case("v4") {
                if let Some(full) = k.subkey("Full")? {
                    if d(&full, "Install")? == Some(1) || d(&full, "Release")?.is_some() {
                        f.dotnet.push(match d(&full, "Release")? {
                            Some(r) => dotnet4_version(r).to_string(),
                            None => "4.0".into(),
                        });
                    }
                }
            } else if let Some(v) = name.strip_prefix('v') {
                if d(&k, "Install")? == Some(1) {
                    let short: Vec<&str> = v.split('.').take(2).collect();
                    let mut ver = short.join(".");
                    if let Some(sp) = d(&k, "SP")?.filter(|sp| *sp > 0) {
                        ver.push_str(&format!(" SP{sp}"));
                    }
                    f.dotnet.push(ver);
                }
            }
        }
    }
    if let Some(sql) = root.open_path("Microsoft\\Microsoft SQL Server")? {
        if let Some(names) = sql.open_path("Instance Names\\SQL")? {
            for v in names.values()? {
                let Some(id) = v.as_string() else { continue };
                let setup = sql.open_path(&format!("{id}\\Setup"))?;
                let (edition, version) = match &setup {
                    Some(k) => (s(k, "Edition")?, s(k, "Version")?),
                    None => (None, None),
                };
                f.sql_server.push(SqlInstance {
                    name: v.name.clone(),
                    id,
                    edition,
                    version,
                });
            }
        }
    }
    if let Some(un) = root.open_path("Microsoft\\Windows\\CurrentVersion\\Uninstall")? {
        for k in un.subkeys()?.into_iter().take(MAX_PROGRAMS) {
            if let Some(name) = s(&k, "DisplayName")? {
                f.programs.push(Program {
                    name,
                    key: k.name().to_string(),
                    version: s(&k, "DisplayVersion")?,
                    publisher: s(&k, "Publisher")?,
                });
            }
        }
    }
    Ok(f)
}
