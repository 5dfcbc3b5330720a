//! The `guestfix` command on the bundled sample (test-images/sample.qcow2): a small Debian 12
//! guest with the defects of debian12-bios. These run with a plain `cargo test`.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const SAMPLE: &str = "test-images/sample.qcow2";
const ROOT_UUID: &str = "6d0d1b2a-5c1e-4f3e-9a61-d12b105a0001";

fn gf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(args)
        .output()
        .expect("run guestfix")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(args: &[&str]) -> (Value, i32) {
    let o = gf(args);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (v, o.status.code().unwrap_or(-1))
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn inspect_reports_the_guest() {
    let (v, code) = json(&["inspect", "--json", SAMPLE]);
    assert_eq!(code, 0);
    assert_eq!(v["images"][0]["format"], "qcow2");
    let os = &v["operating_systems"][0];
    assert_eq!(os["root"], "/dev/sda1");
    assert_eq!(os["os_type"], "linux");
    assert_eq!(os["distro"], "debian");
    assert_eq!(os["major_version"], 12);
    assert_eq!(os["hostname"], "debian12-sample");
    assert_eq!(os["arch"], "x86_64");
    assert_eq!(os["package_format"], "deb");
    assert_eq!(os["package_management"], "apt");
    assert_eq!(os["bootloader"]["kind"], "grub2");
    assert_eq!(os["bootloader"]["default_kernel_version"], "6.1.0-50-amd64");
    assert!(
        os["bootloader"]["default_cmdline"]
            .as_str()
            .unwrap()
            .contains("root=/dev/sda1")
    );
    assert_eq!(os["boot_modes"]["bios"], true);
    let k = &os["kernels"][0];
    assert_eq!(k["initramfs_readable"], true);
    let drivers: Vec<&str> = k["initramfs_drivers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert!(
        drivers.contains(&"virtio_blk") && drivers.contains(&"nvme"),
        "{drivers:?}"
    );
    let unresolved: Vec<&str> = os["unresolved_fstab"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["spec"].as_str())
        .collect();
    assert_eq!(unresolved, ["/dev/sdb1", "/dev/sr0"]);
    let net = &os["network"]["interfaces"][0];
    assert_eq!(net["name"], "eth0");
    assert_eq!(net["dhcp4"], false);
    assert!(os["applications"].as_array().unwrap().len() > 10);
    // Facts come from a few blocks, not the whole image.
    let read = v["bytes_read"].as_u64().unwrap();
    assert!(read > 0 && read < 8 << 20, "{read} bytes read");
}

#[test]
fn inspect_xml_validates_against_virt_inspector_schema() {
    let o = gf(&["inspect", "--xml", SAMPLE]);
    assert!(o.status.success());
    let xml = stdout(&o);
    assert!(
        xml.contains("<distro>debian</distro>")
            && xml.contains("<hostname>debian12-sample</hostname>")
    );
    assert!(xml.contains(&format!("<uuid>{ROOT_UUID}</uuid>")));
    let rng = Path::new("/usr/share/doc/guestfs-tools/virt-inspector.rng.gz");
    if !rng.exists() || Command::new("xmllint").arg("--version").output().is_err() {
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "xmllint and guestfs-tools are required under scripts/test.sh"
        );
        eprintln!("*** SKIPPED schema validation: xmllint or virt-inspector.rng missing ***");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let schema = t.path().join("virt-inspector.rng");
    let z = Command::new("gzip").arg("-dc").arg(rng).output().unwrap();
    std::fs::write(&schema, z.stdout).unwrap();
    let doc = t.path().join("out.xml");
    std::fs::write(&doc, xml).unwrap();
    let v = Command::new("xmllint")
        .args(["--noout", "--relaxng"])
        .arg(&schema)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn check_finds_every_defect_and_exits_1() {
    let (v, code) = json(&["check", "--json", SAMPLE]);
    assert_eq!(code, 1, "a blocker means exit 1");
    let f = v["findings"].as_array().unwrap();
    let with = |sev: &str| -> Vec<String> {
        f.iter()
            .filter(|x| x["severity"] == sev)
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    // qcow2 is not an accepted upload format (FMT-1): the only blocker.
    assert_eq!(with("blocker"), ["FMT-1"]);
    let w = with("warning");
    for id in ["GEN-4", "LNX-4", "MOD-L3", "MOD-L4"] {
        assert!(w.contains(&id.to_string()), "{id} in {w:?}");
    }
    let p = with("pass");
    for id in [
        "OS-1", "LNX-1", "LNX-5", "LNX-6", "LNX-7", "LNX-8", "BOOT-2", "BOOT-5", "GEN-3", "GEN-7",
    ] {
        assert!(p.contains(&id.to_string()), "{id} passes: {p:?}");
    }
    let fstab = f
        .iter()
        .find(|x| x["id"] == "MOD-L3" && x["title"].as_str().unwrap().contains("/srv/data"))
        .unwrap();
    assert!(
        fstab["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("/etc/fstab:16: /dev/sdb1")
    );
}

#[test]
fn quick_check_skips_only_the_initramfs() {
    let (full, full_code) = json(&["check", "--json", SAMPLE]);
    let (quick, quick_code) = json(&["check", "--json", "--quick", SAMPLE]);
    assert_eq!(quick_code, full_code);
    let by_id = |v: &Value, id: &str| -> Vec<(String, String)> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["id"] == id)
            .map(|x| {
                (
                    x["severity"].as_str().unwrap().into(),
                    x["title"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(by_id(&full, "LNX-8")[0].0, "pass");
    let q8 = by_id(&quick, "LNX-8");
    assert_eq!(q8.len(), 1);
    assert_eq!(q8[0].0, "info");
    assert!(q8[0].1.contains("not examined"), "{q8:?}");
    // Everything not about the initramfs is judged the same.
    let strip = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["id"] != "LNX-8" && x["id"] != "LNX-3")
            .map(|x| x.to_string())
            .collect()
    };
    assert_eq!(strip(&quick), strip(&full));
}

#[test]
fn quick_plan_has_the_same_changes_and_says_what_it_left_out() {
    let (full, full_code) = json(&["plan", "--json", SAMPLE]);
    let (quick, quick_code) = json(&["plan", "--json", "--quick", SAMPLE]);
    assert_eq!((quick_code, full_code), (0, 0));
    assert!(!full[0]["changes"].as_array().unwrap().is_empty());
    assert_eq!(quick[0]["changes"], full[0]["changes"]);
    let notes = |v: &Value| -> Vec<String> {
        v[0]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.to_string())
            .collect()
    };
    let (fnotes, qnotes) = (notes(&full), notes(&quick));
    assert!(
        qnotes
            .iter()
            .any(|n| n.contains("initramfs not examined (--quick)")),
        "{qnotes:?}"
    );
    assert!(!fnotes.iter().any(|n| n.contains("--quick")), "{fnotes:?}");
    // Only the MOD-L1 driver report differs.
    let others = |n: &[String]| -> Vec<String> {
        n.iter()
            .filter(|n| !n.contains("initramfs"))
            .cloned()
            .collect()
    };
    assert_eq!(others(&qnotes), others(&fnotes));
}

#[test]
fn plan_shows_the_fixes_as_diffs() {
    let o = gf(&["plan", SAMPLE]);
    assert_eq!(o.status.code(), Some(0));
    let t = stdout(&o);
    for want in [
        "--- a/etc/fstab",
        "-/dev/sda1       /               ext4",
        &format!("+UUID={ROOT_UUID}       /               ext4"),
        "defaults,nofail",
        "+# guestfix: disabled (non-standard type cifs)",
        "--- a/etc/network/interfaces",
        "+iface eth0 inet dhcp",
        "--- a/boot/grub/grub.cfg",
        &format!("root=UUID={ROOT_UUID} ro"),
        "net.ifnames=0 biosdevname=0",
        "# keep original /etc/fstab as /etc/fstab.guestfix-orig",
    ] {
        assert!(t.contains(want), "plan lacks {want:?}:\n{t}");
    }
    let (v, _) = json(&["plan", "--json", SAMPLE]);
    let paths: Vec<&str> = v[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/fstab",
            "/etc/network/interfaces",
            "/boot/grub/grub.cfg",
            "/etc/default/grub"
        ]
    );
}

#[test]
fn apply_writes_an_overlay_that_is_clean_and_fixed() {
    let t = tempfile::tempdir().unwrap();
    let before = sha256(Path::new(SAMPLE));
    let out = t.path().join("fixed.qcow2");
    let o = gf(&["apply", SAMPLE, "--out", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["written"].as_array().unwrap().len(), 4);
    assert!(
        r["written"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["verified"] == true)
    );
    assert_eq!(sha256(Path::new(SAMPLE)), before, "source untouched");
    // qemu-img check and e2fsck agree the result is clean.
    let c = Command::new("qemu-img")
        .arg("check")
        .arg(&out)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    let raw = t.path().join("fixed.raw");
    assert!(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&out)
            .arg(&raw)
            .status()
            .unwrap()
            .success()
    );
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(format!("{}?offset=1048576", raw.display()))
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    // Planning the result changes nothing (idempotent), and the backups hold the originals.
    let outs = out.to_str().unwrap();
    let (v, _) = json(&["plan", "--json", "--allow-outside-backing", outs]);
    assert_eq!(v[0]["changes"].as_array().unwrap().len(), 0, "{v}");
    let orig = gf(&[
        "cat",
        "--allow-outside-backing",
        outs,
        "-p",
        "/etc/fstab.guestfix-orig",
    ]);
    let src = gf(&["cat", SAMPLE, "-p", "/etc/fstab"]);
    assert_eq!(orig.stdout, src.stdout);
    assert!(
        stdout(&gf(&[
            "cat",
            "--allow-outside-backing",
            outs,
            "-p",
            "/etc/fstab"
        ]))
        .contains(&format!("UUID={ROOT_UUID}"))
    );
    // A second apply on the result writes nothing.
    let out2 = t.path().join("again.qcow2");
    let (r2, _) = json(&[
        "apply",
        "--allow-outside-backing",
        outs,
        "--out",
        out2.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r2["unchanged"], true);
}

#[test]
fn exit_codes() {
    assert_eq!(gf(&["inspect"]).status.code(), Some(2), "usage error");
    assert_eq!(
        gf(&["inspect", "/nonexistent/disk.raw"]).status.code(),
        Some(2),
        "host I/O error"
    );
    assert_eq!(
        gf(&["check", "--target", "nope", SAMPLE]).status.code(),
        Some(2),
        "unknown target"
    );
    let t = tempfile::tempdir().unwrap();
    let junk = t.path().join("junk.img");
    std::fs::write(&junk, vec![0x5au8; 1 << 20]).unwrap();
    let o = gf(&["check", junk.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an image that is no disk is a finding"
    );
    assert!(stdout(&o).contains("FMT-3"));
    assert_eq!(
        gf(&["rules", "explain", "fstab-uuid"]).status.code(),
        Some(0)
    );
    assert_eq!(gf(&["rules", "explain", "nope"]).status.code(), Some(2));
}

/// Every `[[rule]]` of the rule files in rules/ec2: (id, requirement, transform).
fn ec2_rules() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("rules/ec2").unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let v: toml::Table = toml::from_str(&text).unwrap();
        for r in v
            .get("rule")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            out.push((s("id"), s("requirement"), s("transform")));
        }
    }
    out.sort();
    out
}

/// `rules list` and `rules explain` (issue 23): every rule of the ec2 rule files is listed with
/// its requirement and transform, in text and JSON; `explain` says the same as the list entry;
/// a rule file naming an unknown transform is refused when it loads, with its file and line.
#[test]
fn rules_list_and_explain() {
    let want = ec2_rules();
    assert!(want.len() >= 10, "{want:?}");
    let text = stdout(&gf(&["rules", "list"]));
    for (id, req, tr) in &want {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id.as_str()))
            .unwrap_or_else(|| panic!("rules list has no line for {id}:\n{text}"));
        assert!(
            line.contains(req.as_str()) && line.contains(tr.as_str()),
            "{line}"
        );
    }
    let (list, code) = json(&["rules", "list", "--json"]);
    assert_eq!(code, 0);
    let mut got: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("id"), s("requirement"), s("transform"))
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
    for r in list.as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let (one, code) = json(&["rules", "explain", id, "--json"]);
        assert_eq!(code, 0, "{id}");
        assert_eq!(&one, r, "explain {id} differs from its list entry");
        let t = stdout(&gf(&["rules", "explain", id]));
        assert!(
            t.contains(id) && t.contains(r["transform"].as_str().unwrap()),
            "{t}"
        );
        assert!(t.contains(r["description"].as_str().unwrap()), "{t}");
    }
    // A rule file with an unknown transform: refused at load, naming the file and the line.
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("ec2");
    std::fs::create_dir(&t).unwrap();
    for e in std::fs::read_dir("rules/ec2").unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, t.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        t.join("zz-bad.toml"),
        "[[rule]]\nid = \"bad\"\nrequirement = \"MOD-L3\"\ndescription = \"d\"\ntransform = \"rm-rf\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(["rules", "list"])
        .env("GUESTFIX_RULES_DIR", d.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("zz-bad.toml")
            && err.contains("line 5")
            && err.contains("unknown transform \"rm-rf\""),
        "{err}"
    );
}
