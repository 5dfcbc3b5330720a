//! guestfix as a library: inspect a disk image, check it against a target profile and print
//! the plan of changes, as `guestfix check` and `guestfix plan` would.
//!
//! ```sh
//! cargo run --release --example inspect_and_plan -- [IMAGE...] [--target ec2]
//! ```
//!
//! Without an image it reads the bundled sample (`test-images/sample.qcow2`). Exit status: 0
//! when a plan was made, 1 when the image cannot be read or holds no OS, 2 on a usage or
//! profile error.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut images = Vec::new();
    let mut target = String::from("ec2");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => match args.next() {
                Some(t) => target = t,
                None => {
                    eprintln!("inspect_and_plan: --target needs a value");
                    return ExitCode::from(2);
                }
            },
            _ => images.push(PathBuf::from(a)),
        }
    }
    if images.is_empty() {
        images.push(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test-images/sample.qcow2"
        )));
    }

    // The target profile: the built-in one, or the folder GUESTFIX_RULES_DIR names.
    let profile = match guestfix::RulesSource::from_env().load(&target) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("inspect_and_plan: {e}");
            return ExitCode::from(2);
        }
    };

    // Open and inspect the disk set (several images form one set).
    let inspected = match guestfix::inspect(&images, &guestfix::InspectOptions::default()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("inspect_and_plan: {e}");
            return ExitCode::from(1);
        }
    };
    let insp = &inspected.inspection;
    for img in &insp.images {
        println!(
            "image {}: {} ({} bytes virtual)",
            img.path, img.format, img.virtual_size
        );
    }
    if insp.operating_systems.is_empty() {
        eprintln!("inspect_and_plan: no operating system found");
        return ExitCode::from(1);
    }
    for os in &insp.operating_systems {
        // A fact is known, or unknown with the reason why.
        let product = match &os.product_name {
            guestfix::Fact::Known(p) => p.clone(),
            guestfix::Fact::Unknown { unknown } => format!("(product unknown: {unknown})"),
        };
        println!("os {}: {} {}", os.root, os.os_type, product);
    }

    // Check: every finding of the profile's requirements, blockers first. Some requirements
    // depend on the date (OS-1 refuses 32-bit guests from a given day): today, in UTC.
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let (y, m, d) = guestfix::civil::civil_from_days(days as i64);
    let today = format!("{y:04}-{m:02}-{d:02}");
    let report = guestfix::check(insp, &profile, &today);
    println!(
        "check (target {}): {} blocker(s), {} warning(s)",
        report.target, report.blockers, report.warnings
    );
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity != guestfix::Severity::Pass)
    {
        println!("  {} {} {}", f.severity.as_str(), f.id, f.title);
    }

    // Plan: one plan per guest; nothing is written.
    let plans = match guestfix::plans_for(&inspected, &profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("inspect_and_plan: {e}");
            return ExitCode::from(2);
        }
    };
    for p in &plans {
        println!("plan for {}: {} change(s)", p.root, p.changes.len());
        for c in &p.changes {
            println!("  {} {} ({})", c.requirement, c.change.path(), c.rule);
        }
        print!("{}", p.render_text());
    }
    ExitCode::SUCCESS
}
