//! AWS STS over its Query API (STS API Reference): `AssumeRole`, a form POST signed with SigV4
//! by the source credentials, and `AssumeRoleWithWebIdentity`, unsigned (the token file's OIDC
//! token is the proof). The endpoint is `https://sts.{region}.amazonaws.com/` unless
//! `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` or the profile's `endpoint_url` says otherwise.
//! Both answer XML with `Credentials/{AccessKeyId,SecretAccessKey,SessionToken}`; an error
//! answer's `Error/{Code,Message}` is reported.

use super::{Answer, Keys, Profile, Sources, agent, call, clock, sigv4};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::time::Duration;

const CONNECT: Duration = Duration::from_secs(5);
const TOTAL: Duration = Duration::from_secs(30);

fn endpoint(src: &Sources, p: &Profile, region: &str) -> String {
    src.endpoint("STS", p)
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com/"))
}

/// `role_session_name` (or `AWS_ROLE_SESSION_NAME` where it applies), else one made up as
/// botocore does.
fn session_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("guestfix-session-{}", clock::now()))
}

/// STS `AssumeRole` for the role profile `p` signed with `source`.
pub(crate) fn assume_role(
    src: &Sources,
    p: &Profile,
    region: &str,
    source: &Keys,
) -> Result<Keys, String> {
    let step = format!("profile {:?}: AssumeRole", p.name);
    let role = p.get("role_arn").unwrap_or_default();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role)
        .append_pair(
            "RoleSessionName",
            &session_name(p.get("role_session_name").map(Into::into)),
        );
    if let Some(x) = p.get("external_id") {
        form.append_pair("ExternalId", x);
    }
    if let Some(d) = p.get("duration_seconds") {
        let d: u32 = d
            .parse()
            .map_err(|_| format!("{step}: duration_seconds {d:?} is not a number"))?;
        form.append_pair("DurationSeconds", &d.to_string());
    }
    let body = form.finish();
    let url = endpoint(src, p, region);
    let req = signed_post(&url, region, source, &body).map_err(|e| format!("{step}: {e}"))?;
    answer(&step, &url, call(req, Some(&body)))
}

/// A POST of `body` to `url` with SigV4 headers for service `sts`.
fn signed_post(url: &str, region: &str, keys: &Keys, body: &str) -> Result<ureq::Request, String> {
    let u = url::Url::parse(url).map_err(|e| format!("STS endpoint {url:?}: {e}"))?;
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(port)) => format!("{h}:{port}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(format!("STS endpoint {url:?} has no host")),
    };
    let date = clock::amz_date(clock::now());
    let ctype = "application/x-www-form-urlencoded; charset=utf-8";
    let mut headers = vec![
        ("content-type", ctype),
        ("host", host.as_str()),
        ("x-amz-date", date.as_str()),
    ];
    if let Some(t) = &keys.token {
        headers.push(("x-amz-security-token", t.as_str()));
    }
    let auth = sigv4::authorization(
        keys,
        &sigv4::Scope {
            region,
            service: "sts",
            amz_date: &date,
        },
        &sigv4::Request {
            method: "POST",
            path: u.path(),
            query: u.query().unwrap_or(""),
            headers: &headers,
            body: body.as_bytes(),
        },
    );
    let mut req = agent(CONNECT, TOTAL).post(url);
    for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
        req = req.set(k, v);
    }
    Ok(req.set("authorization", &auth))
}

