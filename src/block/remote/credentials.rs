//! AWS settings found the way the AWS CLI finds them: credentials from `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, else from the profile (`AWS_PROFILE`, else
//! `default`) in `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config`
//! (`AWS_CONFIG_FILE`); the region from `AWS_REGION`, `AWS_DEFAULT_REGION`, else the profile's
//! `region`; an endpoint override from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else the
//! profile's `endpoint_url`. Only static keys: no SSO, no assume-role, no instance metadata.

use std::collections::HashMap;
use std::path::PathBuf;

/// Static credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
}

/// What the environment and the profile files say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AwsSettings {
    pub keys: Option<Keys>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

type Sections = HashMap<String, HashMap<String, String>>;

/// Parse an AWS ini file: `[section]`, `key = value`, `#`/`;` comments; indented lines (nested
/// service settings) are skipped.
pub(crate) fn parse_ini(text: &str) -> Sections {
    let mut out: Sections = HashMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let l = line.trim();
        if l.is_empty() || l.starts_with(['#', ';']) {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let name = s.trim().to_string();
            out.entry(name.clone()).or_default();
            cur = Some(name);
        } else if let (Some(c), Some((k, v))) = (&cur, l.split_once('=')) {
            if let Some(sec) = out.get_mut(c) {
                sec.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read(path: Option<PathBuf>) -> Sections {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| parse_ini(&t))
        .unwrap_or_default()
}

fn keys_of(sec: Option<&HashMap<String, String>>) -> Option<Keys> {
    let sec = sec?;
    Some(Keys {
        key: sec.get("aws_access_key_id")?.clone(),
        secret: sec.get("aws_secret_access_key")?.clone(),
        token: sec.get("aws_session_token").cloned(),
    })
}

/// Combine the environment (`var`) with the two profile files' contents.
pub(crate) fn settings_from(
    var: &dyn Fn(&str) -> Option<String>,
    credentials: &Sections,
    config: &Sections,
) -> AwsSettings {
    let profile = var("AWS_PROFILE")
        .or_else(|| var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let cred_sec = credentials.get(&profile);
    let conf_sec = config
        .get(&format!("profile {profile}"))
        .or_else(|| config.get(&profile));
    let env_keys = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(Keys {
            key,
            secret,
            token: var("AWS_SESSION_TOKEN"),
        }),
        _ => None,
    };
    AwsSettings {
        keys: env_keys
            .or_else(|| keys_of(cred_sec))
            .or_else(|| keys_of(conf_sec)),
        region: var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| conf_sec.and_then(|s| s.get("region").cloned())),
        endpoint: var("AWS_ENDPOINT_URL_S3")
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .or_else(|| conf_sec.and_then(|s| s.get("endpoint_url").cloned())),
    }
}

/// The settings of this process's environment and the user's profile files.
pub(crate) fn settings() -> AwsSettings {
    let home = env("HOME").map(PathBuf::from);
    let aws = |f: &str| home.as_ref().map(|h| h.join(".aws").join(f));
    let credentials = read(
        env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| aws("credentials")),
    );
    let config = read(
        env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| aws("config")),
    );
    settings_from(&env, &credentials, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_beats_profile_and_profile_files_are_read() {
        let creds = parse_ini(
            "[default]\naws_access_key_id = AKD\naws_secret_access_key = SD\n\n[work]\n# c\naws_access_key_id=AKW\naws_secret_access_key=SW\naws_session_token=TW\n",
        );
        let conf = parse_ini(
            "[default]\nregion = eu-west-1\n[profile work]\nregion = us-west-2\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n",
        );
        let none = |_: &str| None;
        let s = settings_from(&none, &creds, &conf);
        assert_eq!(s.keys.as_ref().unwrap().key, "AKD");
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint, None);

        let work = |n: &str| (n == "AWS_PROFILE").then(|| "work".to_string());
        let s = settings_from(&work, &creds, &conf);
        let k = s.keys.unwrap();
        assert_eq!((k.key.as_str(), k.token.as_deref()), ("AKW", Some("TW")));
        assert_eq!(s.region.as_deref(), Some("us-west-2"));
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));

        let envk = |n: &str| match n {
            "AWS_PROFILE" => Some("work".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("AKE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("SE".into()),
            "AWS_REGION" => Some("ap-south-1".into()),
            "AWS_ENDPOINT_URL_S3" => Some("http://s3.local".into()),
            _ => None,
        };
        let s = settings_from(&envk, &creds, &conf);
        assert_eq!(s.keys.unwrap().key, "AKE");
        assert_eq!(s.region.as_deref(), Some("ap-south-1"));
        assert_eq!(s.endpoint.as_deref(), Some("http://s3.local"));
    }
}
