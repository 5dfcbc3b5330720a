//! Windows inspection: facts from the SYSTEM, SOFTWARE and SAM hives (read through the guest
//! tree at `/Windows/System32/config`, their `.LOG1`/`.LOG2` replayed in memory), the BCD store
//! (on the "System Reserved" partition, the ESP, or C:), `hiberfil.sys` (its first page, as the
//! NTFS reader classifies it), `Setup\State\State.ini` and the system volume's filesystem (free
//! bytes counted by the NTFS reader in `$Bitmap`). The typed [`WindowsFacts`] is serialised into
//! `OsFacts::windows`; the checks (src/check/windows.rs) read it back with
//! [`WindowsFacts::from_os`].
//!
//! The registry readers ([`system::system_facts`], [`software::software_facts`],
//! [`sam::sam_facts`], [`bcd::bcd_facts`]) take a [`Hive`] so they are testable on hive files
//! alone.

pub mod bcd;
pub mod drives;
pub mod sam;
pub mod software;
pub mod system;

use super::facts::{Application, BootModes, Fact, OsFacts};
use crate::fs::tree::GuestTree;
use crate::fs::{DirtyState, Filesystem};
use crate::hive::Hive;
use crate::volume::{Content, DiskSet, FsKind, TableKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::fs::ntfs::free_clusters;
pub use bcd::BcdFacts;
pub use sam::SamFacts;
pub use software::SoftwareFacts;
pub use system::SystemFacts;

/// Largest hive read (a big SOFTWARE hive is 100–300 MiB).
pub const MAX_HIVE: u64 = 1 << 30;
/// Largest transaction log read.
pub const MAX_LOG: u64 = 256 << 20;
/// Largest BCD store read (a real one is 32 KiB).
pub const MAX_BCD: u64 = 16 << 20;

/// A boot-relevant driver (MOD-W1/MOD-W2) with its family.
pub const DRIVERS_OF_INTEREST: &[(&str, &str)] = &[
    ("viostor", "virtio-blk"),
    ("vioscsi", "virtio-scsi"),
    ("netkvm", "virtio-net"),
    ("stornvme", "nvme"),
    ("AWSNVMe", "aws-nvme"),
    ("ena", "aws-ena"),
    ("xenvbd", "xen-storage"),
    ("xennet", "xen-network"),
    ("xenbus", "xen"),
    ("xenpci", "xen"),
    ("storvsc", "hyperv-storage"),
    ("netvsc", "hyperv-network"),
    ("vmbus", "hyperv"),
    ("LSI_SAS", "lsi-sas"),
    ("LSI_SAS2", "lsi-sas"),
    ("LSI_SCSI", "lsi-scsi"),
    ("pvscsi", "vmware-pvscsi"),
    ("vmxnet3ndis6", "vmware-vmxnet3"),
    ("e1iexpress", "intel-e1000e"),
    ("E1G60", "intel-e1000"),
    ("storahci", "ahci"),
    ("msahci", "ahci"),
    ("iaStorV", "intel-rst"),
    ("intelide", "ide"),
    ("atapi", "ide"),
];

/// Drivers that let Windows boot on the import platform (storage) and reach the network.
pub const PLATFORM_STORAGE: &[&str] = &["stornvme", "AWSNVMe", "xenvbd", "viostor", "vioscsi"];
/// Network drivers of the import platform.
pub const PLATFORM_NETWORK: &[&str] = &["ena", "xennet", "netkvm"];

/// Services of hypervisor guest tools: (service, hypervisor).
pub const HYPERVISOR_SERVICES: &[(&str, &str)] = &[
    ("VMTools", "vmware"),
    ("vmci", "vmware"),
    ("vmhgfs", "vmware"),
    ("vm3dservice", "vmware"),
    ("VGAuthService", "vmware"),
    ("VBoxService", "virtualbox"),
    ("VBoxGuest", "virtualbox"),
    ("QEMU-GA", "qemu"),
    ("xenagent", "xen"),
    ("XenSvc", "xen"),
    ("prl_tools", "parallels"),
    ("vmicheartbeat", "hyper-v"),
    ("vmickvpexchange", "hyper-v"),
];

/// Services left by P2V converters, or drivers of physical storage/network hardware that are
/// boot-start (GEN-1 signs).
pub const P2V_SERVICES: &[&str] = &[
    "vstor2-mntapi20-shared",
    "vstor2-mntapi10-shared",
    "vmware-converter-agent",
    "vmware-converter-worker",
    "vmware-converter-server",
    "PlateSpinController",
    "Disk2vhd",
];
/// Boot-start drivers of physical RAID/storage controllers (a GEN-1 sign of a physical machine).
pub const PHYSICAL_BOOT_DRIVERS: &[&str] = &[
    "HpSAMD",
    "hpcisss2",
    "SmartPqi",
    "megasas",
    "megasas2i",
    "megasas35i",
    "megasr",
    "percsas",
    "percsas2i",
    "percsas3i",
    "arcsas",
    "iaStorA",
    "iaStorAC",
    "iaStorAVC",
    "ql2300",
    "elxstor",
    "b06bdrv",
];

/// A driver of [`DRIVERS_OF_INTEREST`] present in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverFacts {
    /// The driver's service name (`stornvme`).
    pub name: String,
    /// Its family (`nvme`, `virtio-blk`, `ide` …).
    pub family: String,
    /// The service's Start value (0 = boot, 1 = system, 2 = automatic, 3 = manual, 4 = disabled).
    pub start: Option<u32>,
    /// The service's ImagePath value.
    pub image_path: Option<String>,
    /// The driver file exists under System32 (or where ImagePath says).
    pub file_present: Option<bool>,
}

