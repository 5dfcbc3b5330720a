//! Windows inspection and checks on the built test images (win2019: BIOS/MBR, win11: UEFI/GPT),
//! against what index.json records and what the images' .reg sources
//! (test-images/trees/win*/) put in the hives. GUESTFIX_TEST_IMAGES names the folder; without it
//! the tests say so loudly and stop, unless GUESTFIX_REQUIRE_IMAGES is set.

use guestfix::check::{self, Finding, Severity};
use guestfix::guest::facts::OsFacts;
use guestfix::guest::inspect::{InspectOptions, Inspected, inspect};
use guestfix::guest::windows::WindowsFacts;
use guestfix::rules::RulesSource;
use serde_json::Value;
use std::path::PathBuf;

mod common;

fn image(name: &str) -> Option<(Inspected, Value)> {
    let dir = common::images_dir()?;
    let idx: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let rec = idx["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned();
    let Some(rec) = rec else {
        // The extra Windows guests come from scripts/images/windows-extra.sh, which
        // make-test-images.sh runs: under scripts/test.sh (GUESTFIX_REQUIRE_IMAGES) a missing
        // one fails.
        assert!(name == "win2012r2", "{name} not in index.json");
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "{name} not in index.json although GUESTFIX_REQUIRE_IMAGES is set"
        );
        eprintln!(
            "\n*** SKIPPED {name}: not in index.json (scripts/images/windows-extra.sh not run) ***\n"
        );
        return None;
    };
    let i = inspect(
        &[dir.join(rec["file"].as_str().unwrap())],
        &InspectOptions::default(),
    )
    .unwrap();
    Some((i, rec))
}

fn os(i: &Inspected) -> (&OsFacts, WindowsFacts) {
    assert_eq!(i.inspection.operating_systems.len(), 1);
    let o = &i.inspection.operating_systems[0];
    assert_eq!(o.os_type, "windows");
    (o, WindowsFacts::from_os(o).expect("windows facts"))
}

fn findings(i: &Inspected) -> check::Report {
    let profile = RulesSource::Embedded.load("ec2").unwrap();
    check::run(&i.inspection, &profile, "2026-11-22")
}

fn find<'a>(r: &'a check::Report, id: &str, sev: Severity, title: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.id == id && f.severity == sev && f.title.contains(title))
        .unwrap_or_else(|| {
            panic!(
                "no {id} {sev:?} finding with {title:?}; have:\n{}",
                check::render_text(r)
            )
        })
}

fn common(o: &OsFacts, w: &WindowsFacts, rec: &Value) {
    let want = &rec["os"];
    assert_eq!(o.distro.known().unwrap(), want["distro"].as_str().unwrap());
    assert_eq!(
        o.product_name.known().unwrap(),
        want["product_name"].as_str().unwrap()
    );
    assert_eq!(
        *o.major_version.known().unwrap() as u64,
        want["major_version"].as_u64().unwrap()
    );
    assert_eq!(
        *o.minor_version.known().unwrap() as u64,
        want["minor_version"].as_u64().unwrap()
    );
    let build = want["build"].as_str().unwrap();
    assert_eq!(o.version.known().unwrap(), &format!("10.0.{build}"));
    assert_eq!(w.build.as_deref(), Some(build));
    assert_eq!(o.arch.known().unwrap(), want["arch"].as_str().unwrap());
    assert_eq!(
        o.hostname.known().unwrap(),
        want["hostname"].as_str().unwrap()
    );
    assert_eq!(w.system_root, want["systemroot"].as_str().unwrap());
    assert_eq!(w.edition.as_deref(), want["edition"].as_str());
    assert_eq!(
        w.installation_type.as_deref(),
        want["product_variant"].as_str()
    );
    assert_eq!(w.boot_mode.as_deref(), want["boot"].as_str());
    assert_eq!(w.current_control_set.as_deref(), Some("ControlSet001"));
    // C: maps to the Windows partition through MountedDevices (MBR signature + offset, or the
    // GPT partition GUID).
    let winp = rec["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "windows")
        .unwrap();
    let dev = format!("/dev/sda{}", winp["number"]);
    assert_eq!(o.root, dev);
    assert_eq!(w.drive_mappings.get("C"), Some(&dev));
    assert!(
        w.system
            .as_ref()
            .unwrap()
            .mounted_devices
            .iter()
            .any(|(l, _)| l == "C")
    );
    // Free space: less than the partition, more than the partition minus the files the
    // builder put there (from its manifest) and a generous 8 MiB of NTFS metadata.
    let size = winp["size"].as_u64().unwrap();
    let free = w.system_volume_free_bytes.unwrap();
    assert!(free < size, "free {free} < size {size}");
    assert!(
        free > size - (16 << 20),
        "free {free} too small for a {size}-byte volume"
    );
    assert!(w.unknown.is_empty(), "{:?}", w.unknown);
    assert!(w.sam.as_ref().unwrap().unreadable.is_empty());
    // Exactly what ntfs-3g's ntfsinfo counts (Free Clusters × Cluster Size).
    match ntfsinfo_free(rec, winp) {
        Some(n) => assert_eq!(free, n, "free bytes vs ntfsinfo"),
        None => {
            assert!(
                std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
                "ntfsinfo (ntfs-3g) is required under scripts/test.sh"
            );
            eprintln!("*** SKIPPED free-space cross-check: ntfsinfo not installed ***");
        }
    }
}

/// Free bytes of a partition of an image as `ntfsinfo -m` reports them (None without ntfsinfo).
fn ntfsinfo_free(rec: &Value, part: &Value) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    std::process::Command::new("ntfsinfo")
        .arg("--version")
        .output()
        .ok()?;
    let dir = PathBuf::from(std::env::var_os("GUESTFIX_TEST_IMAGES")?);
    let mut f = std::fs::File::open(dir.join(rec["file"].as_str()?)).ok()?;
    f.seek(SeekFrom::Start(part["start"].as_u64()?)).unwrap();
    let mut buf = vec![0u8; part["size"].as_u64()? as usize];
    f.read_exact(&mut buf).unwrap();
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("part.img");
    std::fs::write(&img, buf).unwrap();
    let o = std::process::Command::new("ntfsinfo")
        .arg("-m")
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("ntfsinfo: no {name}\n{text}"))
    };
    Some(field("Free Clusters:") * field("Cluster Size:"))
}

