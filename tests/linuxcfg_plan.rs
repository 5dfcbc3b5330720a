//! Whole-guest planning over real files: a RHEL 7 root (python-distro's rhel7 release files,
//! util-linux fstab, grubby's RHEL 7.2 grub.cfg + a stale grubenv, leapp's /etc/default/grub,
//! NetworkManager's ifcfg test files) and a RHEL 8 BLS root (leapp's grub.cfg, boom's entries,
//! a NetworkManager keyfile). Facts before, the planned diffs (snapshot), the facts after
//! applying them, and a second plan that is empty.

use guestfix::guest::linux::facts;
use guestfix::guest::linux::files::{GuestFiles, MemFiles};
use guestfix::guest::linux::grub::{LoaderKind, grubenv::Grubenv};
use guestfix::plan::edit::fstab::{DEFAULT_DISABLED_TYPES, SpecResolution};
use guestfix::plan::edit::linux::{LinuxEditParams, PlannedEdit, plan};
use guestfix::plan::edit::network::{NetEdit, Others};

const D: &str = "../shared/data/linux/";

fn read(p: &str) -> Vec<u8> {
    std::fs::read(format!("{D}{p}")).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn image(spec: &str) -> SpecResolution {
    match spec {
        "/dev/foo" => SpecResolution::Uuid("0a5215ef-1fb4-4b1b-8860-be4baa9e624c".into()),
        s if s.starts_with("UUID=")
            || s.starts_with("/dev/mapper/")
            || s.starts_with("/dev/vg") =>
        {
            SpecResolution::AlreadyStable
        }
        _ => SpecResolution::NotInImage,
    }
}

const PARAMS: &[&str] = &["console=ttyS0,115200n8", "net.ifnames=0", "biosdevname=0"];

fn apply(files: &mut MemFiles, edits: &[PlannedEdit]) {
    for e in edits {
        let target = e.new_path.as_deref().unwrap_or(&e.path);
        files.insert(target, e.new.clone());
        if e.new_path.is_some() {
            files.remove(&e.path);
        }
    }
}

fn rhel7() -> MemFiles {
    let ns = "network/NetworkManager/src/core/settings/plugins/ifcfg-rh/tests/network-scripts/";
    let mut m = MemFiles::new();
    m.insert(
        "/etc/os-release",
        read("os-release/python-distro/tests/resources/distros/rhel7/etc/os-release"),
    );
    m.insert(
        "/etc/redhat-release",
        read("os-release/python-distro/tests/resources/distros/rhel7/etc/redhat-release"),
    );
    m.insert(
        "/etc/fstab",
        read("fstab/util-linux/tests/ts/libmount/files/fstab"),
    );
    m.insert(
        "/boot/grub2/grub.cfg",
        read("grub/rhboot__grubby/test/grub2.16"),
    );
    m.insert(
        "/boot/grub2/grubenv",
        read("grub/rhboot__grubby/test/grub2-support_files/grubenv.1"),
    );
    m.insert("/etc/default/grub", read("misc/oamg__leapp-repository/repos/system_upgrade/common/actors/addupgradebootentry/tests/files/grub_test.fixed"));
    m.insert(
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
        read(&format!("{ns}ifcfg-test-wired-static")),
    );
    m.insert(
        "/etc/sysconfig/network-scripts/route-eth0",
        read(&format!("{ns}route-test-wired-static-routes")),
    );
    m.insert(
        "/etc/sysconfig/network-scripts/ifcfg-eth2",
        read(&format!("{ns}ifcfg-test-wired-ipv6-manual")),
    );
    m.insert(
        "/etc/sysconfig/network-scripts/ifcfg-lo",
        read("network/openSUSE__wicked/samples/redhat/host1/ifcfg-lo"),
    );
    m
}

#[test]
fn rhel7_guest() {
    let mut m = rhel7();
    let before = facts::inspect(&m);
    let os = before.os.as_ref().unwrap();
    assert_eq!(
        (os.distro.as_str(), os.major, os.minor),
        ("rhel", Some(7), Some(0))
    );
    let boot = before.boot.as_ref().unwrap();
    assert_eq!(boot.kind, LoaderKind::Grub2);
    assert!(
        boot.default.is_err(),
        "LNX-7: grubenv names an entry this grub.cfg lacks"
    );
    assert_eq!(before.default_kernel_version(), None);
    assert_eq!(before.static_interfaces().count(), 2);
    assert!(!before.naming.classic_names());

    let net = NetEdit {
        primary: "eth0",
        rename_to: None,
        others: Others::Disable,
        members: &[],
    };
    let params = LinuxEditParams {
        resolve: &image,
        disabled_fs_types: DEFAULT_DISABLED_TYPES,
        kernel_params: PARAMS,
        default_kernel: Some("3.10.0-297.el7.x86_64"),
        timeout: Some(1),
        network: Some(net),
    };
    let edits = plan(&m, &params);
    let paths: Vec<&str> = edits.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/etc/fstab",
            "/boot/grub2/grub.cfg",
            "/boot/grub2/grubenv",
            "/etc/default/grub",
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "/etc/sysconfig/network-scripts/ifcfg-eth2",
            "/etc/sysconfig/network-scripts/route-eth0",
        ]
    );
    let grubenv = edits.iter().find(|e| e.path.ends_with("grubenv")).unwrap();
    Grubenv::check(&grubenv.new).unwrap();
    let snap: String = edits
        .iter()
        .map(|e| format!("{}{}\n", e.diff, e.notes.join("\n")))
        .collect();
    insta::assert_snapshot!("rhel7_guest_plan", snap);

    apply(&mut m, &edits);
    let after = facts::inspect(&m);
    assert_eq!(
        after.default_kernel_version(),
        Some("3.10.0-297.el7.x86_64")
    );
    let cmd = &after
        .boot
        .as_ref()
        .unwrap()
        .default_entry()
        .unwrap()
        .cmdline;
    assert!(
        cmd.contains("net.ifnames=0") && cmd.contains("biosdevname=0"),
        "{cmd}"
    );
    assert!(after.naming.classic_names());
    // only the disabled other interface keeps its (now unused) static address
    let left: Vec<_> = after
        .static_interfaces()
        .map(|c| (c.name.clone(), c.enabled))
        .collect();
    assert_eq!(left, vec![(Some("eth2".to_string()), false)]);
    let eth0 = after
        .interfaces
        .iter()
        .find(|c| c.name.as_deref() == Some("eth0"))
        .unwrap();
    assert!(eth0.dhcp4 && eth0.enabled && eth0.routes.is_empty());
    let eth2 = after
        .interfaces
        .iter()
        .find(|c| c.name.as_deref() == Some("eth2"))
        .unwrap();
    assert!(!eth2.enabled);
    assert_eq!(after.boot.as_ref().unwrap().timeout.as_deref(), Some("1"));
    // a second plan on the result changes nothing
    let again = plan(&m, &params);
    assert!(
        again.is_empty(),
        "{:#?}",
        again.iter().map(|e| &e.diff).collect::<Vec<_>>()
    );
}

