//! Network facts over the real samples: NetworkManager's ifcfg-rh and keyfile test files,
//! wicked's RHEL and SUSE sample hosts, ifupdown-ng fixtures, netplan's examples, Debian's
//! systemd-networkd units and udev .link files.

use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::linux::network::{self, Flavour, ifupdown, names, netplan};

const N: &str = "../shared/data/linux/network/";
const NS: &str = "../shared/data/linux/network/NetworkManager/src/core/settings/plugins/ifcfg-rh/tests/network-scripts/";
const KF: &str =
    "../shared/data/linux/network/NetworkManager/src/core/settings/plugins/keyfile/tests/keyfiles/";

fn read(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Put every file of a sample directory into a guest directory.
fn tree(pairs: &[(&str, &str)]) -> MemFiles {
    let mut m = MemFiles::new();
    for (host_dir, guest_dir) in pairs {
        for e in std::fs::read_dir(host_dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                let n = e.file_name().to_string_lossy().to_string();
                m.insert(
                    &format!("{guest_dir}/{n}"),
                    read(&e.path().to_string_lossy()),
                );
            }
        }
    }
    m
}

#[test]
fn ifcfg_rh_static_and_dhcp() {
    let mut m = MemFiles::new();
    for n in [
        "ifcfg-test-wired-static",
        "ifcfg-test-wired-dhcp",
        "ifcfg-test-wired-static-routes",
        "route-test-wired-static-routes",
        "ifcfg-test-onboot-no",
        "ifcfg-test-wired-ipv6-only",
    ] {
        m.insert(
            &format!("/etc/sysconfig/network-scripts/{n}"),
            read(&format!("{NS}{n}")),
        );
    }
    let all = network::inspect(&m);
    let by = |f: &str| {
        all.iter()
            .find(|c| c.source.ends_with(f))
            .unwrap_or_else(|| panic!("{f}"))
    };
    let s = by("ifcfg-test-wired-static");
    assert_eq!(s.flavour, Flavour::IfcfgRh);
    assert_eq!(s.name.as_deref(), Some("eth0"));
    assert_eq!(s.mac.as_deref(), Some("00:11:22:33:44:ee"));
    assert!(!s.dhcp4 && s.is_static());
    assert_eq!(
        s.addresses,
        vec!["192.168.1.5/24", "dead:beaf::1", "dead:beaf::2/56"]
    );
    assert_eq!(s.gateway4.as_deref(), Some("192.168.1.1"));
    assert_eq!(
        s.dns,
        vec!["4.2.2.1", "4.2.2.2", "1:2:3:4::a", "1:2:3:4::b"]
    );
    assert!(s.enabled);
    let d = by("ifcfg-test-wired-dhcp");
    assert!(d.dhcp4 && !d.is_static());
    let r = by("ifcfg-test-wired-static-routes");
    assert_eq!(
        r.routes.len(),
        std::fs::read_to_string(format!("{NS}route-test-wired-static-routes"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count()
    );
    assert!(!r.routes.is_empty());
    assert!(!by("ifcfg-test-onboot-no").enabled);
    let v6 = by("ifcfg-test-wired-ipv6-only");
    assert!(v6.addresses.iter().all(|a| a.contains(':')) && v6.is_static());
}

#[test]
fn wicked_sample_hosts() {
    // RHEL-style host1: bond0 static over eth1/eth2
    let m = tree(&[(
        &format!("{N}openSUSE__wicked/samples/redhat/host1"),
        "/etc/sysconfig/network-scripts",
    )]);
    let all = network::inspect(&m);
    let bond = all
        .iter()
        .find(|c| c.name.as_deref() == Some("bond0"))
        .unwrap();
    assert_eq!(bond.addresses, vec!["10.0.1.27/24"]);
    assert!(all.iter().any(|c| c.is_loopback()));
    // SUSE host1: eth0 static with a default route in `routes`
    let m = tree(&[(
        &format!("{N}openSUSE__wicked/samples/suse/host1"),
        "/etc/sysconfig/network",
    )]);
    let all = network::inspect(&m);
    let eth0 = all
        .iter()
        .find(|c| c.name.as_deref() == Some("eth0"))
        .unwrap();
    assert_eq!(eth0.flavour, Flavour::IfcfgSuse);
    assert!(!eth0.dhcp4);
    assert_eq!(eth0.addresses, vec!["192.168.5.8/24", "192.168.178.8/24"]);
    assert_eq!(eth0.gateway4.as_deref(), Some("192.168.178.1"));
    assert!(eth0.enabled);
    let lo = all
        .iter()
        .find(|c| c.name.as_deref() == Some("lo"))
        .unwrap();
    assert!(lo.is_loopback() && lo.routes.is_empty());
}

#[test]
fn ifupdown_ng_fixtures() {
    let f = format!("{N}ifupdown-ng/tests/fixtures/");
    let one = |n: &str| {
        let t = std::fs::read_to_string(format!("{f}{n}")).unwrap();
        ifupdown::configs(&ifupdown::parse(&t), "/etc/network/interfaces")
    };
    let c = one("static-eth0-v4-netmask.interfaces");
    assert_eq!(c[0].addresses, vec!["203.0.113.2/29"]);
    assert_eq!(c[0].gateway4.as_deref(), Some("203.0.113.1"));
    let c = one("static-eth0.interfaces");
    assert_eq!(
        c[0].addresses,
        vec!["203.0.113.2/24", "2001:db8:1000:2::2/64"]
    );
    assert_eq!(c[0].gateway6.as_deref(), Some("2001:db8:1000:2::1"));
    let c = one("dhcp-eth0.interfaces");
    assert!(c[0].dhcp4 && !c[0].is_static());
    let c = one("use-dhcp-eth0.interfaces");
    assert!(c[0].dhcp4);
    // every fixture parses without panicking and keeps stanza names
    for e in std::fs::read_dir(&f).unwrap() {
        let t = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let p = ifupdown::parse(&t);
        assert!(p.stanzas.iter().all(|s| !s.name.is_empty()));
    }
}

#[test]
fn ifupdown_source_directory() {
    let mut m = MemFiles::new();
    m.insert(
        "/etc/network/interfaces",
        "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n",
    );
    m.insert(
        "/etc/network/interfaces.d/eth0",
        read(&format!(
            "{N}ifupdown-ng/tests/fixtures/static-eth0-v4.interfaces"
        )),
    );
    let all = network::inspect(&m);
    let eth0 = all
        .iter()
        .find(|c| c.name.as_deref() == Some("eth0"))
        .unwrap();
    assert_eq!(eth0.source, "/etc/network/interfaces.d/eth0");
    assert!(eth0.is_static() && eth0.enabled);
}

#[test]
fn netplan_examples() {
    let d = format!("{N}canonical__netplan/examples/");
    let mut n = 0;
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        let cs = netplan::parse(&t, "/etc/netplan/x.yaml").unwrap_or_else(|e| panic!("{p:?}: {e}"));
        n += cs.len();
    }
    assert!(n > 40);
    let s = netplan::parse(
        &std::fs::read_to_string(format!("{d}static.yaml")).unwrap(),
        "x",
    )
    .unwrap();
    assert_eq!(s[0].name.as_deref(), Some("enp3s0"));
    assert_eq!(s[0].addresses, vec!["10.10.10.2/24"]);
    assert_eq!(s[0].gateway4.as_deref(), Some("10.10.10.1"));
    assert_eq!(s[0].dns, vec!["10.10.10.1", "1.1.1.1"]);
    let b = netplan::parse(
        &std::fs::read_to_string(format!("{d}bonding.yaml")).unwrap(),
        "x",
    )
    .unwrap();
    let bond = b.iter().find(|c| c.kind == "bond").unwrap();
    assert!(bond.dhcp4);
    let dh = netplan::parse(
        &std::fs::read_to_string(format!("{d}dhcp.yaml")).unwrap(),
        "x",
    )
    .unwrap();
    assert!(dh.iter().all(|c| c.dhcp4));
    assert!(netplan::parse("network: [", "x").is_err());
}

#[test]
fn nm_keyfiles() {
    let m = tree(&[(KF, "/etc/NetworkManager/system-connections")]);
    let all = network::inspect(&m);
    assert!(all.len() > 40);
    let w = all
        .iter()
        .find(|c| c.source.ends_with("/Test_Wired_Connection"))
        .unwrap();
    assert_eq!(w.flavour, Flavour::NmKeyfile);
    assert!(!w.dhcp4 && w.is_static());
    assert_eq!(w.mac.as_deref(), Some("00:11:22:33:44:55"));
    assert!(w.addresses.contains(&"192.168.0.5/24".to_string()));
    assert!(w.addresses.contains(&"abcd:1234:ffff::cdde/64".to_string()));
    assert_eq!(w.gateway4.as_deref(), Some("192.168.0.1"));
    assert_eq!(w.dns[..2], ["4.2.2.1".to_string(), "bogus".to_string()]);
}

#[test]
fn networkd_and_link_units() {
    let m = tree(&[
        (
            &format!("{N}debian-pkg__systemd_252.39-1~deb12u2/lib/systemd/network"),
            "/lib/systemd/network",
        ),
        (
            &format!("{N}debian-pkg__udev_252.39-1~deb12u2/lib/systemd/network"),
            "/lib/systemd/network",
        ),
    ]);
    // the vendor units are read by the networkd reader (inspect() may leave /lib out: they
    // are defaults for containers, not the guest's own configuration)
    let all = guestfix::guest::linux::network::networkd::read(&m);
    // only *.network units count (.example files are not units)
    assert!(all.iter().all(|c| c.source.ends_with(".network")));
    assert_eq!(all.len(), 7);
    let host0 = all
        .iter()
        .find(|c| c.source.ends_with("80-container-host0.network"))
        .unwrap();
    assert_eq!(host0.name.as_deref(), Some("host0"));
    assert!(host0.dhcp4);
    let facts = names::inspect(&m, Some("root=UUID=x ro quiet"));
    assert!(!facts.classic_names());
    assert!(
        facts
            .link_files
            .iter()
            .any(|l| l.ends_with("99-default.link"))
    );
    // masking the udev rule and net.ifnames=0 switch to ethX
    let mut m2 = MemFiles::new();
    m2.symlink("/etc/udev/rules.d/80-net-setup-link.rules", "/dev/null");
    assert!(names::inspect(&m2, None).classic_names());
    assert!(
        names::inspect(&MemFiles::new(), Some("ro net.ifnames=0 biosdevname=0")).classic_names()
    );
}
