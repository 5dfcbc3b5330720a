//! The Windows plan (issue 19: MOD-W1, MOD-W2, MOD-W3, GEN-4, WIN-3, WIN-7, WIN-8) on real
//! registry hives from real Windows installs (../shared/data/registry/regipy: Windows 7 SP1
//! 32-bit SYSTEM, an 8.1-era x64 SYSTEM, and a dirty Windows 10 1709 SYSTEM with its
//! .LOG1/.LOG2) and the crafted driver folder tests/data/windows-drivers (virtio-style storage
//! per Windows release, a UTF-16 network INF, an NVMe-style INF, a disk filter that must not be
//! installed, a malformed INF). Each hive the plan writes is read back by our reader, by hivex
//! (`hivexget`, an independent C implementation) and by regipy (Python); planning again on the
//! plan's output changes nothing.
//!
//! Needs hivex tools (libhivex-bin) and regipy (pip); scripts/install-deps.sh installs both.

use guestfix::guest::facts::{Fact, OsFacts};
use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::windows::WindowsFacts;
use guestfix::hive::Hive;
use guestfix::hive::value::RegData;
use guestfix::plan::planner::{Context, plan};
use guestfix::plan::{Change, Plan};
use guestfix::rules::{Profile, RulesSource};
use guestfix::volume::DiskSet;
use std::path::Path;
use std::process::Command;

const REG: &str = "../shared/data/registry/regipy/";
const SYSTEM: &str = "/Windows/System32/config/SYSTEM";
const SOFTWARE: &str = "/Windows/System32/config/SOFTWARE";
const DRIVERS: &str = "tests/data/windows-drivers";

fn profile(drivers: bool) -> Profile {
    let mut p = RulesSource::Embedded.load("ec2").unwrap();
    if drivers {
        assert_eq!(p.set_drivers_dir(DRIVERS), 1);
    }
    p
}

fn facts(major: u32, minor: u32, arch: &str, build: &str, image_state: Option<&str>) -> OsFacts {
    let mut f = guestfix::guest::inspect::empty_os("/dev/sda2", "windows");
    f.major_version = Fact::Known(major);
    f.minor_version = Fact::Known(minor);
    f.arch = Fact::Known(arch.into());
    let w = WindowsFacts {
        build: Some(build.into()),
        image_state: image_state.map(str::to_string),
        ..Default::default()
    };
    f.windows = Some(serde_json::to_value(w).unwrap());
    f
}

fn empty_set() -> DiskSet {
    DiskSet {
        disks: Vec::new(),
        volumes: Vec::new(),
        vgs: Vec::new(),
        lvs: Vec::new(),
        warnings: Vec::new(),
    }
}

fn run_plan(files: &MemFiles, f: &OsFacts, p: &Profile) -> Plan {
    let set = empty_set();
    let ctx = Context {
        facts: f,
        files,
        set: &set,
        profile: p,
    };
    plan(&ctx).unwrap()
}

fn hive_change<'a>(p: &'a Plan, path: &str) -> (&'a [u8], &'a [u8], &'a str, &'a str) {
    for c in &p.changes {
        if let Change::EditHive {
            path: hp,
            old,
            new,
            diff,
            root,
            ..
        } = &c.change
        {
            if hp == path {
                return (old, new, diff, root);
            }
        }
    }
    panic!("no hive change for {path}: {}", p.render_text());
}

/// The files of the plan applied to `files` (what the guest holds after apply).
fn applied(files: &MemFiles, p: &Plan) -> MemFiles {
    let mut out = files.clone();
    for c in &p.changes {
        match &c.change {
            Change::EditHive { path, new, .. } | Change::EditFile { path, new, .. } => {
                out.insert(path, new.clone());
            }
            Change::AddFile { path, content, .. } => {
                out.insert(path, content.clone());
            }
            other => panic!("unexpected change {other:?}"),
        }
    }
    out
}

fn value(h: &Hive, key: &str, name: &str) -> Option<RegData> {
    h.root()
        .open_path(key)
        .unwrap()
        .and_then(|k| k.value(name).unwrap())
        .map(|v| v.decoded)
}

