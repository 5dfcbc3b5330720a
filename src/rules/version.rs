//! Dotted version numbers and the version patterns of the OS matrix ("12.2" exact, "9" any 9.x,
//! "5.1-5.11" inclusive range).

use std::cmp::Ordering;

/// A dotted version: numeric components compared numerically (the derived order compares
/// component lists, so 6.1 < 6.1.0 < 6.1.0.26).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Parse the leading dotted-number part ("6.1.0-26-amd64" → 6.1.0; "22.04" → 22.4).
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = Vec::new();
        for p in s.split('.') {
            let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                break;
            }
            parts.push(digits.parse().ok()?);
            if digits.len() != p.len() {
                break;
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(Version(parts))
        }
    }

    fn cmp_padded(&self, other: &Version) -> Ordering {
        let n = self.0.len().max(other.0.len());
        for i in 0..n {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }

    /// `self` starts with all of `prefix`'s components ("9.3" has prefix "9").
    fn has_prefix(&self, prefix: &Version) -> bool {
        prefix.0.len() <= self.0.len() && self.0[..prefix.0.len()] == prefix.0[..]
    }
}

/// Does `version` match a matrix pattern? Exact patterns compare all given components (so "12.2"
/// does not match "12.12" but "9" matches "9.3"); "a-b" is an inclusive range.
pub fn version_matches(pattern: &str, version: &str) -> bool {
    let Some(v) = Version::parse(version) else {
        return false;
    };
    if let Some((lo, hi)) = pattern.split_once('-') {
        let (Some(lo), Some(hi)) = (Version::parse(lo), Version::parse(hi)) else {
            return false;
        };
        // Compare at the precision the range is written in: 6.1-6.8 includes 6.8.2.
        let trimmed = Version(
            v.0.iter()
                .take(hi.0.len().max(lo.0.len()))
                .copied()
                .collect(),
        );
        return trimmed.cmp_padded(&lo) != Ordering::Less
            && trimmed.cmp_padded(&hi) != Ordering::Greater;
    }
    match Version::parse(pattern) {
        Some(p) => {
            v.has_prefix(&p) || (v.0.len() < p.0.len() && v.cmp_padded(&p) == Ordering::Equal)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(version_matches("12.2", "12.2"));
        assert!(!version_matches("12.2", "12.12"));
        assert!(!version_matches("12.2", "12.1"));
        assert!(version_matches("9", "9.3"));
        assert!(version_matches("9", "9"));
        assert!(version_matches("5.1-5.11", "5.11"));
        assert!(version_matches("5.1-5.11", "5.4"));
        assert!(!version_matches("5.1-5.11", "5.12"));
        assert!(!version_matches("5.1-5.11", "6.0"));
        assert!(version_matches("6.1-6.8", "6.8"));
        assert!(version_matches("6.0.0-6.0.8", "6.0.8"));
        assert!(!version_matches("6.0.0-6.0.8", "6.0.9"));
        assert!(version_matches("15.0-15.1", "15"));
        assert!(version_matches("22.04", "22.04"));
        assert!(!version_matches("22.04", "22.10"));
        assert!(version_matches("2023", "2023"));
        assert!(!version_matches("2", "2023"));
        assert!(!version_matches("x", "1"));
    }

    #[test]
    fn parse_kernel_release() {
        assert_eq!(
            Version::parse("6.1.0-26-amd64"),
            Some(Version(vec![6, 1, 0]))
        );
        assert_eq!(
            Version::parse("3.10.0-1160.el7.x86_64"),
            Some(Version(vec![3, 10, 0]))
        );
        assert_eq!(Version::parse("abc"), None);
    }
}