#[test]
fn rhel8_bls_guest() {
    let mut m = MemFiles::new();
    m.insert("/etc/os-release", read("misc/oamg__leapp-repository/repos/system_upgrade/common/actors/ipuworkflowconfig/tests/files/os-release"));
    m.insert("/boot/grub2/grub.cfg", read("misc/oamg__leapp-repository/repos/system_upgrade/el8toel9/actors/cloud/ensurevalidgrubcfghybrid/tests/files/valid_grub.cfg"));
    m.insert("/boot/grub2/grubenv", read("misc/oamg__leapp-repository/repos/system_upgrade/common/actors/scangrubconfig/tests/files/corrupted_grubenv/grubenv.correct"));
    let e = format!("{D}grub/snapshotmanager__boom-boot/tests/loader/entries/");
    for f in std::fs::read_dir(&e).unwrap() {
        let f = f.unwrap();
        let n = f.file_name().to_string_lossy().to_string();
        if n.ends_with(".conf") {
            m.insert(
                &format!("/boot/loader/entries/{n}"),
                std::fs::read(f.path()).unwrap(),
            );
        }
    }
    m.insert(
        "/etc/NetworkManager/system-connections/Wired.nmconnection",
        read("network/NetworkManager/src/core/settings/plugins/keyfile/tests/keyfiles/Test_Write_Wired"),
    );
    let before = facts::inspect(&m);
    assert_eq!(before.os.as_ref().unwrap().distro, "rhel");
    assert_eq!(before.boot.as_ref().unwrap().kind, LoaderKind::Grub2Bls);
    assert!(
        before.boot.as_ref().unwrap().default.is_err(),
        "grubenv's RHEL 7 saved_entry names no BLS entry"
    );
    let net = NetEdit {
        primary: "eth0",
        rename_to: None,
        others: Others::Disable,
        members: &[],
    };
    let params = LinuxEditParams {
        resolve: &image,
        disabled_fs_types: DEFAULT_DISABLED_TYPES,
        kernel_params: PARAMS,
        default_kernel: Some("6.15.9-201.fc42.x86_64"),
        timeout: None,
        network: Some(net),
    };
    let edits = plan(&m, &params);
    let env = edits
        .iter()
        .find(|e| e.path == "/boot/grub2/grubenv")
        .unwrap();
    Grubenv::check(&env.new).unwrap();
    let snap: String = edits
        .iter()
        .filter(|e| !e.path.starts_with("/boot/loader/entries/"))
        .map(|e| format!("{}{}\n", e.diff, e.notes.join("\n")))
        .collect();
    insta::assert_snapshot!("rhel8_bls_guest_plan", snap);
    apply(&mut m, &edits);
    let after = facts::inspect(&m);
    assert_eq!(
        after.default_kernel_version(),
        Some("6.15.9-201.fc42.x86_64")
    );
    let d = after.boot.as_ref().unwrap().default_entry().unwrap();
    assert!(d.cmdline.contains("net.ifnames=0"), "{}", d.cmdline);
    assert!(after.interfaces.iter().all(|c| c.dhcp4 && !c.is_static()));
    assert!(plan(&m, &params).is_empty());
    assert!(m.read("/boot/grub2/grubenv").unwrap().len() == 1024);
}

