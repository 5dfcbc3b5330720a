//! MOD-L2 network edits over real samples (NetworkManager's ifcfg-rh and keyfile test files,
//! wicked's SUSE hosts, ifupdown-ng fixtures, netplan's examples, and systemd-networkd /
//! NetworkManager files rendered from netplan examples by the real `netplan generate`).
//! Snapshots of the diffs; idempotency for every sample; validity (`bash -n` and KEY=value for
//! ifcfg, netplan re-parse and `netplan generate` for YAML, re-parse for INI files).

use guestfix::guest::linux::network::{
    self, Flavour, ifcfg_rh, ifcfg_suse, ifupdown, keyfile, networkd,
};
use guestfix::plan::diff::unified;
use guestfix::plan::edit::network::{
    NetEdit, Others, ifcfg, ifupdown as e_ifupdown, keyfile as e_keyfile, netplan as e_netplan,
    networkd as e_networkd,
};
use std::path::Path;
use std::process::Command;

const N: &str = "../shared/data/linux/network/";
const NS: &str = "../shared/data/linux/network/NetworkManager/src/core/settings/plugins/ifcfg-rh/tests/network-scripts/";
const KF: &str =
    "../shared/data/linux/network/NetworkManager/src/core/settings/plugins/keyfile/tests/keyfiles/";
const EX: &str = "../shared/data/linux/network/canonical__netplan/examples/";

fn text(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn keep(primary: &str) -> NetEdit<'_> {
    NetEdit {
        primary,
        rename_to: None,
        others: Others::Keep,
        members: &[],
    }
}

