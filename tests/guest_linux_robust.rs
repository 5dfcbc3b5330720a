//! Untrusted input: every parser and editor of the Linux config layer takes arbitrary text
//! without panicking, and the line editors are idempotent on whatever they produce.

use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::linux::grub::{self, grubenv::Grubenv};
use guestfix::guest::linux::network::{self, ifupdown, keyfile, netplan, networkd};
use guestfix::guest::linux::{cmdline, osrelease, shellvars};
use guestfix::plan::edit::cmdline::{self as ecmd, CmdlineEdit};
use guestfix::plan::edit::fstab::{
    DEFAULT_DISABLED_TYPES, SpecResolution, edit_crypttab, edit_fstab,
};
use guestfix::plan::edit::grub as egrub;
use guestfix::plan::edit::network::{
    NetEdit, Others, ifcfg, ifupdown as eifu, keyfile as ekf, netplan as enp, networkd as end,
};
use proptest::prelude::*;

fn res(s: &str) -> SpecResolution {
    if s.starts_with("/dev/sd") {
        SpecResolution::Uuid("u-1".into())
    } else if s.starts_with("UUID=") {
        SpecResolution::AlreadyStable
    } else {
        SpecResolution::NotInImage
    }
}

/// Text built from config-ish fragments, so the parsers see near-valid input.
fn configish() -> impl Strategy<Value = String> {
    let frag = prop::sample::select(vec![
        "\n",
        " ",
        "\t",
        "=",
        "\"",
        "'",
        "#",
        "{",
        "}",
        "[",
        "]",
        ":",
        "- ",
        "$",
        "\\",
        ">",
        ";",
        ",",
        "menuentry 'a' {",
        "submenu 'b' {",
        "linux /vmlinuz-1 root=/dev/sda1 ro",
        "initrd /i",
        "set default=",
        "${saved_entry}",
        "set timeout=5",
        "if [ x ]; then",
        "fi",
        "blscfg",
        "title t",
        "kernel /k root=/dev/sda2",
        "default 1",
        "timeout=3",
        "IPADDR=1.2.3.4",
        "BOOTPROTO=static",
        "DEVICE=eth0",
        "ONBOOT=no",
        "HWADDR=aa",
        "iface eth0 inet static",
        "auto eth0",
        "address 1.2.3.4/24",
        "gateway 1.2.3.1",
        "use dhcp",
        "network:",
        "  ethernets:",
        "    eth0:",
        "      addresses:",
        "        - 1.2.3.4/24",
        "      dhcp4: no",
        "[connection]",
        "interface-name=eth0",
        "[ipv4]",
        "method=manual",
        "address1=1.2.3.4/24",
        "[Match]",
        "Name=eth0",
        "[Network]",
        "Address=1.2.3.4/24",
        "DHCP=no",
        "[Route]",
        "/dev/sdb1 /mnt ext4 defaults 0 2",
        "//s/x /m cifs rw",
        "é",
        "\u{0}",
        "GRUB_CMDLINE_LINUX=\"",
        "`",
        "$(",
        ")",
        "ID=rhel",
        "VERSION_ID=8",
        "release 7.9 (x)",
    ]);
    prop::collection::vec(frag, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(t in configish()) {
        let _ = shellvars::parse(&t);
        for l in t.lines() { let _ = shellvars::trailing_command(l); }
        let _ = osrelease::parse_release_line(&t);
        let _ = cmdline::params(&t);
        let _ = grub::grub2::parse(&t, "x");
        let _ = grub::legacy::parse(&t, "x");
        let _ = grub::bls::parse("x", &t);
        let _ = grub::default_grub::parse(&t);
        let _ = grub::default_grub::problems(&t);
        let _ = Grubenv::parse(t.as_bytes());
        let _ = Grubenv::check(t.as_bytes());
        let _ = ifupdown::configs(&ifupdown::parse(&t), "x");
        let _ = netplan::parse(&t, "x");
        let _ = keyfile::parse(&t, "x");
        let _ = networkd::parse(&t, "x");
        let _ = network::ifcfg_rh::parse(&t, "/etc/sysconfig/network-scripts/ifcfg-eth0");
        let _ = network::ifcfg_suse::parse(&t, "/etc/sysconfig/network/ifcfg-eth0");
        let mut m = MemFiles::new();
        m.insert("/etc/os-release", t.clone());
        m.insert("/boot/grub2/grub.cfg", t.clone());
        m.insert("/etc/network/interfaces", t.clone());
        let _ = osrelease::detect(&m);
        let _ = grub::inspect(&m);
        let _ = network::inspect(&m);
    }

    #[test]
    fn editors_never_panic_and_settle(t in configish()) {
        // fstab/crypttab: idempotent on their own output
        let f = edit_fstab(&t, &res, DEFAULT_DISABLED_TYPES).text;
        prop_assert_eq!(edit_fstab(&f, &res, DEFAULT_DISABLED_TYPES).text, f.clone());
        let c = edit_crypttab(&t, &res).text;
        prop_assert_eq!(edit_crypttab(&c, &res).text, c.clone());
        // kernel command lines
        let e = CmdlineEdit { resolve: &res, add: &["console=ttyS0,115200n8", "net.ifnames=0"], resume_swap: None,
 root_uuid: None, };
        let k = ecmd::edit_cmdline(&t.replace('\n', " "), &e);
        prop_assert_eq!(ecmd::edit_cmdline(&k, &e), k.clone());
        let g = ecmd::edit_grub_cfg(&t, &e);
        let _ = ecmd::edit_default_grub(&t, &e);
        let _ = ecmd::edit_bls(&t, &e);
        let _ = ecmd::edit_menu_lst(&t, &e);
        let _ = ecmd::edit_grubenv(t.as_bytes(), &e);
        let _ = egrub::edit_grub_cfg(&g, "x>y", Some(1));
        let _ = egrub::edit_default_grub(&t, Some("x"), Some(1));
        let _ = egrub::edit_menu_lst(&t, 1, Some(1));
        let _ = egrub::edit_grubenv(t.as_bytes(), "x");
        // network
        let p = NetEdit { primary: "eth0", rename_to: Some("eth1"), others: Others::Disable, members: &[] };
        for d in [ifcfg::Dialect::Rh, ifcfg::Dialect::Suse] {
            let a = ifcfg::edit("/etc/sysconfig/network-scripts/ifcfg-eth0", &t, d, &p);
            let path = a.new_path.clone().unwrap_or(a.path.clone());
            prop_assert_eq!(ifcfg::edit(&path, &a.text, d, &p).text, a.text.clone());
        }
        let r = ifcfg::edit_routes("/etc/sysconfig/network/routes", &t, &p).text;
        prop_assert_eq!(ifcfg::edit_routes("/etc/sysconfig/network/routes", &r, &p).text, r.clone());
        let i = eifu::edit("/etc/network/interfaces", &t, &p).text;
        prop_assert_eq!(eifu::edit("/etc/network/interfaces", &i, &p).text, i.clone());
        let kf = ekf::edit("x", &t, &p).text;
        prop_assert_eq!(ekf::edit("x", &kf, &p).text, kf.clone());
        let nd = end::edit("x", &t, &p).text;
        prop_assert_eq!(end::edit("x", &nd, &p).text, nd.clone());
        if let Ok(n) = enp::edit("x", &t, &p) {
            prop_assert_eq!(enp::edit("x", &n.text, &p).map(|e| e.text), Ok(n.text.clone()));
        }
        let gc = egrub::edit_grub_cfg(&t, "x>y", Some(1)).text;
        prop_assert_eq!(egrub::edit_grub_cfg(&gc, "x>y", Some(1)).text, gc.clone());
        let ml = egrub::edit_menu_lst(&t, 1, Some(1));
        prop_assert_eq!(egrub::edit_menu_lst(&ml, 1, Some(1)), ml.clone());
        let dg = egrub::edit_default_grub(&t, Some("x"), Some(1));
        prop_assert_eq!(egrub::edit_default_grub(&dg, Some("x"), Some(1)), dg.clone());
        let gg = ecmd::edit_grub_cfg(&g, &e);
        prop_assert_eq!(gg, g.clone());
    }
}
