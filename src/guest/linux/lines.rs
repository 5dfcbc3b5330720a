//! The line model every guest config parser and editor shares: lines end at `\n` (a `\r\n`
//! pair is one terminator), and joining the pieces gives the input back byte for byte. A parser
//! and the editor that rewrites its lines must cut lines the same way, or a second edit of an
//! edited file would see different lines than the first.

/// Split text into lines keeping each line's terminator (`\n` or `\r\n`).
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

/// Every line's content, without its terminator.
pub fn contents(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n').map(|l| split_eol(l).0)
}

/// Marker guestfix puts in front of a line it comments out (`# guestfix: disabled (why):
/// LINE`), so that a second run recognises it.
pub const DISABLED_MARKER: &str = "# guestfix: disabled";

/// The original content of a line guestfix commented out (what follows the `(why): ` after
/// the marker), when `line` is one.
pub fn disabled_original(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix(DISABLED_MARKER)?;
    rest.split_once("): ").map(|(_, orig)| orig)
}