/// ifcfg output is still shell: `bash -n` accepts it and every non-comment line is exactly one
/// KEY=value assignment.
fn assert_ifcfg_valid(t: &str) {
    for l in t.lines() {
        let s = l.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let a = guestfix::guest::linux::shellvars::parse(l);
        assert_eq!(a.len(), 1, "not one KEY=value: {l:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ifcfg");
    std::fs::write(&p, t).unwrap();
    assert!(
        Command::new("bash")
            .arg("-n")
            .arg(&p)
            .status()
            .unwrap()
            .success(),
        "bash -n:\n{t}"
    );
}

fn snap_edit(path: &str, old: &str, new: &str, new_path: Option<&str>, notes: &[String]) -> String {
    let mut s = unified(new_path.unwrap_or(path), old, new);
    if let Some(np) = new_path {
        s = format!("rename {path} -> {np}\n{s}");
    }
    format!("{s}\n{}\n", notes.join("\n"))
}

#[test]
fn ifcfg_rh_static_to_dhcp() {
    for name in [
        "ifcfg-test-wired-static",
        "ifcfg-test-wired-static-routes",
        "ifcfg-test-wired-ipv6-manual",
        "ifcfg-test-wired-static-no-prefix-24",
    ] {
        let path = format!("/etc/sysconfig/network-scripts/{name}");
        let old = text(&format!("{NS}{name}"));
        let dev = ifcfg_rh::parse(&old, &path).name.unwrap();
        let p = keep(&dev);
        let e = ifcfg::edit(&path, &old, ifcfg::Dialect::Rh, &p);
        assert_ifcfg_valid(&e.text);
        assert_eq!(
            ifcfg::edit(&path, &e.text, ifcfg::Dialect::Rh, &p).text,
            e.text,
            "{name}: not idempotent"
        );
        let c = ifcfg_rh::parse(&e.text, &path);
        assert!(
            c.dhcp4
                && !c.is_static()
                && c.gateway4.is_none()
                && c.dns.is_empty()
                && c.mac.is_none(),
            "{name}: {c:?}"
        );
        insta::assert_snapshot!(
            format!("ifcfg_rh_{name}"),
            snap_edit(&path, &old, &e.text, None, &e.notes)
        );
    }
    // its route file
    let rp = "/etc/sysconfig/network-scripts/route-test-wired-static-routes";
    let old = text(&format!("{NS}route-test-wired-static-routes"));
    let e = ifcfg::edit_routes(rp, &old, &keep("test-wired-static-routes"));
    assert!(
        e.text
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#'))
    );
    assert_eq!(
        ifcfg::edit_routes(rp, &e.text, &keep("test-wired-static-routes")).text,
        e.text
    );
    insta::assert_snapshot!(
        "ifcfg_rh_route_file",
        snap_edit(rp, &old, &e.text, None, &e.notes)
    );
}

#[test]
fn ifcfg_rh_rename_and_others() {
    // wicked's RHEL host2: eth0 enslaved to br0 (static). With net.ifnames=0 a config written
    // for eth0 stays; pretend the guest used `ens192` by renaming through the editor instead:
    let path = "/etc/sysconfig/network-scripts/ifcfg-eth0";
    let old = text(&format!("{NS}ifcfg-test-wired-static"));
    let p = NetEdit {
        primary: "eth0",
        rename_to: Some("eth1"),
        others: Others::Disable,
        members: &[],
    };
    let e = ifcfg::edit(path, &old, ifcfg::Dialect::Rh, &p);
    assert_eq!(
        e.new_path.as_deref(),
        Some("/etc/sysconfig/network-scripts/ifcfg-eth1")
    );
    assert!(e.text.contains("\nDEVICE=eth1\n"));
    assert_eq!(
        ifcfg::edit(
            e.new_path.as_deref().unwrap(),
            &e.text,
            ifcfg::Dialect::Rh,
            &p
        )
        .text,
        e.text
    );
    // another interface is not started at boot
    let host1 = format!("{N}openSUSE__wicked/samples/redhat/host1/");
    let p = NetEdit {
        primary: "bond0",
        rename_to: None,
        others: Others::Disable,
        members: &[],
    };
    let mut snap = String::new();
    for f in ["ifcfg-bond0", "ifcfg-eth1", "ifcfg-eth2", "ifcfg-lo"] {
        let path = format!("/etc/sysconfig/network-scripts/{f}");
        let old = text(&format!("{host1}{f}"));
        let e = ifcfg::edit(&path, &old, ifcfg::Dialect::Rh, &p);
        assert_ifcfg_valid(&e.text);
        assert_eq!(
            ifcfg::edit(&path, &e.text, ifcfg::Dialect::Rh, &p).text,
            e.text
        );
        snap += &snap_edit(&path, &old, &e.text, None, &e.notes);
    }
    // slaves of the primary bond (MASTER=bond0) and lo stay untouched
    assert!(!snap.contains("ifcfg-eth1") && !snap.contains("ifcfg-lo"));
    insta::assert_snapshot!("ifcfg_rh_wicked_host1_bond0", snap);
}

#[test]
fn ifcfg_suse_hosts() {
    let mut snap = String::new();
    for (host, primary) in [("host1", "eth0"), ("host3", "bond0")] {
        let d = format!("{N}openSUSE__wicked/samples/suse/{host}/");
        let mut tree = guestfix::guest::linux::files::MemFiles::new();
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            tree.insert(
                &format!("/etc/sysconfig/network/{}", e.file_name().to_string_lossy()),
                std::fs::read(e.path()).unwrap(),
            );
        }
        let members = network::members_of(&tree, primary);
        if host == "host3" {
            assert_eq!(members, vec!["eth0", "eth1"], "BONDING_SLAVE_n of bond0");
        }
        let p = NetEdit {
            primary,
            rename_to: None,
            others: Others::Disable,
            members: &members,
        };
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for f in names {
            let path = format!("/etc/sysconfig/network/{f}");
            let old = text(&format!("{d}{f}"));
            let e = if f.starts_with("ifcfg-") {
                let e = ifcfg::edit(&path, &old, ifcfg::Dialect::Suse, &p);
                assert_ifcfg_valid(&e.text);
                assert_eq!(
                    ifcfg::edit(&path, &e.text, ifcfg::Dialect::Suse, &p).text,
                    e.text
                );
                if f == format!("ifcfg-{primary}") {
                    let c = ifcfg_suse::parse(&e.text, &path);
                    assert!(c.dhcp4 && !c.is_static() && c.enabled, "{c:?}");
                }
                e
            } else {
                let e = ifcfg::edit_routes(&path, &old, &p);
                assert_eq!(ifcfg::edit_routes(&path, &e.text, &p).text, e.text);
                e
            };
            snap += &snap_edit(&path, &old, &e.text, None, &e.notes);
        }
    }
    insta::assert_snapshot!("ifcfg_suse_hosts", snap);
}

