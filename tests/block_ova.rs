//! OVA (FMT-1, FMT-2): a real `tar` of an .ovf and two stream-optimized VMDKs made by qemu-img;
//! both disks read right and in OVF order; missing and split disks are refused.

mod block_util;

use block_util::*;
use guestfix::block::{self, BlockError, OpenOptions};
use std::path::Path;
use std::process::Command;

fn ovf(files: &[(&str, &str, Option<u64>)], attach: &[&str]) -> String {
    let refs: String = files
        .iter()
        .map(|(id, href, chunk)| match chunk {
            Some(c) => format!(r#"<File ovf:id="{id}" ovf:href="{href}" ovf:chunkSize="{c}"/>"#),
            None => format!(r#"<File ovf:id="{id}" ovf:href="{href}"/>"#),
        })
        .collect();
    let disks: String = files
        .iter()
        .map(|(id, _, _)| {
            format!(r#"<Disk ovf:diskId="vmdisk-{id}" ovf:fileRef="{id}" ovf:capacity="8" ovf:capacityAllocationUnits="byte * 2^20"/>"#)
        })
        .collect();
    let items: String = attach
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                "<Item><rasd:AddressOnParent>{i}</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk-{id}</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>{refs}</References>
  <DiskSection><Info>Virtual disks</Info>{disks}</DiskSection>
  <VirtualSystem ovf:id="vm"><Info>A VM</Info>
    <VirtualHardwareSection><Info>hw</Info>{items}</VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    )
}

/// Two stream-optimized disks with different contents: a.vmdk (8 MiB) and b.vmdk (5 MiB).
fn make_disks(dir: &Path) {
    make_raw(dir, "a.raw", 8 << 20);
    let mut b = pattern(5 << 20);
    b[100..200].copy_from_slice(&[0xbb; 100]);
    std::fs::write(dir.join("b.raw"), b).unwrap();
    for n in ["a", "b"] {
        qemu_img(
            dir,
            &[
                "convert",
                "-f",
                "raw",
                "-O",
                "vmdk",
                "-o",
                "subformat=streamOptimized",
                &format!("{n}.raw"),
                &format!("{n}.vmdk"),
            ],
        );
    }
}

fn tar(dir: &Path, ova: &str, members: &[&str]) -> std::path::PathBuf {
    let st = Command::new("tar")
        .arg("--format=ustar")
        .arg("-cf")
        .arg(ova)
        .args(members)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
    dir.join(ova)
}

#[test]
fn ova_disks_read_right_in_ovf_order() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_disks(d);
    // References list a then b, but the VM attaches b first.
    std::fs::write(
        d.join("vm.ovf"),
        ovf(
            &[("fa", "a.vmdk", None), ("fb", "b.vmdk", None)],
            &["fb", "fa"],
        ),
    )
    .unwrap();
    let ova = tar(d, "vm.ova", &["vm.ovf", "a.vmdk", "b.vmdk"]);
    let disks = block::open_all(&ova, &OpenOptions::default()).unwrap();
    assert_eq!(disks.len(), 2);
    assert_eq!(sha_dev(&*disks[0]), qemu_raw_sha(&d.join("b.vmdk")).0);
    assert_eq!(sha_dev(&*disks[1]), qemu_raw_sha(&d.join("a.vmdk")).0);
    assert_eq!(sha_dev(&*disks[1]), sha_file(&d.join("a.raw")));
    assert_eq!(disks[0].len(), 5 << 20);
    assert!(disks[0].describe().ends_with("vm.ova:b.vmdk"));

    let info = block::info(&ova, &OpenOptions::default()).unwrap();
    assert_eq!(info.format, "ova");
    let hrefs: Vec<_> = info.disks.iter().map(|d| d.href.as_str()).collect();
    assert_eq!(hrefs, ["b.vmdk", "a.vmdk"]);
    assert_eq!(info.disks[0].subformat.as_deref(), Some("streamOptimized"));
    assert_eq!(info.disks[1].virtual_size, 8 << 20);
    // The recorded offset really is where the member's bytes are.
    let bytes = std::fs::read(&ova).unwrap();
    let a = std::fs::read(d.join("a.vmdk")).unwrap();
    let o = info.disks[1].offset as usize;
    assert_eq!(&bytes[o..o + a.len()], &a[..]);
    // `open` gives the first disk.
    let first = block::open(&ova, &OpenOptions::default()).unwrap();
    assert_eq!(first.len(), 5 << 20);
}

#[test]
fn ova_with_gnu_long_names_reads() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_disks(d);
    let long = format!("{}.vmdk", "x".repeat(120));
    std::fs::rename(d.join("a.vmdk"), d.join(&long)).unwrap();
    std::fs::write(d.join("vm.ovf"), ovf(&[("fa", &long, None)], &["fa"])).unwrap();
    let st = Command::new("tar")
        .args(["--format=gnu", "-cf", "vm.ova", "vm.ovf", &long])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let disks = block::open_all(&d.join("vm.ova"), &OpenOptions::default()).unwrap();
    assert_eq!(sha_dev(&*disks[0]), sha_file(&d.join("a.raw")));
}