/// Everything Windows-only the inspection found. Keys `system_root`, `current_control_set` and
/// `drive_mappings` are read by report.rs for virt-inspector's XML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsFacts {
    /// Guest path of the system root (`/Windows`), as virt-inspector reports it.
    pub system_root: String,
    /// The control set in use (`ControlSet001`), from `Select\Current`.
    pub current_control_set: Option<String>,
    /// Drive letter → volume (`C` → `/dev/sda2`).
    pub drive_mappings: BTreeMap<String, String>,
    /// Product name for the OS matrix: the registry's, corrected for Windows 11 (whose
    /// ProductName still says "Windows 10", OS-3) by the build number.
    pub matrix_product: Option<String>,
    /// Server, Client, Server Core, Nano Server.
    pub installation_type: Option<String>,
    /// The EditionID (`ServerStandard`).
    pub edition: Option<String>,
    /// The build number (`17763`).
    pub build: Option<String>,
    /// The SYSTEM hive facts (services, page file, RDP …).
    pub system: Option<SystemFacts>,
    /// The SOFTWARE hive facts (product, .NET, SQL Server …).
    pub software: Option<SoftwareFacts>,
    /// The boot configuration (BCD store) facts.
    pub bcd: Option<BcdFacts>,
    /// The SAM hive's local accounts (WIN-6: every account has a password).
    #[serde(default)]
    pub sam: Option<SamFacts>,
    /// Drivers of interest present, with Start and ImagePath.
    pub drivers: Vec<DriverFacts>,
    /// Hypervisor guest tool services present (`VMTools (vmware)`).
    pub hypervisor_services: Vec<String>,
    /// WIN-5: the Hyper-V role's management service (vmms) is installed.
    pub hyperv_role: bool,
    /// "bios" or "uefi": how this installation boots (partition table, ESP, BCD loader).
    pub boot_mode: Option<String>,
    /// What `boot_mode` rests on.
    pub boot_mode_evidence: Vec<String>,
    /// `hiberfil.sys` first page (GEN-5): "hibernated" (hibr/HIBR/RSTR over a whole page),
    /// "hibernation header truncated", "resumed" (wake/WAKE), "not hibernated" (zeroed), or
    /// None when there is no hiberfil.sys.
    pub hiberfil: Option<String>,
    /// What the header holds (signature, size, page size).
    #[serde(default)]
    pub hiberfil_evidence: Option<String>,
    /// Free bytes and dirty state of the system volume (WIN-1, GEN-5).
    pub system_volume_free_bytes: Option<u64>,
    /// Why the system volume is not clean (dirty flag, hibernation), if it is not.
    pub system_volume_dirty: Option<String>,
    /// `Windows\Setup\State\State.ini` ImageState (IMAGE_STATE_COMPLETE,
    /// IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE …).
    pub image_state: Option<String>,
    /// GEN-1 signs of a physical-to-virtual conversion.
    pub p2v_signs: Vec<String>,
    /// Hive logs replayed, hives read leniently …
    pub notes: Vec<String>,
    /// Facts that could not be read, with the reason (`system`, `software`, `bcd` …).
    pub unknown: BTreeMap<String, String>,
}

