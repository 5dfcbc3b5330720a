//! The one list of requirement checks. Each [`Requirement`] is one requirement ID of the import
//! spec, the guests it applies to (the disk set, Linux roots, Windows roots, any OS root) and a
//! function from facts to findings. `check::run` runs the disk-set units first, then, for every
//! OS root, the units that apply to it, in the order of [`REQUIREMENTS`].

use super::req::{boot, fmt, general, lnx, modif, os, win};
use super::{Finding, Severity};
use crate::guest::facts::{Inspection, OsFacts};
use crate::guest::windows::WindowsFacts;
use crate::rules::{Profile, ProfileSettings};

/// What every check sees besides the OS root: the inspection, the target profile and the date
/// (`YYYY-MM-DD`, for date-bound policy such as OS-1's 32-bit cut-off).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub insp: &'a Inspection,
    pub profile: &'a Profile,
    pub today: &'a str,
}

impl<'a> Ctx<'a> {
    /// The profile's settings (profile.toml).
    pub fn settings(&self) -> &'a ProfileSettings {
        &self.profile.settings
    }

    /// The severity the profile gives a policy key (`rules::policy::SEVERITY_DEFAULTS`).
    pub fn severity(&self, key: &str) -> Severity {
        let name = self.profile.severity(key);
        debug_assert!(
            name.is_some(),
            "policy key {key} is not in SEVERITY_DEFAULTS"
        );
        name.and_then(Severity::from_name)
            .unwrap_or(Severity::Warning)
    }
}

/// Which guests a requirement applies to, with the function that judges it.
#[derive(Clone, Copy)]
pub enum Check {
    /// The images and the disk set as a whole, run once.
    Disk(fn(&Ctx) -> Vec<Finding>),
    /// Every Linux root.
    Linux(fn(&Ctx, &OsFacts) -> Vec<Finding>),
    /// Every Windows root whose registry facts were read.
    Windows(fn(&Ctx, &OsFacts, &WindowsFacts) -> Vec<Finding>),
    /// Every Linux root and every Windows root whose registry facts were read.
    AnyOs(fn(&Ctx, &OsFacts) -> Vec<Finding>),
}

/// One requirement check.
#[derive(Clone, Copy)]
pub struct Requirement {
    /// The import-spec ID its findings carry (FMT-1, LNX-4 …).
    #[allow(dead_code)] // read by the unit tests only (issue 24: the module is crate-private)
    pub id: &'static str,
    pub check: Check,
}

const fn req(id: &'static str, check: Check) -> Requirement {
    Requirement { id, check }
}

use Check::{AnyOs, Disk, Linux, Windows};

