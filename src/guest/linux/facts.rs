//! All Linux configuration facts of one guest root in one call: distribution (OS-2),
//! hostname, boot loader and THE default entry (LNX-7), network configs (GEN-4, LNX-6) and
//! interface naming (LNX-4).

use super::files::GuestFiles;
use super::grub::{self, BootConfig};
use super::network::{self, IfaceConfig, names::NamingFacts};
use super::osrelease::{self, OsInfo};

/// The facts; anything that could not be determined is `None`/empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinuxFacts {
    pub os: Option<OsInfo>,
    pub hostname: Option<String>,
    pub boot: Option<BootConfig>,
    pub interfaces: Vec<IfaceConfig>,
    pub naming: NamingFacts,
}

impl LinuxFacts {
    /// The default entry's kernel version (what OS-2 checks), when resolvable.
    pub fn default_kernel_version(&self) -> Option<&str> {
        self.boot
            .as_ref()?
            .default_entry()?
            .kernel_version
            .as_deref()
    }
    /// Interfaces (not loopback) configured with a static address (MOD-L2 work to do).
    pub fn static_interfaces(&self) -> impl Iterator<Item = &IfaceConfig> {
        self.interfaces
            .iter()
            .filter(|c| !c.is_loopback() && c.is_static())
    }
}

/// Gather every fact from a guest root.
pub fn inspect(files: &dyn GuestFiles) -> LinuxFacts {
    let boot = grub::inspect(files);
    let cmdline = boot
        .as_ref()
        .and_then(|b| b.booted_entry())
        .map(|e| e.cmdline.clone());
    LinuxFacts {
        os: osrelease::detect(files),
        hostname: osrelease::hostname(files),
        naming: network::names::inspect(files, cmdline.as_deref()),
        boot,
        interfaces: network::inspect(files),
    }
}
