//! OS: supported guests (OS-1 architecture, OS-2 Linux matrix, OS-3 Windows matrix, OS-4 end of
//! life, OS-5 licensing facts).

use super::lnx::LinuxVersion;
use crate::check::registry::Ctx;
use crate::check::{Finding, Severity};
use crate::guest::facts::OsFacts;
use crate::guest::windows::{WindowsFacts, system::SystemFacts};
use crate::rules::{LinuxSupport, WindowsEntry, WindowsMatch};

/// OS-1: the architecture, the same for Linux and Windows. A 32-bit guest (i386 or i686) is
/// refused; since the profile's `refuse_32bit_since` date the evidence says so.
pub fn os1_arch(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let s = ctx.settings();
    let subj = os.root.as_str();
    let f = match os.arch.known() {
        Some(a) if s.accepted_arch.contains(a) => {
            Finding::new("OS-1", Severity::Pass, subj, format!("architecture {a}"))
        }
        Some(a) => {
            let why = if is_32bit(a) {
                match &s.refuse_32bit_since {
                    Some(d) if ctx.today >= d.as_str() => {
                        format!("32-bit guests are refused since {d}")
                    }
                    _ => "32-bit guest".into(),
                }
            } else {
                format!("{a} guests are refused")
            };
            Finding::new(
                "OS-1",
                Severity::Blocker,
                subj,
                format!("architecture {a} not supported"),
            )
            .evidence(why)
            .fix(format!(
                "only {} guests can be imported",
                s.accepted_arch.join(", ")
            ))
        }
        None => Finding::new("OS-1", Severity::Warning, subj, "architecture unknown")
            .evidence(format!("{:?}", os.arch)),
    };
    vec![f]
}

/// 32-bit x86 as inspection names it (ELF/PE headers say i386; kernel and package names i686).
fn is_32bit(arch: &str) -> bool {
    matches!(arch, "i386" | "i686")
}

/// OS-2: distribution and version against the profile's OS matrix.
pub fn os2_linux_matrix(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let v = LinuxVersion::of(ctx, os);
    let (subj, name, distro) = (os.root.as_str(), &v.name, &v.distro);
    let f = match &v.matched.support {
        LinuxSupport::Supported { .. } => {
            Finding::new("OS-2", Severity::Pass, subj, format!("{name} is supported"))
        }
        LinuxSupport::PointReleaseNotListed { listed, .. } => Finding::new(
            "OS-2",
            ctx.severity("OS-2.point-release-not-listed"),
            subj,
            format!("{name}: this point release is not in the tested list"),
        )
        .evidence(format!("listed: {}", listed.join(", ")))
        .fix("the major version is accepted; a listed point release is safest"),
        LinuxSupport::VersionNotListed { listed } => Finding::new(
            "OS-2",
            Severity::Blocker,
            subj,
            format!("{name} is not a supported version"),
        )
        .evidence(format!(
            "supported {distro} versions: {}",
            listed.join(", ")
        ))
        .fix("upgrade or reinstall on a supported release"),
        LinuxSupport::DistroNotListed => Finding::new(
            "OS-2",
            Severity::Blocker,
            subj,
            format!(
                "distribution {:?} is not supported",
                if distro.is_empty() { "unknown" } else { distro }
            ),
        )
        .evidence(format!(
            "distro: {:?}, version: {:?}",
            os.distro, os.version
        )),
    };
    vec![f]
}

/// OS-4: an end-of-life Linux release (listed in the matrix with `eol`).
pub fn os4_linux_eol(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let v = LinuxVersion::of(ctx, os);
    let (subj, name) = (os.root.as_str(), &v.name);
    match &v.matched.support {
        LinuxSupport::Supported { eol: true } => vec![
            Finding::new(
                "OS-4",
                ctx.severity("OS-4.end-of-life"),
                subj,
                format!("{name} is end of life"),
            )
            .evidence("imported, but untested by the import service")
            .fix("plan an upgrade to a supported release"),
        ],
        LinuxSupport::PointReleaseNotListed { eol: true, .. } => vec![Finding::new(
            "OS-4",
            ctx.severity("OS-4.end-of-life"),
            subj,
            format!("{name} is end of life"),
        )],
        _ => Vec::new(),
    }
}