/// hivexget KEY VALUE on the hive bytes: hivex's own printing of the value.
fn hivexget(bytes: &[u8], key: &str, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hive");
    std::fs::write(&p, bytes).unwrap();
    let o = Command::new("hivexget")
        .args([p.to_str().unwrap(), key, name])
        .output()
        .expect("hivexget (libhivex-bin) must be installed");
    assert!(
        o.status.success(),
        "hivexget {key} {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// regipy's reading of a value (None when regipy finds no such key/value).
fn regipy(bytes: &[u8], key: &str, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hive");
    std::fs::write(&p, bytes).unwrap();
    let script = r#"
import sys
from regipy.registry import RegistryHive
h = RegistryHive(sys.argv[1])
k = h.get_key(sys.argv[2])
for v in k.iter_values():
    if v.name.lower() == sys.argv[3].lower():
        print(v.value)
        break
else:
    print("<missing>")
"#;
    let o = Command::new("python3")
        .args(["-c", script, p.to_str().unwrap(), key, name])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "regipy {key} {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn base_block_clean(bytes: &[u8]) {
    let seq1 = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let seq2 = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_eq!(seq1, seq2, "written hive left dirty");
    let mut x = 0u32;
    for c in bytes[..0x1fc].chunks(4) {
        x ^= u32::from_le_bytes(c.try_into().unwrap());
    }
    let want = match x {
        0 => 1,
        0xffff_ffff => 0xffff_fffe,
        v => v,
    };
    assert_eq!(
        u32::from_le_bytes(bytes[0x1fc..0x200].try_into().unwrap()),
        want,
        "base block checksum"
    );
}

fn software_hive() -> Vec<u8> {
    let mut w = guestfix::hive::write::HiveWriter::open(guestfix::hive::write::empty_hive(5), None)
        .unwrap();
    w.create_key("Microsoft\\Windows\\CurrentVersion").unwrap();
    w.set_value(
        "Microsoft\\Windows\\CurrentVersion",
        "DevicePath",
        guestfix::hive::write::ValueData::expand_sz("%SystemRoot%\\inf"),
    )
    .unwrap();
    w.commit().unwrap()
}

fn read(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Windows 7 (before Windows 8): the storage driver is bound through CriticalDeviceDatabase,
/// the 32-bit (NTx86) package is chosen, and every control set gets the service.
#[test]
fn windows7_real_system_hive_gets_critical_device_database() {
    let mut files = MemFiles::new();
    files.insert(SYSTEM, read(&format!("{REG}SYSTEM")));
    files.insert(SOFTWARE, software_hive());
    let f = facts(6, 1, "i686", "7601", None);
    let p = run_plan(&files, &f, &profile(true));
    let (old, new, diff, root) = hive_change(&p, SYSTEM);
    assert_eq!(root, "HKEY_LOCAL_MACHINE\\SYSTEM");
    assert_eq!(old, read(&format!("{REG}SYSTEM")).as_slice());
    base_block_clean(new);
    let h = Hive::from_bytes(new.to_vec()).unwrap();
    let sets: Vec<String> = h
        .root()
        .subkeys()
        .unwrap()
        .iter()
        .map(|k| k.name().to_string())
        .filter(|n| n.starts_with("ControlSet"))
        .collect();
    assert!(sets.len() >= 2, "{sets:?}");
    for cs in &sets {
        let svc = format!("{cs}\\Services\\viostor");
        assert_eq!(value(&h, &svc, "Start"), Some(RegData::Dword(0)), "{cs}");
        assert_eq!(value(&h, &svc, "Type"), Some(RegData::Dword(1)));
        assert_eq!(
            value(&h, &svc, "ImagePath"),
            Some(RegData::ExpandSz(
                "\\SystemRoot\\System32\\drivers\\viostor.sys".into()
            ))
        );
        let cdb = format!(
            "{cs}\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00"
        );
        assert_eq!(
            value(&h, &cdb, "Service"),
            Some(RegData::Sz("viostor".into()))
        );
        assert_eq!(
            value(&h, &cdb, "ClassGUID"),
            Some(RegData::Sz("{4D36E97B-E325-11CE-BFC1-08002BE10318}".into()))
        );
        // WIN-7 in every control set
        assert_eq!(
            value(
                &h,
                &format!("{cs}\\Control\\TimeZoneInformation"),
                "RealTimeIsUniversal"
            ),
            Some(RegData::Dword(1))
        );
    }
    assert!(h.root().open_path("DriverDatabase").unwrap().is_none());
    // netkvm's INF only has 10.0 models: not for Windows 7; the x86 viostor is the one copied
    let copies: Vec<String> = p
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::AddFile {
                path, copied_from, ..
            } => Some(format!(
                "{path} <- {}",
                copied_from.clone().unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    assert!(
        copies.iter().any(
            |c| c.starts_with("/Windows/System32/drivers/viostor.sys <- ")
                && c.contains("/w7/x86/")
        ),
        "{copies:?}"
    );
    assert!(!copies.iter().any(|c| c.contains("netkvm")), "{copies:?}");
    assert!(diff.contains("+[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00]"), "{diff}");
    // independent readers
    let cs1 = "\\ControlSet001\\Services\\viostor";
    assert_eq!(hivexget(new, cs1, "Start"), "0");
    assert_eq!(regipy(new, cs1, "Start"), "0");
    assert_eq!(
        regipy(
            new,
            "\\ControlSet001\\Services\\viostor\\Parameters\\PnpInterface",
            "5"
        ),
        "1"
    );
    // idempotent
    let again = run_plan(&applied(&files, &p), &f, &profile(true));
    assert!(again.is_empty(), "{}", again.render_text());
}

/// Windows 8.1-era x64 hive: DriverDatabase bindings, stornvme made boot-start with its
/// StartOverride removed, the 6.3 viostor package chosen over the 10.0 one, the staged package
/// on DevicePath.
#[test]
fn windows81_real_system_hive_gets_driver_database() {
    // SYSTEM_2 is dirty (sequence numbers 205/204) and comes without its logs: the plan does not
    // edit it, and says why.
    let dirty = read(&format!("{REG}SYSTEM_2"));
    let mut files = MemFiles::new();
    files.insert(SYSTEM, dirty.clone());
    files.insert(SOFTWARE, software_hive());
    let f = facts(
        6,
        3,
        "x86_64",
        "9600",
        Some("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"),
    );
    let p = run_plan(&files, &f, &profile(true));
    assert!(
        !p.changes.iter().any(|c| c.change.path() == SYSTEM),
        "{}",
        p.render_text()
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.message.contains("not edited") && n.message.contains("dirty")),
        "{:?}",
        p.notes
    );
    // The same hive as a clean shutdown leaves it (secondary sequence = primary, checksum).
    let mut clean = dirty;
    let seq1: [u8; 4] = clean[4..8].try_into().unwrap();
    clean[8..12].copy_from_slice(&seq1);
    let mut x = 0u32;
    for c in clean[..0x1fc].chunks(4) {
        x ^= u32::from_le_bytes(c.try_into().unwrap());
    }
    clean[0x1fc..0x200].copy_from_slice(&x.to_le_bytes());
    files.insert(SYSTEM, clean.clone());
    let before = Hive::from_bytes(clean).unwrap();
    let cur = before
        .current_control_set()
        .unwrap()
        .unwrap()
        .name()
        .to_string();
    let p = run_plan(&files, &f, &profile(true));
    let (_, new, diff, _) = hive_change(&p, SYSTEM);
    base_block_clean(new);
    let h = Hive::from_bytes(new.to_vec()).unwrap();
    let nvme = format!("{cur}\\Services\\stornvme");
    if before.root().open_path(&nvme).unwrap().is_some() {
        assert_eq!(value(&h, &nvme, "Start"), Some(RegData::Dword(0)));
        assert!(
            h.root()
                .open_path(&format!("{nvme}\\StartOverride"))
                .unwrap()
                .is_none()
        );
    }
    let ids = "DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00";
    assert_eq!(
        value(&h, ids, "viostor.inf"),
        Some(RegData::Binary(vec![1, 0xff, 0, 0]))
    );
    let label = "viostor.inf_amd64_0000000000000000";
    assert_eq!(
        value(&h, "DriverDatabase\\DriverInfFiles\\viostor.inf", "Active"),
        Some(RegData::Sz(label.into()))
    );
    assert_eq!(
        value(
            &h,
            &format!("DriverDatabase\\DriverPackages\\{label}\\Configurations\\viostor_inst"),
            "Service"
        ),
        Some(RegData::Sz("viostor".into()))
    );
    // the NVMe-style AWSNVMe (boot start, its Parameters\Device AddReg)
    assert_eq!(
        value(&h, &format!("{cur}\\Services\\AWSNVMe"), "Start"),
        Some(RegData::Dword(0))
    );
    assert_eq!(
        value(
            &h,
            &format!("{cur}\\Services\\AWSNVMe\\Parameters\\Device"),
            "NumberOfRequests"
        ),
        Some(RegData::Dword(1024))
    );
    // the disk filter is not a boot storage or network driver
    assert!(
        h.root()
            .open_path(&format!("{cur}\\Services\\stfilter"))
            .unwrap()
            .is_none()
    );
    assert!(!diff.contains("stfilter"));
    // 6.3: the 2k12r2 build
    let viostor_copy = p
        .changes
        .iter()
        .find_map(|c| match &c.change {
            Change::AddFile {
                path, copied_from, ..
            } if path == "/Windows/System32/drivers/viostor.sys" => copied_from.clone(),
            _ => None,
        })
        .unwrap();
    assert!(viostor_copy.contains("/2k12r2/"), "{viostor_copy}");
    // the malformed INF is a note naming its line
    assert!(
        p.notes.iter().any(|n| n
            .message
            .contains("broken.inf: line 5: unterminated quoted string")),
        "{:?}",
        p.notes
    );
    // DevicePath (SOFTWARE) names the staging folder, type kept
    let (_, sw, _, _) = hive_change(&p, SOFTWARE);
    let swh = Hive::from_bytes(sw.to_vec()).unwrap();
    assert_eq!(
        value(&swh, "Microsoft\\Windows\\CurrentVersion", "DevicePath"),
        Some(RegData::ExpandSz(
            "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\guestfix".into()
        ))
    );
    // WIN-8: sysprepped, so an unattend.xml for amd64
    let un = p
        .changes
        .iter()
        .find_map(|c| match &c.change {
            Change::AddFile { path, content, .. } if path == "/Windows/Panther/unattend.xml" => {
                Some(String::from_utf8(content.clone()).unwrap())
            }
            _ => None,
        })
        .expect("unattend.xml");
    assert!(un.contains("processorArchitecture=\"amd64\""));
    for tag in ["InputLocale", "SystemLocale", "UILanguage", "UserLocale"] {
        assert!(un.contains(&format!("<{tag}>en-US</{tag}>")), "{tag}");
    }
    assert!(un.contains("<HideEULAPage>true</HideEULAPage>"));
    // judges
    assert_eq!(
        hivexget(new, &format!("\\{cur}\\Services\\AWSNVMe"), "Start"),
        "0"
    );
    // netkvm's INF has only Windows 10 models
    assert!(
        h.root()
            .open_path(&format!("{cur}\\Services\\netkvm"))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        regipy(
            new,
            &format!("\\{cur}\\Services\\viostor\\Parameters"),
            "IoTimeoutValue"
        ),
        "60"
    );
    let again = run_plan(&applied(&files, &p), &f, &profile(true));
    assert!(again.is_empty(), "{}", again.render_text());
}

/// A dirty hive (Windows 10 1709, sequence numbers unequal, data only in .LOG1/.LOG2): the
/// plan's hive is the logs' recovery plus our edits, written clean; regipy and hivex read it.
#[test]
fn windows10_dirty_real_hive_is_recovered_then_edited() {
    let sys = read(&format!("{REG}SYSTEM_B"));
    let logs = vec![
        read(&format!("{REG}SYSTEM_B.LOG1")),
        read(&format!("{REG}SYSTEM_B.LOG2")),
    ];
    let (recovered, _) = Hive::from_bytes_with_logs(sys.clone(), &logs).unwrap();
    let mut files = MemFiles::new();
    files.insert(SYSTEM, sys.clone());
    files.insert(&format!("{SYSTEM}.LOG1"), logs[0].clone());
    files.insert(&format!("{SYSTEM}.LOG2"), logs[1].clone());
    let f = facts(10, 0, "x86_64", "16299", None);
    let p = run_plan(&files, &f, &profile(false));
    let (old, new, _, _) = hive_change(&p, SYSTEM);
    assert_eq!(old, sys.as_slice(), "the backup keeps the file as it was");
    base_block_clean(new);
    let h = Hive::from_bytes(new.to_vec()).unwrap();
    let cs = recovered
        .current_control_set()
        .unwrap()
        .unwrap()
        .name()
        .to_string();
    assert_eq!(
        value(
            &h,
            &format!("{cs}\\Control\\TimeZoneInformation"),
            "RealTimeIsUniversal"
        ),
        Some(RegData::Dword(1))
    );
    // everything the logs recovered is in our output: the full dump equals the recovered
    // hive's apart from the keys we changed
    let a = guestfix::hive::dump_lines(&recovered).unwrap();
    let b = guestfix::hive::dump_lines(&h).unwrap();
    let touched = |l: &String| {
        l.contains("TimeZoneInformation")
            || l.contains("Services\\stornvme")
            || l.contains("Tcpip\\Parameters\\Interfaces")
            || l.contains("Services\\Dhcp")
            || l.contains("Services\\Tcpip]")
    };
    let a: Vec<&String> = a.iter().filter(|l| !touched(l)).collect();
    let b: Vec<&String> = b.iter().filter(|l| !touched(l)).collect();
    assert_eq!(a, b);
    assert_eq!(
        regipy(
            new,
            &format!("\\{cs}\\Control\\TimeZoneInformation"),
            "RealTimeIsUniversal"
        ),
        "1"
    );
    assert_eq!(
        hivexget(
            new,
            &format!("\\{cs}\\Control\\TimeZoneInformation"),
            "RealTimeIsUniversal"
        ),
        "1"
    );
    // after apply the old logs stay beside the hive: the plan reads them again, and must see
    // our output (their sequence numbers are below the new primary's)
    let again = run_plan(&applied(&files, &p), &f, &profile(false));
    assert!(again.is_empty(), "{}", again.render_text());
}

/// A driver folder that has no driver for the guest is a note, not an error; a folder that is
/// not there is a usage error of the CLI (tests/apply_windows.rs has the CLI cases).
#[test]
fn no_driver_for_this_windows_is_a_note() {
    let mut files = MemFiles::new();
    files.insert(SYSTEM, read(&format!("{REG}SYSTEM")));
    // arm64 Windows 10: no INF of the folder has an arm64 model
    let f = facts(10, 0, "aarch64", "19041", None);
    let p = run_plan(&files, &f, &profile(true));
    assert!(
        p.notes
            .iter()
            .any(|n| n.message.contains("no driver INF of the classes")),
        "{:?}",
        p.notes
    );
    assert!(
        !p.changes
            .iter()
            .any(|c| matches!(&c.change, Change::AddFile { .. }))
    );
    let _ = Path::new(DRIVERS);
}

/// Drivers of the old hypervisor that fail on the new one (the profile's list: virt-v2v's
/// rhelscsi and Parallels prl_*) are disabled, and prl_strg leaves the storage class's
/// LowerFilters; other filters and services are kept (MOD-W1).
#[test]
fn old_hypervisor_drivers_are_disabled_and_filters_removed() {
    use guestfix::hive::write::{HiveWriter, ValueData, empty_hive};
    let mut w = HiveWriter::open(empty_hive(5), None).unwrap();
    w.create_key("Select").unwrap();
    w.set_value("Select", "Current", ValueData::dword(1))
        .unwrap();
    for (svc, start) in [
        ("rhelscsi", 0),
        ("prl_strg", 0),
        ("prl_fs", 1),
        ("storahci", 0),
    ] {
        let k = format!("ControlSet001\\Services\\{svc}");
        w.create_key(&k).unwrap();
        w.set_value(&k, "Start", ValueData::dword(start)).unwrap();
    }
    let class = "ControlSet001\\Control\\Class\\{4d36e967-e325-11ce-bfc1-08002be10318}";
    w.create_key(class).unwrap();
    w.set_value(
        class,
        "LowerFilters",
        ValueData::multi_sz(&["prl_strg", "EhStorClass"]),
    )
    .unwrap();
    let mut files = MemFiles::new();
    files.insert(SYSTEM, w.commit().unwrap());
    let f = facts(10, 0, "x86_64", "17763", None);
    let p = run_plan(&files, &f, &profile(false));
    let (_, new, diff, _) = hive_change(&p, SYSTEM);
    let h = Hive::from_bytes(new.to_vec()).unwrap();
    for (svc, want) in [
        ("rhelscsi", 4),
        ("prl_strg", 4),
        ("prl_fs", 4),
        ("storahci", 0),
    ] {
        assert_eq!(
            value(&h, &format!("ControlSet001\\Services\\{svc}"), "Start"),
            Some(RegData::Dword(want)),
            "{svc}"
        );
    }
    assert_eq!(
        value(&h, class, "LowerFilters"),
        Some(RegData::MultiSz(vec!["EhStorClass".into()]))
    );
    assert!(diff.contains("-\"LowerFilters\"=hex(7):"), "{diff}");
    assert_eq!(
        regipy(new, "\\ControlSet001\\Services\\prl_strg", "Start"),
        "4"
    );
    let again = run_plan(&applied(&files, &p), &f, &profile(false));
    assert!(again.is_empty(), "{}", again.render_text());
}