/// Every requirement check. A requirement judged from different facts on Linux and Windows has
/// one unit per OS; one judged the same way on both (OS-1) is written once.
///
/// Order matters only between units whose findings sort alike: the report is sorted by severity,
/// then by ID number, then by subject, and keeps this order among equals. The MOD-* IDs have no
/// number, so MOD-L4 is listed before MOD-L3 (the kernel command line before fstab).
pub const REQUIREMENTS: &[Requirement] = &[
    // FMT: the container.
    req("FMT-1", Disk(fmt::fmt1_format)),
    req("FMT-3", Disk(fmt::fmt3_known_failures)),
    req("FMT-4", Disk(fmt::fmt4_size)),
    req("FMT-5", Disk(fmt::fmt5_export_volume_size)),
    req("FMT-5", Linux(fmt::fmt5_hybrid_grub)),
    // OS: supported guests.
    req("OS-1", AnyOs(os::os1_arch)),
    req("OS-2", Linux(os::os2_linux_matrix)),
    req("OS-3", Windows(os::os3_windows_matrix)),
    req("OS-4", Linux(os::os4_linux_eol)),
    req("OS-4", Windows(os::os4_windows_eol)),
    req("OS-5", Linux(os::os5_linux_licence)),
    req("OS-5", Windows(os::os5_windows_licence)),
    // BOOT: boot mode and layout.
    req("BOOT-1", Disk(boot::boot1_disk_notes)),
    req("BOOT-1", Linux(boot::boot1_linux_modes)),
    req("BOOT-2", Linux(boot::boot2_linux_filesystems)),
    req("BOOT-3", Disk(boot::boot3_dynamic_disks)),
    req("BOOT-3", Windows(boot::boot3_windows_mode)),
    req("BOOT-4", Linux(boot::boot4_uefi_fallback)),
    req("BOOT-5", Linux(boot::boot5_grub)),
    req("BOOT-6", Linux(boot::boot6_root_on_boot_disk)),
    req("BOOT-7", Disk(boot::boot7_bootable_partition)),
    // GEN: general limits.
    req("GEN-1", Windows(general::gen1_p2v)),
    req("GEN-2", Disk(general::gen2_several_roots)),
    req("GEN-2", Linux(general::gen2_several_grub_configs)),
    req("GEN-3", Disk(general::gen3_encrypted_volumes)),
    req("GEN-3", Windows(general::gen3_bitlocker_letters)),
    req("GEN-4", Linux(general::gen4_linux_network)),
    req("GEN-4", Windows(general::gen4_windows_network)),
    req("GEN-5", Disk(general::gen5_dirty_filesystems)),
    req("GEN-5", Windows(general::gen5_windows_hibernation)),
    req("GEN-6", Disk(general::gen6_lvm)),
    req("GEN-7", Disk(general::gen7_os_found)),
    // LNX: Linux requirements.
    req("LNX-1", Linux(lnx::lnx1_kernel)),
    req("LNX-2", Linux(lnx::lnx2_root_free_space)),
    req("LNX-3", Linux(lnx::lnx3_drivers)),
    req("LNX-4", Linux(lnx::lnx4_interface_names)),
    req("LNX-5", Linux(lnx::lnx5_ssh)),
    req("LNX-6", Linux(lnx::lnx6_dhcp_client)),
    req("LNX-7", Linux(lnx::lnx7_bls_default)),
    req("LNX-8", Linux(lnx::lnx8_initramfs)),
    // WIN: Windows requirements.
    req("WIN-1", Windows(win::win1_free_space)),
    req("WIN-2", Windows(win::win2_sriov)),
    req("WIN-3", Windows(win::win3_ems)),
    req("WIN-4", Windows(win::win4_language)),
    req("WIN-5", Windows(win::win5_hyperv)),
    req("WIN-6", Windows(win::win6_access)),
    req("WIN-7", Windows(win::win7_rtc)),
    req("WIN-8", Windows(win::win8_sysprep)),
    req("WIN-9", Windows(win::win9_first_boot)),
    // MOD: what the import changes (findings about what `guestfix plan` will do).
    req("MOD-L4", Linux(modif::modl4_cmdline_device_names)),
    req("MOD-L3", Linux(modif::modl3_fstab)),
    req("MOD-W1", Windows(modif::modw1_platform_drivers)),
];

/// Run every requirement over an inspection, unsorted: disk-set units, then each OS root's.
pub fn run_all(ctx: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in REQUIREMENTS {
        if let Disk(f) = r.check {
            out.extend(f(ctx));
        }
    }
    for o in &ctx.insp.operating_systems {
        out.extend(run_os(ctx, o));
    }
    out
}

/// The findings of one OS root. A Windows root whose registry facts are missing gets only the
/// OS-3 finding that says so.
pub fn run_os(ctx: &Ctx, o: &OsFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    match o.os_type.as_str() {
        "linux" => {
            for r in REQUIREMENTS {
                match r.check {
                    Linux(f) | AnyOs(f) => out.extend(f(ctx, o)),
                    Disk(_) | Windows(_) => {}
                }
            }
        }
        "windows" => {
            let Some(w) = WindowsFacts::from_os(o) else {
                out.push(os::windows_facts_missing(o));
                return out;
            };
            for r in REQUIREMENTS {
                match r.check {
                    Windows(f) => out.extend(f(ctx, o, &w)),
                    AnyOs(f) => out.extend(f(ctx, o)),
                    Disk(_) | Linux(_) => {}
                }
            }
        }
        _ => {}
    }
    out
}