#[test]
fn ifupdown_fixtures() {
    let f = format!("{N}ifupdown-ng/tests/fixtures/");
    let mut snap = String::new();
    for (fx, primary, rename) in [
        ("static-eth0.interfaces", "eth0", None),
        ("static-eth0-v4-netmask.interfaces", "eth0", None),
        ("static-eth0-v6.interfaces", "eth0", None),
        ("dhcp-eth0.interfaces", "eth0", None),
        ("static-eth0-v4.interfaces", "eth0", Some("ens3")),
        ("bonded-bridge.interfaces", "br0", None),
    ] {
        let old = text(&format!("{f}{fx}"));
        let p = NetEdit {
            primary,
            rename_to: rename,
            others: Others::Disable,
            members: &[],
        };
        let e = e_ifupdown::edit("/etc/network/interfaces", &old, &p);
        assert_eq!(
            e_ifupdown::edit("/etc/network/interfaces", &e.text, &p).text,
            e.text,
            "{fx}"
        );
        let cs = ifupdown::configs(&ifupdown::parse(&e.text), "x");
        let c = cs
            .iter()
            .find(|c| c.name.as_deref() == Some(p.final_name()))
            .unwrap();
        assert!(
            c.dhcp4 && !c.is_static() && c.gateway4.is_none(),
            "{fx}: {c:?}"
        );
        assert!(
            ifupdown::parse(&e.text)
                .auto
                .iter()
                .any(|(n, _)| n == p.final_name()),
            "{fx}: not auto"
        );
        snap += &format!(
            "=== {fx}\n{}",
            snap_edit("/etc/network/interfaces", &old, &e.text, None, &e.notes)
        );
    }
    insta::assert_snapshot!("ifupdown_ng_fixtures", snap);
}

/// Run the real `netplan generate` on a YAML file; returns the rendered files.
fn netplan_generate(yaml: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let np = dir.path().join("etc/netplan");
    std::fs::create_dir_all(&np).unwrap();
    let f = np.join("50-guest.yaml");
    std::fs::write(&f, yaml).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("netplan")
        .args(["generate", "--root-dir"])
        .arg(dir.path())
        .output()
        .expect("netplan.io must be installed (netplan generate)");
    assert!(
        out.status.success(),
        "netplan generate failed: {}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(dir.path().join("run")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .to_string();
            v.push((
                format!("/{rel}"),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            ));
        }
    }
    v.sort();
    v
}

#[test]
fn netplan_examples() {
    let mut snap = String::new();
    for (ex, primary, rename) in [
        ("static.yaml", "enp3s0", Some("eth0")),
        ("static_singlenic_multiip_multigateway.yaml", "eno1", None),
        ("direct_connect_gateway.yaml", "eth0", None),
        ("static_multiaddress.yaml", "enp3s0", None),
        ("bonding.yaml", "bond0", None),
        ("dhcp.yaml", "enp3s0", None),
    ] {
        let old = text(&format!("{EX}{ex}"));
        let p = NetEdit {
            primary,
            rename_to: rename,
            others: Others::Disable,
            members: &[],
        };
        let path = "/etc/netplan/50-cloud-init.yaml";
        let e = match e_netplan::edit(path, &old, &p) {
            Ok(e) => e,
            Err(err) => {
                // flow-style documents are refused, not mangled
                assert!(
                    matches!(err, e_netplan::NetplanEditError::FlowStyle(_)),
                    "{ex}: {err}"
                );
                snap += &format!("=== {ex}\nrefused: {err}\n");
                continue;
            }
        };
        assert_eq!(
            e_netplan::edit(path, &e.text, &p).unwrap().text,
            e.text,
            "{ex}: not idempotent"
        );
        // the real netplan accepts the result and renders DHCP without static addresses
        let rendered = netplan_generate(&e.text);
        let unit = rendered
            .iter()
            .find(|(f, _)| f.ends_with(&format!("-{}.network", p.final_name())))
            .unwrap_or_else(|| panic!("{ex}: {rendered:?}"));
        let c = networkd::parse(&unit.1, &unit.0);
        assert!(
            c.dhcp4 && !c.is_static() && c.gateway4.is_none() && c.dns.is_empty(),
            "{ex}: {}",
            unit.1
        );
        snap += &format!(
            "=== {ex}\n{}",
            snap_edit(path, &old, &e.text, None, &e.notes)
        );
    }
    insta::assert_snapshot!("netplan_examples", snap);
}