impl WindowsFacts {
    /// Read the Windows facts back from an [`OsFacts`] (None when it is not Windows or the JSON
    /// does not fit).
    pub fn from_os(os: &OsFacts) -> Option<WindowsFacts> {
        os.windows
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Whether the image was sysprepped (WIN-8): State.ini's ImageState says generalized or
    /// OOBE, or Setup / OOBE is in progress in the SYSTEM hive.
    pub fn sysprepped(&self) -> bool {
        let sys = self.system.as_ref();
        self.image_state
            .as_deref()
            .is_some_and(|s| s.contains("GENERALIZE") || s.contains("OOBE"))
            || sys.is_some_and(|s| s.oobe_in_progress == Some(1) || s.setup_in_progress == Some(1))
    }

    /// Client (not Server): from InstallationType, else the product name.
    pub fn is_client(&self) -> Option<bool> {
        if let Some(t) = &self.installation_type {
            return Some(t.eq_ignore_ascii_case("client"));
        }
        self.matrix_product
            .as_ref()
            .map(|p| !p.to_ascii_lowercase().contains("server"))
    }

    /// The SYSTEM hive's service `name` (case-insensitive), if present.
    pub fn service(&self, name: &str) -> Option<&system::Service> {
        self.system.as_ref().and_then(|s| s.service(name))
    }
}

/// The product name to match the OS matrix with: Windows 11 by build (≥ 22000) when the
/// registry says Windows 10; Server releases by build when the name lacks the year.
pub fn matrix_product(product: &str, build: Option<u32>, client: bool) -> String {
    let b = build.unwrap_or(0);
    if client && b >= 22000 && product.contains("Windows 10") {
        return product.replacen("Windows 10", "Windows 11", 1);
    }
    if !client && product.contains("Windows Server") && !product.chars().any(|c| c.is_ascii_digit())
    {
        let year = match b {
            26100.. => Some("2025"),
            20348.. => Some("2022"),
            17763.. => Some("2019"),
            14393.. => Some("2016"),
            _ => None,
        };
        if let Some(y) = year {
            return product.replacen("Windows Server", &format!("Windows Server {y}"), 1);
        }
    }
    product.to_string()
}

/// Open a hive and its logs from the tree (`.LOG1`, `.LOG2`, or `.LOG`), replaying them in
/// memory; falls back to the primary alone (then leniently) when the logs cannot be used.
pub fn open_hive(tree: &GuestTree, path: &str, notes: &mut Vec<String>) -> Result<Hive, String> {
    let primary = tree
        .read_file(path.as_bytes(), MAX_HIVE)
        .map_err(|e| format!("{path}: {e}"))?;
    let mut logs = Vec::new();
    for ext in ["LOG1", "LOG2"] {
        if let Ok(b) = tree.read_file(format!("{path}.{ext}").as_bytes(), MAX_LOG) {
            logs.push(b);
        }
    }
    if logs.is_empty() {
        if let Ok(b) = tree.read_file(format!("{path}.LOG").as_bytes(), MAX_LOG) {
            logs.push(b);
        }
    }
    match Hive::from_bytes_with_logs(primary.clone(), &logs) {
        Ok((h, report)) => {
            if report.was_dirty {
                notes.push(format!(
                    "{path}: dirty hive; {} log entries / {} old-log pages replayed in memory",
                    report.applied.len(),
                    report.old_log_pages
                ));
            }
            Ok(h)
        }
        Err(e) => {
            notes.push(format!("{path}: logs not replayed ({e}); read as on disk"));
            Hive::from_bytes(primary.clone())
                .or_else(|_| {
                    Hive::from_bytes_with_options(
                        primary,
                        crate::hive::HiveOptions {
                            lenient_checksum: true,
                        },
                    )
                })
                .map_err(|e| format!("{path}: {e}"))
        }
    }
}

/// The hiberfil.sys verdict and its evidence, from the header the NTFS reader classifies
/// ([`crate::fs::ntfs::hiberfil_header`]).
pub fn hiberfil_state(head: &[u8], file_len: u64) -> (String, String) {
    let h = crate::fs::ntfs::hiberfil_header(head, file_len);
    (h.state.as_str().to_string(), h.describe())
}

/// `ImageState=` of a State.ini (UTF-16LE with BOM, or ASCII).
pub fn image_state(ini: &[u8]) -> Option<String> {
    let text = if ini.starts_with(&[0xff, 0xfe]) {
        let u: Vec<u16> = ini
            .get(2..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        String::from_utf16_lossy(&u)
    } else {
        String::from_utf8_lossy(ini).into_owned()
    };
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("ImageState")
            .then(|| v.trim().to_string())
    })
}

