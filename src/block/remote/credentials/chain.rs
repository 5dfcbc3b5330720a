//! The order in which credential providers are asked (see the module doc of [`super`]), and a
//! profile's own providers: assume role (`role_arn` with `source_profile` or
//! `credential_source`), web identity, SSO, static keys, `credential_process` — botocore's
//! `AssumeRoleProvider` / `_resolve_credentials_from_profile` order.

use super::{Keys, Profile, Sources, imds, process, sso, sts};

/// Profiles one `source_profile` chain may pass through (the starting one included).
pub(crate) const MAX_CHAIN: usize = 8;

/// Keys and where they came from.
#[derive(Debug)]
pub(crate) struct Found {
    pub keys: Keys,
    pub source: String,
}

fn found(keys: Keys, source: String) -> Option<Found> {
    Some(Found { keys, source })
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), both or nothing.
pub(crate) fn env_keys(src: &Sources) -> Option<Keys> {
    Some(Keys {
        key: src.var("AWS_ACCESS_KEY_ID")?,
        secret: src.var("AWS_SECRET_ACCESS_KEY")?,
        token: src.var("AWS_SESSION_TOKEN"),
    })
}

/// The whole chain for the profile `name`; `Ok(None)` when no provider applies.
pub(crate) fn resolve(src: &Sources, name: &str, region: &str) -> Result<Option<Found>, String> {
    if let Some(k) = env_keys(src) {
        return Ok(found(k, "environment (AWS_ACCESS_KEY_ID)".into()));
    }
    if let Some(f) = from_profile(src, name, region, &mut Vec::new(), true)? {
        return Ok(Some(f));
    }
    if let Some(k) = imds::container(src)? {
        return Ok(found(k, "container credentials endpoint".into()));
    }
    if let Some(k) = imds::instance(src)? {
        return Ok(found(k, "EC2 instance metadata (IMDSv2)".into()));
    }
    Ok(None)
}

/// The credentials profile `name` itself provides. `top`: the profile the user chose (the
/// web-identity environment variables apply to it only). `seen`: the profiles of the
/// `source_profile` chain so far.
fn from_profile(
    src: &Sources,
    name: &str,
    region: &str,
    seen: &mut Vec<String>,
    top: bool,
) -> Result<Option<Found>, String> {
    let p = src.profile(name);
    let what = |how: &str| format!("profile {name:?}: {how}");
    if p.get("role_arn").is_some()
        && (p.get("source_profile").is_some() || p.get("credential_source").is_some())
    {
        let k = assume_role(src, &p, region, seen)?;
        return Ok(found(k, what("AssumeRole")));
    }
    let env_token = if top {
        src.var("AWS_WEB_IDENTITY_TOKEN_FILE")
    } else {
        None
    };
    if let Some(file) = env_token.or_else(|| p.get("web_identity_token_file").map(Into::into)) {
        let k = sts::assume_role_with_web_identity(src, &p, region, &file, top)?;
        return Ok(found(k, what("AssumeRoleWithWebIdentity")));
    }
    if p.get("role_arn").is_some() {
        return Err(what(
            "role_arn needs source_profile, credential_source or web_identity_token_file",
        ));
    }
    if sso::applies(&p) {
        return Ok(found(sso::credentials(src, &p)?, what("SSO")));
    }
    if let Some(k) = p.static_keys() {
        return Ok(found(k, what("static keys")));
    }
    if let Some(cmd) = p.get("credential_process") {
        return Ok(found(process::run(name, cmd)?, what("credential_process")));
    }
    Ok(None)
}

/// STS `AssumeRole` for profile `p`, with the keys of its source.
fn assume_role(
    src: &Sources,
    p: &Profile,
    region: &str,
    seen: &mut Vec<String>,
) -> Result<Keys, String> {
    let name = p.name.as_str();
    if seen.iter().any(|s| s == name) {
        seen.push(name.to_string());
        return Err(format!("source_profile loop: {}", seen.join(" -> ")));
    }
    seen.push(name.to_string());
    if seen.len() > MAX_CHAIN {
        return Err(format!(
            "source_profile chain longer than {MAX_CHAIN} profiles: {}",
            seen.join(" -> ")
        ));
    }
    if p.get("mfa_serial").is_some() {
        return Err(format!(
            "profile {name:?}: mfa_serial needs an MFA code typed in, which guestfix does not ask for"
        ));
    }
    let source = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "profile {name:?}: both source_profile and credential_source are set"
            ));
        }
        // A profile that is its own source uses its static keys (the AWS CLI's special case).
        (Some(sp), None) if sp == name && p.static_keys().is_some() => p.static_keys(),
        (Some(sp), None) => from_profile(src, sp, region, seen, false)?.map(|f| f.keys),
        (None, Some(cs)) => credential_source(src, name, cs)?,
        (None, None) => None,
    };
    let source = source.ok_or_else(|| {
        format!(
            "profile {name:?}: its source ({}) has no credentials",
            p.get("source_profile")
                .map(|s| format!("source_profile {s:?}"))
                .unwrap_or_else(|| "credential_source".into())
        )
    })?;
    sts::assume_role(src, p, region, &source)
}

/// `credential_source`: where a role profile's source keys come from instead of a profile.
fn credential_source(src: &Sources, name: &str, cs: &str) -> Result<Option<Keys>, String> {
    match cs {
        "Environment" => Ok(env_keys(src)),
        "Ec2InstanceMetadata" => imds::instance(src),
        "EcsContainer" => imds::container(src),
        other => Err(format!(
            "profile {name:?}: credential_source {other:?} is not one of Environment, \
             Ec2InstanceMetadata, EcsContainer"
        )),
    }
}
