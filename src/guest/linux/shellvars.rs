//! Shell-style `KEY=value` files: os-release, lsb-release, ifcfg, /etc/default/grub,
//! /etc/sysconfig/*. Values may be unquoted, "double quoted" (backslash escapes `\"`, `\\`,
//! `\$`, `` \` ``) or 'single quoted', and quoted values may span lines. Nothing is executed or
//! expanded; `export KEY=value` is accepted.

/// One assignment found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    /// The value with quotes removed and escapes decoded.
    pub value: String,
    /// 1-based line where the assignment starts.
    pub line: usize,
    /// Byte range of the value as written (quotes included) in the text.
    pub value_span: (usize, usize),
}

fn is_key_char(c: u8, first: bool) -> bool {
    c == b'_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit())
}

/// Parse a value starting at byte `i` of `text`; returns (value, end byte).
fn parse_value(text: &str, mut i: usize) -> (String, usize) {
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b';' => break,
            b'#' if out.is_empty() => break,
            b'"' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    match d {
                        b'"' => break,
                        b'\\' => match b.get(i + 1) {
                            Some(&e @ (b'"' | b'\\' | b'$' | b'`')) => {
                                out.push(e);
                                i += 1;
                            }
                            Some(b'\n') => i += 1,
                            _ => out.push(d),
                        },
                        _ => out.push(d),
                    }
                    i += 1;
                }
                i += 1; // closing quote (or end)
            }
            b'\'' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    if d == b'\'' {
                        break;
                    }
                    out.push(d);
                    i += 1;
                }
                i += 1;
            }
            // command substitution is kept as written (never run)
            b'`' => {
                out.push(c);
                i += 1;
                while let Some(&d) = b.get(i) {
                    out.push(d);
                    i += 1;
                    if d == b'`' {
                        break;
                    }
                }
            }
            b'$' if b.get(i + 1) == Some(&b'(') => {
                let mut depth = 0usize;
                while let Some(&d) = b.get(i) {
                    out.push(d);
                    i += 1;
                    if d == b'(' {
                        depth += 1;
                    } else if d == b')' {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                }
            }
            b'\\' => {
                if let Some(&e) = b.get(i + 1) {
                    if e >= 0x80 {
                        // escaped multi-byte character: drop the backslash, keep the bytes
                        i += 1;
                        continue;
                    }
                    if e != b'\n' {
                        out.push(e);
                    }
                    i += 2;
                } else {
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        i.min(text.len()),
    )
}

/// All assignments in order (later ones override earlier ones when looked up with [`get`]).
pub fn parse(text: &str) -> Vec<Assignment> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut line = 1usize;
    while i < b.len() {
        // start of a line: skip blanks
        let line_start_line = line;
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let rest = &text[i..];
        let mut j = i;
        if rest.starts_with("export ") {
            j += 7;
            while matches!(b.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
        }
        let ks = j;
        while b.get(j).is_some_and(|&c| is_key_char(c, j == ks)) {
            j += 1;
        }
        if j > ks && b.get(j) == Some(&b'=') {
            let key = text[ks..j].to_string();
            let (value, end) = parse_value(text, j + 1);
            line += text[i..end].matches('\n').count();
            out.push(Assignment {
                key,
                value,
                line: line_start_line,
                value_span: (j + 1, end),
            });
            i = end;
        }
        // skip to the end of the line
        match text[i..].find('\n') {
            Some(n) => {
                i += n + 1;
                line += 1;
            }
            None => break,
        }
    }
    out
}

/// Words on a line after its assignments that the shell would run as a command (a value
/// whose quotes end too early: `K="a b" c d`). `None` when the line is only assignments,
/// blank, or a comment.
pub fn trailing_command(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\r')) {
            i += 1;
        }
        if i >= b.len() || b.get(i) == Some(&b'#') {
            return None;
        }
        let mut j = i;
        if line.get(i..).is_some_and(|r| r.starts_with("export ")) {
            j += 7;
            while matches!(b.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
        }
        let ks = j;
        while b.get(j).is_some_and(|&c| is_key_char(c, j == ks)) {
            j += 1;
        }
        if j > ks && b.get(j) == Some(&b'=') {
            let (_, end) = parse_value(line, j + 1);
            if end <= i {
                return None;
            }
            i = end;
            if b.get(i) == Some(&b';') {
                i += 1;
            }
            continue;
        }
        return Some(line.get(i..).unwrap_or("").trim_end().to_string());
    }
}

/// The last value assigned to `key`.
pub fn get<'a>(vars: &'a [Assignment], key: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|a| a.key == key)
        .map(|a| a.value.as_str())
}

/// Quote a value for writing back: unquoted when it is a plain word, else double quotes.
pub fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.,:/@+=%".contains(&c))
    {
        value.to_string()
    } else {
        let mut s = String::from("\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\' | '$' | '`') {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_rules() {
        // cases from the os-release(5) grammar (and python-distro's parser tests)
        let v = parse(
            "A=\nB=''\nC=\"\"\nD=value\nE=value cmd\nF=\"a simple value\" cmd\nG=\" a  b \"\nH=\"it's\"\nI=\"a \\\"bold\\\" move\"\nJ='a \"b\"'\n# K=x\nL=\"a multi\nline value\"\nexport M=1\nN=\"var=value\"\r\nO=x # comment\n",
        );
        let g = |k| get(&v, k).map(str::to_string);
        assert_eq!(g("A").as_deref(), Some(""));
        assert_eq!(g("B").as_deref(), Some(""));
        assert_eq!(g("C").as_deref(), Some(""));
        assert_eq!(g("D").as_deref(), Some("value"));
        assert_eq!(g("E").as_deref(), Some("value"));
        assert_eq!(g("F").as_deref(), Some("a simple value"));
        assert_eq!(g("G").as_deref(), Some(" a  b "));
        assert_eq!(g("H").as_deref(), Some("it's"));
        assert_eq!(g("I").as_deref(), Some("a \"bold\" move"));
        assert_eq!(g("J").as_deref(), Some("a \"b\""));
        assert_eq!(g("K"), None);
        assert_eq!(g("L").as_deref(), Some("a multi\nline value"));
        assert_eq!(g("M").as_deref(), Some("1"));
        assert_eq!(g("N").as_deref(), Some("var=value"));
        assert_eq!(g("O").as_deref(), Some("x"));
        let l = v.iter().find(|a| a.key == "M").unwrap();
        assert_eq!(l.line, 14);
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("eth0"), "eth0");
        // unterminated quote: no panic, value runs to the end
        assert_eq!(get(&parse("X=\"abc"), "X"), Some("abc"));
        assert_eq!(
            get(
                &parse("D=`lsb_release -i -s 2> /dev/null || echo Debian`\n"),
                "D"
            ),
            Some("`lsb_release -i -s 2> /dev/null || echo Debian`")
        );
        assert_eq!(get(&parse("D=$(a (b) c) x\n"), "D"), Some("$(a (b) c)"));
        assert_eq!(
            trailing_command("A=\"x\" B=1 cmd arg"),
            Some("cmd arg".to_string())
        );
        assert_eq!(trailing_command("A=\"x y\"  # c"), None);
        assert_eq!(get(&parse("Y=a\\é b\nZ=1"), "Y"), Some("aé"));
    }
}
