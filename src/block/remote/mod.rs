//! Remote images read by byte range: `http://`, `https://` and `s3://BUCKET/KEY`, each a
//! [`RemoteDev`] behind the same [`super::BlockDev`] seam as a local file, so every container
//! reader works on it unchanged. `cache` holds fixed-size chunks, `dev` coalesces and
//! parallelises the misses, `http` does one range GET (redirects, retries, ETag), `s3` presigns
//! each request, `credentials` finds AWS settings as the AWS CLI does, `stats` counts the cost.

mod cache;
mod credentials;
mod dev;
mod http;
mod s3;
mod stats;

pub use dev::{CHUNK, MAX_CHUNK, RemoteDev};
pub use http::MAX_REDIRECTS;
pub use stats::RemoteStats;

use super::BlockError;

/// Whether an image argument names a remote object rather than a host file.
pub fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://") || l.starts_with("s3://")
}

/// Open a remote object (one request: the first chunk, its size and its validator).
pub fn open(url: &str) -> Result<RemoteDev, BlockError> {
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("s3://"))
    {
        return RemoteDev::open(url.to_string(), Box::new(s3::object(url)?));
    }
    let parsed = url::Url::parse(url).map_err(|e| BlockError::RemoteConfig {
        url: url.to_string(),
        reason: format!("not a usable URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(BlockError::RemoteConfig {
            url: url.to_string(),
            reason: "only http://, https:// and s3:// URLs are read".into(),
        });
    }
    RemoteDev::open(url.to_string(), Box::new(http::FixedUrl(url.to_string())))
}

/// A file named by the remote image at `base` (a backing file): relative names are resolved
/// against the image's URL, as a browser resolves a link.
pub(crate) fn join(base: &str, name: &str) -> Result<String, BlockError> {
    if is_url(name) {
        return Ok(name.to_string());
    }
    let bad = |e: String| BlockError::RemoteConfig {
        url: base.to_string(),
        reason: format!("backing file {name:?}: {e}"),
    };
    let b = url::Url::parse(base).map_err(|e| bad(e.to_string()))?;
    // A URL path keeps '%' escapes; a file name may contain characters a URL must escape.
    let escaped: String = name
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            c => c.to_string(),
        })
        .collect();
    Ok(b.join(&escaped)
        .map_err(|e| bad(e.to_string()))?
        .to_string())
}

/// Whether `url` lies in the folder of the image at `base` (or below it).
pub(crate) fn in_folder(base: &str, url: &str) -> bool {
    match base.rfind('/') {
        Some(i) => url.starts_with(&base[..=i]) && !url[i..].contains("/../"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_backing_names() {
        assert!(is_url("https://h/a.qcow2") && is_url("HTTP://h/x") && is_url("s3://b/k"));
        assert!(!is_url("/tmp/a.qcow2") && !is_url("http") && !is_url("file:///x"));
        let b = "http://h:8080/img/dir/top.qcow2";
        assert_eq!(
            join(b, "base.qcow2").unwrap(),
            "http://h:8080/img/dir/base.qcow2"
        );
        assert_eq!(
            join(b, "../base.qcow2").unwrap(),
            "http://h:8080/img/base.qcow2"
        );
        assert_eq!(join(b, "/etc/passwd").unwrap(), "http://h:8080/etc/passwd");
        assert_eq!(
            join(b, "a b.raw").unwrap(),
            "http://h:8080/img/dir/a%20b.raw"
        );
        assert_eq!(join("s3://bk/d/top", "base").unwrap(), "s3://bk/d/base");
        assert!(in_folder(b, &join(b, "base.qcow2").unwrap()));
        assert!(in_folder(b, &join(b, "sub/base.qcow2").unwrap()));
        assert!(!in_folder(b, &join(b, "../base.qcow2").unwrap()));
        assert!(!in_folder(b, "http://other/img/dir/base.qcow2"));
    }
}
