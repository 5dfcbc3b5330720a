//! Linux guest config editors on arbitrary text: never panic, and settle (a second run on
//! their own output changes nothing).

use guestfix::plan::edit::cmdline::{self, CmdlineEdit};
use guestfix::plan::edit::fstab::{DEFAULT_DISABLED_TYPES, SpecResolution, edit_fstab};
use guestfix::plan::edit::network::{NetEdit, Others, ifcfg, ifupdown, keyfile, netplan, networkd};

/// Like the planner's resolver: what it resolves stays resolved (`UUID=u` is stable).
fn res(s: &str) -> SpecResolution {
    if s == "UUID=u" {
        SpecResolution::AlreadyStable
    } else if s.starts_with("/dev/sd") {
        SpecResolution::Uuid("u".into())
    } else {
        SpecResolution::NotInImage
    }
}

pub fn run(data: &[u8]) {
    let t = String::from_utf8_lossy(data);
    let f = edit_fstab(&t, &res, DEFAULT_DISABLED_TYPES).text;
    assert_eq!(edit_fstab(&f, &res, DEFAULT_DISABLED_TYPES).text, f);
    let e = CmdlineEdit {
        resolve: &res,
        add: &["net.ifnames=0"],
        resume_swap: None,
        root_uuid: None,
    };
    let g = cmdline::edit_grub_cfg(&t, &e);
    assert_eq!(cmdline::edit_grub_cfg(&g, &e), g);
    let p = NetEdit {
        primary: "eth0",
        rename_to: Some("eth1"),
        others: Others::Disable,
        members: &[],
    };
    let a = ifcfg::edit(
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
        &t,
        ifcfg::Dialect::Rh,
        &p,
    );
    let _ = ifcfg::edit(
        a.new_path.as_deref().unwrap_or(&a.path),
        &a.text,
        ifcfg::Dialect::Rh,
        &p,
    );
    let i = ifupdown::edit("x", &t, &p).text;
    assert_eq!(ifupdown::edit("x", &i, &p).text, i);
    let _ = keyfile::edit("x", &t, &p);
    let _ = networkd::edit("x", &t, &p);
    let _ = netplan::edit("x", &t, &p);
}
