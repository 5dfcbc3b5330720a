//! IAM Identity Center (SSO) profiles, as the AWS CLI v2 reads them ("IAM Identity Center
//! credential provider", AWS SDKs and Tools Reference Guide): `sso_account_id`, `sso_role_name`,
//! and either `sso_session = NAME` with a `[sso-session NAME]` section holding `sso_start_url`
//! and `sso_region`, or (legacy) `sso_start_url` and `sso_region` in the profile. `aws sso login`
//! leaves the access token in `~/.aws/sso/cache/<hex SHA-1 of the session name, or of the start
//! URL for a legacy profile>.json` (`accessToken`, `expiresAt`); it is exchanged at
//! `GET https://portal.sso.{sso_region}.amazonaws.com/federation/credentials` (the SSO Portal
//! API's `GetRoleCredentials`, header `x-amz-sso_bearer_token`) for `roleCredentials`. The
//! login itself (a browser flow) is left to the AWS CLI.

use super::{Answer, Keys, Profile, Sources, agent, call, clock};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether the profile is an SSO profile.
pub(crate) fn applies(p: &Profile) -> bool {
    [
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| p.get(k).is_some())
}

/// The token cache file of a session name (or a legacy profile's start URL).
pub(crate) fn cache_file(home: &Path, key: &str) -> PathBuf {
    let name = hex::encode(Sha1::digest(key.as_bytes()));
    home.join(".aws/sso/cache").join(format!("{name}.json"))
}

/// The unexpired access token of a cache file (`now`: seconds since the epoch).
pub(crate) fn token(file: &Path, now: i64) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("no cached SSO token {}: {e}", file.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the cached SSO token {} is not JSON: {e}", file.display()))?;
    let tok = v["accessToken"].as_str().filter(|t| !t.is_empty());
    let exp = v["expiresAt"].as_str().and_then(clock::parse_iso8601);
    match (tok, exp) {
        (Some(t), Some(e)) if e > now => Ok(t.to_string()),
        (Some(_), Some(_)) => Err(format!(
            "the cached SSO token {} has expired",
            file.display()
        )),
        _ => Err(format!(
            "the cached SSO token {} has no accessToken/expiresAt",
            file.display()
        )),
    }
}

/// `(cache key, start URL, region)` of the profile.
fn session(src: &Sources, p: &Profile) -> Result<(String, String, String), String> {
    let need = |v: Option<&str>, what: &str| {
        v.map(str::to_string)
            .ok_or_else(|| format!("profile {:?}: SSO profile without {what}", p.name))
    };
    match p.get("sso_session") {
        Some(s) => {
            let sec = src.sso_session(s).ok_or_else(|| {
                format!(
                    "profile {:?}: no [sso-session {s}] section in the config",
                    p.name
                )
            })?;
            let get = |k: &str| sec.get(k).map(|v| v.as_str()).filter(|v| !v.is_empty());
            Ok((
                s.to_string(),
                need(get("sso_start_url"), "sso_start_url")?,
                need(get("sso_region"), "sso_region")?,
            ))
        }
        None => {
            let url = need(p.get("sso_start_url"), "sso_start_url")?;
            Ok((url.clone(), url, need(p.get("sso_region"), "sso_region")?))
        }
    }
}

/// Role credentials of the SSO profile `p`.
pub(crate) fn credentials(src: &Sources, p: &Profile) -> Result<Keys, String> {
    let step = format!("profile {:?}: SSO", p.name);
    let (key, start_url, region) = session(src, p)?;
    let account = p
        .get("sso_account_id")
        .ok_or_else(|| format!("{step}: no sso_account_id"))?;
    let role = p
        .get("sso_role_name")
        .ok_or_else(|| format!("{step}: no sso_role_name"))?;
    let home = src
        .home()
        .ok_or_else(|| format!("{step}: HOME is not set"))?;
    let login = match p.get("sso_session") {
        Some(s) => format!("aws sso login --sso-session {s}"),
        None => format!("aws sso login --profile {}", p.name),
    };
    let tok = token(&cache_file(&home, &key), clock::now())
        .map_err(|e| format!("{step} ({start_url}): {e}; run `{login}`"))?;
    let base = src
        .endpoint("SSO", p)
        .unwrap_or_else(|| format!("https://portal.sso.{region}.amazonaws.com"));
    let url = format!("{}/federation/credentials", base.trim_end_matches('/'));
    let req = agent(Duration::from_secs(5), Duration::from_secs(30))
        .get(&url)
        .query("account_id", account)
        .query("role_name", role)
        .set("x-amz-sso_bearer_token", &tok);
    match call(req, None) {
        Answer::Ok(body) => {
            parse_role_credentials(&body).map_err(|e| format!("{step} at {url}: {e}"))
        }
        Answer::Status(401, _) => Err(format!(
            "{step} at {url}: HTTP 401, the SSO token is no longer valid; run `{login}`"
        )),
        Answer::Status(code, body) => Err(format!(
            "{step} at {url}: HTTP {code} {}",
            body.chars().take(200).collect::<String>()
        )),
        Answer::Unreachable(e) => Err(format!("{step} at {url}: {e}")),
    }
}

/// `roleCredentials` of a `GetRoleCredentials` answer.
pub(crate) fn parse_role_credentials(body: &str) -> Result<Keys, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let c = &v["roleCredentials"];
    let s = |k: &str| c[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match (s("accessKeyId"), s("secretAccessKey")) {
        (Some(key), Some(secret)) => Ok(Keys {
            key,
            secret,
            token: s("sessionToken"),
        }),
        _ => Err("the answer has no roleCredentials (accessKeyId, secretAccessKey)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_file_is_the_sha1_of_the_session_or_start_url() {
        // ~/.aws/sso/cache/<40 hex digits of SHA-1>.json …
        let h = Path::new("/h");
        assert_eq!(
            cache_file(h, "my-sso"),
            Path::new("/h/.aws/sso/cache")
                .join(format!("{}.json", hex::encode(Sha1::digest(b"my-sso"))))
        );
        // … and SHA-1 itself checked against its FIPS 180 example ("abc").
        assert_eq!(
            cache_file(h, "abc").file_name().unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d.json"
        );
    }

    #[test]
    fn token_expiry_and_bad_cache_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.json");
        let now = clock::parse_iso8601("2026-01-01T00:00:00Z").unwrap();
        std::fs::write(
            &f,
            r#"{"accessToken":"tok","expiresAt":"2026-01-01T01:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(token(&f, now).unwrap(), "tok");
        std::fs::write(
            &f,
            r#"{"accessToken":"tok","expiresAt":"2025-12-31T23:00:00UTC"}"#,
        )
        .unwrap();
        assert!(token(&f, now).unwrap_err().contains("expired"));
        for bad in [
            "",
            "{",
            "[]",
            r#"{"accessToken":1}"#,
            r#"{"accessToken":"t","expiresAt":"soon"}"#,
        ] {
            std::fs::write(&f, bad).unwrap();
            assert!(token(&f, now).is_err(), "{bad}");
        }
        assert!(token(&d.path().join("none.json"), now).is_err());
        let k = parse_role_credentials(
            r#"{"roleCredentials":{"accessKeyId":"ASIA","secretAccessKey":"s","sessionToken":"t","expiration":1}}"#,
        )
        .unwrap();
        assert_eq!((k.key.as_str(), k.token.as_deref()), ("ASIA", Some("t")));
        assert!(parse_role_credentials(r#"{"roleCredentials":null}"#).is_err());
        assert!(parse_role_credentials("<html>").is_err());
    }
}
