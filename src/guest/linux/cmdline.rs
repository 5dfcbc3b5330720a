//! Kernel command lines (`root=UUID=… ro quiet console=ttyS0,115200n8 net.ifnames=0`):
//! splitting into parameters (double quotes group, as the kernel does), lookups, and the
//! facts the checks need (root/resume devices, LNX-4 predictable interface names).

/// One parameter: its text span in the command line, key and optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Byte range of the whole parameter in the command line.
    pub span: (usize, usize),
    /// The name before the first `=`.
    pub key: String,
    /// The value after the first `=`, quotes removed.
    pub value: Option<String>,
}

/// Split a command line into parameters.
pub fn params(cmdline: &str) -> Vec<Param> {
    let b = cmdline.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        let mut quoted = false;
        while let Some(&c) = b.get(i) {
            if c == b'"' {
                quoted = !quoted;
            } else if c.is_ascii_whitespace() && !quoted {
                break;
            }
            i += 1;
        }
        let text = &cmdline[start..i];
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k.replace('"', ""), Some(v.replace('"', ""))),
            None => (text.replace('"', ""), None),
        };
        out.push(Param {
            span: (start, i),
            key,
            value,
        });
    }
    out
}

/// The value of the last `key=value` (the kernel honours the last one).
pub fn get(cmdline: &str, key: &str) -> Option<String> {
    params(cmdline)
        .into_iter()
        .rev()
        .find(|p| p.key == key)
        .and_then(|p| p.value)
}

/// Whether the exact parameter (`quiet`, or `key=value`) is present.
pub fn has(cmdline: &str, param: &str) -> bool {
    let (k, v) = match param.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (param, None),
    };
    params(cmdline)
        .iter()
        .any(|p| p.key == k && p.value.as_deref() == v)
}

/// LNX-4: whether predictable interface names are switched off on this command line
/// (`net.ifnames=0`; `biosdevname=0` only matters where biosdevname is installed).
pub fn ifnames_disabled(cmdline: &str) -> bool {
    get(cmdline, "net.ifnames").as_deref() == Some("0")
}

/// The kernel parameters naming block devices that must survive the import.
pub const DEVICE_KEYS: &[&str] = &["root", "resume", "rd.luks.uuid", "rd.lvm.lv", "cryptdevice"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let c = "BOOT_IMAGE=/vmlinuz-4.18 root=/dev/mapper/rhel-root ro crashkernel=auto resume=UUID=a-b \"acpi_osi=Windows 2015\" quiet net.ifnames=0";
        let p = params(c);
        assert_eq!(p.len(), 8);
        assert_eq!(p[1].key, "root");
        assert_eq!(p[1].value.as_deref(), Some("/dev/mapper/rhel-root"));
        assert_eq!(&c[p[1].span.0..p[1].span.1], "root=/dev/mapper/rhel-root");
        assert_eq!(get(c, "resume").as_deref(), Some("UUID=a-b"));
        assert_eq!(get(c, "acpi_osi").as_deref(), Some("Windows 2015"));
        assert!(has(c, "quiet") && has(c, "ro") && !has(c, "rw"));
        assert!(ifnames_disabled(c));
        assert!(!ifnames_disabled(
            "root=/dev/sda1 net.ifnames=0 net.ifnames=1"
        ));
        assert!(params("").is_empty() && params("   ").is_empty());
    }
}