#[test]
fn win2019_facts_and_findings() {
    let Some((i, rec)) = image("win2019") else {
        return;
    };
    let (o, w) = os(&i);
    common(o, &w, &rec);
    let sys = w.system.as_ref().unwrap();
    let sw = w.software.as_ref().unwrap();
    assert_eq!(
        w.matrix_product.as_deref(),
        Some("Windows Server 2019 Datacenter")
    );
    assert_eq!(sw.ubr, Some(0xf2d));
    assert_eq!(sw.display_version.as_deref(), Some("1809"));
    assert_eq!(sw.system_root.as_deref(), Some("C:\\Windows"));
    assert!(sw.auto_logon);
    assert_eq!(sw.dotnet, vec!["4.7.2".to_string()]);
    assert_eq!(sw.sql_server.len(), 1);
    assert_eq!(sw.sql_server[0].name, "MSSQLSERVER");
    assert_eq!(
        sw.sql_server[0].edition.as_deref(),
        Some("Standard Edition")
    );
    assert!(
        sw.pending_reboot
            .iter()
            .any(|p| p.ends_with("RebootPending"))
    );
    assert_eq!(sys.deny_ts_connections, Some(1));
    assert_eq!(sys.real_time_is_universal, None);
    assert!(sys.page_file.as_ref().unwrap().automatic);
    assert!(w.hyperv_role);
    assert!(
        w.hypervisor_services
            .iter()
            .any(|h| h.starts_with("VMware Tools"))
    );
    let drivers: Vec<(&str, Option<u32>, Option<bool>)> = w
        .drivers
        .iter()
        .map(|d| (d.name.as_str(), d.start, d.file_present))
        .collect();
    assert_eq!(
        drivers,
        vec![
            ("LSI_SAS", Some(0), Some(true)),
            ("vmxnet3ndis6", Some(3), Some(true)),
            ("storahci", Some(0), Some(true)),
        ]
    );
    // BCD on the "System Reserved" partition: EMS on, BIOS loader.
    let b = w.bcd.as_ref().unwrap();
    assert_eq!(b.source, "/dev/sda1:/Boot/BCD");
    assert!(b.ems_enabled());
    assert_eq!(b.boot_manager_ems, Some(true));
    assert_eq!(b.firmware.as_deref(), Some("bios"));
    assert_eq!(
        b.default.as_ref().unwrap().path.as_deref(),
        Some("\\Windows\\system32\\winload.exe")
    );
    assert!(o.boot_modes.bios && !o.boot_modes.uefi);
    assert_eq!(
        o.applications.known().unwrap()[0].name,
        "VMware Tools".to_string()
    );

    let r = findings(&i);
    assert!(r.has_blockers());
    find(&r, "OS-1", Severity::Pass, "x86_64");
    find(&r, "OS-3", Severity::Pass, "Windows Server 2019");
    find(&r, "OS-4", Severity::Pass, "not end of life");
    find(&r, "OS-5", Severity::Info, "Windows Server");
    find(&r, "OS-5", Severity::Info, "SQL Server Standard Edition");
    find(&r, "BOOT-3", Severity::Pass, "legacy BIOS");
    find(&r, "WIN-1", Severity::Blocker, "not enough free space");
    find(&r, "WIN-1", Severity::Warning, "automatic page-file");
    let ems = find(
        &r,
        "WIN-3",
        Severity::Warning,
        "Emergency Management Services",
    );
    assert!(ems.evidence.iter().any(|e| e.contains("bootems = yes")));
    find(&r, "WIN-4", Severity::Pass, "English");
    let hv = find(&r, "WIN-5", Severity::Blocker, "Hyper-V");
    assert!(hv.evidence[0].contains("vmms"));
    find(&r, "WIN-6", Severity::Warning, "RDP is disabled");
    find(&r, "WIN-6", Severity::Warning, "auto-logon");
    find(&r, "WIN-6", Severity::Warning, "pending Windows updates");
    find(&r, "WIN-6", Severity::Pass, ".NET Framework 4.5");
    find(
        &r,
        "WIN-7",
        Severity::Warning,
        "RealTimeIsUniversal is not set",
    );
    find(&r, "WIN-8", Severity::Pass, "not sysprepped");
    find(&r, "WIN-9", Severity::Pass, "TCP/IP and the DHCP client");
    find(&r, "WIN-9", Severity::Pass, "no security product or policy");
    find(
        &r,
        "MOD-W1",
        Severity::Info,
        "storage and network drivers not installed",
    );
    let g4 = find(&r, "GEN-4", Severity::Warning, "static IP");
    assert!(g4.evidence[0].contains("10.1.2.19"));
    find(&r, "GEN-1", Severity::Pass, "no signs");
    find(&r, "GEN-5", Severity::Pass, "no hibernation");
    assert_eq!(
        accounts(&w),
        vec![
            acc("Administrator", 500, false, true),
            acc("Guest", 501, true, false),
            acc("DefaultAccount", 503, true, false),
            acc("WDAGUtilityAccount", 504, true, true),
            acc("sqlsvc", 1000, false, true),
        ]
    );
    let pw = find(&r, "WIN-6", Severity::Pass, "every enabled local account");
    assert_eq!(
        pw.evidence,
        vec!["2 enabled local account(s) with a password: Administrator, sqlsvc".to_string()]
    );
}

