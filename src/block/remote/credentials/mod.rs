//! AWS settings found the way the AWS CLI finds them.
//!
//! The profile is `AWS_PROFILE` (else `AWS_DEFAULT_PROFILE`, else `default`), read from
//! `~/.aws/config` (`AWS_CONFIG_FILE`, sections `[profile NAME]`, `[default]`,
//! `[sso-session NAME]`) with `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`, sections
//! `[NAME]`) over it. The region is `AWS_REGION`, `AWS_DEFAULT_REGION`, else the profile's
//! `region`; the S3 endpoint override `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else the
//! profile's `endpoint_url`.
//!
//! Credentials come from the first of these that has them, in the order of the AWS SDKs'
//! "standardized credential providers" (AWS SDKs and Tools Reference Guide) and botocore:
//!
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. assume role: a profile with `role_arn` and `source_profile` (resolved in turn, at most
//!    [`chain::MAX_CHAIN`] profiles, loops refused) or `credential_source` (`Environment`,
//!    `Ec2InstanceMetadata`, `EcsContainer`) calls STS `AssumeRole`, signed with SigV4
//!    ([`sts`], [`sigv4`]); with `web_identity_token_file` (or `AWS_WEB_IDENTITY_TOKEN_FILE`,
//!    `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`) `AssumeRoleWithWebIdentity`;
//! 3. IAM Identity Center (SSO): `sso_account_id`, `sso_role_name` and an `sso_session` (or the
//!    legacy `sso_start_url`, `sso_region`): the token `aws sso login` cached under
//!    `~/.aws/sso/cache` is exchanged at the SSO portal for role credentials ([`sso`]);
//! 4. the profile's static `aws_access_key_id` / `aws_secret_access_key` / `aws_session_token`;
//! 5. the profile's `credential_process` ([`process`]);
//! 6. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI` (ECS, EKS Pod Identity) ([`imds`]);
//! 7. EC2 instance metadata (IMDSv2), unless `AWS_EC2_METADATA_DISABLED=true` ([`imds`]).
//!
//! Nothing found means anonymous requests. A provider that applies but fails (STS refuses, the
//! SSO token expired, the process exits non-zero) is an error naming the profile and the step,
//! as with the AWS CLI; every network step has a timeout. Credentials are resolved once per run
//! and not refreshed. `GUESTFIX_STATS=2` names the access key id used and where it came from.

mod chain;
mod clock;
mod imds;
mod process;
mod sigv4;
mod sso;
mod sts;

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
    /// Where the keys came from (`environment`, `profile "dev": AssumeRole …`).
    pub source: Option<String>,
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

/// Everything the chain reads: the environment (`var`) and the two profile files.
pub(crate) struct Sources<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub credentials: &'a Sections,
    pub config: &'a Sections,
}

/// One profile: its config-file section with its credentials-file section over it.
pub(crate) struct Profile<'a> {
    pub name: String,
    conf: Option<&'a HashMap<String, String>>,
    cred: Option<&'a HashMap<String, String>>,
}

impl Profile<'_> {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.cred
            .and_then(|s| s.get(k))
            .or_else(|| self.conf.and_then(|s| s.get(k)))
            .map(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Static keys: the credentials file's, else the config file's.
    pub fn static_keys(&self) -> Option<Keys> {
        keys_of(self.cred).or_else(|| keys_of(self.conf))
    }
}

impl<'a> Sources<'a> {
    pub fn var(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }

    pub fn profile(&self, name: &str) -> Profile<'a> {
        let conf = self
            .config
            .get(&format!("profile {name}"))
            .or_else(|| self.config.get(name));
        Profile {
            name: name.to_string(),
            conf,
            cred: self.credentials.get(name),
        }
    }

    /// A `[sso-session NAME]` section of the config file.
    pub fn sso_session(&self, name: &str) -> Option<&'a HashMap<String, String>> {
        self.config.get(&format!("sso-session {name}"))
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// The endpoint override of one service (`AWS_ENDPOINT_URL_<ID>`, `AWS_ENDPOINT_URL`, the
    /// profile's `endpoint_url`), per the SDKs' "service-specific endpoints" setting.
    pub fn endpoint(&self, id: &str, p: &Profile) -> Option<String> {
        self.var(&format!("AWS_ENDPOINT_URL_{id}"))
            .or_else(|| self.var("AWS_ENDPOINT_URL"))
            .or_else(|| p.get("endpoint_url").map(str::to_string))
    }
}

fn keys_of(sec: Option<&HashMap<String, String>>) -> Option<Keys> {
    let sec = sec?;
    let get = |k: &str| sec.get(k).filter(|v| !v.is_empty()).cloned();
    Some(Keys {
        key: get("aws_access_key_id")?,
        secret: get("aws_secret_access_key")?,
        token: get("aws_session_token"),
    })
}

