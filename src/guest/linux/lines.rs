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
