//! Minimal text editors for guest configuration files: each is a pure function from the old
//! text (and parameters) to the new text, changing as little as possible, keeping comments,
//! spacing and unrelated lines byte for byte, and idempotent (running it on its own output
//! changes nothing).

pub mod cmdline;
pub mod fstab;
pub mod grub;

/// Marker put in front of lines guestfix comments out, so a second run recognises them.
pub use crate::guest::linux::lines::DISABLED_MARKER;

pub use crate::guest::linux::lines::{split_eol, split_lines_keep};
pub mod network;
