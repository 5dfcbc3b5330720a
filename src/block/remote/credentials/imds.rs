//! Credentials of the machine the program runs on, as the AWS SDKs find them ("Container
//! credential provider" and "IMDS credential provider", AWS SDKs and Tools Reference Guide):
//!
//! - a container (ECS, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is a path on
//!   `http://169.254.170.2`, else `AWS_CONTAINER_CREDENTIALS_FULL_URI` a whole URL (plain HTTP
//!   only to a loopback address or the ECS/EKS agents' link-local ones), with the
//!   `Authorization` header from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
//! - EC2 instance metadata, IMDSv2 only: `PUT /latest/api/token` (header
//!   `X-aws-ec2-metadata-token-ttl-seconds`) gives a session token sent as
//!   `X-aws-ec2-metadata-token` to `GET /latest/meta-data/iam/security-credentials/` (the role
//!   name) and then `…/ROLE`. The base URL is `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else
//!   `http://169.254.169.254`; `AWS_EC2_METADATA_DISABLED=true` turns it off. Timeouts are short
//!   (1 s to connect, 2 s in all), and no answer means "not on EC2": no credentials, no error.
//!
//! Both answer JSON with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`.

use super::{Answer, Keys, Sources, agent, call};
use std::net::IpAddr;
use std::time::Duration;

const ECS_HOST: &str = "http://169.254.170.2";
const IMDS: &str = "http://169.254.169.254";

/// Whether a full container URI may be used: HTTPS, or HTTP to loopback / the ECS (169.254.170.2)
/// or EKS Pod Identity (169.254.170.23, fd00:ec2::23) agents.
fn allowed_full_uri(u: &url::Url) -> bool {
    if u.scheme() == "https" {
        return true;
    }
    let ip = match u.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        Some(url::Host::Domain(d)) => return u.scheme() == "http" && d == "localhost",
        None => return false,
    };
    u.scheme() == "http"
        && (ip.is_loopback()
            || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
                .iter()
                .any(|a| a.parse::<IpAddr>().is_ok_and(|a| a == ip)))
}

/// Container credentials, if the environment points at an endpoint.
pub(crate) fn container(src: &Sources) -> Result<Option<Keys>, String> {
    let url = match (
        src.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        src.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(rel), _) => format!("{ECS_HOST}/{}", rel.trim_start_matches('/')),
        (None, Some(full)) => full,
        (None, None) => return Ok(None),
    };
    let step = format!("container credentials at {url}");
    let u = url::Url::parse(&url).map_err(|e| format!("{step}: {e}"))?;
    if !allowed_full_uri(&u) {
        return Err(format!(
            "{step}: plain HTTP only to a loopback address or the ECS/EKS agent"
        ));
    }
    let token = match src.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(f) => Some(
            std::fs::read_to_string(&f)
                .map_err(|e| format!("{step}: reading the token file {f}: {e}"))?
                .trim()
                .to_string(),
        ),
        None => src.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    let mut req = agent(Duration::from_secs(2), Duration::from_secs(5)).get(&url);
    if let Some(t) = &token {
        req = req.set("Authorization", t);
    }
    match call(req, None) {
        Answer::Ok(body) => parse(&body).map(Some).map_err(|e| format!("{step}: {e}")),
        Answer::Status(code, _) => Err(format!("{step}: HTTP {code}")),
        Answer::Unreachable(e) => Err(format!("{step}: {e}")),
    }
}

/// EC2 instance-profile credentials; `Ok(None)` when there is no metadata service or no role.
pub(crate) fn instance(src: &Sources) -> Result<Option<Keys>, String> {
    if src
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let base = src
        .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|| IMDS.into());
    let base = base.trim_end_matches('/');
    let a = agent(Duration::from_secs(1), Duration::from_secs(2));
    let token_url = format!("{base}/latest/api/token");
    let req = a
        .put(&token_url)
        .set("X-aws-ec2-metadata-token-ttl-seconds", "21600");
    let token = match call(req, Some("")) {
        Answer::Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        // No metadata service (or one without IMDSv2): not an EC2 instance as far as we can use.
        _ => return Ok(None),
    };
    let list = format!("{base}/latest/meta-data/iam/security-credentials/");
    let get = |url: &str| call(a.get(url).set("X-aws-ec2-metadata-token", &token), None);
    let role = match get(&list) {
        Answer::Ok(body) => match body.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(r) => r.to_string(),
            None => return Ok(None),
        },
        Answer::Status(404, _) => return Ok(None),
        Answer::Status(code, _) => return Err(format!("instance metadata {list}: HTTP {code}")),
        Answer::Unreachable(e) => return Err(format!("instance metadata {list}: {e}")),
    };
    let url = format!("{list}{role}");
    match get(&url) {
        Answer::Ok(body) => parse(&body)
            .map(Some)
            .map_err(|e| format!("instance metadata {url}: {e}")),
        Answer::Status(code, _) => Err(format!("instance metadata {url}: HTTP {code}")),
        Answer::Unreachable(e) => Err(format!("instance metadata {url}: {e}")),
    }
}

/// `AccessKeyId`, `SecretAccessKey`, `Token` of a container or instance-metadata answer.
pub(crate) fn parse(body: &str) -> Result<Keys, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if let Some(code) = v["Code"].as_str().filter(|c| *c != "Success") {
        return Err(format!("the answer's Code is {code:?}"));
    }
    let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match (s("AccessKeyId"), s("SecretAccessKey")) {
        (Some(key), Some(secret)) => Ok(Keys {
            key,
            secret,
            token: s("Token"),
        }),
        _ => Err("the answer has no AccessKeyId and SecretAccessKey".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_rules_and_answers() {
        let ok = |s: &str| allowed_full_uri(&url::Url::parse(s).unwrap());
        assert!(
            ok("http://127.0.0.1:8080/creds") && ok("http://[::1]/x") && ok("http://localhost/x")
        );
        assert!(ok("http://169.254.170.23/v1/credentials") && ok("https://example.com/c"));
        assert!(!ok("http://example.com/c") && !ok("http://10.0.0.1/c") && !ok("ftp://127.0.0.1/"));
        let k =
            parse(r#"{"Code":"Success","AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t"}"#)
                .unwrap();
        assert_eq!((k.key.as_str(), k.token.as_deref()), ("ASIA", Some("t")));
        assert!(parse(r#"{"Code":"Failure","AccessKeyId":"A","SecretAccessKey":"s"}"#).is_err());
        assert!(parse("{}").is_err() && parse("nope").is_err() && parse("[]").is_err());
    }
}
