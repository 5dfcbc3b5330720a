//! `guestfix inspect IMAGE...` (human, `--json`, `--xml`) and `guestfix check IMAGE...`.

use super::{CliError, EXIT_FINDINGS, EXIT_OK};
use guestfix::check;
use guestfix::guest::inspect::{InspectError, InspectOptions, Inspected, inspect};
use guestfix::guest::report;
use guestfix::rules::RulesSource;
use std::io::Write;
use std::path::PathBuf;

/// Map an inspection error: a damaged or unsupported image is exit 1, a host I/O error exit 2.
pub fn inspect_err(e: InspectError) -> CliError {
    match &e {
        InspectError::Block(b) if b.is_access() => CliError::usage(e.to_string()),
        _ => CliError::image(e.to_string()),
    }
}

/// Inspection options from the command line.
pub fn inspect_options() -> InspectOptions {
    InspectOptions {
        block: super::block_options(),
        ..Default::default()
    }
}

fn print(s: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| CliError::usage(e.to_string()))
}

pub fn json_string<T: serde::Serialize>(v: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| CliError::usage(e.to_string()))
}

pub fn run_inspect(images: &[PathBuf], json: bool, xml: bool, quick: bool) -> Result<u8, CliError> {
    let opts = InspectOptions {
        skip_initramfs: quick,
        ..inspect_options()
    };
    let i = inspect(images, &opts).map_err(inspect_err)?;
    let out = if json {
        json_string(&i.inspection)?
    } else if xml {
        report::to_xml(&i.inspection)
    } else {
        report::to_text(&i.inspection)
    };
    print(&out)?;
    Ok(if i.inspection.operating_systems.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Today's UTC date as YYYY-MM-DD (`GUESTFIX_TODAY` overrides it, for reproducible runs).
pub fn today() -> String {
    if let Ok(t) = std::env::var("GUESTFIX_TODAY") {
        return t;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = guestfix::civil::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn load_profile(target: &str) -> Result<guestfix::rules::Profile, CliError> {
    RulesSource::from_env()
        .load(target)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// The profile with the driver folder of `--drivers DIR` given to the rules that take one.
pub fn load_profile_with_drivers(
    target: &str,
    drivers: Option<&std::path::Path>,
) -> Result<guestfix::rules::Profile, CliError> {
    let mut p = load_profile(target)?;
    if let Some(d) = drivers {
        if !d.is_dir() {
            return Err(CliError::usage(format!(
                "--drivers {}: not a folder",
                d.display()
            )));
        }
        if p.set_drivers_dir(&d.display().to_string()) == 0 {
            return Err(CliError::usage(format!(
                "--drivers: no rule of target {target} takes a driver folder"
            )));
        }
    }
    Ok(p)
}

pub fn run_check(
    images: &[PathBuf],
    json: bool,
    target: &str,
    quick: bool,
) -> Result<u8, CliError> {
    let profile = load_profile(target)?;
    let opts = InspectOptions {
        skip_initramfs: quick,
        ..inspect_options()
    };
    let report = match inspect(images, &opts) {
        Ok(i) => check::run(&i.inspection, &profile, &today()),
        // A host I/O error (missing file, permission) is exit 2; an image the service would
        // refuse or that is damaged is a finding (FMT-2, FMT-3), exit 1.
        Err(InspectError::Block(e)) if e.is_access() => {
            return Err(inspect_err(InspectError::Block(e)));
        }
        Err(e) => {
            check::image_error_report(&images[0].display().to_string(), &e.to_string(), &profile)
        }
    };
    let out = if json {
        json_string(&report)?
    } else {
        check::render_text(&report)
    };
    print(&out)?;
    Ok(if report.has_blockers() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// `guestfix plan IMAGE...`: the changes `apply` would make, as unified diffs.
pub fn run_plan(
    images: &[PathBuf],
    json: bool,
    target: &str,
    quick: bool,
    drivers: Option<&std::path::Path>,
) -> Result<u8, CliError> {
    let profile = load_profile_with_drivers(target, drivers)?;
    let opts = InspectOptions {
        skip_initramfs: quick,
        ..inspect_options()
    };
    let i = inspect(images, &opts).map_err(inspect_err)?;
    let plans = plans_for(&i, &profile)?;
    let out = if json {
        json_string(&plans)?
    } else {
        plans
            .iter()
            .map(|p| p.render_text())
            .collect::<Vec<_>>()
            .join("\n")
    };
    print(&out)?;
    Ok(if i.inspection.operating_systems.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// One plan per guest found.
pub fn plans_for(
    i: &Inspected,
    profile: &guestfix::rules::Profile,
) -> Result<Vec<guestfix::plan::Plan>, CliError> {
    guestfix::plan::planner::plans_for(i, profile).map_err(|e| CliError::usage(e.to_string()))
}