#[test]
fn networkd_units_rendered_by_netplan() {
    // a static networkd unit as netplan itself writes it, then edited to DHCP
    let rendered = netplan_generate(&text(&format!(
        "{EX}static_singlenic_multiip_multigateway.yaml"
    )));
    let (path, old) = rendered
        .iter()
        .find(|(f, _)| f.ends_with(".network"))
        .cloned()
        .unwrap();
    let path = path.replace("/run/", "/etc/");
    let p = keep("eno1");
    let e = e_networkd::edit(&path, &old, &p);
    assert_eq!(e_networkd::edit(&path, &e.text, &p).text, e.text);
    let c = networkd::parse(&e.text, &path);
    assert!(
        c.dhcp4
            && !c.is_static()
            && c.gateway4.is_none()
            && c.dns.is_empty()
            && c.routes.is_empty(),
        "{c:?}"
    );
    let mut snap = snap_edit(&path, &old, &e.text, None, &e.notes);
    // Debian's own units: an ethernet DHCP unit is already right; a container unit is an
    // "other" interface and is unmanaged when others are disabled
    let sd = format!("{N}debian-pkg__systemd_252.39-1~deb12u2/lib/systemd/network/");
    let eth = text(&format!("{sd}80-ethernet.network.example"));
    assert_eq!(
        e_networkd::edit(
            "/etc/systemd/network/80-ethernet.network",
            &eth,
            &keep("eth0")
        )
        .text,
        eth
    );
    let ve = text(&format!("{sd}80-container-ve.network"));
    let pd = NetEdit {
        primary: "eth0",
        rename_to: None,
        others: Others::Disable,
        members: &[],
    };
    let e = e_networkd::edit("/lib/systemd/network/80-container-ve.network", &ve, &pd);
    assert_eq!(
        e_networkd::edit("/lib/systemd/network/80-container-ve.network", &e.text, &pd).text,
        e.text
    );
    snap += &snap_edit(
        "/lib/systemd/network/80-container-ve.network",
        &ve,
        &e.text,
        None,
        &e.notes,
    );
    insta::assert_snapshot!("networkd_units", snap);
}

#[test]
fn nm_keyfiles() {
    let mut snap = String::new();
    // NetworkManager's own keyfile test data
    for (kf, primary) in [
        ("Test_Wired_Connection", "eth0"),
        ("Test_Write_Wired", "eth0"),
        ("Test_Wired_Connection_IP6", "eth0"),
    ] {
        let path = format!("/etc/NetworkManager/system-connections/{kf}.nmconnection");
        let old = text(&format!("{KF}{kf}"));
        let p = keep(primary);
        let e = e_keyfile::edit(&path, &old, &p);
        assert_eq!(e_keyfile::edit(&path, &e.text, &p).text, e.text, "{kf}");
        let c = keyfile::parse(&e.text, &path);
        assert!(
            c.dhcp4
                && !c.is_static()
                && c.gateway4.is_none()
                && c.dns.is_empty()
                && c.mac.is_none(),
            "{kf}: {c:?}"
        );
        snap += &snap_edit(&path, &old, &e.text, None, &e.notes);
    }
    // a keyfile as netplan renders it for NetworkManager (renderer: NetworkManager)
    let yaml =
        text(&format!("{EX}static.yaml")).replace("renderer: networkd", "renderer: NetworkManager");
    let rendered = netplan_generate(&yaml);
    let (path, old) = rendered
        .iter()
        .find(|(f, _)| f.contains("system-connections"))
        .cloned()
        .unwrap();
    let p = NetEdit {
        primary: "enp3s0",
        rename_to: Some("eth0"),
        others: Others::Keep,
        members: &[],
    };
    let e = e_keyfile::edit(&path, &old, &p);
    assert_eq!(e_keyfile::edit(&path, &e.text, &p).text, e.text);
    let c = keyfile::parse(&e.text, &path);
    assert_eq!(c.name.as_deref(), Some("eth0"));
    assert!(c.dhcp4 && !c.is_static());
    snap += &snap_edit(&path, &old, &e.text, None, &e.notes);
    insta::assert_snapshot!("nm_keyfiles", snap);
}

#[test]
fn all_flavours_inspect_after_edit() {
    // every static ifcfg-rh test file that names a device: edit → parse says DHCP
    let mut n = 0;
    for e in std::fs::read_dir(NS).unwrap() {
        let e = e.unwrap();
        let f = e.file_name().to_string_lossy().to_string();
        if !f.starts_with("ifcfg-test-wired") || f.contains('.') {
            continue;
        }
        let path = format!("/etc/sysconfig/network-scripts/{f}");
        let old = text(&e.path().to_string_lossy());
        let c0 = ifcfg_rh::parse(&old, &path);
        let Some(dev) = c0.name.clone() else { continue };
        let p = keep(&dev);
        let ed = ifcfg::edit(&path, &old, ifcfg::Dialect::Rh, &p);
        assert_ifcfg_valid(&ed.text);
        assert_eq!(
            ifcfg::edit(&path, &ed.text, ifcfg::Dialect::Rh, &p).text,
            ed.text,
            "{f}"
        );
        let c = ifcfg_rh::parse(&ed.text, &path);
        assert!(c.dhcp4 && !c.is_static(), "{f}: {c:?}");
        assert_eq!(c.flavour, Flavour::IfcfgRh);
        n += 1;
    }
    assert!(n > 20, "{n}");
    assert!(Path::new(NS).exists());
    let _ = network::inspect;
}
