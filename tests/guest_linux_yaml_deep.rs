//! Hostile netplan input: nesting deep enough to overflow the stack while the YAML tree is
//! built or dropped is refused with a typed error instead.
use guestfix::guest::linux::network::netplan::{self, NetplanError};
use guestfix::plan::edit::network::{NetEdit, Others, netplan as enp};

#[test]
fn deep_nesting_is_refused_not_crashing() {
    let deep = format!("network:\n  x:\n    {}a\n", "- ".repeat(200_000));
    assert!(matches!(
        netplan::parse(&deep, "x"),
        Err(NetplanError::TooDeep(3))
    ));
    let deep_map: String = (0..20_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    assert!(matches!(
        netplan::parse(&format!("network:\n{deep_map}"), "x"),
        Err(NetplanError::TooDeep(_) | NetplanError::TooLarge(_))
    ));
    let p = NetEdit {
        primary: "eth0",
        rename_to: None,
        others: Others::Disable,
        members: &[],
    };
    assert!(enp::edit("x", &deep, &p).is_err());
    // flow nesting beyond yaml-rust2's limit is a syntax error, not a crash
    let flow = format!("network: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        netplan::parse(&flow, "x"),
        Err(NetplanError::Syntax(_))
    ));
    // netplan's own examples stay well inside the bounds
    for e in std::fs::read_dir("../shared/data/linux/network/canonical__netplan/examples").unwrap()
    {
        let t = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(netplan::parse(&t, "x").is_ok());
    }
}
