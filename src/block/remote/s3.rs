//! `s3://BUCKET/KEY`: every range GET goes to a SigV4-presigned URL (signed by `rusty-s3`,
//! which does no I/O of its own), so S3 reads share the HTTP path in [`super::http`]. An
//! endpoint override (S3-compatible stores) uses path-style addressing; AWS itself
//! virtual-hosted style (path style for bucket names with dots).

use super::credentials::{self, AwsSettings};
use super::http::UrlSource;
use crate::block::BlockError;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::time::Duration;

/// Lifetime of one presigned request URL.
const PRESIGN_FOR: Duration = Duration::from_secs(15 * 60);

/// One object of one bucket.
pub(crate) struct S3Object {
    bucket: Bucket,
    key: String,
    credentials: Option<Credentials>,
}

impl UrlSource for S3Object {
    fn request_url(&self) -> Result<String, BlockError> {
        Ok(
            rusty_s3::actions::GetObject::new(&self.bucket, self.credentials.as_ref(), &self.key)
                .sign(PRESIGN_FOR)
                .to_string(),
        )
    }
    fn is_fixed(&self) -> bool {
        false
    }
}

/// Split `s3://bucket/key`.
pub(crate) fn split(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("s3://"))
        .and(url.get(5..))?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// The object named by `url` with the settings of this process.
pub(crate) fn object(url: &str) -> Result<S3Object, BlockError> {
    let s = credentials::settings().map_err(|reason| BlockError::RemoteConfig {
        url: url.to_string(),
        reason: format!("AWS credentials: {reason}"),
    })?;
    if std::env::var_os("GUESTFIX_STATS").is_some_and(|v| v == "2") {
        if let (Some(k), Some(from)) = (&s.keys, &s.source) {
            eprintln!("guestfix: {url}: access key {} from {from}", k.key);
        } else {
            eprintln!("guestfix: {url}: no AWS credentials found, anonymous requests");
        }
    }
    object_with(url, s)
}

pub(crate) fn object_with(url: &str, s: AwsSettings) -> Result<S3Object, BlockError> {
    let bad = |reason: String| BlockError::RemoteConfig {
        url: url.to_string(),
        reason,
    };
    let (bucket, key) = split(url).ok_or_else(|| bad("not of the form s3://BUCKET/KEY".into()))?;
    let region = s.region.unwrap_or_else(|| "us-east-1".into());
    let (endpoint, style) = match &s.endpoint {
        Some(e) => (e.clone(), UrlStyle::Path),
        None => (
            format!("https://s3.{region}.amazonaws.com"),
            if bucket.contains('.') {
                UrlStyle::Path
            } else {
                UrlStyle::VirtualHost
            },
        ),
    };
    let endpoint =
        url::Url::parse(&endpoint).map_err(|e| bad(format!("S3 endpoint {endpoint:?}: {e}")))?;
    let bucket = Bucket::new(endpoint, style, bucket.to_string(), region)
        .map_err(|e| bad(format!("S3 bucket: {e}")))?;
    let credentials = s.keys.map(|k| match k.token {
        Some(t) => Credentials::new_with_token(k.key, k.secret, t),
        None => Credentials::new(k.key, k.secret),
    });
    Ok(S3Object {
        bucket,
        key: key.to_string(),
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::remote::credentials::Keys;

    #[test]
    fn path_style_with_endpoint_and_signed() {
        let s = AwsSettings {
            keys: Some(Keys {
                key: "AK".into(),
                secret: "SK".into(),
                token: None,
            }),
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
            source: None,
        };
        let o = object_with("s3://images/dir/disk.qcow2", s).unwrap();
        let u = o.request_url().unwrap();
        assert!(
            u.starts_with("http://127.0.0.1:9000/images/dir/disk.qcow2?"),
            "{u}"
        );
        assert!(u.contains("X-Amz-Signature="), "{u}");
        assert!(u.contains("eu-west-1"), "{u}");
        let o = object_with("s3://images/disk.raw", AwsSettings::default()).unwrap();
        let u = o.request_url().unwrap();
        assert!(
            u.starts_with("https://images.s3.us-east-1.amazonaws.com/disk.raw"),
            "{u}"
        );
        assert!(object_with("s3://images", AwsSettings::default()).is_err());
    }
}
