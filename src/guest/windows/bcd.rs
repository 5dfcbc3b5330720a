//! The BCD store (a registry hive whose root holds `Objects\{GUID}\Elements\TTTTTTTT\Element`):
//! the boot manager, its default entry, EMS (WIN-3), the loader type (winload.exe = BIOS,
//! winload.efi = UEFI) and the display order (several entries = a boot menu, WIN-9).

use crate::hive::{Hive, HiveError, Key, RegData};
use serde::{Deserialize, Serialize};

/// The well-known GUID of the Windows Boot Manager object.
pub const BOOTMGR_GUID: &str = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
/// Most BCD objects read.
pub const MAX_OBJECTS: usize = 4096;

// Element types (BcdLibrary / BcdBootMgr / BcdOSLoader element codes).
const DESCRIPTION: &str = "12000004";
const APP_PATH: &str = "12000002";
const DEFAULT_OBJECT: &str = "23000003";
const DISPLAY_ORDER: &str = "24000001";
const BOOT_EMS: &str = "26000020";
const LOADER_EMS: &str = "260000b0";
const RECOVERY_ENABLED: &str = "16000009";
const BOOT_STATUS_POLICY: &str = "250000e0";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
/// One BCD object (a boot loader entry).
pub struct BcdEntry {
    /// The object's GUID (`{…}`).
    pub id: String,
    /// Object type (0x10200003 = Windows boot loader).
    pub object_type: Option<u32>,
    /// Its description element (the boot menu title).
    pub description: Option<String>,
    /// Its application path (`\Windows\system32\winload.efi`).
    pub path: Option<String>,
    /// Emergency Management Services enabled (`ems`).
    pub ems: Option<bool>,
    /// Automatic recovery enabled (`recoveryenabled`).
    pub recovery_enabled: Option<bool>,
    /// 0 = DisplayAllFailures, 1 = IgnoreAllFailures …
    pub boot_status_policy: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
/// What the BCD store says about booting.
pub struct BcdFacts {
    /// Where it was read (`/dev/sda1:/Boot/BCD`).
    pub source: String,
    /// The store holds the Windows Boot Manager object.
    pub boot_manager_found: bool,
    /// Boot manager path (\EFI\Microsoft\Boot\bootmgfw.efi on UEFI; absent on BIOS).
    pub boot_manager_path: Option<String>,
    /// bootems on the boot manager.
    pub boot_manager_ems: Option<bool>,
    /// The boot manager's default object (its GUID).
    pub default_entry: Option<String>,
    /// The default object's entry.
    pub default: Option<BcdEntry>,
    /// The boot manager's display order (GUIDs).
    pub display_order: Vec<String>,
    /// "bios" (winload.exe) or "uefi" (winload.efi), from the default loader's path.
    pub firmware: Option<String>,
    /// Windows boot loader entries (object type 0x10200003).
    pub loaders: Vec<BcdEntry>,
}

impl BcdFacts {
    /// EMS is on anywhere it matters (boot manager bootems or the default loader's ems).
    pub fn ems_enabled(&self) -> bool {
        self.boot_manager_ems == Some(true)
            || self.default.as_ref().and_then(|d| d.ems) == Some(true)
            || self.loaders.iter().any(|l| l.ems == Some(true))
    }
}

fn element(obj: &Key<'_>, ty: &str) -> Result<Option<RegData>, HiveError> {
    let Some(e) = obj.open_path(&format!("Elements\\{ty}"))? else {
        return Ok(None);
    };
    Ok(e.value("Element")?.map(|v| v.decoded))
}

fn as_bool(d: &RegData) -> Option<bool> {
    match d {
        RegData::Binary(b) | RegData::None(b) => b.first().map(|x| *x != 0),
        RegData::Dword(v) => Some(*v != 0),
        _ => None,
    }
}

fn as_int(d: &RegData) -> Option<u64> {
    match d {
        RegData::Binary(b) | RegData::None(b) if !b.is_empty() && b.len() <= 8 => {
            let mut a = [0u8; 8];
            for (i, x) in b.iter().enumerate() {
                if let Some(slot) = a.get_mut(i) {
                    *slot = *x;
                }
            }
            Some(u64::from_le_bytes(a))
        }
        RegData::Dword(v) => Some(u64::from(*v)),
        RegData::Qword(v) => Some(*v),
        _ => None,
    }
}

fn as_str(d: &RegData) -> Option<String> {
    match d {
        RegData::Sz(s) | RegData::ExpandSz(s) => Some(s.clone()),
        _ => None,
    }
}

fn entry(obj: &Key<'_>) -> Result<BcdEntry, HiveError> {
    let object_type = match obj.open_path("Description")? {
        Some(k) => k.value("Type")?.and_then(|v| v.as_dword()),
        None => None,
    };
    Ok(BcdEntry {
        id: obj.name().to_ascii_lowercase(),
        object_type,
        description: element(obj, DESCRIPTION)?.as_ref().and_then(as_str),
        path: element(obj, APP_PATH)?.as_ref().and_then(as_str),
        ems: element(obj, LOADER_EMS)?.as_ref().and_then(as_bool),
        recovery_enabled: element(obj, RECOVERY_ENABLED)?.as_ref().and_then(as_bool),
        boot_status_policy: element(obj, BOOT_STATUS_POLICY)?.as_ref().and_then(as_int),
    })
}

/// Read a BCD hive.
pub fn bcd_facts(hive: &Hive, source: &str) -> Result<BcdFacts, HiveError> {
    let mut f = BcdFacts {
        source: source.to_string(),
        ..Default::default()
    };
    let Some(objects) = hive.root().subkey("Objects")? else {
        return Ok(f);
    };
    let mut entries = Vec::new();
    for o in objects.subkeys()?.into_iter().take(MAX_OBJECTS) {
        entries.push((entry(&o)?, o));
    }
    if let Some((_, bm)) = entries
        .iter()
        .find(|(e, _)| e.id == BOOTMGR_GUID || e.object_type == Some(0x1010_0002))
    {
        f.boot_manager_found = true;
        f.boot_manager_path = element(bm, APP_PATH)?.as_ref().and_then(as_str);
        f.boot_manager_ems = element(bm, BOOT_EMS)?.as_ref().and_then(as_bool);
        f.default_entry = element(bm, DEFAULT_OBJECT)?
            .as_ref()
            .and_then(as_str)
            .map(|s| s.to_ascii_lowercase());
        f.display_order = match element(bm, DISPLAY_ORDER)? {
            Some(RegData::MultiSz(v)) => v.into_iter().map(|s| s.to_ascii_lowercase()).collect(),
            _ => Vec::new(),
        };
    }
    f.loaders = entries
        .iter()
        .filter(|(e, _)| e.object_type == Some(0x1020_0003))
        .map(|(e, _)| e.clone())
        .collect();
    f.default = f.default_entry.as_ref().and_then(|id| {
        entries
            .iter()
            .find(|(e, _)| &e.id == id)
            .map(|(e, _)| e.clone())
    });
    let path = f
        .default
        .as_ref()
        .and_then(|d| d.path.clone())
        .or_else(|| f.boot_manager_path.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    f.firmware = if path.ends_with(".efi") {
        Some("uefi".into())
    } else if path.ends_with(".exe") {
        Some("bios".into())
    } else {
        None
    };
    Ok(f)
}