/// OS-5: Linux distributions that need their own subscription.
pub fn os5_linux_licence(ctx: &Ctx, os: &OsFacts) -> Vec<Finding> {
    let v = LinuxVersion::of(ctx, os);
    if !matches!(v.distro.as_str(), "rhel" | "sles") {
        return Vec::new();
    }
    vec![
        Finding::new(
            "OS-5",
            Severity::Info,
            &os.root,
            format!("{} needs its own subscription", v.name),
        )
        .fix("bring your own licence/subscription"),
    ]
}

/// OS-3 for a Windows root whose registry facts are missing (then nothing else is judged).
pub fn windows_facts_missing(os: &OsFacts) -> Finding {
    Finding::new("OS-3", Severity::Warning, &os.root, "Windows facts missing")
        .evidence("the inspection holds no Windows registry facts for this root")
}

/// The Windows root against the OS matrix: the match and the product name used.
fn windows_match(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> (WindowsMatch, String) {
    let product = w.matrix_product.clone().unwrap_or_default();
    let edition = w.edition.clone().unwrap_or_default();
    let arch = os.arch.known().map(String::as_str).unwrap_or("");
    let m = ctx.profile.matrix.match_windows(&product, &edition, arch);
    (m, product)
}

/// OS-3: the Windows version, edition, architecture, installation type, boot mode and (client
/// editions) language against the OS matrix; unreadable SYSTEM/SOFTWARE hives first.
pub fn os3_windows_matrix(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let mut out: Vec<Finding> = w
        .unknown
        .iter()
        .filter(|(k, _)| *k == "system" || *k == "software")
        .map(|(k, why)| {
            Finding::new(
                "OS-3",
                Severity::Warning,
                subj,
                format!("{} hive could not be read", k.to_uppercase()),
            )
            .evidence(why.clone())
        })
        .collect();
    let sys = w.system.clone().unwrap_or_default();
    let (m, product) = windows_match(ctx, os, w);
    let named = format!(
        "{product} (EditionID {}, build {}, {})",
        w.edition.as_deref().unwrap_or_default(),
        w.build.as_deref().unwrap_or_default(),
        w.installation_type.as_deref().unwrap_or("type unknown")
    );
    let problems = match &m.entry {
        None => vec![format!("{named} is not in the accepted Windows versions")],
        Some(e) => os3_problems(&m, e, w, &sys),
    };
    let client_entry = m.entry.as_ref().filter(|e| e.client);
    out.push(match (problems.is_empty(), client_entry) {
        (true, Some(e)) => os3_client_accepted(e, w, &sys, &product, named, subj),
        (true, None) => Finding::new(
            "OS-3",
            Severity::Pass,
            subj,
            format!("{product} is accepted"),
        )
        .evidence(named),
        (false, _) => Finding::new(
            "OS-3",
            Severity::Blocker,
            subj,
            format!("{product} is not accepted as it is"),
        )
        .evidence(named)
        .evidences(problems)
        .fix("use an accepted Windows version, edition and boot mode (see the OS matrix)"),
    });
    out
}

/// Why a Windows root listed in the matrix is not accepted as it is (empty: accepted).
fn os3_problems(
    m: &WindowsMatch,
    e: &WindowsEntry,
    w: &WindowsFacts,
    sys: &SystemFacts,
) -> Vec<String> {
    let mut os3 = Vec::new();
    let edition = w.edition.as_deref().unwrap_or_default();
    if !m.edition_ok {
        os3.push(format!(
            "edition {edition} is not accepted for {} (accepted: {})",
            e.product,
            e.editions.join(", ")
        ));
    }
    if !m.arch_ok {
        os3.push(format!(
            "{} is accepted only as {}",
            e.product,
            e.arch.join(", ")
        ));
    }
    if let Some(t) = &w.installation_type {
        if e.refuse_installation_types
            .iter()
            .any(|r| r.eq_ignore_ascii_case(t))
        {
            os3.push(format!(
                "installation type {t} is refused for {}",
                e.product
            ));
        }
    }
    if e.requires_uefi && w.boot_mode.as_deref() != Some("uefi") {
        os3.push(format!(
            "{} needs UEFI; this installation boots {}",
            e.product,
            w.boot_mode.as_deref().unwrap_or("in an unknown mode")
        ));
    }
    if e.client {
        let lang = sys
            .language_default
            .clone()
            .or(sys.install_language.clone());
        match lang.as_deref() {
            Some(l) if l.eq_ignore_ascii_case("0409") => {}
            Some(l) => os3.push(format!(
                "client editions need US-English as the OS language; Nls\\Language Default is {l}"
            )),
            None => {}
        }
    }
    os3
}

/// OS-3 for an accepted client edition: accepted, with the conditions OS-3 puts on it.
fn os3_client_accepted(
    e: &WindowsEntry,
    w: &WindowsFacts,
    sys: &SystemFacts,
    product: &str,
    named: String,
    subj: &str,
) -> Finding {
    let mut ev = vec![
        named,
        "client editions are bring-your-own-licence (OS-5)".to_string(),
        format!(
            "OS language {} (US-English required)",
            sys.language_default.as_deref().unwrap_or("unknown")
        ),
    ];
    if e.requires_uefi {
        ev.push(format!(
            "{} needs UEFI: it boots {}",
            e.product,
            w.boot_mode.as_deref().unwrap_or("?")
        ));
    }
    Finding::new(
        "OS-3",
        Severity::Info,
        subj,
        format!("{product}: client edition, accepted on conditions"),
    )
    .evidences(ev)
}

/// OS-4: an end-of-life Windows version (listed in the matrix with `eol`).
pub fn os4_windows_eol(ctx: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let (m, _) = windows_match(ctx, os, w);
    let Some(e) = &m.entry else {
        return Vec::new();
    };
    let f = if e.eol {
        Finding::new(
            "OS-4",
            ctx.severity("OS-4.end-of-life"),
            subj,
            format!("{} is end of life", e.product),
        )
        .evidence("imported, but untested by the import service")
        .fix("plan an upgrade to a supported release")
    } else {
        Finding::new(
            "OS-4",
            Severity::Pass,
            subj,
            format!("{} is not end of life", e.product),
        )
    };
    vec![f]
}

/// OS-5: Windows Server or client (bring-your-own-licence), and SQL Server editions.
pub fn os5_windows_licence(_: &Ctx, os: &OsFacts, w: &WindowsFacts) -> Vec<Finding> {
    let subj = os.root.as_str();
    let itype = format!(
        "InstallationType {}",
        w.installation_type.as_deref().unwrap_or("?")
    );
    let mut out = Vec::new();
    match w.is_client() {
        Some(true) => out.push(
            Finding::new(
                "OS-5",
                Severity::Info,
                subj,
                "Windows client edition: bring-your-own-licence only",
            )
            .evidence(itype),
        ),
        Some(false) => {
            out.push(Finding::new("OS-5", Severity::Info, subj, "Windows Server").evidence(itype))
        }
        None => {}
    }
    let sql = w
        .software
        .as_ref()
        .map(|s| &s.sql_server[..])
        .unwrap_or(&[]);
    for q in sql {
        out.push(
            Finding::new(
                "OS-5",
                Severity::Info,
                subj,
                format!(
                    "SQL Server {} installed",
                    q.edition.as_deref().unwrap_or("(edition unknown)")
                ),
            )
            .evidence(format!(
                "instance {} ({}), version {}",
                q.name,
                q.id,
                q.version.as_deref().unwrap_or("?")
            )),
        );
    }
    out
}
