//! `guestfix plan` and `guestfix apply` on every Windows test image (issues 19 and 20): the
//! plan with the crafted driver folder (insta snapshot: what a migration engineer audits), then
//! apply into a qcow2 overlay, judged by tools that are not ours — `qemu-img check`, `ntfsfix -n`
//! on every NTFS partition, ntfs-3g's `ntfscat` and mtools' `mcopy` reading every written file
//! back, hivex (`hivexregedit --export`, `hivexget`) reading every written hive and every value
//! the plan sets, the Linux kernel (ntfs3 and vfat in the libguestfs appliance) mounting every
//! written partition and reading every written file — and by our own reader: the backups hold
//! the original bytes, `check` passes GEN-4, WIN-3 and WIN-7 afterwards, a second plan is empty,
//! and the source is untouched.
//!
//! Requirement IDs: MOD-W1, MOD-W2, MOD-W3, GEN-4, WIN-3, WIN-7, WIN-8.
//! GUESTFIX_TEST_IMAGES names the images folder (scripts/test.sh sets it).
//! Debian packages: qemu-utils, ntfs-3g, mtools, libhivex-bin, libguestfs-tools (the appliance
//! runs the newest Debian kernel package, which has ntfs3: scripts/libguestfs-env.sh).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{guestfish, images_dir, ok, run};

const DRIVERS: &str = "tests/data/windows-drivers";

fn gf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(args)
        .output()
        .expect("run guestfix")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn index_entry(dir: &Path, name: &str) -> Option<Value> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
}

/// A partition of a raw disk copied out to its own file (ntfs-3g tools take a device or file).
fn extract(raw: &Path, part: &Value, out: &Path) {
    let start = part["start"].as_u64().unwrap();
    let size = part["size"].as_u64().unwrap();
    ok(
        &run(
            "dd",
            &[
                &format!("if={}", s(raw)),
                &format!("of={}", s(out)),
                "bs=1M",
                &format!("skip={}", start / 1048576),
                &format!("count={}", size.div_ceil(1048576)),
                "status=none",
            ],
        ),
        "dd",
    );
}

/// A file read back by the filesystem's own tools (ntfscat, mcopy).
fn read_back(raw: &Path, part: &Value, part_file: &Path, inner: &str, scratch: &Path) -> Vec<u8> {
    match part["fs"].as_str().unwrap() {
        "ntfs" => ok(
            &run("ntfscat", &[s(part_file), inner]),
            &format!("ntfscat {inner}"),
        ),
        "vfat" => {
            let out = scratch.join("mcopy.out");
            let _ = std::fs::remove_file(&out);
            let img = format!("{}@@{}", s(raw), part["start"].as_u64().unwrap());
            ok(
                &run("mcopy", &["-n", "-i", &img, &format!("::{inner}"), s(&out)]),
                &format!("mcopy {inner}"),
            );
            std::fs::read(&out).unwrap()
        }
        other => panic!("no tool for {other}"),
    }
}

/// The `+"name"=dword:…` lines of a `.reg` diff, with their key: what hivexget must read back.
fn planned_dwords(diff: &str, root: &str) -> Vec<(String, String, u32)> {
    let mut key = String::new();
    let mut out = Vec::new();
    for l in diff.lines() {
        if let Some(h) = l
            .strip_prefix("+[")
            .or_else(|| l.strip_prefix(" ["))
            .and_then(|h| h.strip_suffix(']'))
        {
            key = h.strip_prefix(root).unwrap_or(h).to_string();
        } else if let Some(v) = l.strip_prefix("+\"") {
            if let Some((name, val)) = v.split_once("\"=dword:") {
                out.push((
                    key.clone(),
                    name.to_string(),
                    u32::from_str_radix(val, 16).unwrap(),
                ));
            }
        }
    }
    out
}

/// What apply must do with an image.
enum Expect {
    /// Write the plan (or nothing, when the plan is empty).
    Apply,
    /// Refuse before writing anything, naming this reason (GEN-5: a hibernated or Fast Startup
    /// volume is never written).
    Refuse(&'static str),
}

fn apply_windows(name: &str, with_drivers: bool, expect: Expect) {
    let Some(dir) = images_dir() else { return };
    let Some(img) = index_entry(&dir, name) else {
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "{name} not in index.json"
        );
        eprintln!("*** SKIPPED {name}: not in index.json ***");
        return;
    };
    let source = dir.join(img["file"].as_str().unwrap());
    let before = sha(&source);
    let scratch = tempfile::tempdir().unwrap();

    // The plan, as the engineer reads it (with the driver folder).
    let text = String::from_utf8(ok(
        &gf(&["plan", "--drivers", DRIVERS, s(&source)]),
        &format!("{name}: plan"),
    ))
    .unwrap()
    .replace(s(&dir), "<images>");
    insta::assert_snapshot!(format!("{name}_plan"), text);

