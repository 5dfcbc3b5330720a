//! MOD-L1 driver injection end to end on the real debian12-bios image: a rules folder (a copy
//! of rules/ec2 with the `initramfs-drivers` rule given `drivers` the Debian initrd lacks and a
//! `modules_dir`) whose modules are the image's own `wanxl.ko` (a PCI WAN driver) and its
//! dependency `hdlc.ko`, extracted with `guestfix cat` → `guestfix plan` shows the append
//! (modules, files added and replaced, backup) and refuses a module built for another kernel →
//! `guestfix apply --out` → `qemu-img check` and `e2fsck -fn` clean; the result's initramfs
//! lists the modules (our reader), `lsinitramfs` still reads it, kmod resolves the new modules
//! through the new `modules.dep.bin` / `modules.alias.bin` of the unpacked initramfs
//! (`modprobe -d --show-depends`, `modprobe -R`, `modinfo -b`), the backup holds the original,
//! and planning the result again is empty.
//!
//! GUESTFIX_TEST_IMAGES names the images folder (scripts/test.sh sets it); without it the test
//! says so loudly and stops, unless GUESTFIX_REQUIRE_IMAGES=1.
//! Debian packages: qemu-utils, e2fsprogs, cpio, kmod, initramfs-tools-core.

use guestfix::guest::linux::initramfs::{Limits, list};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const KVER: &str = "6.1.0-50-amd64";
const INITRD: &str = "/boot/initrd.img-6.1.0-50-amd64";

mod common;
use common::{images_dir, ok};

fn gf(rules: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GUESTFIX_RULES_DIR", rules)
        .args(args)
        .output()
        .expect("run guestfix");
    ok(&o, &format!("guestfix {args:?}"))
}

