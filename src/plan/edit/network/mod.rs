//! MOD-L2 / GEN-4 / LNX-4: network configuration rewritten so the imported VM gets its address
//! by DHCP on its single interface. Per flavour, one pure editor: old text → new text.
//!
//! Policy (the same in every flavour):
//! - the primary interface's static IPv4/IPv6 addresses become DHCP (IPv6: DHCPv6/autoconf);
//! - its gateway, static routes and DNS servers are disabled too: they belong to the old
//!   network, DHCP supplies the new ones, and an old default gateway would break the default
//!   route;
//! - MAC address matches/bindings of the primary are disabled (the MAC changes on import);
//! - with `rename_to` (predictable names switched off, LNX-4) the config follows the rename
//!   (`ens192` → `eth0`): file name, `DEVICE=`/`NAME=`/match lines;
//! - other interfaces are disabled (not brought up at boot) or left alone, per [`Others`];
//!   loopback is never touched;
//! - disabled lines are commented out behind [`super::DISABLED_MARKER`], never deleted, so a
//!   reviewer sees what was there and a second run changes nothing.

pub mod ifcfg;
pub mod ifupdown;
pub mod keyfile;
pub mod netplan;
pub mod networkd;
pub mod udev;

/// What to do with interfaces other than the primary one (GEN-4: only one is supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Leave them as they are.
    Keep,
    /// Do not bring them up at boot.
    Disable,
}

/// Parameters of the network edit.
#[derive(Debug, Clone, Copy)]
pub struct NetEdit<'a> {
    /// The interface name the guest config uses for the interface to keep (`ens192`, `eth0`).
    pub primary: &'a str,
    /// The name it will have after import, when different (`eth0` with `net.ifnames=0`).
    pub rename_to: Option<&'a str>,
    /// What to do with the other interfaces.
    pub others: Others,
    /// Interfaces enslaved to the primary (bond slaves, bridge ports; see
    /// [`crate::guest::linux::network::members_of`]): never disabled.
    pub members: &'a [String],
}

impl NetEdit<'_> {
    /// The name the primary interface has after import.
    pub fn final_name(&self) -> &str {
        self.rename_to.unwrap_or(self.primary)
    }
    /// Whether `name` is the primary interface (before or after the rename).
    pub fn is_primary(&self, name: &str) -> bool {
        name == self.primary || Some(name) == self.rename_to
    }
    /// Whether `name` is a member (slave/port) of the primary.
    pub fn is_member(&self, name: &str) -> bool {
        self.members.iter().any(|m| m == name)
    }
}

/// One edited file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The file's guest path.
    pub path: String,
    /// The file's new path when it follows an interface rename.
    pub new_path: Option<String>,
    /// The file's new text.
    pub text: String,
    /// What was done, for the user.
    pub notes: Vec<String>,
}

impl FileEdit {
    pub(crate) fn unchanged(path: &str, text: &str) -> Self {
        FileEdit {
            path: path.to_string(),
            new_path: None,
            text: text.to_string(),
            notes: Vec::new(),
        }
    }
}

/// Comment a line out behind the marker with a reason, keeping its indentation.
pub(crate) fn disabled(content: &str, why: &str) -> String {
    let t = content.trim_start();
    let lead = content.get(..content.len() - t.len()).unwrap_or("");
    format!("{lead}{} ({why}): {t}", super::DISABLED_MARKER)
}
