//! MOD-L4 + kernel command line edits over real GRUB files: grubby's grub.cfg and grub.conf
//! test files, boom's BLS entries, RHEL 8 grub.cfg (leapp), Debian's /etc/default/grub.
//! Snapshots of the diffs; every edit idempotent; outputs still valid (grub.cfg braces
//! balanced with the same entries, grubenv exactly 1024 bytes, /etc/default/grub `bash -n`).

use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::linux::grub::{self, grubenv::Grubenv};
use guestfix::plan::diff::unified;
use guestfix::plan::edit::cmdline::{self, CmdlineEdit};
use guestfix::plan::edit::fstab::SpecResolution;
use guestfix::plan::edit::grub as gedit;

const G: &str = "../shared/data/linux/grub/rhboot__grubby/test/";
const BLS: &str = "../shared/data/linux/grub/snapshotmanager__boom-boot/tests/loader/entries/";
const RHEL8_CFG: &str = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/el8toel9/actors/cloud/ensurevalidgrubcfghybrid/tests/files/valid_grub.cfg";
const DEB_DEFAULT: &str = "../shared/data/linux/grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub";

const ADD: &[&str] = &["console=ttyS0,115200n8", "net.ifnames=0", "biosdevname=0"];

/// The image: /dev/sda1 and /dev/sda2 have known UUIDs; LVM names are stable.
fn image(spec: &str) -> SpecResolution {
    match spec {
        "/dev/sda1" => SpecResolution::Uuid("6b1b8c5e-0e6f-4a4c-9a2e-1d2f3c4b5a69".into()),
        "/dev/sda2" => SpecResolution::Uuid("0d3c1a8e-7f2b-4c5d-8e9f-a0b1c2d3e4f5".into()),
        s if s.starts_with("/dev/mapper/") || s.starts_with("/dev/vg") => {
            SpecResolution::AlreadyStable
        }
        s if s.starts_with("UUID=") => SpecResolution::AlreadyStable,
        _ => SpecResolution::NotInImage,
    }
}

fn edit() -> CmdlineEdit<'static> {
    CmdlineEdit {
        resolve: &image,
        add: ADD,
        resume_swap: None,
        root_uuid: None,
    }
}