    // Apply into an overlay.
    let out = scratch.path().join(format!("{name}.fixed.qcow2"));
    let mut args = vec!["apply", "--json", s(&source), "--out", s(&out)];
    if with_drivers {
        args.extend(["--drivers", DRIVERS]);
    }
    let o = gf(&args);
    if let Expect::Refuse(why) = expect {
        assert!(!o.status.success(), "{name}: apply must refuse");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(why),
            "{name}: refusal does not say {why:?}: {err}"
        );
        assert!(
            !out.exists(),
            "{name}: a refused apply left {}",
            out.display()
        );
        assert_eq!(sha(&source), before, "{name}: source changed");
        return;
    }
    let report: Value = serde_json::from_slice(&ok(&o, &format!("{name}: apply"))).unwrap();
    if report["unchanged"] == true {
        // nothing to change (without a driver folder): the plan must say so too
        let p: Value =
            serde_json::from_slice(&ok(&gf(&["plan", "--json", s(&source)]), "plan")).unwrap();
        for p in p.as_array().unwrap() {
            assert!(p["changes"].as_array().unwrap().is_empty(), "{name}: {p}");
        }
        assert_eq!(sha(&source), before, "{name}: source changed");
        return;
    }
    ok(&run("qemu-img", &["check", s(&out)]), "qemu-img check");
    let raw = scratch.path().join(format!("{name}.raw"));
    ok(
        &run("qemu-img", &["convert", "-O", "raw", s(&out), s(&raw)]),
        "qemu-img convert",
    );
    let parts = img["partitions"].as_array().unwrap().clone();
    let mut part_files: Vec<(Value, PathBuf, PathBuf)> = Vec::new();
    for p in &parts {
        let n = p["number"].as_u64().unwrap();
        let f = scratch.path().join(format!("p{n}"));
        let fo = scratch.path().join(format!("orig-p{n}"));
        if p["fs"] == "ntfs" {
            extract(&raw, p, &f);
            extract(&source, p, &fo);
            let o = run("ntfsfix", &["-n", s(&f)]);
            let t = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                o.status.success() && !t.to_lowercase().contains("error"),
                "{name} p{n}: ntfsfix -n:\n{t}"
            );
        }
        part_files.push((p.clone(), f, fo));
    }
    let windows = parts.iter().find(|p| p["role"] == "windows").unwrap()["number"]
        .as_u64()
        .unwrap();
    let locate = |path: &str| -> (usize, String) {
        let (num, inner) = match path.split_once(':') {
            Some((dev, p)) => (
                dev.trim_start_matches("/dev/sda").parse::<u64>().unwrap(),
                p.to_string(),
            ),
            None => (windows, path.to_string()),
        };
        let i = part_files
            .iter()
            .position(|(p, ..)| p["number"].as_u64() == Some(num))
            .unwrap();
        (i, inner)
    };
    let plans = report["plans"].as_array().unwrap();
    let changes: Vec<&Value> = plans
        .iter()
        .flat_map(|p| p["changes"].as_array().unwrap())
        .collect();
    assert!(!changes.is_empty(), "{name}: nothing applied");
    // What the kernel must read: (partition number, path, sha256).
    let mut kernel_reads: Vec<(u64, String, String)> = Vec::new();
    let sha_hex = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    for c in &changes {
        let path = c["path"].as_str().unwrap();
        let (i, inner) = locate(path);
        let (p, f, fo) = &part_files[i];
        let got = read_back(&raw, p, f, &inner, scratch.path());
        let num = p["number"].as_u64().unwrap();
        kernel_reads.push((num, inner.clone(), sha_hex(&got)));
        match c["kind"].as_str().unwrap() {
            "edit_hive" => {
                let hf = scratch.path().join("hive");
                std::fs::write(&hf, &got).unwrap();
                ok(
                    &run("hivexregedit", &["--export", s(&hf), "\\"]),
                    &format!("{name}: hivexregedit --export {path}"),
                );
                let root = c["root"].as_str().unwrap();
                let want = planned_dwords(c["diff"].as_str().unwrap(), root);
                assert!(
                    !want.is_empty() || !c["diff"].as_str().unwrap().contains("dword"),
                    "{name}"
                );
                for (key, vname, v) in want {
                    let o = run("hivexget", &[s(&hf), &key, &vname]);
                    let txt =
                        String::from_utf8(ok(&o, &format!("hivexget {key} {vname}"))).unwrap();
                    assert_eq!(txt.trim(), v.to_string(), "{name}: {path} {key} {vname}");
                }
                // the backup holds the original bytes (read from the source by ntfs-3g / mtools)
                let b = c["backup"].as_str().expect("hive backup");
                let (_, binner) = locate(b);
                let orig = read_back(&source, p, fo, &inner, scratch.path());
                kernel_reads.push((num, binner.clone(), sha_hex(&orig)));
                assert_eq!(
                    read_back(&raw, p, f, &binner, scratch.path()),
                    orig,
                    "{name}: backup {b}"
                );
                assert_ne!(got, orig, "{name}: {path} unchanged");
            }
            "add_file" => {
                assert_eq!(
                    got.len() as u64,
                    c["size"].as_u64().unwrap(),
                    "{name}: {path}"
                );
                assert_eq!(
                    sha_hex(&got),
                    c["sha256"].as_str().unwrap(),
                    "{name}: {path}"
                );
            }
            "edit_file" => {}
            other => panic!("{name}: unexpected change {other}"),
        }
    }

    kernel_judge(name, &raw, &parts, &kernel_reads);

    // Our own reading of the result: the checks the plan fixes pass, a second plan is empty.
    let chk: Value = serde_json::from_slice(
        &gf(&["--allow-outside-backing", "check", "--json", s(&out)]).stdout,
    )
    .unwrap();
    for f in chk["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap_or("");
        if ["GEN-4", "WIN-3", "WIN-7"].contains(&id) {
            assert_eq!(f["severity"], "pass", "{name}: after apply {f}");
        }
    }
    let mut pargs = vec!["--allow-outside-backing", "plan", "--json", s(&out)];
    if with_drivers {
        pargs.extend(["--drivers", DRIVERS]);
    }
    let again: Value =
        serde_json::from_slice(&ok(&gf(&pargs), &format!("{name}: plan again"))).unwrap();
    for p in again.as_array().unwrap() {
        assert!(
            p["changes"].as_array().unwrap().is_empty(),
            "{name}: second plan not empty: {p}"
        );
    }
    assert_eq!(sha(&source), before, "{name}: source changed");
}