/// Derived facts from the hives alone (drivers, hypervisor tools, Hyper-V, P2V signs).
pub fn derive(w: &mut WindowsFacts) {
    let Some(sys) = &w.system else { return };
    w.drivers = DRIVERS_OF_INTEREST
        .iter()
        .filter_map(|(n, fam)| {
            sys.service(n).map(|s| DriverFacts {
                name: s.name.clone(),
                family: fam.to_string(),
                start: s.start,
                image_path: s.image_path.clone(),
                file_present: None,
            })
        })
        .collect();
    w.hypervisor_services = HYPERVISOR_SERVICES
        .iter()
        .filter(|(n, _)| sys.service(n).is_some_and(|s| !s.disabled()))
        .map(|(n, h)| format!("{n} ({h})"))
        .collect();
    if let Some(sw) = &w.software {
        for p in &sw.programs {
            let n = p.name.to_ascii_lowercase();
            let hv = [
                ("vmware tools", "vmware"),
                ("virtualbox guest additions", "virtualbox"),
                ("xen", "xen"),
                ("citrix hypervisor", "xen"),
                ("parallels tools", "parallels"),
                ("qemu guest agent", "qemu"),
                ("virtio-win", "kvm"),
            ]
            .iter()
            .find(|(k, _)| n.contains(k));
            if let Some((_, h)) = hv {
                w.hypervisor_services
                    .push(format!("{} ({h}, installed program)", p.name));
            }
        }
    }
    w.hyperv_role = sys.service("vmms").is_some();
    let mut signs = Vec::new();
    for n in P2V_SERVICES {
        if let Some(s) = sys.service(n) {
            signs.push(format!("service {} left by a P2V converter", s.name));
        }
    }
    for n in PHYSICAL_BOOT_DRIVERS {
        if let Some(s) = sys.service(n).filter(|s| s.start == Some(0)) {
            signs.push(format!(
                "physical storage/network driver {} is boot-start (Start=0)",
                s.name
            ));
        }
    }
    w.p2v_signs = signs;
}

