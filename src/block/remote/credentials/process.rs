//! `credential_process` ("Sourcing credentials with an external process", AWS CLI User Guide):
//! the command line is run by the shell, its standard output is JSON with `Version: 1`,
//! `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and `Expiration` (ISO 8601);
//! a non-zero exit is an error, and so is an `Expiration` already past.

use super::{Keys, clock};
use std::process::{Command, Stdio};

/// Run the profile's `credential_process` command and read its answer.
pub(crate) fn run(profile: &str, cmd: &str) -> Result<Keys, String> {
    let step = format!("profile {profile:?}: credential_process {cmd:?}");
    let out = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{step}: cannot start sh: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: String = err.trim().chars().take(300).collect();
        return Err(format!("{step}: {} ({err})", out.status));
    }
    parse(&out.stdout, clock::now()).map_err(|e| format!("{step}: {e}"))
}

/// The keys of the process's output (`now`: seconds since the epoch).
pub(crate) fn parse(stdout: &[u8], now: i64) -> Result<Keys, String> {
    let v: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("its output is not JSON: {e}"))?;
    if v["Version"].as_u64() != Some(1) {
        return Err(format!(
            "its output has Version {} (1 is expected)",
            v["Version"]
        ));
    }
    let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let (Some(key), Some(secret)) = (s("AccessKeyId"), s("SecretAccessKey")) else {
        return Err("its output has no AccessKeyId and SecretAccessKey".into());
    };
    if let Some(e) = s("Expiration") {
        match clock::parse_iso8601(&e) {
            None => return Err(format!("its Expiration {e:?} is not an ISO 8601 time")),
            Some(t) if t <= now => return Err(format!("its credentials expired at {e}")),
            Some(_) => {}
        }
    }
    Ok(Keys {
        key,
        secret,
        token: s("SessionToken"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_bad_and_failing_processes() {
        let k = run(
            "p",
            r#"printf '{"Version": 1, "AccessKeyId": "AKP", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2999-01-01T00:00:00Z"}'"#,
        )
        .unwrap();
        assert_eq!((k.key.as_str(), k.token.as_deref()), ("AKP", Some("t")));
        let k = run(
            "p",
            r#"echo '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s"}'"#,
        )
        .unwrap();
        assert_eq!(k.token, None);

        let e = run("dev", "echo oops >&2; exit 3").unwrap_err();
        assert!(
            e.contains("\"dev\"") && e.contains("oops") && e.contains('3'),
            "{e}"
        );
        let e = run("p", "echo not json").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");

        let now = clock::parse_iso8601("2026-01-01T00:00:00Z").unwrap();
        for (bad, why) in [
            (
                r#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s"}"#,
                "Version",
            ),
            (r#"{"Version":1,"AccessKeyId":"A"}"#, "no AccessKeyId"),
            (
                r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2025-01-01T00:00:00Z"}"#,
                "expired",
            ),
            (
                r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"later"}"#,
                "ISO 8601",
            ),
            ("[1,2]", "Version"),
            ("", "not JSON"),
        ] {
            let e = parse(bad.as_bytes(), now).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