/// The Linux kernel reads the written disk back (issue 20): every written partition mounted
/// read-only by the kernel's own driver (`ntfs3`, `vfat`) in the libguestfs appliance, every
/// folder walked (`find0`: each directory index parsed by the kernel), every written file and
/// backup read with the bytes our plan says, and the kernel logs no complaint about the volume.
fn kernel_judge(name: &str, raw: &Path, parts: &[Value], reads: &[(u64, String, String)]) {
    let mut script = format!("add {} readonly:true format:raw\nrun\n", s(raw));
    let mut expect = Vec::new();
    let mut mounted = Vec::new();
    for p in parts {
        let n = p["number"].as_u64().unwrap();
        let vfs = match p["fs"].as_str().unwrap() {
            "ntfs" => "ntfs3",
            "vfat" => "vfat",
            _ => continue,
        };
        let mine: Vec<_> = reads.iter().filter(|r| r.0 == n).collect();
        if mine.is_empty() {
            continue;
        }
        mounted.push(n);
        script += &format!("mount-vfs ro {vfs} /dev/sda{n} /\nfind0 / /dev/null\n");
        for (_, path, sha) in mine {
            script += &format!("checksum sha256 \"{path}\"\n");
            expect.push(format!("{sha}  p{n}:{path}"));
        }
        script += "umount /\n";
    }
    script += "debug sh \"dmesg\"\n";
    let Some(o) = guestfish(&script, true) else {
        return;
    };
    let out = String::from_utf8(ok(&o, &format!("{name}: guestfish (kernel ntfs3/vfat)"))).unwrap();
    let mut lines = out.lines();
    for e in &expect {
        let (want, path) = e.split_once("  ").unwrap();
        let got = lines.next().unwrap_or("");
        assert_eq!(got, want, "{name}: the kernel reads {path} differently");
    }
    let complaints: Vec<&str> = lines
        .filter(|l| l.contains("ntfs3") || (l.contains("FAT-fs") && l.contains("rror")))
        .collect();
    assert!(
        complaints.is_empty(),
        "{name}: the kernel complains about partitions {mounted:?}:\n{}",
        complaints.join("\n")
    );
    assert!(!expect.is_empty(), "{name}: nothing for the kernel to read");
}

#[test]
fn win2019() {
    apply_windows("win2019", true, Expect::Apply);
}
/// Its hiberfil.sys holds a `hibr` signature in 37 bytes (no resumable image, a GEN-5
/// warning): written.
#[test]
fn win2012r2() {
    apply_windows("win2012r2", true, Expect::Apply);
}
#[test]
fn win2022_bios() {
    apply_windows("win2022-bios", true, Expect::Apply);
}
/// Hibernated (a whole `HIBR` page): refused before anything is written (GEN-5).
#[test]
fn win2022_uefi_hibernated_is_refused() {
    apply_windows(
        "win2022-uefi",
        true,
        Expect::Refuse("hibernated or used Fast Startup"),
    );
}
#[test]
fn win10() {
    apply_windows("win10", true, Expect::Apply);
}
#[test]
fn win11() {
    apply_windows("win11", true, Expect::Apply);
}
