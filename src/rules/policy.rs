//! Policy severities: the findings of the check layer whose severity is a judgement a target may
//! make differently (a recommendation, an untested case), by key. A profile sets them in its
//! `[profile.severity]` table; a key it leaves out keeps the default here, so older profiles load.
//! Findings the import service is known to fail on are blockers in code, not policy.

/// The severity names a profile may use.
pub const SEVERITY_NAMES: &[&str] = &["blocker", "warning", "info", "pass"];

/// Every policy key with its default severity. `docs/rules.md` lists what each one judges.
pub const SEVERITY_DEFAULTS: &[(&str, &str)] = &[
    ("OS-2.point-release-not-listed", "warning"),
    ("OS-4.end-of-life", "warning"),
    ("BOOT-4.no-fallback-loader", "blocker"),
    ("BOOT-4.no-fallback-loader-bios-too", "warning"),
    ("GEN-1.p2v", "warning"),
    ("GEN-3.raid-member", "warning"),
    ("GEN-4.static-ip", "warning"),
    ("GEN-4.several-interfaces", "warning"),
    ("GEN-5.dirty-filesystem", "warning"),
    ("GEN-5.fast-startup", "warning"),
    ("LNX-2.low-free-space", "warning"),
    ("LNX-3.no-boot-driver", "warning"),
    ("LNX-4.predictable-names", "warning"),
    ("LNX-5.ssh-not-enabled", "warning"),
    ("LNX-5.no-ssh", "warning"),
    ("MOD-L3.device-names", "warning"),
    ("MOD-L3.unresolved", "warning"),
    ("MOD-L4.device-names", "warning"),
    ("WIN-1.automatic-page-file", "warning"),
    ("WIN-3.ems", "warning"),
    ("WIN-4.language", "warning"),
    ("WIN-5.hyperv-client", "warning"),
    ("WIN-6.rdp-disabled", "warning"),
    ("WIN-6.rdp-firewall", "warning"),
    ("WIN-6.dotnet", "warning"),
    ("WIN-6.auto-logon", "warning"),
    ("WIN-6.pending-updates", "warning"),
    ("WIN-6.blank-password", "warning"),
    ("WIN-7.rtc", "warning"),
    ("WIN-9.other-disks", "warning"),
    ("WIN-9.boot-menu", "warning"),
    ("WIN-9.security-software", "warning"),
    ("WIN-9.no-volume-licensing", "warning"),
];

/// The default severity of a policy key.
pub fn default_severity(key: &str) -> Option<&'static str> {
    SEVERITY_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// Check a profile's `severity` table: known keys, known severity names.
pub fn validate(table: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in table {
        if default_severity(k).is_none() {
            return Err(format!("severity: unknown key {k:?}"));
        }
        if !SEVERITY_NAMES.contains(&v.as_str()) {
            return Err(format!(
                "severity: {k} = {v:?} (use one of {})",
                SEVERITY_NAMES.join(", ")
            ));
        }
    }
    Ok(())
}
