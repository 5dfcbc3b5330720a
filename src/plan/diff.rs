//! Unified diffs of planned file edits, in the format of `diff -u` with `--- a/PATH` /
//! `+++ b/PATH` headers (what a reviewer sees before anything is written).

use similar::TextDiff;

/// Lines of context around each change, as `diff -u`.
pub const CONTEXT: usize = 3;

/// The unified diff turning `old` into `new` for the guest file `path` (absolute or relative;
/// a leading `/` is dropped in the headers). Empty when the texts are equal.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let p = path.trim_start_matches('/');
    let diff = TextDiff::from_lines(old, new);
    let mut out = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .header(&format!("a/{p}"), &format!("b/{p}"))
        .to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_diff_u_shape() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let d = unified("/etc/fstab", old, new);
        assert_eq!(
            d,
            "--- a/etc/fstab\n+++ b/etc/fstab\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
        assert_eq!(unified("/x", old, old), "");
    }

    #[test]
    fn agrees_with_gnu_diff() {
        // Compare with the real `diff -u` (diffutils) when available.
        let dir = tempfile::tempdir().unwrap();
        let old = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
        let new = "one\ntwo\n3\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";
        std::fs::create_dir_all(dir.path().join("a/etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("b/etc")).unwrap();
        std::fs::write(dir.path().join("a/etc/f"), old).unwrap();
        std::fs::write(dir.path().join("b/etc/f"), new).unwrap();
        let out = std::process::Command::new("diff")
            .args([
                "-u", "--label", "a/etc/f", "--label", "b/etc/f", "a/etc/f", "b/etc/f",
            ])
            .current_dir(dir.path())
            .output()
            .expect("diffutils `diff` must be installed");
        assert_eq!(
            unified("/etc/f", old, new),
            String::from_utf8(out.stdout).unwrap()
        );
    }
}
