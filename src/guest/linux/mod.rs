//! Linux guests: parsers for the guest's own configuration files (fstab, os-release, GRUB,
//! network configs) and the facts inspection derives from them.

pub mod fstab;
pub mod initramfs;
pub mod packages;
