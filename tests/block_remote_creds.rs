//! S3 credentials found the way the AWS CLI finds them (#25): a fake AWS written here (one
//! loopback HTTP server playing STS, the SSO portal, a container credentials endpoint and the
//! EC2 instance metadata service, each checking what a real one checks: a well-formed SigV4
//! `Authorization` with the source's key id, the SSO bearer token, the container token, the
//! IMDSv2 session token) and moto's S3 server (PyPI `moto[server]`) holding the sample image.
//! For each provider, `guestfix inspect s3://…` runs with HOME in a temp dir (the real ~/.aws is
//! never read) and must succeed with the access key id that provider hands out (moto does not
//! check signatures, so `GUESTFIX_STATS=2` names the key used, and the fake records the calls).
//! A missing moto FAILS these tests unless GUESTFIX_ALLOW_SKIP=1.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the fake AWS received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn header(&self, k: &str) -> &str {
        self.headers.get(k).map(|s| s.as_str()).unwrap_or("")
    }
    fn form(&self, k: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    }
}

fn read_request(s: &mut TcpStream) -> Option<Seen> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `AWS4-HMAC-SHA256 Credential=KEY/YYYYMMDD/REGION/sts/aws4_request,
/// SignedHeaders=…;host;…;x-amz-date…, Signature=<64 hex>` with `KEY` the expected one.
fn well_formed_sigv4(auth: &str, key: &str, amz_date: &str) -> bool {
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=") else {
        return false;
    };
    let f: Vec<&str> = rest.split(", ").collect();
    let [cred, signed, sig] = f[..] else {
        return false;
    };
    let c: Vec<&str> = cred.split('/').collect();
    let signed: Vec<&str> = signed
        .strip_prefix("SignedHeaders=")
        .unwrap_or("")
        .split(';')
        .collect();
    let sig = sig.strip_prefix("Signature=").unwrap_or("");
    c.len() == 5
        && c[0] == key
        && amz_date.len() == 16
        && c[1] == &amz_date[..8]
        && c[2] == "eu-west-1"
        && c[3] == "sts"
        && c[4] == "aws4_request"
        && signed.contains(&"host")
        && signed.contains(&"x-amz-date")
        && signed.windows(2).all(|w| w[0] < w[1])
        && sig.len() == 64
        && sig
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn xml_credentials(key: &str) -> String {
    format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-{key}</SecretAccessKey>\
         <SessionToken>token-{key}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
         </Credentials></AssumeRoleResult></AssumeRoleResponse>"
    )
}

fn json_credentials(key: &str) -> String {
    format!(
        "{{\"Code\":\"Success\",\"AccessKeyId\":\"{key}\",\"SecretAccessKey\":\"secret-{key}\",\
         \"Token\":\"token-{key}\",\"Expiration\":\"2099-01-01T00:00:00Z\"}}"
    )
}

const DENIED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
    <Message>not authorized to perform sts:AssumeRole</Message></Error></ErrorResponse>";

/// The key id that may sign for each role, and the key id the role gives.
const ROLES: &[(&str, &str, &str)] = &[
    (
        "arn:aws:iam::111122223333:role/one",
        "AKIDSOURCE",
        "ASIAONE",
    ),
    ("arn:aws:iam::111122223333:role/two", "ASIAONE", "ASIATWO"),
    (
        "arn:aws:iam::111122223333:role/four",
        "ASIAIMDS",
        "ASIAFOUR",
    ),
];

/// The fake's answer: status and body.
fn answer(q: &Seen) -> (u16, String) {
    let path = q.target.split('?').next().unwrap_or("");
    match (q.method.as_str(), path) {
        ("POST", "/sts/") => sts(q),
        ("GET", "/federation/credentials") => {
            let want = "account_id=111122223333&role_name=Reader";
            if q.header("x-amz-sso_bearer_token") != "sso-access-token" {
                (
                    401,
                    "{\"message\":\"Session token not found or invalid\"}".into(),
                )
            } else if !q.target.ends_with(want) {
                (403, "{\"message\":\"No access\"}".into())
            } else {
                let c = "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSO\",\"secretAccessKey\":\"s\",\
                         \"sessionToken\":\"t\",\"expiration\":4070908800000}}";
                (200, c.into())
            }
        }
        ("GET", "/container/creds") if q.header("authorization") == "container-token" => {
            (200, json_credentials("ASIACONTAINER"))
        }
        ("PUT", "/latest/api/token")
            if !q.header("x-aws-ec2-metadata-token-ttl-seconds").is_empty() =>
        {
            (200, "imds-session-token".into())
        }
        ("GET", p) if p.starts_with("/latest/meta-data/iam/security-credentials/") => {
            if q.header("x-aws-ec2-metadata-token") != "imds-session-token" {
                return (401, String::new());
            }
            match &p[43..] {
                "" => (200, "instance-role\n".into()),
                "instance-role" => (200, json_credentials("ASIAIMDS")),
                _ => (404, String::new()),
            }
        }
        _ => (401, "unexpected request".into()),
    }
}

