//! Linux guest config parsers on arbitrary bytes: never panic.

use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::linux::grub::{self, grubenv::Grubenv};
use guestfix::guest::linux::{cmdline, network, osrelease, shellvars};

pub fn run(data: &[u8]) {
    let t = String::from_utf8_lossy(data);
    let _ = shellvars::parse(&t);
    let _ = shellvars::has_unterminated_quote(&t);
    let _ = cmdline::params(&t);
    let _ = grub::grub2::parse(&t, "x");
    let _ = grub::legacy::parse(&t, "x");
    let _ = grub::bls::parse("x", &t);
    let _ = Grubenv::parse(data);
    let _ = Grubenv::check(data);
    let _ = network::netplan::parse(&t, "x");
    let _ = network::ifupdown::configs(&network::ifupdown::parse(&t), "x");
    let mut m = MemFiles::new();
    for p in [
        "/etc/os-release",
        "/etc/redhat-release",
        "/boot/grub2/grub.cfg",
        "/boot/grub2/grubenv",
        "/etc/network/interfaces",
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
        "/etc/netplan/50.yaml",
        "/etc/NetworkManager/system-connections/a",
        "/etc/systemd/network/a.network",
    ] {
        m.insert(p, data.to_vec());
    }
    let _ = osrelease::detect(&m);
    let _ = grub::inspect(&m);
    let _ = network::inspect(&m);
}