#[test]
fn win11_facts_and_findings() {
    let Some((i, rec)) = image("win11") else {
        return;
    };
    let (o, w) = os(&i);
    common(o, &w, &rec);
    let sys = w.system.as_ref().unwrap();
    let sw = w.software.as_ref().unwrap();
    // ProductName says Windows 10; the build says 11 (index.json: windows_generation 11).
    assert_eq!(rec["os"]["windows_generation"], 11);
    assert_eq!(w.matrix_product.as_deref(), Some("Windows 11 Pro"));
    assert_eq!(
        sw.display_version.as_deref(),
        rec["os"]["display_version"].as_str()
    );
    assert!(!sw.auto_logon);
    assert_eq!(sw.dotnet, vec!["4.8".to_string()]);
    assert!(sw.sql_server.is_empty());
    assert_eq!(sys.hiberboot_enabled, Some(1));
    assert_eq!(sys.real_time_is_universal, Some(1));
    assert_eq!(sys.deny_ts_connections, Some(0));
    assert!(!w.hyperv_role);
    assert!(
        w.drivers
            .iter()
            .any(|d| d.name == "stornvme" && d.start == Some(0))
    );
    let b = w.bcd.as_ref().unwrap();
    assert_eq!(b.source, "/dev/sda1:/EFI/Microsoft/Boot/BCD");
    assert!(!b.ems_enabled());
    assert_eq!(b.firmware.as_deref(), Some("uefi"));
    assert!(o.boot_modes.uefi && !o.boot_modes.bios);
    assert_eq!(o.boot_modes.esp_device.as_deref(), Some("/dev/sda1"));
    assert_eq!(o.boot_modes.uefi_fallback_loader, Some(true));

    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Info, "client edition");
    assert!(
        os3.evidence
            .iter()
            .any(|e| e.contains("needs UEFI: it boots uefi"))
    );
    find(&r, "OS-5", Severity::Info, "bring-your-own-licence");
    let b3 = find(&r, "BOOT-3", Severity::Pass, "UEFI boot; GPT kept");
    assert!(b3.evidence.iter().any(|e| e.contains("not VHDX")));
    find(&r, "GEN-5", Severity::Warning, "fast startup");
    find(&r, "WIN-1", Severity::Warning, "automatic page-file");
    find(&r, "WIN-3", Severity::Pass, "EMS not enabled");
    find(&r, "WIN-5", Severity::Pass, "no Hyper-V");
    find(&r, "WIN-6", Severity::Pass, "RDP enabled");
    // The built-in Administrator is disabled without a password (as Windows 11 sets it up):
    // not counted; the user account has one.
    assert_eq!(accounts(&w)[0], acc("Administrator", 500, true, false));
    let pw = find(&r, "WIN-6", Severity::Pass, "every enabled local account");
    assert_eq!(
        pw.evidence,
        vec!["1 enabled local account(s) with a password: user".to_string()]
    );
    find(&r, "WIN-7", Severity::Pass, "RealTimeIsUniversal is set");
    find(&r, "GEN-4", Severity::Pass, "DHCP");
    find(
        &r,
        "MOD-W1",
        Severity::Info,
        "network drivers not installed",
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.id == "WIN-5" && f.severity == Severity::Blocker)
    );
}

