//! One byte-range GET of a remote object: redirects followed (bounded, loops caught), transient
//! errors (connection failures, timeouts, resets, 408/429/5xx, a body cut short) retried with
//! exponential backoff, 4xx never retried, and the object's validator (ETag, else Last-Modified)
//! sent as a precondition and compared on every answer, so that an object replaced during the
//! read is an error rather than a mix of two objects. A 200 answer to a range request (a server
//! without range support) is refused without reading its body.

use super::stats::{self, RemoteStats};
use crate::block::BlockError;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Redirect hops followed for one request.
pub const MAX_REDIRECTS: usize = 8;
/// Retries after a transient error (`GUESTFIX_REMOTE_RETRIES` overrides it).
pub const DEFAULT_RETRIES: u32 = 4;

/// Where requests go: a fixed URL, or one signed anew for every request (S3 presigned URLs).
pub(crate) trait UrlSource: Send + Sync {
    fn request_url(&self) -> Result<String, BlockError>;
    /// Whether the URL stays the same from request to request (so a redirect target found once
    /// can be used directly afterwards).
    fn is_fixed(&self) -> bool;
}

/// A plain `http(s)://` URL.
pub(crate) struct FixedUrl(pub String);

impl UrlSource for FixedUrl {
    fn request_url(&self) -> Result<String, BlockError> {
        Ok(self.0.clone())
    }
    fn is_fixed(&self) -> bool {
        true
    }
}

/// What identifies one version of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Validator {
    ETag(String),
    LastModified(String),
}

impl Validator {
    fn of(resp: &ureq::Response) -> Option<Validator> {
        match resp.header("ETag") {
            // A weak ETag cannot be used with If-Match (strong comparison).
            Some(e) if !e.starts_with("W/") => Some(Validator::ETag(e.to_string())),
            _ => resp
                .header("Last-Modified")
                .map(|l| Validator::LastModified(l.to_string())),
        }
    }
    fn describe(&self) -> String {
        match self {
            Validator::ETag(e) => format!("ETag {e}"),
            Validator::LastModified(l) => format!("Last-Modified {l}"),
        }
    }
}

/// The bytes of one range and the object's total size as the server gave it.
pub(crate) struct Fetched {
    pub total: u64,
    pub body: Vec<u8>,
}

enum Failure {
    Fatal(BlockError),
    /// Worth another try; the error to report if no try succeeds (else a transport error).
    Transient(String, Option<BlockError>),
}

/// Sends the range requests of one remote object.
pub(crate) struct Transport {
    name: String,
    source: Box<dyn UrlSource>,
    agent: ureq::Agent,
    redirected: Mutex<Option<String>>,
    validator: Mutex<Option<Validator>>,
    stats: Arc<RemoteStats>,
    retries: u32,
    /// `GUESTFIX_STATS=2`: each request on stderr.
    trace: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `bytes FIRST-LAST/TOTAL` (or `bytes */TOTAL` on a 416) of a Content-Range header.
pub(crate) fn parse_content_range(v: &str) -> Option<(Option<(u64, u64)>, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total: u64 = total.trim().parse().ok()?;
    if range.trim() == "*" {
        return Some((None, total));
    }
    let (a, b) = range.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b && b < total).then_some((Some((a, b)), total))
}

