//! GRUB script word splitting (`menuentry 'Title' --class os $menuentry_id_option 'id' {`):
//! whitespace separates words, `'…'` is literal, `"…"` allows `\` escapes, `\` escapes one
//! character outside quotes. Each word keeps its byte span in the line (for minimal edits).

/// A word and the byte range it occupies in the line (quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: (usize, usize),
}

/// Split one line into words; a `#` at the start of a word begins a comment.
pub fn split(line: &str) -> Vec<Word> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while b
            .get(i)
            .is_some_and(|&c| c == b' ' || c == b'\t' || c == b'\r')
        {
            i += 1;
        }
        if i >= b.len() || b.get(i) == Some(&b'#') {
            break;
        }
        let start = i;
        let mut w: Vec<u8> = Vec::new();
        while let Some(&c) = b.get(i) {
            match c {
                b' ' | b'\t' | b'\r' => break,
                b'\'' => {
                    i += 1;
                    while let Some(&d) = b.get(i) {
                        if d == b'\'' {
                            break;
                        }
                        w.push(d);
                        i += 1;
                    }
                    i += 1;
                }
                b'"' => {
                    i += 1;
                    while let Some(&d) = b.get(i) {
                        if d == b'"' {
                            break;
                        }
                        if d == b'\\' && b.get(i + 1).is_some_and(|&e| e.is_ascii()) {
                            if let Some(&e) = b.get(i + 1) {
                                if matches!(e, b'"' | b'\\' | b'$') {
                                    w.push(e);
                                    i += 2;
                                    continue;
                                }
                            }
                        }
                        w.push(d);
                        i += 1;
                    }
                    i += 1;
                }
                b'\\' if b.get(i + 1).is_some_and(|&e| e.is_ascii()) => {
                    if let Some(&e) = b.get(i + 1) {
                        w.push(e);
                    }
                    i += 2;
                }
                _ => {
                    w.push(c);
                    i += 1;
                }
            }
        }
        let end = i.min(b.len());
        out.push(Word {
            text: String::from_utf8_lossy(&w).into_owned(),
            span: (start, end),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_words() {
        let l = "menuentry 'Debian GNU/Linux, with Linux 6.1.0-9-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-9-amd64-advanced-1234' {";
        let w = split(l);
        assert_eq!(w[0].text, "menuentry");
        assert_eq!(w[1].text, "Debian GNU/Linux, with Linux 6.1.0-9-amd64");
        assert_eq!(
            &l[w[1].span.0..w[1].span.1],
            "'Debian GNU/Linux, with Linux 6.1.0-9-amd64'"
        );
        assert_eq!(w.last().unwrap().text, "{");
        let w = split("  set default=\"${saved_entry}\" # c");
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].text, "default=${saved_entry}");
        assert_eq!(split("a\\ b \"x\\\"y\"")[0].text, "a b");
        assert_eq!(split("a\\ b \"x\\\"y\"")[1].text, "x\"y");
        assert!(split("# only comment").is_empty());
        assert_eq!(split("'unterminated")[0].text, "unterminated");
    }
}