#[test]
fn ova_naming_a_missing_disk_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_disks(d);
    std::fs::write(
        d.join("vm.ovf"),
        ovf(
            &[("fa", "a.vmdk", None), ("fc", "c.vmdk", None)],
            &["fa", "fc"],
        ),
    )
    .unwrap();
    let ova = tar(d, "vm.ova", &["vm.ovf", "a.vmdk"]);
    match block::open_all(&ova, &OpenOptions::default()) {
        Err(BlockError::OvaMissingDisk { href, .. }) => assert_eq!(href, "c.vmdk"),
        other => panic!("expected OvaMissingDisk, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn ova_with_split_disk_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_disks(d);
    // Split b.vmdk into chunks the way ovftool does (b.vmdk.000000000, …).
    let b = std::fs::read(d.join("b.vmdk")).unwrap();
    let half = b.len() / 2;
    std::fs::write(d.join("b.vmdk.000000000"), &b[..half]).unwrap();
    std::fs::write(d.join("b.vmdk.000000001"), &b[half..]).unwrap();
    std::fs::write(
        d.join("vm.ovf"),
        ovf(
            &[("fa", "a.vmdk", None), ("fb", "b.vmdk", Some(half as u64))],
            &["fa", "fb"],
        ),
    )
    .unwrap();
    let ova = tar(
        d,
        "vm.ova",
        &["vm.ovf", "a.vmdk", "b.vmdk.000000000", "b.vmdk.000000001"],
    );
    let e = block::open_all(&ova, &OpenOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(e, BlockError::OvaSplitDisk { ref href, .. } if href == "b.vmdk"),
        "{e}"
    );
    assert!(e.to_string().contains("split"));
}

/// `convert --format ova` (FMT-1 export): descriptor, stream-optimized VMDK and SHA-256 manifest,
/// in ovftool's order; read back by our OVA reader and by qemu-img on the extracted disk.
#[test]
fn convert_to_ova_reads_back_everywhere() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-images/sample.qcow2");
    let out = d.join("export.ova");
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(["convert", "--format", "ova", "--json"])
        .arg(&sample)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "ova");
    // Our reader: one stream-optimized disk holding the source's bytes.
    let (disks, info) = block::open_with_info(&out, &OpenOptions::default()).unwrap();
    assert_eq!(info.format, "ova");
    assert_eq!(info.disks.len(), 1);
    assert_eq!(info.disks[0].href, "export-disk1.vmdk");
    assert_eq!(info.disks[0].subformat.as_deref(), Some("streamOptimized"));
    let src = block::open(&sample, &OpenOptions::default()).unwrap();
    assert_eq!(disks[0].len(), src.len());
    assert_eq!(sha_dev(&*disks[0]), sha_dev(&*src));
    // The archive: members in order, a valid descriptor, a manifest that checks.
    let list = Command::new("tar").arg("tf").arg(&out).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "export.ovf\nexport-disk1.vmdk\nexport.mf\n"
    );
    let x = d.join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("xf")
        .arg(&out)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("sha256sum")
        .args(["-c", "--strict", "export.mf"])
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success(), "manifest does not check");
    let st = Command::new("xmllint")
        .args(["--noout", "export.ovf"])
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success(), "OVF is not well-formed XML");
    // qemu-img on the disk inside: consistent, and the same disk as the source.
    qemu_img(&x, &["check", "-f", "vmdk", "export-disk1.vmdk"]);
    qemu_img(
        &x,
        &[
            "compare",
            "-f",
            "qcow2",
            "-F",
            "vmdk",
            sample.to_str().unwrap(),
            "export-disk1.vmdk",
        ],
    );
    // The same guest is found in the OVA as in the source.
    let inspect = |p: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
            .args(["inspect", "--json", "--quick"])
            .arg(p)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["operating_systems"].clone()
    };
    let found = inspect(&out);
    assert!(found.as_array().is_some_and(|a| !a.is_empty()), "{found}");
    assert_eq!(found, inspect(&sample));
}