#[test]
fn inspect_xml_has_windows_fields() {
    let Some((i, _)) = image("win2019") else {
        return;
    };
    let xml = guestfix::guest::report::to_xml(&i.inspection);
    assert!(
        xml.contains("<windows_systemroot>/Windows</windows_systemroot>"),
        "{xml}"
    );
    assert!(
        xml.contains("<windows_current_control_set>ControlSet001</windows_current_control_set>")
    );
    assert!(xml.contains("<drive_mapping name=\"C\">/dev/sda2</drive_mapping>"));
    assert!(xml.contains("<hostname>WIN2019-TEST</hostname>"));
    assert!(xml.contains("<name>VMware Tools</name>"));
    // Valid against virt-inspector's own schema (guestfs-tools, xmllint).
    let rng = std::path::Path::new("/usr/share/doc/guestfs-tools/virt-inspector.rng.gz");
    if !rng.exists()
        || std::process::Command::new("xmllint")
            .arg("--version")
            .output()
            .is_err()
    {
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "xmllint and guestfs-tools are required under scripts/test.sh"
        );
        eprintln!("*** SKIPPED schema validation: xmllint or virt-inspector.rng missing ***");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let z = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(rng)
        .output()
        .unwrap();
    std::fs::write(t.path().join("vi.rng"), z.stdout).unwrap();
    std::fs::write(t.path().join("out.xml"), &xml).unwrap();
    let o = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(t.path().join("vi.rng"))
        .arg(t.path().join("out.xml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn win2012r2_facts_and_findings() {
    let Some((i, rec)) = image("win2012r2") else {
        return;
    };
    let (o, w) = os(&i);
    // No CurrentMajorVersionNumber: 6.3 from CurrentVersion.
    assert_eq!(o.version.known().unwrap(), "6.3.9600");
    assert_eq!(
        o.product_name.known().unwrap(),
        rec["os"]["product_name"].as_str().unwrap()
    );
    assert_eq!(*o.major_version.known().unwrap(), 6);
    assert_eq!(*o.minor_version.known().unwrap(), 3);
    assert_eq!(o.hostname.known().unwrap(), "WIN2012R2-TEST");
    assert_eq!(w.boot_mode.as_deref(), Some("bios"));
    assert_eq!(
        w.drive_mappings.get("C").map(String::as_str),
        Some("/dev/sda2")
    );
    assert_eq!(
        w.image_state.as_deref(),
        Some("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE")
    );
    // A 37-byte hiberfil.sys that starts with "hibr" has no first page: not an image.
    assert_eq!(w.hiberfil.as_deref(), Some("hibernation header truncated"));
    let sys = w.system.as_ref().unwrap();
    assert_eq!(sys.processor_architecture.as_deref(), Some("AMD64"));
    assert_eq!(
        sys.ui_languages,
        vec!["de-DE".to_string(), "en-US".to_string()]
    );
    assert_eq!(
        sys.rdp_firewall_rules,
        vec!["RemoteDesktop-UserMode-In-TCP".to_string()]
    );
    assert!(!sys.page_file.as_ref().unwrap().automatic);
    let sw = w.software.as_ref().unwrap();
    assert_eq!(sw.dotnet, vec!["3.5 SP1".to_string()]);
    assert_eq!(sw.sql_server[0].edition.as_deref(), Some("Express Edition"));
    let b = w.bcd.as_ref().unwrap();
    assert_eq!(b.display_order.len(), 2);
    assert_eq!(b.loaders.len(), 2);

    let r = findings(&i);
    find(&r, "OS-3", Severity::Pass, "Windows Server 2012 R2");
    find(&r, "WIN-2", Severity::Info, "SR-IOV");
    find(&r, "WIN-4", Severity::Warning, "not English");
    find(
        &r,
        "WIN-6",
        Severity::Warning,
        ".NET Framework 4.5+ missing",
    );
    find(&r, "WIN-6", Severity::Pass, "firewall allows RDP");
    find(&r, "WIN-6", Severity::Warning, "pending");
    find(&r, "WIN-8", Severity::Info, "sysprepped");
    let w9 = find(&r, "WIN-9", Severity::Blocker, "DHCP disabled");
    assert!(w9.evidence[0].contains("Dhcp"));
    find(&r, "WIN-9", Severity::Warning, "boot menu");
    let g1 = find(&r, "GEN-1", Severity::Warning, "P2V");
    assert_eq!(g1.evidence.len(), 2);
    let g5 = find(&r, "GEN-5", Severity::Warning, "hibernation signature");
    assert!(
        g5.evidence[0].contains("(37 bytes) header signature \"hibr\""),
        "{:?}",
        g5.evidence
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.id == "GEN-5" && f.severity == Severity::Blocker)
    );
    find(&r, "MOD-W1", Severity::Pass, "drivers present");
    find(&r, "OS-5", Severity::Info, "SQL Server Express Edition");
    // RC4-era SAM entries (before Windows 10 1607), one with an LM hash too.
    let sam = w.sam.as_ref().unwrap();
    assert!(
        sam.accounts
            .iter()
            .all(|a| a.hash_format == guestfix::guest::windows::sam::HashFormat::Rc4)
    );
    assert_eq!(
        accounts(&w),
        vec![
            acc("Administrator", 500, false, true),
            acc("Guest", 501, true, false),
            acc("Administrateur", 1000, false, true),
        ]
    );
    assert!(sam.accounts[2].lm_hash_present);
    find(&r, "WIN-6", Severity::Pass, "every enabled local account");
}

/// Put changed Windows facts back into the inspection.
fn set_windows(i: &mut Inspected, w: &WindowsFacts) {
    i.inspection.operating_systems[0].windows = Some(serde_json::to_value(w).unwrap());
}

#[test]
fn win11_what_if_boot3_and_os3_rules() {
    let Some((mut i, _)) = image("win11") else {
        return;
    };
    // BOOT-3: the same UEFI/GPT disk delivered as VHDX (≤ 2 TiB, 3 primary partitions, not
    // dynamic) would have its GPT boot volume converted to MBR.
    i.inspection.images[0].format = "vhdx".into();
    let r = findings(&i);
    let b3 = find(&r, "BOOT-3", Severity::Pass, "convert GPT to MBR");
    assert!(b3.evidence.iter().any(|e| e.contains("would be converted")));
    // With a 4th primary partition it would not.
    i.inspection.disks[0].primary_partitions = 4;
    let r = findings(&i);
    let b3 = find(&r, "BOOT-3", Severity::Pass, "GPT kept");
    assert!(
        b3.evidence
            .iter()
            .any(|e| e.contains("4 primary partitions (> 3)"))
    );
    // Bootable both ways, VHDX, ≤ 4 primaries: legacy BIOS is chosen.
    i.inspection.operating_systems[0].boot_modes.bios = true;
    let r = findings(&i);
    find(&r, "BOOT-3", Severity::Info, "would choose legacy BIOS");

    // OS-3: a client edition must have US-English as the OS language.
    let (_, mut w) = os(&i);
    w.system.as_mut().unwrap().language_default = Some("0407".into());
    set_windows(&mut i, &w);
    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Blocker, "not accepted");
    assert!(os3.evidence.iter().any(|e| e.contains("US-English")));
    // Windows 11 booting BIOS is refused.
    let (_, mut w) = os(&i);
    w.system.as_mut().unwrap().language_default = Some("0409".into());
    w.boot_mode = Some("bios".into());
    set_windows(&mut i, &w);
    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Blocker, "not accepted");
    assert!(os3.evidence.iter().any(|e| e.contains("needs UEFI")));
}