fn sts(q: &Seen) -> (u16, String) {
    let action = q.form("Action").unwrap_or_default();
    let role = q.form("RoleArn").unwrap_or_default();
    if q.form("Version").as_deref() != Some("2011-06-15") || q.form("RoleSessionName").is_none() {
        return (400, DENIED.into());
    }
    if action == "AssumeRoleWithWebIdentity" {
        let ok = q.form("WebIdentityToken").as_deref() == Some("oidc-token")
            && role == "arn:aws:iam::111122223333:role/web"
            && !q.headers.contains_key("authorization");
        return if ok {
            (
                200,
                xml_credentials("ASIAWEB").replace("AssumeRole", "AssumeRoleWithWebIdentity"),
            )
        } else {
            (403, DENIED.into())
        };
    }
    let signer = ROLES.iter().find(|(arn, _, _)| *arn == role);
    match signer {
        Some((_, key, gives))
            if action == "AssumeRole"
                && well_formed_sigv4(q.header("authorization"), key, q.header("x-amz-date")) =>
        {
            (200, xml_credentials(gives))
        }
        _ => (403, DENIED.into()),
    }
}

/// The fake AWS on a loopback port, recording every request.
fn fake_aws() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let log = log2.clone();
            std::thread::spawn(move || {
                let Some(q) = read_request(&mut s) else {
                    return;
                };
                let (status, body) = answer(&q);
                log.lock().unwrap().push(q);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (port, log)
}

/// moto's S3 server with the sample image as `s3://images/sample.qcow2`.
fn moto() -> Option<common::Moto> {
    common::moto(&[("sample.qcow2", Path::new("test-images/sample.qcow2"))])
}

/// Every variable of the AWS CLI's that could reach guestfix from the test's own environment.
const AWS_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
];

/// One environment variable.
type Var<'a> = (&'a str, &'a str);

