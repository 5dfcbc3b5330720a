//! Linux guests: parsers for the guest's own configuration files (fstab, os-release, GRUB,
//! network configs) and the facts inspection derives from them.

pub mod cmdline;
pub mod files;
pub mod fstab;
pub mod grub;
pub mod initramfs;
pub(crate) mod lines;
pub mod modinfo;
pub mod network;
pub mod osrelease;
pub mod packages;
// Issue 24: documented after the merge of the branches that edit this module.
#[allow(missing_docs)]
pub mod rpmdb;
pub mod shellvars;
