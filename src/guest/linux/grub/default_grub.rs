//! `/etc/default/grub` (shell `KEY=value`): what grub-mkconfig builds grub.cfg from —
//! `GRUB_DEFAULT`, `GRUB_TIMEOUT`, `GRUB_CMDLINE_LINUX(_DEFAULT)`, `GRUB_ENABLE_BLSCFG`,
//! `GRUB_DISABLE_LINUX_UUID`, `GRUB_TERMINAL` ….

use super::super::shellvars;

/// The file `grub-mkconfig` reads its settings from.
pub const PATH: &str = "/etc/default/grub";

/// The settings that matter for import (missing keys are `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefaultGrub {
    /// `GRUB_DEFAULT`.
    pub default: Option<String>,
    /// `GRUB_TIMEOUT`.
    pub timeout: Option<String>,
    /// `GRUB_CMDLINE_LINUX`: parameters for every entry.
    pub cmdline_linux: Option<String>,
    /// `GRUB_CMDLINE_LINUX_DEFAULT`: parameters for the normal (non-recovery) entries.
    pub cmdline_linux_default: Option<String>,
    /// `GRUB_ENABLE_BLSCFG`.
    pub enable_blscfg: Option<bool>,
    /// `GRUB_DISABLE_LINUX_UUID` (`true`: `root=` names a device, not a UUID).
    pub disable_linux_uuid: Option<bool>,
}

/// Parse `/etc/default/grub` (shell assignments; the values are not expanded).
pub fn parse(text: &str) -> DefaultGrub {
    let v = shellvars::parse(text);
    let s = |k| shellvars::get(&v, k).map(str::to_string);
    let b = |k| shellvars::get(&v, k).map(|x| x == "true");
    DefaultGrub {
        default: s("GRUB_DEFAULT"),
        timeout: s("GRUB_TIMEOUT"),
        cmdline_linux: s("GRUB_CMDLINE_LINUX"),
        cmdline_linux_default: s("GRUB_CMDLINE_LINUX_DEFAULT"),
        enable_blscfg: b("GRUB_ENABLE_BLSCFG"),
        disable_linux_uuid: b("GRUB_DISABLE_LINUX_UUID"),
    }
}

/// Lines the shell would not read as plain assignments (GRUB's scripts source this file, so
/// `GRUB_CMDLINE_LINUX="a" b c` runs `b c` and the parameters after the quote are lost).
/// Returns (1-based line, offending text).
pub fn problems(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| shellvars::trailing_command(l).map(|t| (i + 1, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_default_grub() {
        let t = std::fs::read_to_string(
            "../shared/data/linux/grub/debian-pkg__grub2-common_2.06-13+deb12u2/usr/share/grub/default/grub",
        )
        .unwrap();
        let d = parse(&t);
        assert_eq!(d.default.as_deref(), Some("0"));
        assert_eq!(d.timeout.as_deref(), Some("5"));
        assert_eq!(d.cmdline_linux_default.as_deref(), Some("quiet"));
        assert_eq!(d.cmdline_linux.as_deref(), Some(""));
        assert_eq!(d.enable_blscfg, None);
        assert_eq!(problems(&t), vec![]);
    }

    #[test]
    fn leapp_broken_default_grub() {
        let d = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/common/actors/scangrubconfig/tests/files/error_detection/";
        let read = |n: &str| std::fs::read_to_string(format!("{d}{n}")).unwrap();
        assert_eq!(
            problems(&read("grub.wrong")),
            // `console=…` is a (prefix) assignment to the shell; `no_timer_check` runs
            vec![(6, "no_timer_check net.ifnames=0".to_string())]
        );
        assert_eq!(problems(&read("grub.wrong1")).len(), 1);
        for ok in [
            "grub.correct",
            "grub.correct_comment",
            "grub.correct_puppet",
            "grub.correct_trailing_space",
        ] {
            assert_eq!(problems(&read(ok)), vec![], "{ok}");
        }
        let g = parse(&read("grub.correct"));
        assert_eq!(g.default.as_deref(), Some("saved"));
        assert!(g.cmdline_linux.unwrap().contains("net.ifnames=0"));
    }
}