/// STS `AssumeRoleWithWebIdentity` with the token in `token_file`; `top`: the profile the user
/// chose, where `AWS_ROLE_ARN` / `AWS_ROLE_SESSION_NAME` apply.
pub(crate) fn assume_role_with_web_identity(
    src: &Sources,
    p: &Profile,
    region: &str,
    token_file: &str,
    top: bool,
) -> Result<Keys, String> {
    let step = format!("profile {:?}: AssumeRoleWithWebIdentity", p.name);
    let env = |n: &str| if top { src.var(n) } else { None };
    let role = env("AWS_ROLE_ARN")
        .or_else(|| p.get("role_arn").map(Into::into))
        .ok_or_else(|| format!("{step}: web identity token file set without a role_arn"))?;
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| format!("{step}: reading the token file {token_file}: {e}"))?;
    let session =
        env("AWS_ROLE_SESSION_NAME").or_else(|| p.get("role_session_name").map(Into::into));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", &role)
        .append_pair("RoleSessionName", &session_name(session))
        .append_pair("WebIdentityToken", token.trim())
        .finish();
    let url = endpoint(src, p, region);
    let req = agent(CONNECT, TOTAL).post(&url).set(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    answer(&step, &url, call(req, Some(&body)))
}

fn answer(step: &str, url: &str, a: Answer) -> Result<Keys, String> {
    match a {
        Answer::Ok(xml) => parse_credentials(&xml).map_err(|e| format!("{step} at {url}: {e}")),
        Answer::Status(code, xml) => Err(format!(
            "{step} at {url}: HTTP {code}{}",
            parse_error(&xml)
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )),
        Answer::Unreachable(e) => Err(format!("{step} at {url}: {e}")),
    }
}

/// The text of each element named in `want`, by name (the last one wins).
fn texts(xml: &str, want: &[&str]) -> Result<Vec<Option<String>>, String> {
    let mut r = Reader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut out = vec![None; want.len()];
    let mut cur: Option<usize> = None;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                let n = e.local_name();
                cur = want.iter().position(|w| w.as_bytes() == n.as_ref());
            }
            Ok(Event::Text(t)) => {
                if let Some(i) = cur {
                    let s = t.unescape().map_err(|e| format!("bad XML: {e}"))?;
                    out[i] = Some(s.into_owned());
                }
            }
            Ok(Event::End(_)) => cur = None,
            Ok(Event::Eof) => return Ok(out),
            Ok(_) => {}
            Err(e) => return Err(format!("bad XML: {e}")),
        }
    }
}

/// `AccessKeyId`, `SecretAccessKey`, `SessionToken` of an `AssumeRole*Response`.
pub(crate) fn parse_credentials(xml: &str) -> Result<Keys, String> {
    let t = texts(xml, &["AccessKeyId", "SecretAccessKey", "SessionToken"])?;
    match (&t[0], &t[1], &t[2]) {
        (Some(k), Some(s), Some(tok)) => Ok(Keys {
            key: k.clone(),
            secret: s.clone(),
            token: Some(tok.clone()),
        }),
        _ => {
            Err("the answer has no Credentials (AccessKeyId, SecretAccessKey, SessionToken)".into())
        }
    }
}

/// `Code: Message` of an `ErrorResponse`.
fn parse_error(xml: &str) -> Option<String> {
    let t = texts(xml, &["Code", "Message"]).ok()?;
    match (&t[0], &t[1]) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c.clone()),
        (None, Some(m)) => Some(m.clone()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_errors_from_xml() {
        let ok = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>
    <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey>
      <SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
  </AssumeRoleResult></AssumeRoleResponse>"#;
        let k = parse_credentials(ok).unwrap();
        assert_eq!((k.key.as_str(), k.secret.as_str()), ("ASIAX", "s&k"));
        assert_eq!(k.token.as_deref(), Some("tok"));
        let err = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>
            <Message>not allowed</Message></Error></ErrorResponse>"#;
        assert!(parse_credentials(err).is_err());
        assert_eq!(
            parse_error(err).as_deref(),
            Some("AccessDenied: not allowed")
        );
        for bad in [
            "",
            "<a><b>",
            "</x>",
            "<AccessKeyId>A</AccessKeyId>",
            "\u{0}<<>>&;",
        ] {
            assert!(parse_credentials(bad).is_err(), "{bad:?}");
        }
    }
}
