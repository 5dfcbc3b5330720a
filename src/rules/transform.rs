//! The built-in transforms a rule may name (`transform = "…"` in a rule file), implemented in
//! `crate::plan`. A rule file naming anything else is refused when it loads, with its file and
//! line.

use serde::{Deserialize, Serialize};

/// One built-in transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Transform {
    /// `/etc/fstab` device names to UUIDs, unreachable mounts `nofail` (MOD-L3).
    Fstab,
    /// The same for `/etc/crypttab`.
    Crypttab,
    /// Static network configuration to DHCP on the target's one interface (GEN-4).
    NetworkDhcp,
    /// Kernel command line additions and removals in the GRUB configuration.
    KernelCmdline,
    /// The GRUB default entry: the newest kernel, no one-time `next_entry`.
    GrubDefault,
    /// The UEFI fallback loader `EFI/BOOT/BOOTX64.EFI` (BOOT-4).
    UefiFallback,
    /// Boot drivers into the initramfs (MOD-L1).
    InitramfsDrivers,
    /// Windows storage and network drivers: services, bindings, files (MOD-W1, MOD-W2).
    WindowsBootDrivers,
    /// Windows static addresses to DHCP (GEN-4).
    WindowsNetworkDhcp,
    /// `RealTimeIsUniversal` (WIN-7).
    WindowsRtcUtc,
    /// EMS off in the BCD (WIN-3).
    WindowsBcdEms,
    /// An `unattend.xml` for sysprepped images (WIN-8).
    WindowsUnattend,
}

impl Transform {
    /// Every transform, in the order docs/rules.md lists them.
    pub const ALL: [Transform; 12] = [
        Transform::Fstab,
        Transform::Crypttab,
        Transform::NetworkDhcp,
        Transform::KernelCmdline,
        Transform::GrubDefault,
        Transform::UefiFallback,
        Transform::InitramfsDrivers,
        Transform::WindowsBootDrivers,
        Transform::WindowsNetworkDhcp,
        Transform::WindowsRtcUtc,
        Transform::WindowsBcdEms,
        Transform::WindowsUnattend,
    ];

    /// The name rule files use.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Fstab => "fstab",
            Transform::Crypttab => "crypttab",
            Transform::NetworkDhcp => "network-dhcp",
            Transform::KernelCmdline => "kernel-cmdline",
            Transform::GrubDefault => "grub-default",
            Transform::UefiFallback => "uefi-fallback",
            Transform::InitramfsDrivers => "initramfs-drivers",
            Transform::WindowsBootDrivers => "windows-boot-drivers",
            Transform::WindowsNetworkDhcp => "windows-network-dhcp",
            Transform::WindowsRtcUtc => "windows-rtc-utc",
            Transform::WindowsBcdEms => "windows-bcd-ems",
            Transform::WindowsUnattend => "windows-unattend",
        }
    }
}

impl TryFrom<String> for Transform {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Transform::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Transform::ALL.iter().map(|t| t.name()).collect();
                format!("unknown transform {s:?} (known: {})", known.join(", "))
            })
    }
}

impl From<Transform> for &'static str {
    fn from(t: Transform) -> Self {
        t.name()
    }
}

impl std::fmt::Display for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Transform::ALL {
            assert_eq!(Transform::try_from(t.name().to_string()), Ok(t));
        }
        let e = Transform::try_from("rm-rf".to_string()).unwrap_err();
        assert!(
            e.contains("unknown transform \"rm-rf\"") && e.contains("fstab"),
            "{e}"
        );
    }
}