fn text(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn bytes(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// grub.cfg still has balanced braces and the same entries (titles, kernels).
fn assert_same_structure(old: &str, new: &str) {
    let a = grub::grub2::parse(old, "x");
    let b = grub::grub2::parse(new, "x");
    assert!(!b.unbalanced, "unbalanced braces after edit");
    assert_eq!(
        new.matches('{').count() - new.matches("${").count(),
        old.matches('{').count() - old.matches("${").count()
    );
    let t = |c: &grub::grub2::Grub2Cfg| {
        c.entries
            .iter()
            .map(|e| (e.path(), e.title.clone(), e.kernel.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(t(&a), t(&b));
}

fn bash_n(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grub");
    std::fs::write(&p, text).unwrap();
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&p)
        .status()
        .expect("bash");
    assert!(st.success(), "bash -n rejects:\n{text}");
}

fn grubenv_text(b: &[u8]) -> String {
    // show the block as text lines; the padding becomes one long '#' line
    String::from_utf8_lossy(b)
        .replace("##", "#")
        .replace("##", "#")
        + "\n"
}

/// RHEL 7 (grubby grub2.16): grub.cfg uses ${saved_entry}; make the newest kernel the default
/// through grubenv, set the timeout, add serial console and ethX naming to every linux16 line.
#[test]
fn rhel7_grub_cfg_and_grubenv() {
    let old = text(&format!("{G}grub2.16"));
    let env_old = bytes(&format!("{G}grub2-support_files/grubenv.1"));
    let mut files = MemFiles::new();
    files.insert("/boot/grub2/grub.cfg", old.clone());
    files.insert("/boot/grub2/grubenv", env_old.clone());
    let before = grub::inspect(&files).unwrap();
    assert!(
        before.default.is_err(),
        "grubenv.1 names an entry grub2.16 lacks (LNX-7)"
    );
    let target = before
        .entries
        .iter()
        .position(|e| e.kernel_version.as_deref() == Some("3.10.0-297.el7.x86_64"))
        .unwrap();
    // grubby copied the entry: the 297 and 296 entries share one --id, so the title is used
    let setting = gedit::default_setting_for(&before.entries, target).unwrap();
    assert_eq!(
        setting,
        "Red Hat Enterprise Linux Server (3.10.0-297.el7.x86_64) 7.2 (Maipo)"
    );

    let c1 = cmdline::edit_grub_cfg(&old, &edit());
    let d = gedit::edit_grub_cfg(&c1, &setting, Some(1));
    assert!(d.uses_saved_entry);
    let env_new = gedit::edit_grubenv(&env_old, &setting).unwrap();
    Grubenv::check(&env_new).unwrap();
    assert_same_structure(&old, &d.text);
    // idempotent
    assert_eq!(cmdline::edit_grub_cfg(&d.text, &edit()), d.text);
    assert_eq!(
        gedit::edit_grub_cfg(&d.text, &setting, Some(1)).text,
        d.text
    );
    assert_eq!(gedit::edit_grubenv(&env_new, &setting).unwrap(), env_new);
    // the result boots the intended entry with the new parameters
    files.insert("/boot/grub2/grub.cfg", d.text.clone());
    files.insert("/boot/grub2/grubenv", env_new.clone());
    let after = grub::inspect(&files).unwrap();
    let de = after.default_entry().unwrap();
    assert_eq!(de.kernel_version.as_deref(), Some("3.10.0-297.el7.x86_64"));
    assert!(guestfix::guest::linux::cmdline::ifnames_disabled(
        &de.cmdline
    ));
    assert_eq!(after.timeout.as_deref(), Some("1"));
    insta::assert_snapshot!(
        "rhel7_grub2_16",
        format!(
            "{}{}",
            unified("/boot/grub2/grub.cfg", &old, &d.text),
            unified(
                "/boot/grub2/grubenv",
                &grubenv_text(&env_old),
                &grubenv_text(&env_new)
            )
        )
    );
}

/// Fedora 15 (grubby grub2.1): `set default="0"` is rewritten to name the second entry.
#[test]
fn numeric_default_rewritten() {
    let old = text(&format!("{G}grub2.1"));
    let mut files = MemFiles::new();
    files.insert("/boot/grub2/grub.cfg", old.clone());
    let c = grub::inspect(&files).unwrap();
    let setting = gedit::default_setting_for(&c.entries, 1).unwrap();
    let d = gedit::edit_grub_cfg(&old, &setting, Some(3));
    assert!(!d.uses_saved_entry);
    assert_same_structure(&old, &d.text);
    assert_eq!(
        gedit::edit_grub_cfg(&d.text, &setting, Some(3)).text,
        d.text
    );
    files.insert("/boot/grub2/grub.cfg", d.text.clone());
    assert_eq!(grub::inspect(&files).unwrap().default, Ok(1));
    insta::assert_snapshot!(
        "fedora15_grub2_1",
        unified("/boot/grub2/grub.cfg", &old, &d.text)
    );
}

/// Submenu target (grubby grub2.5): the title path with `>` resolves after the edit.
#[test]
fn submenu_default() {
    let old = text(&format!("{G}grub2.5"));
    let env_old = bytes(&format!("{G}grub2-support_files/grubenv.0"));
    let mut files = MemFiles::new();
    files.insert("/boot/grub2/grub.cfg", old.clone());
    files.insert("/boot/grub2/grubenv", env_old.clone());
    let c = grub::inspect(&files).unwrap();
    let setting = gedit::default_setting_for(&c.entries, 2).unwrap();
    // the entries carry ids, so the setting is the id path (stable across title changes)
    assert_eq!(
        setting,
        "gnulinux-advanced-fe7b6773-70ed-4eac-b323-16ed459c7f86>gnulinux-3.2.9-1.fc16.x86_64-advanced-fe7b6773-70ed-4eac-b323-16ed459c7f86"
    );
    let d = gedit::edit_grub_cfg(&old, &setting, None);
    assert!(d.uses_saved_entry);
    assert_eq!(
        d.text, old,
        "grub.cfg itself unchanged: the default lives in grubenv"
    );
    let env_new = gedit::edit_grubenv(&env_old, &setting).unwrap();
    files.insert("/boot/grub2/grubenv", env_new.clone());
    assert_eq!(
        grub::inspect(&files)
            .unwrap()
            .default_entry()
            .unwrap()
            .path(),
        "1>1"
    );
    insta::assert_snapshot!(
        "fedora_grubenv_submenu",
        unified(
            "/boot/grub2/grubenv",
            &grubenv_text(&env_old),
            &grubenv_text(&env_new)
        )
    );
}

/// Every grubby grub.cfg: the cmdline edit is idempotent and keeps the structure.
#[test]
fn every_grubby_cfg_cmdline_edit() {
    for e in std::fs::read_dir(G).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().to_string();
        if !n.starts_with("grub2.") {
            continue;
        }
        let old = text(&e.path().to_string_lossy());
        let new = cmdline::edit_grub_cfg(&old, &edit());
        assert_same_structure(&old, &new);
        assert_eq!(cmdline::edit_grub_cfg(&new, &edit()), new, "{n}");
        for entry in grub::grub2::parse(&new, "x").entries {
            let ps = guestfix::guest::linux::cmdline::params(&entry.cmdline);
            // exactly one serial console on ttyS0 (an existing one with other settings is kept)
            let ttys0 = ps
                .iter()
                .filter(|p| {
                    p.key == "console" && p.value.as_deref().is_some_and(|v| v.starts_with("ttyS0"))
                })
                .count();
            assert_eq!(ttys0, 1, "{n}: {:?}", entry.cmdline);
            for k in ["net.ifnames", "biosdevname"] {
                let v: Vec<_> = ps
                    .iter()
                    .filter(|p| p.key == k)
                    .map(|p| p.value.clone())
                    .collect();
                assert_eq!(v, vec![Some("0".to_string())], "{n}: {k}");
            }
        }
    }
}

/// GRUB legacy (grubby grub.1, RHL 7.2 era): root=/dev/sda1 → UUID, parameters, default, timeout.
#[test]
fn legacy_grub_conf() {
    let old = text(&format!("{G}grub.1"));
    let c1 = cmdline::edit_menu_lst(&old, &edit());
    let new = gedit::edit_menu_lst(&c1, 0, Some(1));
    assert_eq!(
        gedit::edit_menu_lst(&cmdline::edit_menu_lst(&new, &edit()), 0, Some(1)),
        new
    );
    let m = grub::legacy::parse(&new, "x");
    assert_eq!(
        m.entries.len(),
        grub::legacy::parse(&old, "x").entries.len()
    );
    assert_eq!(m.timeout.as_deref(), Some("1"));
    assert!(
        m.entries[0]
            .cmdline
            .contains("root=UUID=6b1b8c5e-0e6f-4a4c-9a2e-1d2f3c4b5a69")
    );
    insta::assert_snapshot!("legacy_grub_1", unified("/boot/grub/grub.conf", &old, &new));
    // grub.15: default=1 → 0
    let old = text(&format!("{G}grub.15"));
    let new = gedit::edit_menu_lst(&old, 0, None);
    assert_eq!(grub::legacy::parse(&new, "x").default.as_deref(), Some("0"));
    insta::assert_snapshot!(
        "legacy_grub_15_default",
        unified("/boot/grub/grub.conf", &old, &new)
    );
}

/// Debian's /etc/default/grub: parameters go to GRUB_CMDLINE_LINUX, default and timeout set.
#[test]
fn debian_default_grub() {
    let old = text(DEB_DEFAULT);
    let c1 = cmdline::edit_default_grub(&old, &edit());
    let new = gedit::edit_default_grub(
        &c1,
        Some("gnulinux-advanced-x>gnulinux-6.1.0-9-amd64-advanced-x"),
        Some(1),
    );
    bash_n(&new);
    assert_eq!(
        gedit::edit_default_grub(
            &cmdline::edit_default_grub(&new, &edit()),
            Some("gnulinux-advanced-x>gnulinux-6.1.0-9-amd64-advanced-x"),
            Some(1)
        ),
        new
    );
    let d = grub::default_grub::parse(&new);
    assert_eq!(
        d.cmdline_linux.as_deref(),
        Some("console=ttyS0,115200n8 net.ifnames=0 biosdevname=0")
    );
    assert_eq!(d.cmdline_linux_default.as_deref(), Some("quiet"));
    assert_eq!(d.timeout.as_deref(), Some("1"));
    assert_eq!(
        d.default.as_deref(),
        Some("gnulinux-advanced-x>gnulinux-6.1.0-9-amd64-advanced-x")
    );
    insta::assert_snapshot!(
        "debian_default_grub",
        unified("/etc/default/grub", &old, &new)
    );
}

/// RHEL 8 grub.cfg with blscfg: the `kernelopts` fallback gets the parameters; BLS entries
/// that spell out their options get them too; the default is grubenv's saved_entry (BLS id).
#[test]
fn rhel8_bls() {
    let old = text(RHEL8_CFG);
    let new = cmdline::edit_grub_cfg(&old, &edit());
    assert_same_structure(&old, &new);
    assert_eq!(cmdline::edit_grub_cfg(&new, &edit()), new);
    let fallback = grub::grub2::parse(&new, "x").kernelopts_fallback.unwrap();
    // console=ttyS0 is already there; the ethX parameters are added
    assert!(fallback.trim_end().ends_with("console=ttyS0 earlyprintk=ttyS0 rootdelay=300 scsi_mod.use_blk_mq=y net.ifnames=0 biosdevname=0"), "{fallback}");
    let mut snap = unified("/boot/grub2/grub.cfg", &old, &new);

    let name = "611f38fd887d41dea7eb3403b2730a76-a16356e-4.16.11-100.fc26.x86_64.conf";
    let bold = text(&format!("{BLS}{name}"));
    let bnew = cmdline::edit_bls(&bold, &edit());
    assert_eq!(cmdline::edit_bls(&bnew, &edit()), bnew);
    let parsed = grub::bls::parse("x", &bnew);
    assert_eq!(parsed.linux, grub::bls::parse("x", &bold).linux);
    snap += &unified(&format!("/boot/loader/entries/{name}"), &bold, &bnew);

    // an entry using $kernelopts is left alone; grubenv's kernelopts is edited instead
    let with_var = "title Red Hat Enterprise Linux (4.18.0-80.el8.x86_64) 8.0 (Ootpa)\nversion 4.18.0-80.el8.x86_64\nlinux /vmlinuz-4.18.0-80.el8.x86_64\ninitrd $tuned_initrd /initramfs-4.18.0-80.el8.x86_64.img\noptions $kernelopts $tuned_params\n";
    assert_eq!(cmdline::edit_bls(with_var, &edit()), with_var);
    let mut env = Grubenv::default();
    env.set("saved_entry", "x");
    env.set(
        "kernelopts",
        "root=/dev/sda2 ro crashkernel=auto resume=/dev/sda1 rhgb quiet",
    );
    let env_old = env.to_bytes().unwrap();
    let env_new = cmdline::edit_grubenv(&env_old, &edit()).unwrap();
    Grubenv::check(&env_new).unwrap();
    assert_eq!(cmdline::edit_grubenv(&env_new, &edit()).unwrap(), env_new);
    assert_eq!(
        Grubenv::parse(&env_new).unwrap().get("kernelopts"),
        Some(
            "root=UUID=0d3c1a8e-7f2b-4c5d-8e9f-a0b1c2d3e4f5 ro crashkernel=auto resume=UUID=6b1b8c5e-0e6f-4a4c-9a2e-1d2f3c4b5a69 rhgb quiet console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
        )
    );
    // default: saved_entry = the BLS id
    let e2 = gedit::edit_grubenv(
        &env_new,
        "611f38fd887d41dea7eb3403b2730a76-a16356e-4.16.11-100.fc26.x86_64",
    )
    .unwrap();
    let mut files = MemFiles::new();
    files.insert("/boot/grub2/grub.cfg", new.clone());
    files.insert("/boot/grub2/grubenv", e2);
    files.insert(&format!("/boot/loader/entries/{name}"), bnew.clone());
    let c = grub::inspect(&files).unwrap();
    assert_eq!(
        c.default_entry().unwrap().kernel_version.as_deref(),
        Some("4.16.11-100.fc26.x86_64")
    );
    insta::assert_snapshot!("rhel8_bls", snap);
}

/// RHEL 7 /etc/default/grub from leapp's tests (GRUB_DEFAULT=saved, serial console and
/// net.ifnames=0 already there): only biosdevname=0 is added, GRUB_DEFAULT stays `saved`
/// (the choice lives in grubenv), and the file stays plain assignments.
#[test]
fn rhel7_default_grub_saved() {
    let p = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/common/actors/addupgradebootentry/tests/files/grub_test.fixed";
    let old = text(p);
    let c1 = cmdline::edit_default_grub(&old, &edit());
    let new = gedit::edit_default_grub(
        &c1,
        Some("Red Hat Enterprise Linux Server (3.10.0-1160.el7.x86_64) 7.9 (Maipo)"),
        Some(1),
    );
    bash_n(&new);
    assert_eq!(grub::default_grub::problems(&new), vec![]);
    let d = grub::default_grub::parse(&new);
    assert_eq!(d.default.as_deref(), Some("saved"));
    assert_eq!(
        d.cmdline_linux.as_deref(),
        Some(
            "console=tty0 crashkernel=auto console=ttyS0,115200n8 no_timer_check net.ifnames=0 biosdevname=0"
        )
    );
    assert_eq!(
        gedit::edit_default_grub(
            &cmdline::edit_default_grub(&new, &edit()),
            Some("x"),
            Some(1)
        ),
        new
    );
    insta::assert_snapshot!(
        "rhel7_default_grub_saved",
        unified("/etc/default/grub", &old, &new)
    );
}
