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

mod common;
use common::images_dir;

fn index(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let v: Value = serde_json::from_str(&text).expect("index.json parses");
    v["images"].as_array().expect("images array").clone()
}

/// The requirement IDs a defect names ("MOD-L2/GEN-4: …", "MOD-W1/W2: …"), plus the check IDs
/// that judge a modification: MOD-* are changes the service makes; `check` reports the
/// requirement that makes them necessary.
fn ids_of(defect: &str) -> Vec<String> {
    let head = defect.split(':').next().unwrap_or("");
    let mut ids: Vec<String> = Vec::new();
    let mut prefix = String::new();
    for part in head.split('/').map(str::trim) {
        let id = if part.contains('-') {
            prefix = part.split('-').next().unwrap_or("").to_string();
            part.to_string()
        } else {
            format!("{prefix}-{part}")
        };
        ids.push(id);
    }
    let mut extra = Vec::new();
    for id in &ids {
        match id.as_str() {
            "MOD-L1" => extra.push("LNX-3"),
            "MOD-L2" => extra.push("GEN-4"),
            "MOD-W1" | "MOD-W2" => extra.extend(["WIN-2", "WIN-9"]),
            "MOD-W3" => extra.extend(["WIN-3", "WIN-8"]),
            _ => {}
        }
    }
    ids.extend(extra.into_iter().map(str::to_string));
    ids.retain(|s| s.contains('-') && !s.ends_with('-'));
    ids
}

/// A defect that says it is fine ("(fine: …)", "(resolvable)") must be judged (a finding with
/// its ID, any severity), not flagged.
fn informational(defect: &str) -> bool {
    defect.contains("(fine") || defect.contains("(resolvable)")
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
        let res = inspect(std::slice::from_ref(&file), &opts);
        if damaged {
            // What each kind of damage must give: the on-disk reason in the error (which names
            // the file), and the FMT-3 finding `check` turns it into (the service's message).
            let fname = file.file_name().unwrap().to_str().unwrap().to_string();
            let kinds: [(&str, Option<&str>, &str); 5] = [
                (
                    "truncated.qcow2",
                    Some("truncated"),
                    "the image is damaged and cannot be read",
                ),
                (
                    "l2-past-end.qcow2",
                    Some("lies past the end of the file"),
                    "the image is damaged and cannot be read",
                ),
                (
                    "footer-mismatch.vhd",
                    Some("footers are not identical"),
                    "footers are not identical",
                ),
                (
                    "corrupt-grain.vmdk",
                    Some("VMDK grain"),
                    "uncompressed data has an invalid length",
                ),
                // No qcow2 magic: read as raw, as qemu does; check finds no disk in it.
                (
                    "badmagic.qcow2",
                    None,
                    "disk-image-size = 0 has an invalid format",
                ),
            ];
            let Some((_, reason, title)) = kinds.iter().find(|(k, _, _)| fname.ends_with(k)) else {
                failures.push(format!("{name}: no expectation for this damage ({fname})"));
                continue;
            };
            let finding = match (res, reason) {
                (Err(e), Some(reason)) => {
                    let msg = e.to_string();
                    if !msg.contains(&fname) || !msg.contains(reason) {
                        failures.push(format!(
                            "{name}: error should name {fname} and say {reason:?}: {msg}"
                        ));
                    }
                    let r = check::image_error_report(&fname, &msg, &profile);
                    r.findings.into_iter().next()
                }
                (Ok(i), None) => {
                    let r = check::run(&i.inspection, &profile, "2026-11-22");
                    r.findings
                        .into_iter()
                        .find(|f| f.id.starts_with("FMT-") && f.title == *title)
                }
                (Err(e), None) => {
                    failures.push(format!("{name}: expected to open (as raw): {e}"));
                    None
                }
                (Ok(_), Some(reason)) => {
                    failures.push(format!("{name}: opened, but should fail with {reason:?}"));
                    None
                }
            };
            match finding {
                Some(f)
                    if f.id == "FMT-3" && f.severity == Severity::Blocker && f.title == *title => {}
                other => failures.push(format!(
                    "{name}: want an FMT-3 blocker {title:?}, got {other:?}"
                )),
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
        // An encrypted root cannot be read (GEN-3): only the defects are checked.
        let encrypted_root = os.get("encrypted_root").is_some();
        if os.is_object() && !encrypted_root {
            let Some(f) = i.inspection.operating_systems.first() else {
                failures.push(format!("{name}: no OS found"));
                continue;
            };
            // index.json may use os-release IDs; inspection reports virt-inspector's names.
            let want = |k: &str| {
                os[k].as_str().map(|v| match (k, v) {
                    ("distro", "amzn") => "amazonlinux".to_string(),
                    _ => v.to_string(),
                })
            };
            let eq = |what: &str, got: Option<String>, want: Option<String>| -> Option<String> {
                match want {
                    Some(w) if got.as_deref() != Some(w.as_str()) => {
                        Some(format!("{name}: {what}: got {got:?}, want {w:?}"))
                    }
                    _ => None,
                }
            };
            let got_type = Some(f.os_type.clone());
            let checks = [
                eq("type", got_type, want("type")),
                eq("distro", f.distro.known().cloned(), want("distro")),
                eq("arch", f.arch.known().cloned(), want("arch")),
                eq("hostname", f.hostname.known().cloned(), want("hostname")),
                eq(
                    "package_format",
                    f.package_format.known().cloned(),
                    want("package_format"),
                ),
                eq(
                    "package_management",
                    f.package_management.known().cloned(),
                    want("package_management"),
                ),
                eq(
                    "major version",
                    f.major_version.known().map(|v| v.to_string()),
                    want("version").map(|v| v.split('.').next().unwrap_or("").to_string()),
                ),
                eq(
                    "default kernel",
                    f.bootloader
                        .known()
                        .and_then(|b| b.default_kernel_version.clone()),
                    want("kernel"),
                ),
                eq(
                    "bootloader",
                    f.bootloader.known().map(|b| b.kind.clone()),
                    want("bootloader"),
                ),
            ];
            failures.extend(checks.into_iter().flatten());
            // Installed packages (dpkg, rpmdb.sqlite): as many as the builder installed.
            if let Some(n) = os["applications"].as_u64() {
                match f.applications.known() {
                    Some(a) if a.len() as u64 == n => {}
                    Some(a) => failures.push(format!("{name}: {} applications, want {n}", a.len())),
                    None => failures.push(format!(
                        "{name}: applications unknown: {:?}",
                        f.applications
                    )),
                }
            }
            // Partitions: filesystem type and UUID as recorded.
            for p in img["partitions"].as_array().cloned().unwrap_or_default() {
                let (Some(fs), Some(uuid)) = (p["fs"].as_str(), p["uuid"].as_str()) else {
                    continue;
                };
                if uuid.is_empty() {
                    continue;
                }
                let found = i.inspection.all_volumes().any(|v| {
                    v.content.as_deref() == Some(fs)
                        && v.uuid.as_deref().map(str::to_ascii_lowercase)
                            == Some(uuid.to_ascii_lowercase())
                });
                if !found {
                    failures.push(format!(
                        "{name}: partition {} {fs} UUID={uuid} not reported",
                        p["number"]
                    ));
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
            let info = informational(d);
            let hit = report
                .findings
                .iter()
                .any(|f| (info || f.severity != Severity::Pass) && ids.contains(&f.id));
            if !hit {
                failures.push(format!("{name}: defect not found by check: {d}"));
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "index.json lists no images");
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("e2e: {checked} images checked against index.json");
}