/// Combine the environment (`var`) with the two profile files' contents; an error is the reason
/// a credential provider that applies failed.
pub(crate) fn settings_from(
    var: &dyn Fn(&str) -> Option<String>,
    credentials: &Sections,
    config: &Sections,
) -> Result<AwsSettings, String> {
    let src = Sources {
        var,
        credentials,
        config,
    };
    let name = src
        .var("AWS_PROFILE")
        .or_else(|| src.var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let p = src.profile(&name);
    let region = src
        .var("AWS_REGION")
        .or_else(|| src.var("AWS_DEFAULT_REGION"))
        .or_else(|| p.get("region").map(str::to_string));
    let endpoint = src.endpoint("S3", &p);
    let found = chain::resolve(&src, &name, region.as_deref().unwrap_or("us-east-1"))?;
    let (keys, source) = match found {
        Some(f) => (Some(f.keys), Some(f.source)),
        None => (None, None),
    };
    Ok(AwsSettings {
        keys,
        region,
        endpoint,
        source,
    })
}

/// The settings of this process's environment and the user's profile files, resolved once per
/// run (every `s3://` image of a backing chain shares them).
pub(crate) fn settings() -> Result<AwsSettings, String> {
    static ONCE: std::sync::OnceLock<Result<AwsSettings, String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
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
    })
    .clone()
}

/// What one HTTP exchange of a credential provider came to.
pub(crate) enum Answer {
    /// 2xx, with the body (at most 1 MiB).
    Ok(String),
    /// Another status, with the body.
    Status(u16, String),
    /// No answer: connection refused, timed out, unresolvable host.
    Unreachable(String),
}

