//! Shell-style `KEY=value` files: os-release, lsb-release, ifcfg, /etc/default/grub,
//! /etc/sysconfig/*. Values may be unquoted, "double quoted" (backslash escapes `\"`, `\\`,
//! `\$`, `` \` ``) or 'single quoted', and quoted values may span lines. Nothing is executed or
//! expanded; `export KEY=value` is accepted.

/// One assignment found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The variable's name.
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

/// Skip a `$( … )` command substitution starting at `i` (the `$`), with nested parentheses
/// and quotes; returns the index just after the closing `)`, or `None` when it is never
/// closed.
fn skip_subst(b: &[u8], i: usize) -> Option<usize> {
    let mut stack: Vec<u8> = Vec::new();
    let mut j = i + 2;
    stack.push(b'(');
    while let Some(&c) = b.get(j) {
        match stack.last() {
            Some(b'\'') => {
                if c == b'\'' {
                    stack.pop();
                }
            }
            Some(b'`') => {
                if c == b'\\' {
                    j += 1;
                } else if c == b'`' {
                    stack.pop();
                }
            }
            Some(b'"') => {
                if c == b'\\' {
                    j += 1;
                } else if c == b'"' {
                    stack.pop();
                } else if c == b'$' && b.get(j + 1) == Some(&b'(') {
                    stack.push(b'(');
                    j += 1;
                }
            }
            _ => match c {
                b'\\' => j += 1,
                b'\'' | b'"' | b'`' => stack.push(c),
                b'$' if b.get(j + 1) == Some(&b'(') => {
                    stack.push(b'(');
                    j += 1;
                }
                b'(' => stack.push(b'('),
                b')' => {
                    stack.pop();
                    if stack.is_empty() {
                        return Some(j + 1);
                    }
                }
                _ => {}
            },
        }
        j += 1;
    }
    None
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
                let end = skip_subst(b, i).unwrap_or(b.len());
                out.extend_from_slice(b.get(i..end).unwrap_or_default());
                i = end;
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
        // skip to the end of the line; a quote opened here runs on over newlines
        let b = text.as_bytes();
        let mut word_start = true;
        while let Some(&c) = b.get(i) {
            match c {
                b'\n' => break,
                b'#' if word_start => {
                    while b.get(i).is_some_and(|&d| d != b'\n') {
                        i += 1;
                    }
                    continue;
                }
                b'\\' => {
                    if b.get(i + 1) == Some(&b'\n') {
                        line += 1;
                    }
                    i += 1;
                }
                b'\'' | b'"' | b'`' => {
                    i += 1;
                    while let Some(&d) = b.get(i) {
                        if d == b'\\' && c == b'"' {
                            if b.get(i + 1) == Some(&b'\n') {
                                line += 1;
                            }
                            i += 2;
                            continue;
                        }
                        if d == c {
                            break;
                        }
                        if d == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
                _ => {}
            }
            word_start = matches!(c, b' ' | b'\t' | b';');
            i += 1;
        }
        if i >= text.len() {
            break;
        }
        i += 1;
        line += 1;
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

/// Whether a quote (`'`, `"` or `` ` ``) is left open at the end of the text: the shell would
/// fail to read the file, and anything appended would be swallowed by the open quote.
pub fn has_unterminated_quote(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let mut word_start = true;
    while let Some(&c) = b.get(i) {
        match c {
            b'#' if word_start => {
                while b.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'\\' => {
                // a line continuation at the very end joins whatever is appended
                let rest = b.get(i + 1..).unwrap_or_default();
                if rest.is_empty() || rest == b"\n" {
                    return true;
                }
                i += 1;
            }
            b'$' if b.get(i + 1) == Some(&b'(') => {
                let Some(end) = skip_subst(b, i) else {
                    return true;
                };
                i = end;
                word_start = false;
                continue;
            }
            b'\'' | b'`' => {
                i += 1;
                while b.get(i).is_some_and(|&d| d != c) {
                    i += 1;
                }
                if i >= b.len() {
                    return true;
                }
            }
            b'"' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    if d == b'\\' {
                        i += 1;
                    } else if d == b'"' {
                        break;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return true;
                }
            }
            _ => {}
        }
        word_start = matches!(c, b' ' | b'\t' | b'\n' | b';');
        i += 1;
    }
    false
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
        assert!(has_unterminated_quote("A=\"x\nB=1\n"));
        assert!(has_unterminated_quote("A='x"));
        assert!(has_unterminated_quote("A=$(x\nB=1\n"));
        assert!(!has_unterminated_quote("A=$(x (y))\nB=1\n"));
        assert!(has_unterminated_quote("{$(G=\")"));
        assert_eq!(
            get(&parse("A=$(echo \")\")\nB=1\n"), "A"),
            Some("$(echo \")\")")
        );
        assert!(has_unterminated_quote("A=x \\\n"));
        // a quoted word spanning lines hides the assignment-looking line inside it
        assert_eq!(get(&parse("echo \"\nX=1\"\nY=2\n"), "X"), None);
        assert_eq!(get(&parse("echo \"\nX=1\"\nY=2\n"), "Y"), Some("2"));
        let v = parse("echo \"\nX=1\"\nY=2\n");
        assert_eq!(v[0].line, 3);
        assert!(!has_unterminated_quote("A=\"x\ny\" # it's\nB='q' C=\\\""));
        assert_eq!(get(&parse("Y=a\\é b\nZ=1"), "Y"), Some("aé"));
    }
}