#[test]
fn win2019_what_if_matrix_rules() {
    let Some((mut i, _)) = image("win2019") else {
        return;
    };
    // Server 2016 Nano Server is refused (OS-3); Server 2008 R2 is end of life (OS-4).
    let (_, mut w) = os(&i);
    w.matrix_product = Some("Windows Server 2016 Datacenter".into());
    w.installation_type = Some("Nano Server".into());
    set_windows(&mut i, &w);
    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Blocker, "not accepted");
    assert!(
        os3.evidence
            .iter()
            .any(|e| e.contains("Nano Server is refused"))
    );
    w.matrix_product = Some("Windows Server 2008 R2 Standard".into());
    w.installation_type = Some("Server".into());
    w.edition = Some("ServerStandard".into());
    set_windows(&mut i, &w);
    let r = findings(&i);
    find(&r, "OS-4", Severity::Warning, "end of life");
    // A Home edition of Server 2019 does not exist in the matrix: refused.
    w.matrix_product = Some("Windows Server 2019 Essentials".into());
    w.edition = Some("ServerSolution".into());
    set_windows(&mut i, &w);
    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Blocker, "not accepted");
    assert!(
        os3.evidence
            .iter()
            .any(|e| e.contains("edition ServerSolution"))
    );
    // OS-1: a 32-bit Windows is refused since 2026-04-01.
    i.inspection.operating_systems[0].arch = guestfix::guest::facts::Fact::Known("i386".into());
    let r = findings(&i);
    let os1 = find(&r, "OS-1", Severity::Blocker, "i386");
    assert!(os1.evidence[0].contains("2026-04-01"));
}

