//! Time stamps as AWS writes them: SigV4's `20150830T123600Z`, and the ISO 8601 / RFC 3339
//! expiry times of STS, `credential_process` and the SSO token cache (`2030-01-01T00:00:00Z`,
//! also with fractional seconds, a `+00:00` offset or the `UTC` suffix older CLIs wrote).

use crate::civil::{civil_from_days, days_from_civil};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `YYYYMMDDTHHMMSSZ` (SigV4's `X-Amz-Date`).
pub(crate) fn amz_date(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff](Z|UTC|±HH:MM)`; `None` if it is not one.
pub(crate) fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" | "UTC" | "" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let hh: i64 = r.get(1..3)?.parse().ok()?;
            let mm: i64 = r.get(4..6)?.parse().ok()?;
            let o = hh * 3600 + mm * 60;
            if r.starts_with('+') { o } else { -o }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_iso8601("2015-08-30T12:36:00Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(parse_iso8601("2015-08-30T12:36:00.123Z"), Some(t));
        assert_eq!(parse_iso8601("2015-08-30T14:36:00+02:00"), Some(t));
        assert_eq!(parse_iso8601("2015-08-30T12:36:00UTC"), Some(t));
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        for bad in [
            "",
            "2015-08-30",
            "2015-13-30T12:36:00Z",
            "2015-08-30T12:36:00X",
            "２０15-08-30T12:36:00Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
