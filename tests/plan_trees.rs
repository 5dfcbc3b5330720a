//! `plan` and `apply` by the real CLI on guests built from the real trees in
//! `../shared/data/linux/` (issue 7): each guest is a root tree of real distribution files
//! (python-distro's release files, util-linux's fstab, grubby's and leapp's GRUB files, boom's
//! BLS entries, NetworkManager's ifcfg and keyfile tests, netplan's examples, wicked's samples,
//! ifupdown-ng's fixtures, Debian's /etc/default/grub) put on an ext4 filesystem by mkfs.ext4
//! (whole-disk, so the root is /dev/sda). For each: the facts before, the plan's diffs (insta
//! snapshot: what a distro maintainer reviews), `apply --in-place`, `e2fsck -fn`, every backup
//! read back by debugfs (an independent reader) equal to the original, the changed files checked
//! by their own tools (sh -n for ifcfg/interfaces, grub-editenv for grubenv), the facts after,
//! and a second plan that is empty (idempotent).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const D: &str = "../shared/data/linux/";
const NM_SCRIPTS: &str =
    "network/NetworkManager/src/core/settings/plugins/ifcfg-rh/tests/network-scripts/";
const DISTROS: &str = "os-release/python-distro/tests/resources/distros/";

struct Guest {
    dir: tempfile::TempDir,
    /// guest path → original bytes
    files: Vec<(String, Vec<u8>)>,
}

impl Guest {
    fn new() -> Self {
        Guest {
            dir: tempfile::tempdir().unwrap(),
            files: Vec::new(),
        }
    }
    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }
    fn img(&self) -> PathBuf {
        self.dir.path().join("disk.img")
    }
    fn put_bytes(&mut self, guest: &str, data: Vec<u8>) -> &mut Self {
        let p = self.tree().join(guest.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        self.files.push((guest.to_string(), data));
        self
    }
    fn put(&mut self, guest: &str, shared: &str) -> &mut Self {
        let data =
            std::fs::read(format!("{D}{shared}")).unwrap_or_else(|e| panic!("{shared}: {e}"));
        self.put_bytes(guest, data)
    }
    fn original(&self, guest: &str) -> &[u8] {
        &self
            .files
            .iter()
            .find(|(p, _)| p == guest)
            .unwrap_or_else(|| panic!("{guest} not in the tree"))
            .1
    }
    /// mkfs.ext4 -d: the tree becomes a whole-disk ext4 filesystem with a fixed UUID.
    fn build(&self, uuid: &str) {
        let img = self.img();
        std::fs::File::create(&img)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let o = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-U", uuid, "-d"])
            .arg(self.tree())
            .arg(&img)
            .output()
            .expect("mkfs.ext4 runs (scripts/install-deps.sh installs e2fsprogs)");
        assert!(
            o.status.success(),
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn gf(args: &[&str], img: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(args)
        .arg(img)
        .output()
        .unwrap()
}

fn ok(o: Output, what: &str) -> Vec<u8> {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn json(args: &[&str], img: &Path) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_slice(&ok(gf(&a, img), &a.join(" "))).unwrap()
}

/// A file of the image, read by debugfs (e2fsprogs), not by guestfix.
fn debugfs_cat(img: &Path, path: &str) -> Vec<u8> {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat \"{path}\""))
        .arg(img)
        .output()
        .expect("debugfs runs");
    assert!(o.status.success(), "debugfs cat {path}");
    o.stdout
}

fn debugfs_exists(img: &Path, path: &str) -> bool {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("stat \"{path}\""))
        .arg(img)
        .output()
        .expect("debugfs runs");
    !String::from_utf8_lossy(&o.stderr).contains("File not found")
}

fn os(v: &Value) -> &Value {
    let oss = v["operating_systems"].as_array().unwrap();
    assert_eq!(oss.len(), 1, "{v:#}");
    &oss[0]
}