/// (name, RID, disabled, password set) of every SAM account.
fn accounts(w: &WindowsFacts) -> Vec<(String, u32, bool, bool)> {
    w.sam
        .as_ref()
        .expect("SAM facts")
        .accounts
        .iter()
        .map(|a| (a.name.clone(), a.rid, a.disabled, a.password_set))
        .collect()
}

fn acc(n: &str, rid: u32, disabled: bool, pw: bool) -> (String, u32, bool, bool) {
    (n.to_string(), rid, disabled, pw)
}

#[test]
fn win2022_bios_facts_and_findings() {
    let Some((i, rec)) = image("win2022-bios") else {
        return;
    };
    let (o, w) = os(&i);
    common(o, &w, &rec);
    assert_eq!(
        w.matrix_product.as_deref(),
        Some("Windows Server 2022 Standard")
    );
    let sw = w.software.as_ref().unwrap();
    let sys = w.system.as_ref().unwrap();
    assert_eq!(sw.ubr, Some(2340));
    assert_eq!(sw.display_version.as_deref(), Some("21H2"));
    assert_eq!(sw.dotnet, vec!["4.8".to_string()]);
    assert!(
        sw.pending_reboot
            .iter()
            .any(|p| p.ends_with("RebootRequired"))
    );
    assert_eq!(sys.language_default.as_deref(), Some("040C"));
    assert_eq!(sys.ui_languages, vec!["fr-FR".to_string()]);
    assert_eq!(sys.deny_ts_connections, Some(0));
    assert!(sys.rdp_firewall_rules.is_empty(), "rules are inactive");
    assert!(!sys.page_file.as_ref().unwrap().automatic);
    assert_eq!(sys.hibernate_enabled, Some(1));
    // The file is there, its header zeroed: not hibernated.
    assert_eq!(w.hiberfil.as_deref(), Some("not hibernated"));
    assert!(
        w.hiberfil_evidence
            .as_deref()
            .unwrap()
            .contains("(65536 bytes) header signature zeroed")
    );
    assert!(w.system_volume_dirty.is_none());
    let drivers: Vec<&str> = w.drivers.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(drivers, vec!["E1G60", "storahci"]);
    assert_eq!(w.bcd.as_ref().unwrap().source, "/dev/sda1:/Boot/BCD");
    // SAM: the built-in accounts, and an enabled service account without a password.
    assert_eq!(
        accounts(&w),
        vec![
            acc("Administrator", 500, false, true),
            acc("Guest", 501, true, false),
            acc("DefaultAccount", 503, true, false),
            acc("WDAGUtilityAccount", 504, true, true),
            acc("svc-backup", 1000, false, false),
        ]
    );
    let sam = w.sam.as_ref().unwrap();
    assert!(sam.unreadable.is_empty());
    let guest = &sam.accounts[1];
    assert!(guest.password_not_required);
    assert_eq!(
        guest.hash_format,
        guestfix::guest::windows::sam::HashFormat::Aes
    );
    let backup = &sam.accounts[4];
    assert_eq!(backup.full_name.as_deref(), Some("Backup service"));
    assert_eq!(backup.logon_count, 12);
    // No hash bytes in the facts (JSON) — only lengths were looked at.
    let json = serde_json::to_string(&w).unwrap();
    assert!(!json.contains("hash\":["), "{json}");

    let r = findings(&i);
    find(&r, "OS-3", Severity::Pass, "Windows Server 2022");
    find(&r, "WIN-4", Severity::Warning, "not English");
    find(&r, "WIN-6", Severity::Pass, "RDP enabled");
    find(&r, "WIN-6", Severity::Warning, "firewall");
    find(&r, "WIN-6", Severity::Warning, "pending");
    let pw = find(&r, "WIN-6", Severity::Warning, "without a password");
    assert_eq!(
        pw.evidence,
        vec!["svc-backup (RID 1000): enabled, no NT password hash in SAM".to_string()]
    );
    find(&r, "WIN-7", Severity::Pass, "RealTimeIsUniversal is set");
    find(
        &r,
        "MOD-W1",
        Severity::Info,
        "storage and network drivers not installed",
    );
    let g5 = find(&r, "GEN-5", Severity::Pass, "no hibernation");
    assert!(g5.evidence[0].contains("not hibernated"));
    // D: (MountedDevices: disk signature + offset of p3) is a BitLocker volume: refused by the
    // disk checks, named by its drive letter by the Windows checks.
    assert_eq!(
        w.drive_mappings.get("D").map(String::as_str),
        Some("/dev/sda3")
    );
    find(&r, "GEN-3", Severity::Blocker, "encrypted volume");
    let g3 = find(
        &r,
        "GEN-3",
        Severity::Info,
        "BitLocker volume of this Windows",
    );
    assert_eq!(
        g3.evidence,
        vec!["/dev/sda3 is BitLocker-encrypted (drive D:)".to_string()]
    );
}