fn sh(cmd: &str, dir: &Path) -> String {
    let o = Command::new("bash")
        .arg("-ec")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&ok(&o, cmd)).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn debian12_bios_gets_drivers_appended_to_its_initramfs() {
    let Some(dir) = images_dir() else { return };
    let source = dir.join("debian12-bios.raw");
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = s(&source);

    // The rules: rules/ec2 with the MOD-L1 rule pointed at it.
    let mods = d.join("mods");
    let rules = d.join("rules");
    let ec2 = rules.join("ec2");
    std::fs::create_dir_all(&ec2).unwrap();
    for f in std::fs::read_dir("rules/ec2").unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, ec2.join(f.file_name().unwrap())).unwrap();
    }
    let linux = std::fs::read_to_string(ec2.join("linux.toml")).unwrap();
    let old = r#"drivers = ["nvme", "ena"], modules_dir = """#;
    assert!(linux.contains(old), "rules/ec2/linux.toml changed");
    let new = format!(
        r#"drivers = ["nvme", "ena", "wanxl"], modules_dir = "{}""#,
        s(&mods)
    );
    std::fs::write(ec2.join("linux.toml"), linux.replace(old, &new)).unwrap();

    // The modules folder: the image's own modules (Debian's initrd has neither).
    std::fs::create_dir(&mods).unwrap();
    let base = format!("/usr/lib/modules/{KVER}/kernel/drivers/net/wan");
    for m in ["wanxl", "hdlc"] {
        let ko = gf(&rules, &["cat", "--path", &format!("{base}/{m}.ko"), src]);
        std::fs::write(mods.join(format!("{m}.ko")), ko).unwrap();
    }
    // The plan shows the append: modules, files, backup.
    let text = String::from_utf8(gf(&rules, &["plan", src])).unwrap();
    assert!(
        text.contains(&format!(
            "# keep original {INITRD} as {INITRD}.guestfix-orig"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("to {INITRD} adding modules wanxl hdlc\n")),
        "{text}"
    );
    assert!(text.contains("(gzip, sha256 "), "{text}");
    for f in [
        format!("usr/lib/modules/{KVER}/updates/guestfix/wanxl.ko"),
        format!("usr/lib/modules/{KVER}/updates/guestfix/hdlc.ko"),
        "conf/modules".to_string(),
        "etc/modules-load.d/guestfix.conf".to_string(),
    ] {
        assert!(text.contains(&format!("\n  + {f}\n")), "{f}: {text}");
    }
    // Debian's initrd has both indexes: the archive replaces them, and says so.
    for f in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.alias.bin",
    ] {
        let line = format!("\n  ~ usr/lib/modules/{KVER}/{f} (replaces the initramfs's copy)\n");
        assert!(text.contains(&line), "{f}: {text}");
    }
    let plans: Value = serde_json::from_slice(&gf(&rules, &["plan", "--json", src])).unwrap();
    // `plan --quick` skips the inspection's initramfs pass, but the append reads the initramfs
    // itself: the same changes, byte for byte.
    let quick: Value =
        serde_json::from_slice(&gf(&rules, &["plan", "--json", "--quick", src])).unwrap();
    assert_eq!(quick[0]["changes"], plans[0]["changes"]);
    let change = plans[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "append_initramfs")
        .expect("append_initramfs in the JSON plan")
        .clone();
    assert_eq!(change["path"], INITRD);
    assert_eq!(change["requirement"], "MOD-L1");
    assert_eq!(change["modules"], serde_json::json!(["wanxl", "hdlc"]));
    assert_eq!(change["backup"], format!("{INITRD}.guestfix-orig"));
    assert_eq!(
        change["replaces"],
        serde_json::json!([
            format!("usr/lib/modules/{KVER}/modules.dep"),
            format!("usr/lib/modules/{KVER}/modules.dep.bin"),
            format!("usr/lib/modules/{KVER}/modules.alias"),
            format!("usr/lib/modules/{KVER}/modules.alias.bin")
        ])
    );

    // A module built for another kernel is refused with the evidence, as a note; no append.
    let bad = d.join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(mods.join("wanxl.ko"), bad.join("wanxl.ko")).unwrap();
    sh(
        "objcopy --dump-section .modinfo=mi wanxl.ko
         sed -i 's/vermagic=6.1.0-50-amd64 /vermagic=6.1.0-99-amd64 /' mi
         grep -qa 'vermagic=6.1.0-99-amd64 ' mi
         objcopy --update-section .modinfo=mi wanxl.ko && rm mi",
        &bad,
    );
    let bad_rules = d.join("bad-rules");
    std::fs::create_dir_all(bad_rules.join("ec2")).unwrap();
    for f in std::fs::read_dir(&ec2).unwrap() {
        let f = f.unwrap().path();
        let t = std::fs::read_to_string(&f)
            .unwrap()
            .replace(s(&mods), s(&bad));
        std::fs::write(bad_rules.join("ec2").join(f.file_name().unwrap()), t).unwrap();
    }
    let p: Value = serde_json::from_slice(&gf(&bad_rules, &["plan", "--json", src])).unwrap();
    assert!(
        !p[0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "append_initramfs"),
        "{p}"
    );
    let notes: Vec<&str> = p[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    let notes = notes.join("\n");
    assert!(
        notes.contains("wanxl cannot be added")
            && notes.contains("built for kernel \"6.1.0-99-amd64\"")
            && notes.contains("bad/wanxl.ko"),
        "{notes}"
    );

    // Apply into an overlay; the disk is clean by the real tools.
    let out = d.join("fixed.qcow2");
    let report: Value =
        serde_json::from_slice(&gf(&rules, &["apply", "--json", src, "--out", s(&out)])).unwrap();
    let w = report["written"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == INITRD)
        .expect("initrd written")
        .clone();
    assert_eq!(w["verified"], true);
    ok(
        &Command::new("qemu-img")
            .args(["check", s(&out)])
            .output()
            .unwrap(),
        "qemu-img check",
    );
    let raw = d.join("fixed.raw");
    ok(
        &Command::new("qemu-img")
            .args(["convert", "-O", "raw", s(&out), s(&raw)])
            .output()
            .unwrap(),
        "qemu-img convert",
    );
    ok(
        &Command::new("e2fsck")
            .args(["-fn", &format!("{}?offset=1048576", s(&raw))])
            .output()
            .unwrap(),
        "e2fsck -fn",
    );
    std::fs::remove_file(&raw).unwrap();

    // The new initramfs: the original bytes, then our archive; the backup is the original.
    let orig = gf(&rules, &["cat", "--path", INITRD, src]);
    let got = gf(
        &rules,
        &["--allow-outside-backing", "cat", "--path", INITRD, s(&out)],
    );
    let kept = gf(
        &rules,
        &[
            "--allow-outside-backing",
            "cat",
            "--path",
            &format!("{INITRD}.guestfix-orig"),
            s(&out),
        ],
    );
    assert!(kept == orig, "backup differs from the original");
    assert!(got.len() > orig.len() && got[..orig.len()] == orig[..]);
    assert_eq!(w["bytes"].as_u64().unwrap(), got.len() as u64);
    let before = list(&orig, &Limits::default()).unwrap();
    let after = list(&got, &Limits::default()).unwrap();
    assert_eq!(after.archives.len(), before.archives.len() + 1);
    let m = after.modules();
    assert!(m.contains(&"wanxl".to_string()) && m.contains(&"hdlc".to_string()));
    assert!(!before.modules().contains(&"wanxl".to_string()));
    std::fs::write(d.join("initrd.orig"), &orig).unwrap();
    std::fs::write(d.join("initrd.new"), &got).unwrap();
    std::fs::write(d.join("appended.gz"), &got[orig.len()..]).unwrap();

    // initramfs-tools still reads it (the original content, as before).
    if Path::new("/usr/bin/lsinitramfs").exists() {
        assert_eq!(
            sh("lsinitramfs initrd.new", d),
            sh("lsinitramfs initrd.orig", d)
        );
        // Unpack as the kernel does: the original archives, then ours over them.
        sh("unmkinitramfs initrd.orig un", d);
        // With early (microcode) archives the main one is unpacked into un/main.
        let root = if d.join("un/main").is_dir() {
            d.join("un/main")
        } else {
            d.join("un")
        };
        sh(
            &format!("zcat {} | cpio -idmu --quiet", s(&d.join("appended.gz"))),
            &root,
        );
        let r = s(&root);
        let deps = sh(
            &format!("modprobe -d {r} -S {KVER} --show-depends wanxl"),
            d,
        );
        assert_eq!(
            deps.lines().collect::<Vec<_>>(),
            [
                format!("insmod {r}/lib/modules/{KVER}/updates/guestfix/hdlc.ko "),
                format!("insmod {r}/lib/modules/{KVER}/updates/guestfix/wanxl.ko "),
            ]
        );
        // The modules that were there still resolve through the new index.
        let vb = sh(
            &format!("modprobe -d {r} -S {KVER} --show-depends virtio_blk"),
            d,
        );
        assert!(vb.contains("kernel/drivers/block/virtio_blk.ko"), "{vb}");
        // udev autoloading by alias: the new driver's PCI id, and an original one.
        let by_alias = sh(
            &format!(
                "modprobe -d {r} -S {KVER} -R 'pci:v00001176d00000301sv00001176sd00000000bc02sc80i00'"
            ),
            d,
        );
        assert_eq!(by_alias.trim(), "wanxl");
        let vb = sh(
            &format!("modprobe -d {r} -S {KVER} -R 'virtio:d00000002v00001AF4'"),
            d,
        );
        assert_eq!(vb.trim(), "virtio_blk");
        let mi = sh(&format!("modinfo -b {r} -k {KVER} wanxl"), d);
        assert!(mi.contains(&format!("vermagic:       {KVER} SMP")), "{mi}");
        assert!(mi.contains("depends:        hdlc"), "{mi}");
        let conf = std::fs::read_to_string(root.join("conf/modules")).unwrap();
        assert!(conf.lines().any(|l| l == "wanxl"), "{conf}");
    } else {
        eprintln!("*** lsinitramfs missing (initramfs-tools-core): unpacking checks skipped ***");
    }

    // Planning the result again: nothing to change.
    let again: Value = serde_json::from_slice(&gf(
        &rules,
        &["--allow-outside-backing", "plan", "--json", s(&out)],
    ))
    .unwrap();
    assert_eq!(again[0]["changes"], Value::Array(vec![]), "{again}");
}