/// `guestfix inspect --json --quick s3://images/sample.qcow2` with `env` over `base`.
fn inspect(base: &[(String, String)], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_guestfix"));
    c.args(["inspect", "--json", "--quick", "s3://images/sample.qcow2"]);
    for v in AWS_VARS {
        c.env_remove(v);
    }
    c.envs(base.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c.envs(env.iter().copied());
    let o = c.env("GUESTFIX_STATS", "2").output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn config(home: &Path) -> String {
    let h = home.display();
    format!(
        "[profile base]\naws_access_key_id = AKIDSOURCE\naws_secret_access_key = source-secret\n\
         [profile role]\nrole_arn = arn:aws:iam::111122223333:role/one\nsource_profile = base\n\
         external_id = ext-1\nduration_seconds = 900\nrole_session_name = sess-one\n\
         [profile chained]\nrole_arn = arn:aws:iam::111122223333:role/two\nsource_profile = role\n\
         [profile denied]\nrole_arn = arn:aws:iam::111122223333:role/denied\nsource_profile = base\n\
         [profile imdsrole]\nrole_arn = arn:aws:iam::111122223333:role/four\n\
         credential_source = Ec2InstanceMetadata\n\
         [profile web]\nrole_arn = arn:aws:iam::111122223333:role/web\n\
         web_identity_token_file = {h}/oidc\n\
         [profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
         [profile oldsso]\nsso_start_url = https://old.awsapps.com/start\nsso_region = eu-west-1\n\
         sso_account_id = 111122223333\nsso_role_name = Reader\n\
         [profile proc]\ncredential_process = {h}/creds.sh --flag\n\
         [profile failproc]\ncredential_process = {h}/creds.sh --fail\n"
    )
}

fn write_home(home: &Path) {
    std::fs::create_dir_all(home.join(".aws/sso/cache")).unwrap();
    std::fs::write(home.join(".aws/config"), config(home)).unwrap();
    std::fs::write(home.join("oidc"), "oidc-token\n").unwrap();
    std::fs::write(home.join("container-token"), "container-token").unwrap();
    // printf 'corp' | sha1sum, and the legacy profile's start URL likewise.
    std::fs::write(
        home.join(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        r#"{"startUrl":"https://corp.awsapps.com/start","region":"eu-west-1","accessToken":"sso-access-token","expiresAt":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let old = home.join(format!(
        ".aws/sso/cache/{}.json",
        sha1_hex("https://old.awsapps.com/start")
    ));
    std::fs::write(
        old,
        r#"{"accessToken":"sso-access-token","expiresAt":"2020-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let script = home.join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = --fail ] && { echo 'token expired, log in again' >&2; exit 7; }\n\
         echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"s\", \
         \"SessionToken\": \"t\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// SHA-1 by `sha1sum`, not by the crate guestfix uses.
fn sha1_hex(s: &str) -> String {
    let mut c = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8(o.stdout).unwrap()[..40].to_string()
}

/// An environment (owned), the key id it must sign with, and where that key comes from.
type Case = (Vec<(String, String)>, &'static str, &'static str);

/// Environments (`NAME=VALUE` words, `{h}` the temp HOME, `{fake}` the fake AWS), each with the
/// key id it must sign with and where that key comes from.
const CASES: &[(&str, &str, &str)] = &[
    (
        "AWS_ACCESS_KEY_ID=AKIDENV AWS_SECRET_ACCESS_KEY=s AWS_PROFILE=role",
        "AKIDENV",
        "environment",
    ),
    (
        "AWS_PROFILE=role",
        "ASIAONE",
        "profile \"role\": AssumeRole",
    ),
    (
        "AWS_PROFILE=chained",
        "ASIATWO",
        "profile \"chained\": AssumeRole",
    ),
    (
        "AWS_PROFILE=web",
        "ASIAWEB",
        "profile \"web\": AssumeRoleWithWebIdentity",
    ),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE={h}/oidc AWS_ROLE_ARN=arn:aws:iam::111122223333:role/web",
        "ASIAWEB",
        "profile \"default\": AssumeRoleWithWebIdentity",
    ),
    ("AWS_PROFILE=sso", "ASIASSO", "profile \"sso\": SSO"),
    (
        "AWS_PROFILE=base",
        "AKIDSOURCE",
        "profile \"base\": static keys",
    ),
    (
        "AWS_PROFILE=proc",
        "AKIDPROCESS",
        "profile \"proc\": credential_process",
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI={fake}/container/creds \
         AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={h}/container-token",
        "ASIACONTAINER",
        "container credentials endpoint",
    ),
    (
        "AWS_EC2_METADATA_DISABLED= AWS_EC2_METADATA_SERVICE_ENDPOINT={fake}",
        "ASIAIMDS",
        "EC2 instance metadata",
    ),
    (
        "AWS_PROFILE=imdsrole AWS_EC2_METADATA_DISABLED= AWS_EC2_METADATA_SERVICE_ENDPOINT={fake}",
        "ASIAFOUR",
        "profile \"imdsrole\": AssumeRole",
    ),
];

fn provider_cases(h: &str, fake: &str) -> Vec<Case> {
    CASES
        .iter()
        .map(|(env, key, from)| {
            let env = env
                .split_whitespace()
                .map(|w| {
                    let (k, v) = w.split_once('=').unwrap();
                    (k.to_string(), v.replace("{h}", h).replace("{fake}", fake))
                })
                .collect();
            (env, *key, *from)
        })
        .collect()
}

/// moto, the fake AWS, a HOME with the profiles, and the environment every run shares.
struct World {
    _moto: common::Moto,
    _home: tempfile::TempDir,
    log: Arc<Mutex<Vec<Seen>>>,
    fake: String,
    base: Vec<(String, String)>,
}

impl World {
    fn home(&self) -> &str {
        self._home.path().to_str().unwrap()
    }
}

fn world() -> Option<World> {
    let m = moto()?;
    let (port, log) = fake_aws();
    let home = tempfile::tempdir().unwrap();
    write_home(home.path());
    let fake = format!("http://127.0.0.1:{port}");
    let base = [
        ("HOME", home.path().to_str().unwrap().to_string()),
        ("AWS_REGION", "eu-west-1".into()),
        (
            "AWS_ENDPOINT_URL_S3",
            format!("http://127.0.0.1:{}", m.port),
        ),
        ("AWS_ENDPOINT_URL_STS", format!("{fake}/sts/")),
        ("AWS_ENDPOINT_URL_SSO", fake.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Some(World {
        _moto: m,
        _home: home,
        log,
        fake,
        base,
    })
}

#[test]
fn each_provider_of_the_chain_reads_s3_with_its_own_keys() {
    let Some(w) = world() else { return };
    let (h, fake, base, log) = (w.home(), &w.fake, &w.base, &w.log);
    let cases = provider_cases(h, fake);
    for (env, key, from) in &cases {
        let env: Vec<Var> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, out, err) = inspect(base, &env);
        assert_eq!(code, 0, "{env:?}: {err}");
        assert!(out.contains("\"format\": \"qcow2\""), "{env:?}: {out}");
        let want = format!("access key {key} from {from}");
        assert!(err.contains(&want), "{env:?}: wanted {want:?} in {err}");
    }
    let seen = log.lock().unwrap().clone();
    let sts_call = |role: &str| {
        seen.iter()
            .find(|q| q.form("RoleArn").as_deref() == Some(role))
            .unwrap_or_else(|| panic!("no STS call for {role}: {seen:?}"))
            .clone()
    };
    // The first role: signed by the base profile's keys, with the profile's parameters.
    let one = sts_call("arn:aws:iam::111122223333:role/one");
    assert!(
        one.header("authorization")
            .contains("Credential=AKIDSOURCE/")
    );
    assert_eq!(one.form("ExternalId").as_deref(), Some("ext-1"));
    assert_eq!(one.form("DurationSeconds").as_deref(), Some("900"));
    assert_eq!(one.form("RoleSessionName").as_deref(), Some("sess-one"));
    assert!(!one.headers.contains_key("x-amz-security-token"));
    // The chained role: signed by the first role's temporary keys and session token.
    let two = sts_call("arn:aws:iam::111122223333:role/two");
    assert_eq!(two.header("x-amz-security-token"), "token-ASIAONE");
    assert!(
        two.header("authorization")
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,")
    );
    // IMDSv2: the token was asked for before the credentials, by PUT.
    let imds: Vec<&Seen> = seen
        .iter()
        .filter(|q| q.target.starts_with("/latest/"))
        .collect();
    assert!(imds.len() >= 3 && imds[0].method == "PUT", "{imds:?}");
}

#[test]
fn failing_providers_are_errors_naming_the_profile_and_the_step() {
    let Some(w) = world() else { return };
    let base = &w.base;
    let closed = "http://127.0.0.1:1/";
    let cases: &[(&[Var], &[&str])] = &[
        (
            &[("AWS_PROFILE", "denied")],
            &["profile \"denied\": AssumeRole", "HTTP 403", "AccessDenied"],
        ),
        (
            &[("AWS_PROFILE", "oldsso")],
            &[
                "profile \"oldsso\": SSO",
                "expired",
                "aws sso login --profile oldsso",
            ],
        ),
        (
            &[("AWS_PROFILE", "failproc")],
            &[
                "profile \"failproc\": credential_process",
                "token expired, log in again",
                "7",
            ],
        ),
        (
            &[("AWS_PROFILE", "role"), ("AWS_ENDPOINT_URL_STS", closed)],
            &["profile \"role\": AssumeRole at http://127.0.0.1:1/"],
        ),
        (
            &[("AWS_PROFILE", "imdsrole")],
            &["profile \"imdsrole\": its source (credential_source) has no credentials"],
        ),
    ];
    for (env, wants) in cases {
        let t0 = Instant::now();
        let (code, _, err) = inspect(base, env);
        assert_eq!(code, 2, "{env:?}: {err}");
        assert!(err.contains("s3://images/sample.qcow2"), "{env:?}: {err}");
        for w in *wants {
            assert!(err.contains(w), "{env:?}: wanted {w:?} in {err}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{env:?} took {:?}",
            t0.elapsed()
        );
    }
    // Nothing anywhere (instance metadata off): anonymous requests, as before (which moto's
    // private bucket refuses).
    let anonymous = |err: &str| {
        err.contains("no AWS credentials found, anonymous requests") && err.contains("HTTP 403")
    };
    let (code, _, err) = inspect(base, &[("AWS_PROFILE", "nosuch")]);
    assert!(code == 2 && anonymous(&err), "{err}");
    // An unreachable instance metadata service is "not on EC2", within its short timeouts.
    let t0 = Instant::now();
    let (code, _, err) = inspect(
        base,
        &[
            ("AWS_EC2_METADATA_DISABLED", ""),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed),
        ],
    );
    assert!(code == 2 && anonymous(&err), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(20));
}