#[test]
fn win2022_uefi_facts_and_findings() {
    let Some((i, rec)) = image("win2022-uefi") else {
        return;
    };
    let (o, w) = os(&i);
    common(o, &w, &rec);
    assert_eq!(
        w.matrix_product.as_deref(),
        Some("Windows Server 2022 Datacenter")
    );
    assert_eq!(w.installation_type.as_deref(), Some("Server Core"));
    let b = w.bcd.as_ref().unwrap();
    assert_eq!(b.source, "/dev/sda1:/EFI/Microsoft/Boot/BCD");
    assert_eq!(b.firmware.as_deref(), Some("uefi"));
    assert!(o.boot_modes.uefi && !o.boot_modes.bios);
    let drivers: Vec<(&str, Option<u32>, Option<bool>)> = w
        .drivers
        .iter()
        .map(|d| (d.name.as_str(), d.start, d.file_present))
        .collect();
    assert_eq!(
        drivers,
        vec![
            ("stornvme", Some(0), Some(true)),
            ("AWSNVMe", Some(0), Some(true)),
            ("ena", Some(3), Some(true)),
            ("xenbus", Some(0), Some(true)),
        ]
    );
    // Hibernated: a HIBR header page; the NTFS reader marks the volume dirty for it too.
    assert_eq!(w.hiberfil.as_deref(), Some("hibernated"));
    let ev = w.hiberfil_evidence.as_deref().unwrap();
    assert!(
        ev.contains("header signature \"HIBR\", page size 4096: hibernated"),
        "{ev}"
    );
    assert!(w.system_volume_dirty.as_deref().unwrap().contains("HIBR"));
    assert_eq!(
        accounts(&w),
        vec![
            acc("Administrator", 500, false, true),
            acc("Guest", 501, true, false),
            acc("DefaultAccount", 503, true, false),
            acc("WDAGUtilityAccount", 504, true, true),
            acc("ops", 1001, false, true),
        ]
    );

    let r = findings(&i);
    assert!(r.has_blockers());
    let g5 = find(&r, "GEN-5", Severity::Blocker, "hibernated");
    assert!(g5.evidence[0].contains("HIBR"));
    // The disk checks report the dirty NTFS volume as well.
    find(&r, "GEN-5", Severity::Warning, "not shut down cleanly");
    let pw = find(&r, "WIN-6", Severity::Pass, "every enabled local account");
    assert_eq!(
        pw.evidence[0],
        "2 enabled local account(s) with a password: Administrator, ops"
    );
    find(&r, "WIN-6", Severity::Pass, "firewall allows RDP");
    find(&r, "WIN-1", Severity::Warning, "automatic page-file");
    find(
        &r,
        "WIN-7",
        Severity::Warning,
        "RealTimeIsUniversal is not set",
    );
    find(&r, "MOD-W1", Severity::Pass, "drivers present");
    find(&r, "BOOT-3", Severity::Pass, "UEFI boot; GPT kept");
}