impl Transport {
    pub fn new(name: String, source: Box<dyn UrlSource>, stats: Arc<RemoteStats>) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(30))
            .redirects(0)
            .max_idle_connections_per_host(16)
            .user_agent(concat!("guestfix/", env!("CARGO_PKG_VERSION")))
            .build();
        let retries = std::env::var("GUESTFIX_REMOTE_RETRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_RETRIES);
        Transport {
            name,
            source,
            agent,
            redirected: Mutex::new(None),
            validator: Mutex::new(None),
            stats,
            retries,
            trace: stats::trace_requests(),
        }
    }

    /// GET `len` (> 0) bytes from `start`; fewer only where the object ends first.
    pub fn fetch(&self, start: u64, len: u64) -> Result<Fetched, BlockError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.attempt(start, len) {
                Ok(f) => return Ok(f),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(reason, last)) => {
                    if attempt > self.retries {
                        return Err(last.unwrap_or(BlockError::RemoteTransport {
                            url: self.name.clone(),
                            reason,
                            attempts: attempt,
                        }));
                    }
                    self.stats.add_retry();
                    std::thread::sleep(Duration::from_millis(100 << (attempt - 1).min(5)));
                }
            }
        }
    }

    fn fatal_status(&self, status: u16) -> Failure {
        Failure::Fatal(BlockError::RemoteStatus {
            url: self.name.clone(),
            status,
        })
    }

    fn attempt(&self, start: u64, len: u64) -> Result<Fetched, Failure> {
        let cached = lock(&self.redirected).clone();
        let mut url = match cached {
            Some(u) => u,
            None => self.source.request_url().map_err(Failure::Fatal)?,
        };
        let validator = lock(&self.validator).clone();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let mut req = self
                .agent
                .get(&url)
                .set("Range", &format!("bytes={}-{}", start, start + len - 1));
            req = match &validator {
                Some(Validator::ETag(e)) => req.set("If-Match", e),
                Some(Validator::LastModified(l)) => req.set("If-Unmodified-Since", l),
                None => req,
            };
            self.stats.add_request();
            if self.trace {
                eprintln!(
                    "guestfix: GET {} bytes={}-{}",
                    self.name,
                    start,
                    start + len - 1
                );
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    return Err(Failure::Transient(t.to_string(), None));
                }
            };
            let status = resp.status();
            match status {
                206 => {
                    if !seen.is_empty() && self.source.is_fixed() {
                        *lock(&self.redirected) = Some(url.clone());
                    }
                    return self.body(resp, start, len, validator.as_ref());
                }
                200 => {
                    // Dropping the response unread closes the connection: the body is not read.
                    return Err(Failure::Fatal(BlockError::RemoteNoRanges {
                        url: self.name.clone(),
                        reason: "a range request was answered with 200 and the whole object".into(),
                    }));
                }
                301 | 302 | 303 | 307 | 308 => {
                    let Some(loc) = resp.header("Location") else {
                        return Err(self.fatal_status(status));
                    };
                    let next = url::Url::parse(&url)
                        .and_then(|u| u.join(loc))
                        .map_err(|e| {
                            Failure::Fatal(BlockError::RemoteConfig {
                                url: self.name.clone(),
                                reason: format!("redirect to an unusable location {loc:?}: {e}"),
                            })
                        })?
                        .to_string();
                    seen.push(url);
                    if seen.contains(&next) || seen.len() > MAX_REDIRECTS {
                        return Err(Failure::Fatal(BlockError::RemoteRedirects {
                            url: self.name.clone(),
                            limit: MAX_REDIRECTS,
                            at: next,
                        }));
                    }
                    url = next;
                }
                412 => {
                    return Err(Failure::Fatal(BlockError::RemoteChanged {
                        url: self.name.clone(),
                        was: validator.map(|v| v.describe()).unwrap_or_default(),
                        now: "another version (precondition failed, HTTP 412)".into(),
                    }));
                }
                416 => {
                    // Only an empty object may answer the first range with 416.
                    let cr = resp.header("Content-Range").and_then(parse_content_range);
                    if let (0, Some((None, 0))) = (start, cr) {
                        self.remember(&resp, validator.as_ref())?;
                        return Ok(Fetched {
                            total: 0,
                            body: Vec::new(),
                        });
                    }
                    return Err(Failure::Fatal(BlockError::RemoteShortRead {
                        url: self.name.clone(),
                        offset: start,
                        expected: len,
                        got: 0,
                    }));
                }
                408 | 429 | 500..=599 => {
                    return Err(Failure::Transient(
                        format!("HTTP {status}"),
                        Some(BlockError::RemoteStatus {
                            url: self.name.clone(),
                            status,
                        }),
                    ));
                }
                _ => return Err(self.fatal_status(status)),
            }
        }
    }

    /// Record the validator of the first answer; compare every later one with it.
    fn remember(
        &self,
        resp: &ureq::Response,
        validator: Option<&Validator>,
    ) -> Result<(), Failure> {
        let now = Validator::of(resp);
        match (validator, now) {
            (None, now) => {
                *lock(&self.validator) = now;
                Ok(())
            }
            (Some(was), Some(now))
                if std::mem::discriminant(was) == std::mem::discriminant(&now) && *was != now =>
            {
                Err(Failure::Fatal(BlockError::RemoteChanged {
                    url: self.name.clone(),
                    was: was.describe(),
                    now: now.describe(),
                }))
            }
            _ => Ok(()),
        }
    }

    fn body(
        &self,
        resp: ureq::Response,
        start: u64,
        len: u64,
        validator: Option<&Validator>,
    ) -> Result<Fetched, Failure> {
        self.remember(&resp, validator)?;
        let no_ranges = |reason: String| {
            Failure::Fatal(BlockError::RemoteNoRanges {
                url: self.name.clone(),
                reason,
            })
        };
        let cr = resp
            .header("Content-Range")
            .ok_or_else(|| no_ranges("a 206 answer without Content-Range".into()))?;
        let Some((Some((a, b)), total)) = parse_content_range(cr) else {
            return Err(no_ranges(format!("an unreadable Content-Range {cr:?}")));
        };
        let want_end = (start + len).min(total);
        if a != start || b + 1 != want_end {
            return Err(Failure::Fatal(BlockError::RemoteShortRead {
                url: self.name.clone(),
                offset: start,
                expected: want_end.saturating_sub(start),
                got: (b + 1).saturating_sub(a),
            }));
        }
        let expected = want_end - start;
        let mut body = Vec::with_capacity(expected as usize);
        let r = resp.into_reader().take(expected + 1).read_to_end(&mut body);
        self.stats.add_bytes(body.len() as u64);
        let short = BlockError::RemoteShortRead {
            url: self.name.clone(),
            offset: start,
            expected,
            got: body.len() as u64,
        };
        match r {
            Err(e) => Err(Failure::Transient(e.to_string(), Some(short))),
            Ok(_) if body.len() as u64 != expected => {
                Err(Failure::Transient(short.to_string(), Some(short)))
            }
            Ok(_) => Ok(Fetched { total, body }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((Some((0, 99)), 1000))
        );
        assert_eq!(parse_content_range("bytes */0"), Some((None, 0)));
        assert_eq!(parse_content_range("bytes 5-1/1000"), None);
        assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
        assert_eq!(parse_content_range("bytes 0-9/*"), None);
    }
}