/// An Ubuntu 24.04 root (python-distro's release files, Debian's /etc/default/grub, netplan's
/// static example as the cloud-init file, a grub.cfg with a submenu from grubby's tests):
/// predictable name `enp3s0` follows the switch to `eth0`.
#[test]
fn ubuntu_netplan_rename_guest() {
    let mut m = MemFiles::new();
    m.insert(
        "/etc/os-release",
        read("os-release/python-distro/tests/resources/distros/ubuntu24/etc/os-release"),
    );
    m.insert(
        "/etc/default/grub",
        read("grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub"),
    );
    m.insert(
        "/boot/grub/grub.cfg",
        read("grub/rhboot__grubby/test/grub2.5"),
    );
    m.insert(
        "/etc/netplan/50-cloud-init.yaml",
        read("network/canonical__netplan/examples/static.yaml"),
    );
    let before = facts::inspect(&m);
    assert_eq!(before.os.as_ref().unwrap().distro, "ubuntu");
    assert!(!before.naming.classic_names());
    let net = NetEdit {
        primary: "enp3s0",
        rename_to: Some("eth0"),
        others: Others::Disable,
        members: &[],
    };
    let params = LinuxEditParams {
        resolve: &image,
        disabled_fs_types: DEFAULT_DISABLED_TYPES,
        kernel_params: PARAMS,
        default_kernel: Some("3.2.9-1.fc16.x86_64"),
        timeout: Some(0),
        network: Some(net),
    };
    let edits = plan(&m, &params);
    let snap: String = edits
        .iter()
        .map(|e| format!("{}{}\n", e.diff, e.notes.join("\n")))
        .collect();
    insta::assert_snapshot!("ubuntu_netplan_rename_plan", snap);
    apply(&mut m, &edits);
    let after = facts::inspect(&m);
    assert!(after.naming.classic_names());
    assert_eq!(after.default_kernel_version(), Some("3.2.9-1.fc16.x86_64"));
    let eth0 = after
        .interfaces
        .iter()
        .find(|c| c.name.as_deref() == Some("eth0"))
        .unwrap();
    assert!(eth0.dhcp4 && !eth0.is_static() && eth0.dns.is_empty());
    let dg = guestfix::guest::linux::grub::default_grub::parse(
        &m.read_string("/etc/default/grub").unwrap(),
    );
    assert_eq!(dg.timeout.as_deref(), Some("0"));
    assert!(dg.cmdline_linux.unwrap().contains("net.ifnames=0"));
    assert!(plan(&m, &params).is_empty());
}