#[test]
fn win10_facts_and_findings() {
    let Some((i, rec)) = image("win10") else {
        return;
    };
    let (o, w) = os(&i);
    common(o, &w, &rec);
    assert_eq!(w.matrix_product.as_deref(), Some("Windows 10 Pro"));
    let sw = w.software.as_ref().unwrap();
    let sys = w.system.as_ref().unwrap();
    assert_eq!(sw.ubr, Some(3803));
    assert_eq!(
        sw.display_version.as_deref(),
        rec["os"]["display_version"].as_str()
    );
    assert!(sw.auto_logon);
    assert_eq!(sys.hiberboot_enabled, Some(1));
    assert_eq!(sys.deny_ts_connections, Some(1));
    assert_eq!(sys.language_default.as_deref(), Some("0411"));
    // One partition: the BCD store is C:\Boot\BCD.
    assert_eq!(w.bcd.as_ref().unwrap().source, "/dev/sda1:/Boot/BCD");
    // Fast startup on, but the hiberfil.sys header says "wake": resumed, not hibernated.
    assert_eq!(w.hiberfil.as_deref(), Some("resumed"));
    assert!(w.system_volume_dirty.is_none());
    assert!(
        w.hypervisor_services
            .iter()
            .any(|h| h == "VBoxService (virtualbox)")
    );
    assert_eq!(
        w.p2v_signs,
        vec![
            "service Disk2vhd left by a P2V converter".to_string(),
            "physical storage/network driver iaStorAVC is boot-start (Start=0)".to_string(),
        ]
    );
    assert_eq!(
        accounts(&w),
        vec![
            acc("Administrator", 500, true, false),
            acc("Guest", 501, true, false),
            acc("DefaultAccount", 503, true, false),
            acc("WDAGUtilityAccount", 504, true, true),
            acc("user", 1001, false, false),
            acc("legacy", 1002, false, true),
        ]
    );
    let legacy = &w.sam.as_ref().unwrap().accounts[5];
    assert_eq!(
        legacy.hash_format,
        guestfix::guest::windows::sam::HashFormat::Rc4
    );
    assert!(legacy.lm_hash_present);

    let r = findings(&i);
    let os3 = find(&r, "OS-3", Severity::Blocker, "not accepted");
    assert!(os3.evidence.iter().any(|e| e.contains("US-English")));
    find(&r, "WIN-4", Severity::Warning, "not English");
    find(&r, "WIN-6", Severity::Warning, "RDP is disabled");
    find(&r, "WIN-6", Severity::Warning, "auto-logon");
    let pw = find(&r, "WIN-6", Severity::Warning, "without a password");
    assert_eq!(
        pw.evidence,
        vec!["user (RID 1001): enabled, no NT password hash in SAM".to_string()]
    );
    let g5 = find(&r, "GEN-5", Severity::Warning, "fast startup");
    assert!(
        g5.evidence
            .iter()
            .any(|e| e.contains("HiberbootEnabled = 1"))
    );
    assert!(
        g5.evidence
            .iter()
            .any(|e| e.contains("\"wake\"") && e.ends_with("resumed"))
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.id == "GEN-5" && f.severity == Severity::Blocker)
    );
    let g1 = find(&r, "GEN-1", Severity::Warning, "P2V");
    assert_eq!(g1.evidence.len(), 2);
    find(&r, "BOOT-3", Severity::Pass, "legacy BIOS");
    // WIN-9: a security agent and a device-installation policy that block driver installation.
    assert_eq!(
        sw.device_install_restrictions,
        vec!["DenyUnspecified=1".to_string()]
    );
    let av = find(&r, "WIN-9", Severity::Warning, "antivirus or hardening");
    assert_eq!(av.evidence.len(), 2, "{:?}", av.evidence);
    assert!(av.evidence[0].starts_with("service CSFalconService (Start=2"));
    assert!(av.evidence[1].ends_with("DeviceInstall\\Restrictions: DenyUnspecified=1"));
    // Windows 10 Pro has volume licensing: no activation warning with the ec2 profile …
    assert!(
        !r.findings
            .iter()
            .any(|f| f.title.contains("volume licensing"))
    );
    // … and the list of editions without it is the profile's data.
    let mut profile = RulesSource::Embedded.load("ec2").unwrap();
    profile
        .settings
        .windows_no_volume_licensing_editions
        .push("Professional".into());
    let r2 = check::run(&i.inspection, &profile, "2026-11-22");
    let vl = find(&r2, "WIN-9", Severity::Warning, "without volume licensing");
    assert_eq!(vl.evidence, vec!["EditionID Professional".to_string()]);
}

/// The NTFS reader's free bytes ($Bitmap, counted in the fs layer) on every NTFS partition of
/// the Windows images — "System Reserved" volumes too — equal what ntfs-3g's `ntfsinfo -m`
/// counts; and hiberfil.sys is classified by the fs layer the same way inspect reports it.
#[test]
fn ntfs_free_bytes_match_ntfsinfo() {
    use guestfix::fs::Filesystem;
    use guestfix::fs::ntfs::{HiberState, NtfsFs};
    let mut compared = 0;
    for name in ["win2022-bios", "win2022-uefi", "win10", "win2019"] {
        let Some((_, rec)) = image(name) else {
            return;
        };
        let dir = PathBuf::from(std::env::var_os("GUESTFIX_TEST_IMAGES").unwrap());
        let dev = guestfix::block::open(
            &dir.join(rec["file"].as_str().unwrap()),
            &Default::default(),
        )
        .unwrap();
        let set = guestfix::fs::scan_disks(&[dev]).unwrap();
        for p in rec["partitions"].as_array().unwrap() {
            if p["fs"] != "ntfs" {
                continue;
            }
            let v = set
                .find(&format!("/dev/sda{}", p["number"]))
                .expect("volume");
            let fs = NtfsFs::open(v.dev.clone()).unwrap();
            let free = fs.free_bytes().unwrap();
            assert_eq!(fs.info().free_bytes, free);
            assert!(free > 0 && free < p["size"].as_u64().unwrap());
            let Some(n) = ntfsinfo_free(&rec, p) else {
                eprintln!("*** SKIPPED free-space cross-check: ntfsinfo not installed ***");
                return;
            };
            assert_eq!(
                free, n,
                "{name} partition {}: free bytes vs ntfsinfo",
                p["number"]
            );
            compared += 1;
            if p["role"] == "windows" {
                let h = fs.hiberfil().unwrap();
                let want = match name {
                    "win2022-bios" => Some(HiberState::NotHibernated),
                    "win2022-uefi" => Some(HiberState::Hibernated),
                    "win10" => Some(HiberState::Resumed),
                    _ => None,
                };
                assert_eq!(h.map(|h| h.state), want, "{name}");
            }
        }
    }
    assert_eq!(compared, 6);
}