/// Gather every Windows fact of one root and fill the common fields of `f`.
pub fn inspect(
    set: &DiskSet,
    root_volume: &str,
    root_fs: &dyn Filesystem,
    tree: &GuestTree,
    f: &mut OsFacts,
) {
    let mut w = WindowsFacts {
        system_root: "/Windows".into(),
        ..Default::default()
    };
    let mut notes = Vec::new();
    // Hives.
    match open_hive(tree, "/Windows/System32/config/SYSTEM", &mut notes)
        .and_then(|h| system::system_facts(&h).map_err(|e| format!("SYSTEM: {e}")))
    {
        Ok(s) => w.system = Some(s),
        Err(e) => {
            w.unknown.insert("system".into(), e);
        }
    }
    match open_hive(tree, "/Windows/System32/config/SOFTWARE", &mut notes)
        .and_then(|h| software::software_facts(&h).map_err(|e| format!("SOFTWARE: {e}")))
    {
        Ok(s) => w.software = Some(s),
        Err(e) => {
            w.unknown.insert("software".into(), e);
        }
    }
    match open_hive(tree, "/Windows/System32/config/SAM", &mut notes)
        .and_then(|h| sam::sam_facts(&h).map_err(|e| format!("SAM: {e}")))
    {
        Ok(s) => w.sam = Some(s),
        Err(e) => {
            w.unknown.insert("sam".into(), e);
        }
    }
    w.notes = notes;
    derive(&mut w);
    for d in &mut w.drivers {
        let p = d
            .image_path
            .clone()
            .unwrap_or_else(|| format!("System32\\drivers\\{}.sys", d.name));
        let p = p
            .trim_start_matches("\\SystemRoot\\")
            .trim_start_matches("%SystemRoot%\\")
            .trim_start_matches("%systemroot%\\")
            .replace('\\', "/");
        if !p.contains(':') && !p.starts_with("??") {
            d.file_present = Some(tree.exists(format!("/Windows/{p}").as_bytes()));
        }
    }

    // Common facts.
    let sw = w.software.clone().unwrap_or_default();
    let sys = w.system.clone().unwrap_or_default();
    w.current_control_set = sys.current_control_set.clone();
    w.installation_type = sw.installation_type.clone();
    w.edition = sw.edition_id.clone();
    w.build = sw.build.clone();
    let build_n: Option<u32> = sw.build.as_deref().and_then(|b| b.parse().ok());
    let client = w.is_client().unwrap_or(false);
    w.matrix_product = sw
        .product_name
        .as_deref()
        .map(|p| matrix_product(p, build_n, client));
    let why = |what: &str| match w.unknown.get(what) {
        Some(e) => e.clone(),
        None => "not in the registry".to_string(),
    };
    f.product_name = match &sw.product_name {
        Some(p) => Fact::Known(p.clone()),
        None => Fact::unknown(why("software")),
    };
    f.major_version = match sw.major_version {
        Some(v) => Fact::Known(v),
        None => Fact::unknown(why("software")),
    };
    f.minor_version = match sw.minor_version {
        Some(v) => Fact::Known(v),
        None => Fact::unknown(why("software")),
    };
    f.version = match (sw.major_version, sw.minor_version, &sw.build) {
        (Some(a), Some(b), Some(c)) => Fact::Known(format!("{a}.{b}.{c}")),
        (Some(a), Some(b), None) => Fact::Known(format!("{a}.{b}")),
        _ => Fact::unknown(why("software")),
    };
    f.hostname = match &sys.hostname {
        Some(h) => Fact::Known(h.clone()),
        None => Fact::unknown(why("system")),
    };
    if !f.arch.is_known() {
        if let Some(a) = sys
            .processor_architecture
            .as_deref()
            .and_then(system::arch_name)
        {
            f.arch = Fact::Known(a.to_string());
        }
    }
    f.applications = match &w.software {
        Some(s) => Fact::Known(
            s.programs
                .iter()
                .map(|p| Application {
                    // virt-inspector names an application by its Uninstall key.
                    name: if p.key.is_empty() {
                        p.name.clone()
                    } else {
                        p.key.clone()
                    },
                    version: p.version.clone().unwrap_or_default(),
                    release: String::new(),
                    epoch: 0,
                    arch: String::new(),
                })
                .collect(),
        ),
        None => Fact::unknown(why("software")),
    };

    // Drive letters.
    let vols: Vec<drives::VolRef> = set
        .volumes
        .iter()
        .filter_map(|v| {
            let p = v.partition.as_ref()?;
            let disk = v.disk.and_then(|d| set.disks.get(d));
            Some(drives::VolRef {
                name: v.name.clone(),
                disk_signature: disk.and_then(|d| d.disk_signature),
                start: p.start,
                partuuid: if p.table == TableKind::Gpt {
                    p.partuuid.clone()
                } else {
                    None
                },
            })
        })
        .collect();
    w.drive_mappings = drives::drive_mappings(&sys.mounted_devices, &vols);
    if w.drive_mappings.is_empty() {
        // Without MountedDevices the system volume is still C:.
        w.drive_mappings.insert("C".into(), root_volume.to_string());
    }

    // System volume (WIN-1, GEN-5).
    let info = root_fs.info();
    // The NTFS reader counts free clusters in $Bitmap; 0 means it could not.
    w.system_volume_free_bytes = if info.free_bytes == 0 && info.kind == crate::fs::FsKind::Ntfs {
        w.unknown.insert(
            "system_volume_free_bytes".into(),
            format!("{root_volume}: the NTFS reader could not count free clusters in $Bitmap"),
        );
        None
    } else {
        Some(info.free_bytes)
    };
    w.system_volume_dirty = match info.dirty {
        DirtyState::Clean => None,
        DirtyState::NeedsRecovery { detail, .. } | DirtyState::Dirty { detail } => Some(detail),
    };
    if let Ok(m) = root_fs.stat(b"/hiberfil.sys") {
        let mut head = [0u8; 0x20];
        let n = root_fs.read_at(b"/hiberfil.sys", 0, &mut head).unwrap_or(0);
        let (state, ev) = hiberfil_state(head.get(..n).unwrap_or(&[]), m.size);
        w.hiberfil = Some(state);
        w.hiberfil_evidence = Some(ev);
    }
    w.image_state = tree
        .read_file(b"/Windows/Setup/State/State.ini", 1 << 20)
        .ok()
        .and_then(|b| image_state(&b));

    // BCD: on the ESP (UEFI), the "System Reserved" partition or C:\Boot (BIOS).
    let root_disk = set.find(root_volume).and_then(|v| v.disk);
    let mut bcd_err = Vec::new();
    'vols: for v in &set.volumes {
        if root_disk.is_some() && v.disk != root_disk {
            continue;
        }
        if !matches!(
            v.content,
            Content::Filesystem {
                fs: FsKind::Ntfs | FsKind::Vfat,
                ..
            }
        ) {
            continue;
        }
        let Ok(vfs) = super::mount::open_volume(v, &crate::fs::OpenOptions::default()) else {
            continue;
        };
        for p in ["/EFI/Microsoft/Boot/BCD", "/Boot/BCD"] {
            let Ok(data) = vfs.read_file(p.as_bytes(), MAX_BCD) else {
                continue;
            };
            let src = format!("{}:{p}", v.name);
            let hive = Hive::from_bytes(data.clone()).or_else(|_| {
                Hive::from_bytes_with_options(
                    data,
                    crate::hive::HiveOptions {
                        lenient_checksum: true,
                    },
                )
            });
            match hive.and_then(|h| bcd::bcd_facts(&h, &src)) {
                Ok(b) => {
                    w.bcd = Some(b);
                    break 'vols;
                }
                Err(e) => bcd_err.push(format!("{src}: {e}")),
            }
        }
    }
    if w.bcd.is_none() {
        w.unknown.insert(
            "bcd".into(),
            if bcd_err.is_empty() {
                "no \\Boot\\BCD or \\EFI\\Microsoft\\Boot\\BCD found on the boot disk".into()
            } else {
                bcd_err.join("; ")
            },
        );
    }

    // Boot mode (BOOT-1, BOOT-3).
    let mut bm = BootModes::default();
    let disk = root_disk.and_then(|d| set.disks.get(d));
    let esp = set.volumes.iter().find(|v| {
        v.disk == root_disk
            && v.partition
                .as_ref()
                .is_some_and(|p| p.type_name == "EFI System" || p.mbr_type == Some(0xef))
    });
    if let Some(d) = disk {
        if d.table == TableKind::Mbr && d.mbr_boot_code {
            bm.bios = true;
            bm.evidence
                .push(format!("/dev/{}: MBR with boot code", d.name));
        }
    }
    if let Some(e) = esp {
        bm.esp_device = Some(e.name.clone());
        if let Ok(efs) = super::mount::open_volume(e, &crate::fs::OpenOptions::default()) {
            let has = |p: &str| efs.stat(p.as_bytes()).is_ok();
            if has("/EFI/Microsoft/Boot/bootmgfw.efi") {
                bm.uefi = true;
                bm.evidence
                    .push(format!("{}: EFI/Microsoft/Boot/bootmgfw.efi", e.name));
            }
            bm.uefi_fallback_loader = Some(has("/EFI/Boot/bootx64.efi"));
        }
    }
    if let Some(b) = &w.bcd {
        if let Some(fw) = &b.firmware {
            bm.evidence
                .push(format!("{}: default loader is for {fw}", b.source));
            if fw == "uefi" {
                bm.uefi = true;
            } else if disk.is_some_and(|d| d.table == TableKind::Mbr) {
                bm.bios = true;
            }
        }
    }
    w.boot_mode = if bm.uefi && !bm.bios {
        Some("uefi".into())
    } else if bm.bios && !bm.uefi {
        Some("bios".into())
    } else if bm.bios && bm.uefi {
        Some("bios+uefi".into())
    } else {
        w.unknown.insert(
            "boot_mode".into(),
            "no MBR boot code and no ESP with the Windows boot manager".into(),
        );
        None
    };
    w.boot_mode_evidence = bm.evidence.clone();
    f.boot_modes = bm;
    f.windows = serde_json::to_value(&w).ok();
}
