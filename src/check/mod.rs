//! Pre-flight checks: findings about an inspected guest, each tied to a requirement ID of the
//! import spec (FMT-*, OS-*, BOOT-*, GEN-*, LNX-*, WIN-*), with a severity, the evidence (file and
//! line, kernel version, partition …) and what the user should do. A check that found nothing
//! wrong reports `pass`, so the report shows everything that was judged.

pub(crate) mod registry;
pub(crate) mod req;
pub use req::lnx::is_predictable_name;
#[cfg(test)]
mod tests;

use crate::guest::facts::Inspection;
use crate::rules::Profile;
use serde::Serialize;

/// How bad a finding is. `Blocker` means the import will fail; exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The import service refuses the image or the guest will not boot.
    Blocker,
    /// The import may work, but something will likely break or need attention.
    Warning,
    /// Worth knowing; nothing to do.
    Info,
    /// The requirement was checked and holds.
    Pass,
}

impl Severity {
    /// The severity a name of `as_str` stands for (profiles name severities so).
    pub fn from_name(s: &str) -> Option<Severity> {
        [
            Severity::Blocker,
            Severity::Warning,
            Severity::Info,
            Severity::Pass,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
    /// The lowercase name (`blocker`, `warning`, `info`, `pass`), as in JSON and profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Pass => "pass",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// Requirement ID (FMT-1, LNX-4 …).
    pub id: String,
    /// How bad it is.
    pub severity: Severity,
    /// What was judged, in a few words.
    pub title: String,
    /// What was found, with where (file:line, device, kernel …).
    pub evidence: Vec<String>,
    /// What the user should do (or what `guestfix plan` will do).
    pub fix: Option<String>,
    /// The image, disk or OS root the finding is about.
    pub subject: String,
}

impl Finding {
    /// A finding of requirement `id` about `subject`, without evidence or fix yet.
    pub fn new(id: &str, severity: Severity, subject: &str, title: impl Into<String>) -> Self {
        Finding {
            id: id.to_string(),
            severity,
            title: title.into(),
            evidence: Vec::new(),
            fix: None,
            subject: subject.to_string(),
        }
    }
    /// Add one line of evidence.
    pub fn evidence(mut self, e: impl Into<String>) -> Self {
        self.evidence.push(e.into());
        self
    }
    /// Add several lines of evidence.
    pub fn evidences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, e: I) -> Self {
        self.evidence.extend(e.into_iter().map(Into::into));
        self
    }
    /// Set what the user should do.
    pub fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

/// The whole report of `guestfix check`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The target profile checked against.
    pub target: String,
    /// Every finding, sorted by severity (blockers first), then requirement ID.
    pub findings: Vec<Finding>,
    /// The number of blocker findings.
    pub blockers: usize,
    /// The number of warning findings.
    pub warnings: usize,
}

impl Report {
    /// Whether any finding is a blocker (the import would fail).
    pub fn has_blockers(&self) -> bool {
        self.blockers > 0
    }
}

/// Run every requirement of `registry::REQUIREMENTS` over an inspection, with the profile's
/// settings, on the date `today` (YYYY-MM-DD).
pub fn run(insp: &Inspection, profile: &Profile, today: &str) -> Report {
    let ctx = registry::Ctx {
        insp,
        profile,
        today,
    };
    let mut findings = registry::run_all(&ctx);
    // Stable order: blockers first, then by requirement ID.
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| id_key(&a.id).cmp(&id_key(&b.id)))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    let blockers = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    Report {
        target: profile.settings.id.clone(),
        findings,
        blockers,
        warnings,
    }
}

/// Sort key for IDs: "LNX-10" after "LNX-9".
fn id_key(id: &str) -> (String, u32) {
    match id.rsplit_once('-') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(0)),
        None => (id.to_string(), 0),
    }
}

/// The human table of a report.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.findings {
        out.push_str(&format!(
            "{:<8} {:<7} {}: {}\n",
            f.severity.as_str(),
            f.id,
            f.subject,
            f.title
        ));
        for e in &f.evidence {
            out.push_str(&format!("                   found: {e}\n"));
        }
        if let Some(fix) = &f.fix {
            if f.severity != Severity::Pass {
                out.push_str(&format!("                   fix:   {fix}\n"));
            }
        }
    }
    out.push_str(&format!(
        "\ntarget {}: {} blocker(s), {} warning(s), {} check(s) passed\n",
        r.target,
        r.blockers,
        r.warnings,
        r.findings
            .iter()
            .filter(|f| f.severity == Severity::Pass)
            .count()
    ));
    out
}

/// The report when the image cannot be read: the error is the finding. Messages the import
/// service is known to give are used as the titles and mapped to their IDs (FMT-2, FMT-3).
pub fn image_error_report(image: &str, error: &str, profile: &Profile) -> Report {
    let e = error.to_ascii_lowercase();
    let (id, title) = if e.contains("sesparse")
        || e.contains("split")
        // twoGbMaxExtentSparse / twoGbMaxExtentFlat: a VMDK split into 2 GiB files.
        || e.contains("gbmaxextent")
        || e.contains("several files")
    {
        ("FMT-2", "the image type is refused by the import service")
    } else if e.contains("footers are not identical") {
        ("FMT-3", "footers are not identical")
    } else if e.contains("grain") {
        ("FMT-3", "uncompressed data has an invalid length")
    } else if e.contains("unsupported vmdk") {
        ("FMT-3", "unsupported VMDK file format")
    } else if e.contains("magic") || e.contains("unknown format") {
        ("FMT-3", "disk-image-size = 0 has an invalid format")
    } else {
        ("FMT-3", "the image is damaged and cannot be read")
    };
    let f = Finding::new(id, Severity::Blocker, image, title)
        .evidence(error.to_string())
        .fix("re-export the image from the source hypervisor");
    Report {
        target: profile.settings.id.clone(),
        findings: vec![f],
        blockers: 1,
        warnings: 0,
    }
}