fn iface<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["network"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no interface {name}: {:#}", o["network"]))
}

/// The file's text passes `sh -n` (ifcfg and similar files are sourced by shell scripts).
fn shell_parses(img: &Path, path: &str) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), debugfs_cat(img, path)).unwrap();
    let o = Command::new("sh").arg("-n").arg(f.path()).output().unwrap();
    assert!(
        o.status.success(),
        "{path}: sh -n: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A grubenv made by GRUB's own `grub-editenv create` + `set VARS…`.
fn grubenv_with(vars: &[&str]) -> Vec<u8> {
    let env = tempfile::NamedTempFile::new().unwrap();
    for args in [&["create"][..], &[&["set"][..], vars].concat()] {
        let o = Command::new("grub-editenv")
            .arg(env.path())
            .args(args)
            .output()
            .expect("grub-editenv runs (grub-common)");
        assert!(o.status.success(), "grub-editenv {args:?}");
    }
    std::fs::read(env.path()).unwrap()
}

/// `grub-editenv list` on the image's grubenv (GRUB's own reader): its variables.
fn grubenv_vars(img: &Path, path: &str) -> Vec<String> {
    let data = debugfs_cat(img, path);
    assert_eq!(data.len(), 1024, "{path}: a grubenv is one 1024-byte block");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), data).unwrap();
    let o = Command::new("grub-editenv")
        .arg(f.path())
        .arg("list")
        .output()
        .expect("grub-editenv runs (grub-common)");
    assert!(o.status.success(), "grub-editenv list {path}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

struct Outcome {
    before: Value,
    after: Value,
    /// (kind, path) of every change, in plan order
    changes: Vec<(String, String)>,
}

/// Inspect, plan (snapshot), apply in place, check, inspect again, plan again.
fn run(g: &Guest, name: &str) -> Outcome {
    let img = g.img();
    let before = json(&["inspect"], &img);
    let text = String::from_utf8(ok(gf(&["plan"], &img), "plan")).unwrap();
    insta::assert_snapshot!(name, text);

    let plans = json(&["plan"], &img);
    let mut changes = Vec::new();
    let mut backups = Vec::new();
    for c in plans[0]["changes"].as_array().unwrap() {
        let kind = c["kind"].as_str().unwrap().to_string();
        let path = c["path"]
            .as_str()
            .or(c["from"].as_str())
            .unwrap_or_default()
            .to_string();
        if kind == "edit_file" {
            let b = c["backup"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}: no backup"));
            backups.push((path.clone(), b.to_string()));
        }
        changes.push((kind, path));
    }

    let report = json(&["apply", "--in-place"], &img);
    assert_eq!(report["in_place"], true);
    let fsck = Command::new("e2fsck")
        .args(["-fn"])
        .arg(&img)
        .output()
        .expect("e2fsck runs");
    assert!(
        fsck.status.success(),
        "{name}: e2fsck -fn after apply: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    // Every original is kept, byte for byte, under its backup name.
    for (path, backup) in &backups {
        assert_eq!(
            debugfs_cat(&img, backup),
            g.original(path),
            "{name}: backup {backup} of {path}"
        );
    }
    let after = json(&["inspect"], &img);
    let again = json(&["plan"], &img);
    for p in again.as_array().unwrap() {
        assert!(
            p["changes"].as_array().unwrap().is_empty(),
            "{name}: second plan not empty: {:#}",
            p["changes"]
        );
    }
    Outcome {
        before,
        after,
        changes,
    }
}

fn edits(o: &Outcome) -> Vec<&str> {
    o.changes.iter().map(|(_, p)| p.as_str()).collect()
}

fn rhel7_tree(grubenv: Vec<u8>) -> Guest {
    let mut g = Guest::new();
    g.put("/etc/os-release", &format!("{DISTROS}rhel7/etc/os-release"))
        .put("/etc/redhat-release", &format!("{DISTROS}rhel7/etc/redhat-release"))
        .put("/etc/fstab", "fstab/util-linux/tests/ts/libmount/files/fstab")
        .put("/boot/grub2/grub.cfg", "grub/rhboot__grubby/test/grub2.16")
        .put_bytes("/boot/grub2/grubenv", grubenv)
        .put(
            "/etc/default/grub",
            "misc/oamg__leapp-repository/repos/system_upgrade/common/actors/addupgradebootentry/tests/files/grub_test.fixed",
        )
        .put(
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            &format!("{NM_SCRIPTS}ifcfg-test-wired-static"),
        )
        .put(
            "/etc/sysconfig/network-scripts/route-eth0",
            &format!("{NM_SCRIPTS}route-test-wired-static-routes"),
        )
        .put(
            "/etc/sysconfig/network-scripts/ifcfg-eth2",
            &format!("{NM_SCRIPTS}ifcfg-test-wired-ipv6-manual"),
        )
        .put(
            "/etc/sysconfig/network-scripts/ifcfg-lo",
            "network/openSUSE__wicked/samples/redhat/host1/ifcfg-lo",
        );
    g
}

const RHEL7_NEWEST: &str = "Red Hat Enterprise Linux Server (3.10.0-297.el7.x86_64) 7.2 (Maipo)";

/// RHEL 7: util-linux's fstab (cifs, devices of another machine), grubby's RHEL 7.2 grub.cfg
/// with a stale grubenv (a Fedora saved_entry), leapp's /etc/default/grub, NetworkManager's
/// static ifcfg + route file and a second interface.
#[test]
fn rhel7_guest() {
    let g = rhel7_tree(
        std::fs::read(format!(
            "{D}grub/rhboot__grubby/test/grub2-support_files/grubenv.1"
        ))
        .unwrap(),
    );
    g.build("7c62065d-ae70-4234-8a74-89d534c2a7a2");
    let o = run(&g, "rhel7_guest");
    let b = os(&o.before);
    assert_eq!(
        (&b["distro"], &b["major_version"], &b["minor_version"]),
        (&Value::from("rhel"), &Value::from(7), &Value::from(0))
    );
    assert_eq!(b["bootloader"]["kind"], "grub2");
    assert_eq!(
        b["bootloader"]["default_kernel_version"],
        Value::Null,
        "LNX-7: grubenv names an entry this grub.cfg lacks"
    );
    assert_eq!(iface(b, "eth0")["dhcp4"], false);
    assert_eq!(b["network"]["predictable_names_disabled"], false);
    assert_eq!(
        edits(&o),
        vec![
            "/etc/fstab",
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "/etc/sysconfig/network-scripts/ifcfg-eth2",
            "/etc/sysconfig/network-scripts/route-eth0",
            "/boot/grub2/grub.cfg",
            "/etc/default/grub",
            "/boot/grub2/grubenv",
        ]
    );

    let a = os(&o.after);
    assert_eq!(
        a["bootloader"]["default_kernel_version"],
        "3.10.0-297.el7.x86_64"
    );
    let cmd = a["bootloader"]["default_cmdline"].as_str().unwrap();
    assert!(
        cmd.contains("net.ifnames=0") && cmd.contains("biosdevname=0"),
        "{cmd}"
    );
    assert_eq!(a["bootloader"]["timeout"], "1");
    assert_eq!(a["network"]["predictable_names_disabled"], true);
    let eth0 = iface(a, "eth0");
    assert_eq!(eth0["dhcp4"], true);
    assert_eq!(eth0["addresses"], Value::Array(vec![]));
    assert_eq!(eth0["gateway"], Value::Null);
    // fstab: the root line names the root it is on, nothing else that is missing can fail the boot
    assert_eq!(
        a["unresolved_fstab"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["mountpoint"] == "/")
            .count(),
        0
    );
    let img = g.img();
    let fstab = String::from_utf8(debugfs_cat(&img, "/etc/fstab")).unwrap();
    assert!(
        fstab.starts_with("UUID=7c62065d-ae70-4234-8a74-89d534c2a7a2 /     ext3"),
        "{fstab}"
    );
    for p in ["ifcfg-eth0", "ifcfg-eth2", "route-eth0"] {
        shell_parses(&img, &format!("/etc/sysconfig/network-scripts/{p}"));
    }
    let route = String::from_utf8(debugfs_cat(
        &img,
        "/etc/sysconfig/network-scripts/route-eth0",
    ))
    .unwrap();
    assert!(
        route.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{route}"
    );
    let env = grubenv_vars(&img, "/boot/grub2/grubenv");
    assert!(
        env.contains(&format!("saved_entry={RHEL7_NEWEST}")),
        "{env:?}"
    );
}

/// LNX-7: a pending one-time boot (grubenv `next_entry`, which this grub.cfg honours) of the
/// rescue entry would be the first boot after import; saved_entry already names the newest
/// kernel. The plan clears next_entry and leaves saved_entry alone.
#[test]
fn rhel7_pending_next_entry_is_cleared() {
    let g = rhel7_tree(grubenv_with(&[
        &format!("saved_entry={RHEL7_NEWEST}"),
        "next_entry=Red Hat Enterprise Linux Server (0-rescue-cc21b92886f9ebbd3ed5a494639b7fd7) 7.2 (Maipo)",
    ]));
    g.build("7c62065d-ae70-4234-8a74-89d534c2a7a3");
    let o = run(&g, "rhel7_next_entry");
    let b = os(&o.before);
    assert_eq!(
        b["bootloader"]["default_kernel_version"],
        "3.10.0-297.el7.x86_64"
    );
    assert!(
        b["bootloader"]["next_entry"].to_string().contains("rescue"),
        "{:#}",
        b["bootloader"]
    );
    assert!(edits(&o).contains(&"/boot/grub2/grubenv"));
    let a = os(&o.after);
    assert_eq!(a["bootloader"]["next_entry"], Value::Null);
    let vars = grubenv_vars(&g.img(), "/boot/grub2/grubenv");
    assert!(
        vars.contains(&format!("saved_entry={RHEL7_NEWEST}")),
        "{vars:?}"
    );
    assert!(
        vars.iter()
            .all(|v| v == "next_entry=" || !v.starts_with("next_entry")),
        "{vars:?}"
    );
}

/// RHEL 8 with BLS: leapp's grub.cfg, boom's entries, a grubenv naming a RHEL 7 entry, a
/// NetworkManager keyfile with a static address.
#[test]
fn rhel8_bls_guest() {
    let mut g = Guest::new();
    g.put("/etc/os-release", "misc/oamg__leapp-repository/repos/system_upgrade/common/actors/ipuworkflowconfig/tests/files/os-release")
        .put("/boot/grub2/grub.cfg", "misc/oamg__leapp-repository/repos/system_upgrade/el8toel9/actors/cloud/ensurevalidgrubcfghybrid/tests/files/valid_grub.cfg")
        .put("/boot/grub2/grubenv", "misc/oamg__leapp-repository/repos/system_upgrade/common/actors/scangrubconfig/tests/files/corrupted_grubenv/grubenv.correct")
        .put(
            "/etc/NetworkManager/system-connections/Wired.nmconnection",
            "network/NetworkManager/src/core/settings/plugins/keyfile/tests/keyfiles/Test_Write_Wired",
        );
    let e = "grub/snapshotmanager__boom-boot/tests/loader/entries/";
    let mut names: Vec<String> = std::fs::read_dir(format!("{D}{e}"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    for n in &names {
        g.put(&format!("/boot/loader/entries/{n}"), &format!("{e}{n}"));
    }
    g.build("3f4c0a49-8f52-4a0e-9a3b-0c1d2e3f4a5b");
    let o = run(&g, "rhel8_bls_guest");
    let b = os(&o.before);
    assert_eq!(b["distro"], "rhel");
    assert_eq!(b["bootloader"]["kind"], "grub2-bls");
    assert_eq!(b["bootloader"]["default_kernel_version"], Value::Null);
    let a = os(&o.after);
    // the newest of boom's entries (none is a RHEL 8 kernel, so none is preferred)
    assert_eq!(a["bootloader"]["default_kernel_version"], "7.7.7");
    let cmd = a["bootloader"]["default_cmdline"].as_str().unwrap();
    assert!(cmd.contains("net.ifnames=0"), "{cmd}");
    for i in a["network"]["interfaces"].as_array().unwrap() {
        assert_eq!(i["dhcp4"], true, "{i:#}");
        assert_eq!(i["addresses"], Value::Array(vec![]), "{i:#}");
    }
    let vars = grubenv_vars(&g.img(), "/boot/grub2/grubenv");
    assert!(
        vars.iter().any(|v| v.starts_with("saved_entry=")),
        "{vars:?}"
    );
}

/// Ubuntu 24.04: netplan's static example as the installer's file, Debian's /etc/default/grub,
/// grubby's grub.cfg with a submenu. The predictable name enp3s0 follows the switch to eth0.
#[test]
fn ubuntu_netplan_rename_guest() {
    let mut g = Guest::new();
    g.put(
        "/etc/os-release",
        &format!("{DISTROS}ubuntu24/etc/os-release"),
    )
    .put(
        "/etc/default/grub",
        "grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub",
    )
    .put("/boot/grub/grub.cfg", "grub/rhboot__grubby/test/grub2.5")
    .put(
        "/etc/netplan/50-cloud-init.yaml",
        "network/canonical__netplan/examples/static.yaml",
    );
    g.build("0b1c2d3e-4f50-4617-8a9b-acbdcedf0011");
    let o = run(&g, "ubuntu_netplan_rename");
    let b = os(&o.before);
    assert_eq!(b["distro"], "ubuntu");
    assert_eq!(iface(b, "enp3s0")["dhcp4"], false);
    let a = os(&o.after);
    assert_eq!(a["network"]["predictable_names_disabled"], true);
    let eth0 = iface(a, "eth0");
    assert_eq!(eth0["dhcp4"], true);
    assert_eq!(eth0["addresses"], Value::Array(vec![]));
    assert_eq!(
        a["bootloader"]["default_kernel_version"],
        "3.3.0-0.rc4.git1.4.fc17.x86_64"
    );
    let dg = String::from_utf8(debugfs_cat(&g.img(), "/etc/default/grub")).unwrap();
    assert!(dg.contains("GRUB_TIMEOUT=1\n"), "{dg}");
    assert!(
        dg.lines()
            .any(|l| l.starts_with("GRUB_CMDLINE_LINUX=") && l.contains("net.ifnames=0")),
        "{dg}"
    );
}

/// openSUSE Leap 15 with wicked: a static ifcfg-eth0 with labelled secondary addresses, the
/// global `routes` file with the old default route, the loopback.
#[test]
fn opensuse_wicked_guest() {
    let w = "network/openSUSE__wicked/samples/suse/host1/";
    let mut g = Guest::new();
    g.put(
        "/etc/os-release",
        &format!("{DISTROS}opensuse15/etc/os-release"),
    )
    .put(
        "/etc/sysconfig/network/ifcfg-eth0",
        &format!("{w}ifcfg-eth0"),
    )
    .put("/etc/sysconfig/network/ifcfg-lo", &format!("{w}ifcfg-lo"))
    .put("/etc/sysconfig/network/routes", &format!("{w}routes"));
    g.build("5e1f0a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b");
    let o = run(&g, "opensuse_wicked");
    let b = os(&o.before);
    assert_eq!(b["distro"], "opensuse");
    assert_eq!(b["package_format"], "rpm");
    assert_eq!(iface(b, "eth0")["dhcp4"], false);
    assert_eq!(
        edits(&o),
        vec![
            "/etc/sysconfig/network/ifcfg-eth0",
            "/etc/sysconfig/network/routes"
        ]
    );
    let a = os(&o.after);
    let eth0 = iface(a, "eth0");
    assert_eq!(eth0["dhcp4"], true);
    assert_eq!(eth0["addresses"], Value::Array(vec![]));
    assert_eq!(eth0["gateway"], Value::Null);
    let img = g.img();
    for p in ["ifcfg-eth0", "routes"] {
        shell_parses(&img, &format!("/etc/sysconfig/network/{p}"));
    }
    // the loopback is left alone
    assert_eq!(
        debugfs_cat(&img, "/etc/sysconfig/network/ifcfg-lo"),
        g.original("/etc/sysconfig/network/ifcfg-lo")
    );
    assert!(!debugfs_exists(
        &img,
        "/etc/sysconfig/network/.ifcfg-lo.guestfix-orig"
    ));
}

/// Debian 13 with ifupdown: ifupdown-ng's static eth0 fixture as /etc/network/interfaces and
/// Debian's own /etc/default/grub (no grub.cfg: the plan edits only what is there).
#[test]
fn debian_ifupdown_guest() {
    let mut g = Guest::new();
    g.put(
        "/etc/os-release",
        &format!("{DISTROS}debian13/etc/os-release"),
    )
    .put(
        "/etc/network/interfaces",
        "network/ifupdown-ng/tests/fixtures/static-eth0-v4.interfaces",
    )
    .put(
        "/etc/default/grub",
        "grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub",
    );
    g.build("6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d");
    let o = run(&g, "debian_ifupdown");
    let b = os(&o.before);
    assert_eq!(b["distro"], "debian");
    assert_eq!(b["major_version"], 13);
    assert_eq!(iface(b, "eth0")["gateway"], "203.0.113.1");
    assert_eq!(
        edits(&o),
        vec!["/etc/network/interfaces", "/etc/default/grub"]
    );
    let a = os(&o.after);
    let eth0 = iface(a, "eth0");
    assert_eq!(eth0["dhcp4"], true);
    assert_eq!(eth0["gateway"], Value::Null);
    shell_parses(&g.img(), "/etc/default/grub");
}

/// The grub.cfg `linux` line of the entry (first match), as written in the image.
fn linux_line(img: &Path, path: &str) -> String {
    String::from_utf8(debugfs_cat(img, path))
        .unwrap()
        .lines()
        .find(|l| l.trim_start().starts_with("linux"))
        .unwrap_or_default()
        .to_string()
}

/// Issue 23, on an Ubuntu cloud guest written for this test (the files are the shapes cloud
/// images ship, not copies): the serial console is already the last one (`console=tty1
/// console=ttyS0`) and must stay last with `console=tty0` added before it, never twice;
/// `/etc/default/grub.d/50-cloudimg-settings.cfg` overrides `/etc/default/grub` and gets the
/// timeout; fstab's root names a by-id partition of the old machine and must become the root's
/// UUID without nofail; `resume=` names a swap partition the import leaves out (no swap in the
/// image): it is dropped; ifupdown's `# control-alias` second static stanza is disabled, not
/// turned into a second DHCP stanza.
#[test]
fn ubuntu_cloud_console_dropins_root_resume_alias() {
    const UUID: &str = "3d0c1b2a-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let mut g = Guest::new();
    g.put(
        "/etc/os-release",
        &format!("{DISTROS}ubuntu24/etc/os-release"),
    )
    .put(
        "/etc/default/grub",
        "grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub",
    )
    .put_bytes(
        "/etc/default/grub.d/50-cloudimg-settings.cfg",
        b"# Cloud Image specific Grub settings for Generic Cloud Images\n\
          GRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0\"\n\
          GRUB_TIMEOUT_STYLE=hidden\nGRUB_TIMEOUT=0\n"
            .to_vec(),
    )
    .put_bytes(
        "/boot/grub/grub.cfg",
        b"set default=\"0\"\nset timeout=0\n\
          menuentry 'Ubuntu' --class ubuntu $menuentry_id_option 'gnulinux-simple' {\n\
          \tlinux\t/boot/vmlinuz-6.8.0-31-generic root=/dev/disk/by-id/virtio-a1b2c3-part1 ro resume=/dev/sdb2 console=tty1 console=ttyS0\n\
          \tinitrd\t/boot/initrd.img-6.8.0-31-generic\n}\n"
            .to_vec(),
    )
    .put_bytes(
        "/etc/fstab",
        b"/dev/disk/by-id/virtio-a1b2c3-part1\t/\text4\tdiscard,errors=remount-ro\t0 1\n\
          /dev/sdb2\tnone\tswap\tsw\t0 0\n"
            .to_vec(),
    )
    .put_bytes(
        "/etc/network/interfaces",
        b"auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10/24\n\tgateway 192.0.2.1\n\n\
          # control-alias eth0\niface eth0 inet static\n\taddress 192.0.2.11/24\n"
            .to_vec(),
    );
    g.build(UUID);
    let o = run(&g, "ubuntu_cloud_console_dropins");
    let img = g.img();

    // 1. console order: ttyS0 stays last, tty0 added before it, no console twice
    let l = linux_line(&img, "/boot/grub/grub.cfg");
    let consoles: Vec<&str> = l
        .split_whitespace()
        .filter(|w| w.starts_with("console="))
        .collect();
    assert_eq!(
        consoles,
        vec!["console=tty1", "console=tty0", "console=ttyS0"],
        "{l}"
    );
    // 2. the root becomes the root's UUID; 3. resume= of a device not in the image is dropped
    assert!(l.contains(&format!("root=UUID={UUID} ")), "{l}");
    assert!(!l.contains("resume="), "{l}");
    let fstab = String::from_utf8(debugfs_cat(&img, "/etc/fstab")).unwrap();
    let root = fstab.lines().next().unwrap();
    assert_eq!(
        root,
        format!("UUID={UUID}\t/\text4\tdiscard,errors=remount-ro\t0 1")
    );
    assert!(
        fstab.contains("/dev/sdb2\tnone\tswap\tsw,nofail"),
        "{fstab}"
    );
    // 6. the drop-in that overrides /etc/default/grub gets the timeout; GRUB_CMDLINE_LINUX
    // gains no console the effective GRUB_CMDLINE_LINUX_DEFAULT already names
    let dropin = String::from_utf8(debugfs_cat(
        &img,
        "/etc/default/grub.d/50-cloudimg-settings.cfg",
    ))
    .unwrap();
    assert!(dropin.contains("\nGRUB_TIMEOUT=1\n"), "{dropin}");
    assert!(dropin.contains("GRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0\""));
    let dg = String::from_utf8(debugfs_cat(&img, "/etc/default/grub")).unwrap();
    let linux = dg
        .lines()
        .find(|l| l.starts_with("GRUB_CMDLINE_LINUX="))
        .unwrap();
    assert!(linux.contains("console=tty0"), "{linux}");
    assert!(!linux.contains("ttyS0"), "{linux}");
    shell_parses(&img, "/etc/default/grub.d/50-cloudimg-settings.cfg");
    // 4. the second static stanza is disabled, not a second DHCP stanza
    let ifs = String::from_utf8(debugfs_cat(&img, "/etc/network/interfaces")).unwrap();
    let stanzas: Vec<&str> = ifs
        .lines()
        .filter(|l| l.starts_with("iface eth0"))
        .collect();
    assert_eq!(stanzas, vec!["iface eth0 inet dhcp"], "{ifs}");
    assert!(!ifs.contains("\taddress 192.0.2.11"), "{ifs}");
    let a = os(&o.after);
    assert_eq!(iface(a, "eth0")["dhcp4"], true);
}

/// Issue 23, RHEL/Rocky 8 UEFI: /boot/grub2/grubenv is a symlink to the ESP's
/// EFI/rocky/grubenv, which holds `kernelopts`; the edit lands in the file GRUB reads (the link
/// is left a link). Here the "ESP" folder is on the same filesystem (the plan follows the link
/// whatever filesystem it lands on; apply writes FAT through the same seam).
#[test]
fn rocky8_grubenv_symlink_to_esp() {
    let env = grubenv_with(&[
        "kernelopts=root=/dev/sda3 ro crashkernel=auto resume=/dev/sda2 rhgb quiet",
        "saved_entry=ffffffffffffffffffffffffffffffff-4.18.0-513.5.1.el8_9.x86_64",
    ]);
    let mut g = Guest::new();
    g.put("/etc/os-release", &format!("{DISTROS}rocky/etc/os-release"))
        .put_bytes("/boot/efi/EFI/rocky/grubenv", env)
        .put_bytes(
            "/boot/loader/entries/ffffffffffffffffffffffffffffffff-4.18.0-513.5.1.el8_9.x86_64.conf",
            b"title Rocky Linux (4.18.0-513.5.1.el8_9.x86_64) 8.9 (Green Obsidian)\n\
              version 4.18.0-513.5.1.el8_9.x86_64\nlinux /vmlinuz-4.18.0-513.5.1.el8_9.x86_64\n\
              initrd /initramfs-4.18.0-513.5.1.el8_9.x86_64.img $tuned_initrd\n\
              options $kernelopts $tuned_params\nid rocky-20231120-4.18.0-513.5.1.el8_9.x86_64\n\
              grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n"
                .to_vec(),
        );
    std::fs::create_dir_all(g.tree().join("boot/grub2")).unwrap();
    std::os::unix::fs::symlink(
        "../efi/EFI/rocky/grubenv",
        g.tree().join("boot/grub2/grubenv"),
    )
    .unwrap();
    g.build("8e9f0a1b-2c3d-4e4f-9a5b-6c7d8e9f0a1b");
    let o = run(&g, "rocky8_grubenv_symlink");
    assert!(
        o.changes
            .iter()
            .any(|(_, p)| p == "/boot/efi/EFI/rocky/grubenv"),
        "{:?}",
        o.changes
    );
    let vars = grubenv_vars(&g.img(), "/boot/efi/EFI/rocky/grubenv");
    let ko = vars.iter().find(|v| v.starts_with("kernelopts=")).unwrap();
    assert!(
        ko.contains("net.ifnames=0")
            && ko.contains("root=UUID=8e9f0a1b-2c3d-4e4f-9a5b-6c7d8e9f0a1b"),
        "{ko}"
    );
    assert!(!ko.contains("resume="), "{ko}");
    // the link is still a link
    let o = Command::new("debugfs")
        .arg("-R")
        .arg("stat /boot/grub2/grubenv")
        .arg(g.img())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Type: symlink"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A kernel-module-shaped ELF object (gcc + objcopy) with the given `.modinfo` fields.
fn make_ko(path: &Path, fields: &[&str]) {
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let mi = dir.join("modinfo.bin");
    let mut b = Vec::new();
    for f in fields {
        b.extend_from_slice(f.as_bytes());
        b.push(0);
    }
    std::fs::write(&mi, b).unwrap();
    let o = Command::new("bash")
        .arg("-ec")
        .arg(format!(
            "echo 'int f(void) {{ return 1; }}' | gcc -c -x c - -o {o}.o
             objcopy --add-section .modinfo={mi} --set-section-flags .modinfo=alloc,readonly {o}.o {o}
             rm {o}.o {mi}",
            o = path.display(),
            mi = mi.display()
        ))
        .output()
        .expect("gcc and objcopy run (scripts/install-deps.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Issue 26, dracut flavour: a Rocky 9 guest whose dracut initramfs lacks nvme, which is on
/// the guest's disk (`/usr/lib/modules/<kver>/kernel/drivers/nvme/host/nvme.ko`, listed in its
/// modules.dep). With no modules_dir the plan appends it from the guest, names it in
/// `/etc/dracut.conf.d/90-guestfix-drivers.conf` (`add_drivers`) for the next rebuild, and says
/// which package holds ena (on neither). After apply the initramfs holds nvme (our reader) and a
/// second plan is empty.
#[test]
fn rocky9_dracut_drivers_from_the_guest() {
    const K: &str = "5.14.0-362.8.1.el9_3.x86_64";
    let vm = format!("vermagic={K} SMP preempt mod_unload modversions ");
    let mut g = Guest::new();
    g.put(
        "/etc/os-release",
        &format!("{DISTROS}rocky9/etc/os-release"),
    )
    .put_bytes("/etc/dracut.conf", b"# see dracut.conf(5)\n".to_vec())
    .put_bytes(&format!("/boot/vmlinuz-{K}"), b"not a kernel".to_vec())
    .put_bytes(
        &format!("/usr/lib/modules/{K}/modules.dep"),
        b"kernel/drivers/nvme/host/nvme.ko:\nkernel/fs/xfs/xfs.ko:\n".to_vec(),
    );
    make_ko(
        &g.tree().join(format!(
            "usr/lib/modules/{K}/kernel/drivers/nvme/host/nvme.ko"
        )),
        &[
            "name=nvme",
            &vm,
            "depends=",
            "alias=pci:v*d*sv*sd*bc01sc08i02*",
        ],
    );
    // The host-only dracut initramfs: dracut's own folder, xfs, no nvme.
    let ird = g.dir.path().join("initrd-tree");
    std::fs::create_dir_all(ird.join(format!("usr/lib/modules/{K}/kernel/fs/xfs"))).unwrap();
    std::fs::create_dir_all(ird.join("usr/lib/dracut")).unwrap();
    std::fs::write(
        ird.join("usr/lib/dracut/build-parameter.txt"),
        " --kver '5.14'\n",
    )
    .unwrap();
    make_ko(
        &ird.join(format!("usr/lib/modules/{K}/kernel/fs/xfs/xfs.ko")),
        &["name=xfs", &vm, "depends="],
    );
    std::fs::write(
        ird.join(format!("usr/lib/modules/{K}/modules.dep")),
        "kernel/fs/xfs/xfs.ko:\n",
    )
    .unwrap();
    let o = Command::new("bash")
        .arg("-ec")
        .arg("find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet")
        .current_dir(&ird)
        .output()
        .expect("cpio runs");
    assert!(o.status.success());
    g.put_bytes(&format!("/boot/initramfs-{K}.img"), o.stdout);
    g.build("9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d");
    let o = run(&g, "rocky9_dracut_modl1");
    let initrd = format!("/boot/initramfs-{K}.img");
    assert!(
        o.changes
            .iter()
            .any(|(k, p)| k == "append_initramfs" && *p == initrd),
        "{:?}",
        o.changes
    );
    let conf = String::from_utf8(debugfs_cat(
        &g.img(),
        "/etc/dracut.conf.d/90-guestfix-drivers.conf",
    ))
    .unwrap();
    assert!(conf.contains("add_drivers+=\" nvme \""), "{conf}");
    let b = os(&o.before);
    let k = &b["kernels"][0];
    assert_eq!(k["version"], K);
    let a = os(&o.after);
    let drivers = a["kernels"][0]["initramfs_drivers"].to_string();
    assert!(drivers.contains("\"nvme\""), "{drivers}");
}
