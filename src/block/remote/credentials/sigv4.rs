//! AWS Signature Version 4 for one request signed in its `Authorization` header, as the AWS
//! General Reference ("Create a signed AWS API request") describes it: the canonical request
//! (method, URI path, sorted query, sorted lower-case headers, the signed header names, the
//! SHA-256 of the body), the string to sign (`AWS4-HMAC-SHA256`, the time, the scope
//! `DATE/REGION/SERVICE/aws4_request`, the canonical request's hash) and the key derived by
//! HMAC-SHA256 from `AWS4` + secret through date, region, service and `aws4_request`. Used for
//! STS `AssumeRole` (S3 reads are presigned by `rusty-s3`).

use super::Keys;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// What is signed: `path` already URI-encoded, `query` already in canonical form (sorted,
/// encoded; empty for none), `headers` every header that is signed (`host` and `x-amz-date`
/// among them).
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Where and when: `amz_date` is the request's `x-amz-date` (`YYYYMMDDTHHMMSSZ`).
pub(crate) struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub amz_date: &'a str,
}

/// The canonical request and the signed-header list.
fn canonical(req: &Request) -> (String, String) {
    let mut h: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            // Header values: trimmed, runs of spaces folded into one.
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), v)
        })
        .collect();
    h.sort();
    let signed = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut c = format!("{}\n{}\n{}\n", req.method, req.path, req.query);
    for (k, v) in &h {
        c.push_str(&format!("{k}:{v}\n"));
    }
    c.push_str(&format!(
        "\n{signed}\n{}",
        hex::encode(Sha256::digest(req.body))
    ));
    (c, signed)
}

/// The `Authorization` header value of `req` signed with `keys` (the session token, if any, must
/// be among the headers as `x-amz-security-token`: the caller adds it).
pub(crate) fn authorization(keys: &Keys, scope: &Scope, req: &Request) -> String {
    let (creq, signed) = canonical(req);
    let date = scope.amz_date.get(..8).unwrap_or(scope.amz_date);
    let cred_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{cred_scope}\n{}",
        scope.amz_date,
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{}", keys.secret).as_bytes(), date.as_bytes());
    for part in [scope.region, scope.service, "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let sig = hex::encode(hmac(&k, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{cred_scope}, SignedHeaders={signed}, Signature={sig}",
        keys.key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The AWS SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html,
    // also shipped in the SDKs' `aws-sig-v4-test-suite`): its credentials, time, region and
    // service, and its published Authorization headers.
    fn example() -> (Keys, Scope<'static>) {
        (
            Keys {
                key: "AKIDEXAMPLE".into(),
                secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                token: None,
            },
            Scope {
                region: "us-east-1",
                service: "service",
                amz_date: "20150830T123600Z",
            },
        )
    }

    #[test]
    fn get_vanilla() {
        let (keys, scope) = example();
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            body: b"",
        };
        assert_eq!(
            authorization(&keys, &scope, &req),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        let (keys, scope) = example();
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            body: b"Param1=value1",
        };
        assert_eq!(
            authorization(&keys, &scope, &req),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }
}
