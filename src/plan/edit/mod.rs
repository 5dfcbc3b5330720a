//! Minimal text editors for guest configuration files: each is a pure function from the old
//! text (and parameters) to the new text, changing as little as possible, keeping comments,
//! spacing and unrelated lines byte for byte, and idempotent (running it on its own output
//! changes nothing).

pub mod cmdline;
pub mod fstab;
pub mod grub;

/// Marker put in front of lines guestfix comments out, so a second run recognises them.
pub const DISABLED_MARKER: &str = "# guestfix: disabled";

/// Split text into lines keeping each line's terminator (`\n` or `\r\n`), so that joining the
/// pieces gives the input back byte for byte.
pub fn split_lines_keep(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A line's content and its terminator.
pub fn split_eol(line: &str) -> (&str, &str) {
    if let Some(s) = line.strip_suffix("\r\n") {
        (s, "\r\n")
    } else if let Some(s) = line.strip_suffix('\n') {
        (s, "\n")
    } else {
        (line, "")
    }
}
pub mod network;