/// An agent for one provider: `connect` to establish the connection, `total` for the whole
/// exchange; redirects are not followed (tokens are not sent elsewhere).
pub(crate) fn agent(connect: std::time::Duration, total: std::time::Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout(total)
        .redirects(0)
        .user_agent(concat!("guestfix/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Send `req` (with `body` for a POST/PUT) and read the answer.
pub(crate) fn call(req: ureq::Request, body: Option<&str>) -> Answer {
    let r = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let text = |resp: ureq::Response| {
        let mut s = String::new();
        let r = std::io::Read::read_to_string(
            &mut std::io::Read::take(resp.into_reader(), 1 << 20),
            &mut s,
        );
        r.map(|_| s)
    };
    match r {
        Ok(resp) => match text(resp) {
            Ok(s) => Answer::Ok(s),
            Err(e) => Answer::Unreachable(format!("reading the answer: {e}")),
        },
        Err(ureq::Error::Status(code, resp)) => {
            Answer::Status(code, text(resp).unwrap_or_default())
        }
        Err(ureq::Error::Transport(t)) => Answer::Unreachable(t.to_string()),
    }
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
        let s = settings_from(&none, &creds, &conf).unwrap();
        assert_eq!(s.keys.as_ref().unwrap().key, "AKD");
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint, None);

        let work = |n: &str| (n == "AWS_PROFILE").then(|| "work".to_string());
        let s = settings_from(&work, &creds, &conf).unwrap();
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
        let s = settings_from(&envk, &creds, &conf).unwrap();
        assert_eq!(s.keys.unwrap().key, "AKE");
        assert_eq!(s.region.as_deref(), Some("ap-south-1"));
        assert_eq!(s.endpoint.as_deref(), Some("http://s3.local"));
    }

    /// The chain for `profile` with `vars` (and no instance metadata, no real endpoints: STS and
    /// the container endpoint are a closed loopback port, so a provider that is asked fails
    /// with its own step named).
    fn chain(
        profile: &str,
        vars: &[(&str, &str)],
        creds: &str,
        conf: &str,
    ) -> Result<AwsSettings, String> {
        let mut v: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.insert("AWS_PROFILE".into(), profile.into());
        v.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        v.insert("AWS_ENDPOINT_URL_STS".into(), "http://127.0.0.1:1/".into());
        v.insert("AWS_ENDPOINT_URL_SSO".into(), "http://127.0.0.1:1".into());
        v.insert("HOME".into(), "/nonexistent-guestfix-home".into());
        let var = move |n: &str| v.get(n).cloned();
        settings_from(&var, &parse_ini(creds), &parse_ini(conf))
    }

    const STATIC: &str = "aws_access_key_id = AKSTATIC\naws_secret_access_key = s\n";

    #[test]
    fn providers_are_asked_in_the_aws_cli_order() {
        let key = |r: Result<AwsSettings, String>| r.unwrap().keys.map(|k| k.key);
        let conf = format!(
            "[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n{STATIC}\
             [profile base]\n{STATIC}\
             [profile sso]\nsso_start_url = https://x.awsapps.com/start\nsso_region = eu-west-1\n\
             sso_account_id = 1\nsso_role_name = R\n{STATIC}\
             [profile proc]\ncredential_process = echo '{{\"Version\":1,\"AccessKeyId\":\"AKPROC\",\"SecretAccessKey\":\"s\"}}'\n\
             [profile both]\n{STATIC}credential_process = exit 1\n\
             [profile empty]\nregion = eu-west-1\n"
        );
        let envk = [
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        // 1. The environment's keys before any profile.
        assert_eq!(key(chain("role", &envk, "", &conf)), Some("AKENV".into()));
        // 2. A role profile is assumed even though it has static keys too.
        let e = chain("role", &[], "", &conf).unwrap_err();
        assert!(
            e.contains("\"role\": AssumeRole at http://127.0.0.1:1/"),
            "{e}"
        );
        // Web identity from the environment before the profile's static keys.
        let wi = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
            ("AWS_ROLE_ARN", "arn:r"),
        ];
        let e = chain("base", &wi, "", &conf).unwrap_err();
        assert!(
            e.contains("AssumeRoleWithWebIdentity: reading the token file"),
            "{e}"
        );
        // 3. SSO before static keys: no cached token is an error that says how to log in.
        let e = chain("sso", &[], "", &conf).unwrap_err();
        assert!(
            e.contains("\"sso\": SSO") && e.contains("aws sso login --profile sso"),
            "{e}"
        );
        // 4. Static keys (the credentials file's over the config file's) before 5. the process.
        assert_eq!(key(chain("both", &[], "", &conf)), Some("AKSTATIC".into()));
        let creds = "[both]\naws_access_key_id = AKCRED\naws_secret_access_key = s\n";
        assert_eq!(key(chain("both", &[], creds, &conf)), Some("AKCRED".into()));
        assert_eq!(key(chain("proc", &[], "", &conf)), Some("AKPROC".into()));
        // 6. The container endpoint only when the profile has nothing …
        let cont = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:1/creds",
        )];
        assert_eq!(
            key(chain("base", &cont, "", &conf)),
            Some("AKSTATIC".into())
        );
        let e = chain("empty", &cont, "", &conf).unwrap_err();
        assert!(
            e.contains("container credentials at http://127.0.0.1:1/creds"),
            "{e}"
        );
        let cont = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://example.com/creds",
        )];
        assert!(
            chain("empty", &cont, "", &conf)
                .unwrap_err()
                .contains("loopback")
        );
        // … 7. instance metadata (disabled here), and then nothing: anonymous.
        let s = chain("empty", &[], "", &conf).unwrap();
        assert_eq!((s.keys, s.region.as_deref()), (None, Some("eu-west-1")));
        assert_eq!(key(chain("missing", &[], "", "")), None);
    }

    #[test]
    fn source_profile_loops_and_long_chains_are_refused() {
        let role = |name: &str, src: &str| {
            format!(
                "[profile {name}]\nrole_arn = arn:aws:iam::1:role/{name}\nsource_profile = {src}\n"
            )
        };
        let conf = role("a", "b") + &role("b", "c") + &role("c", "a");
        let e = chain("a", &[], "", &conf).unwrap_err();
        assert!(e.contains("source_profile loop: a -> b -> c -> a"), "{e}");
        let e = chain("self", &[], "", &role("self", "self")).unwrap_err();
        assert!(e.contains("loop: self -> self"), "{e}");
        // A profile that is its own source with static keys is the AWS CLI's allowed case.
        let conf = role("self", "self") + STATIC;
        let e = chain("self", &[], "", &conf).unwrap_err();
        assert!(e.contains("\"self\": AssumeRole at"), "{e}");
        let conf: String = (0..12)
            .map(|i| role(&format!("p{i}"), &format!("p{}", i + 1)))
            .collect();
        let e = chain("p0", &[], "", &conf).unwrap_err();
        assert!(
            e.contains(&format!("longer than {} profiles", chain::MAX_CHAIN)),
            "{e}"
        );
        // A source without credentials, a bad credential_source, a role without any source.
        let e = chain("a", &[], "", &role("a", "nothing")).unwrap_err();
        assert!(
            e.contains("(source_profile \"nothing\") has no credentials"),
            "{e}"
        );
        let conf = "[profile r]\nrole_arn = x\ncredential_source = Elsewhere\n";
        assert!(chain("r", &[], "", conf).unwrap_err().contains("Elsewhere"));
        let conf = "[profile r]\nrole_arn = x\ncredential_source = Environment\n";
        assert!(
            chain("r", &[], "", conf)
                .unwrap_err()
                .contains("has no credentials")
        );
        let e = chain("r", &[], "", "[profile r]\nrole_arn = x\n").unwrap_err();
        assert!(e.contains("needs source_profile"), "{e}");
    }
}
