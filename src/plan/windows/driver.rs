//! What a driver INF means for one guest: the models section that applies to the guest's
//! architecture and version (`[Manufacturer]` decorations such as `NTamd64.10.0...17763`), the
//! devices (hardware IDs) it binds, the services it adds (`AddService` → ServiceType,
//! StartType, ErrorControl, ServiceBinary, LoadOrderGroup, the service's `AddReg`), and the
//! files it copies (`CopyFiles` + `DestinationDirs`). Driver knowledge comes from the INF: a new
//! driver is a new folder, not new code (MOD-W1, MOD-W2).

use super::inf::{Inf, InfError, key_is};
use crate::hive::write::ValueData;
use std::path::{Path, PathBuf};

/// Largest driver folder walked (files).
pub const MAX_FILES: usize = 20_000;
/// Deepest folder walked.
pub const MAX_DEPTH: usize = 8;

/// The guest a driver is chosen for.
#[derive(Debug, Clone)]
pub struct Target {
    /// INF architecture name: `amd64`, `x86`, `arm64`.
    pub arch: String,
    /// Windows major version (10 for Windows 10/11 and Server 2016+).
    pub major: u32,
    /// Windows minor version.
    pub minor: u32,
    /// Build number, when known.
    pub build: Option<u32>,
}

impl Target {
    /// The INF architecture of a guest architecture fact (`x86_64` → `amd64`).
    pub fn inf_arch(arch: &str) -> &'static str {
        match arch {
            "x86_64" | "amd64" => "amd64",
            "aarch64" | "arm64" => "arm64",
            _ => "x86",
        }
    }
}

/// Errors of one driver package.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{path}: {source}")]
    /// An INF file could not be read.
    Inf {
        /// The INF's host path.
        path: String,
        #[source]
        /// Why.
        source: InfError,
    },
    #[error("{path}: {reason}")]
    /// The package is not usable (no model for the guest, a file it names is missing …).
    Package {
        /// The package's host path.
        path: String,
        /// Why.
        reason: String,
    },
    #[error("{path}: {source}")]
    /// A package file could not be read.
    Io {
        /// The file's host path.
        path: String,
        #[source]
        /// The host error.
        source: std::io::Error,
    },
}

/// One registry line of an `AddReg` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddReg {
    /// `HKR` (the service key) or `HKLM`.
    pub root: String,
    /// The key path under `root`.
    pub subkey: String,
    /// The value name (empty: the key's default value).
    pub name: String,
    /// None: create the key only.
    pub value: Option<ValueData>,
    /// FLG_ADDREG_NOCLOBBER: keep an existing value.
    pub no_clobber: bool,
    /// FLG_ADDREG_APPEND: append to a REG_MULTI_SZ.
    pub append: bool,
    /// FLG_ADDREG_DELVAL: delete the value.
    pub delete: bool,
}

/// A service the INF adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service name (`viostor`).
    pub name: String,
    /// DisplayName.
    pub display_name: Option<String>,
    /// ServiceType (1 = kernel driver).
    pub service_type: u32,
    /// StartType (0 = boot, 3 = manual).
    pub start_type: u32,
    /// ErrorControl (1 = normal).
    pub error_control: u32,
    /// ImagePath as Windows writes it (`\SystemRoot\System32\drivers\viostor.sys`).
    pub image_path: String,
    /// LoadOrderGroup.
    pub group: Option<String>,
    /// The service's AddReg lines.
    pub addreg: Vec<AddReg>,
    /// The `AddService` flags: 0x2 = the device's function driver.
    pub flags: u32,
}

/// A device model: its description, its install section (decorated as chosen) and the hardware
/// IDs it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The device description.
    pub description: String,
    /// The install section's name, decorated as chosen.
    pub install: String,
    /// The hardware IDs it binds (`PCI\VEN_1AF4&DEV_1001`).
    pub hardware_ids: Vec<String>,
}

/// A file the INF copies, from the package folder to a guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCopy {
    /// The file in the package folder, on the host.
    pub source: PathBuf,
    /// The guest path it is copied to.
    pub dest: String,
}

/// A driver package chosen for a guest.
#[derive(Debug, Clone)]
pub struct Package {
    /// The INF's host path.
    pub inf_path: PathBuf,
    /// The INF file name, lower-cased (`viostor.inf`).
    pub inf_name: String,
    /// The device class (`SCSIAdapter`).
    pub class: String,
    /// The device class GUID.
    pub class_guid: String,
    /// The provider.
    pub provider: String,
    /// The models-section decoration that was chosen (`NTamd64.10.0`), empty if undecorated.
    pub decoration: String,
    /// The models for the guest's architecture and version.
    pub models: Vec<Model>,
    /// The function service of the models (AddService with flag 0x2) and any others.
    pub services: Vec<Service>,
    /// The files the INF copies into the guest.
    pub copies: Vec<FileCopy>,
    /// Every file of the package folder the INF names (INF, catalog, binaries): what is staged.
    pub package_files: Vec<PathBuf>,
}

fn num(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// How specific a decoration is: (architecture named, major, minor, build).
pub type Rank = (u8, u32, u32, u32);

/// Rank of a models decoration for the target, or None when it does not apply:
/// `NT[arch][.major[.minor[.ptype[.suite[.build]]]]]`.
pub fn decoration_rank(dec: &str, t: &Target) -> Option<Rank> {
    let mut parts = dec.split('.');
    let first = parts.next()?;
    if !first.get(..2)?.eq_ignore_ascii_case("NT") {
        return None;
    }
    let arch = first.get(2..)?;
    if !arch.is_empty() && !arch.eq_ignore_ascii_case(&t.arch) {
        return None;
    }
    let major = parts.next().and_then(num).unwrap_or(0);
    let minor = parts.next().and_then(num).unwrap_or(0);
    if (major, minor) > (t.major, t.minor) {
        return None;
    }
    let _ptype = parts.next();
    let _suite = parts.next();
    let build = parts.next().and_then(num).unwrap_or(0);
    if let Some(b) = t.build {
        if build > b {
            return None;
        }
    }
    Some((u8::from(!arch.is_empty()), major, minor, build))
}

/// A guest path for a DIRID (+ subfolder): 10 = %SystemRoot%, 11 = System32, 12 = drivers.
fn dirid_path(id: u32, sub: &str) -> Option<String> {
    let base = match id {
        10 => "/Windows",
        11 => "/Windows/System32",
        12 => "/Windows/System32/drivers",
        _ => return None,
    };
    let sub = sub.trim_matches('\\').replace('\\', "/");
    Some(if sub.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{sub}")
    })
}

/// `%12%\viostor.sys` → `\SystemRoot\System32\drivers\viostor.sys`.
fn image_path(binary: &str) -> Option<String> {
    let b = binary.trim();
    let (id, rest) = b.strip_prefix('%')?.split_once('%')?;
    let base = match num(id)? {
        10 => "\\SystemRoot",
        11 => "\\SystemRoot\\System32",
        12 => "\\SystemRoot\\System32\\drivers",
        _ => return None,
    };
    Some(format!("{base}{rest}"))
}

fn hex_bytes(fields: &[String]) -> Option<Vec<u8>> {
    fields
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| u8::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .collect()
}

const FLG_BINVALUETYPE: u32 = 0x1;
const FLG_NOCLOBBER: u32 = 0x2;
const FLG_DELVAL: u32 = 0x4;
const FLG_APPEND: u32 = 0x8;
const FLG_KEYONLY: u32 = 0x10;
const MODIFIERS: u32 = 0x2 | 0x8 | 0x20 | 0x1000 | 0x2000 | 0x4000;

/// One AddReg line: `root, subkey, name, flags, value...`.
fn addreg_line(fields: &[String]) -> Result<AddReg, String> {
    let f = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
    let flags = if f(3).is_empty() {
        0
    } else {
        num(f(3)).ok_or_else(|| format!("AddReg flags {:?} are not a number", f(3)))?
    };
    let rest = fields.get(4..).unwrap_or(&[]);
    let first = rest.first().map(String::as_str).unwrap_or("");
    let base = flags & !MODIFIERS;
    let value = if flags & (FLG_KEYONLY | FLG_DELVAL) != 0 || (rest.is_empty() && f(2).is_empty()) {
        None
    } else {
        Some(match base & !FLG_DELVAL {
            0x0 => ValueData::sz(first),
            0x10000 => {
                let items: Vec<&str> = rest
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                ValueData::multi_sz(&items)
            }
            0x20000 => ValueData::expand_sz(first),
            0x10001 if rest.len() <= 1 => ValueData::dword(
                num(first).ok_or_else(|| format!("AddReg DWORD {first:?} is not a number"))?,
            ),
            b if b & FLG_BINVALUETYPE != 0 => {
                let kind = match b >> 16 {
                    0 => crate::hive::value::REG_BINARY,
                    1 => crate::hive::value::REG_DWORD,
                    2 => crate::hive::value::REG_NONE,
                    k => k,
                };
                ValueData {
                    kind,
                    data: hex_bytes(rest)
                        .ok_or_else(|| format!("AddReg binary data {rest:?} is not hex bytes"))?,
                }
            }
            other => {
                return Err(format!(
                    "AddReg flags {other:#x} are not a known value type"
                ));
            }
        })
    };
    Ok(AddReg {
        root: f(0).to_ascii_uppercase(),
        subkey: f(1).to_string(),
        name: f(2).to_string(),
        value,
        no_clobber: flags & FLG_NOCLOBBER != 0,
        append: flags & FLG_APPEND != 0,
        delete: flags & FLG_DELVAL != 0,
    })
}

/// The most specific existing decorated section: `S.NT<arch>`, `S.NT`, `S`.
fn decorated(inf: &Inf, base: &str, arch: &str) -> Option<String> {
    [
        format!("{base}.NT{arch}"),
        format!("{base}.NT"),
        base.to_string(),
    ]
    .into_iter()
    .find(|s| inf.section(s).is_some())
}

/// Read `path` as a driver package for `t`. `Ok(None)` when no models section applies to the
/// guest (another architecture or a newer Windows).
pub fn load(path: &Path, t: &Target) -> Result<Option<Package>, DriverError> {
    let ps = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| DriverError::Io {
        path: ps.clone(),
        source,
    })?;
    if meta.len() > super::inf::MAX_INF as u64 {
        return Err(DriverError::Inf {
            path: ps,
            source: InfError::TooLarge {
                len: meta.len() as usize,
            },
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DriverError::Io {
        path: ps.clone(),
        source,
    })?;
    let inf = Inf::parse(&bytes).map_err(|source| DriverError::Inf {
        path: ps.clone(),
        source,
    })?;
    from_inf(&inf, path, t)
}

/// [`load`] for an INF already parsed; `path` names it (its folder holds the package files).
pub fn from_inf(inf: &Inf, path: &Path, t: &Target) -> Result<Option<Package>, DriverError> {
    let ps = path.display().to_string();
    let bad = |reason: String| DriverError::Package {
        path: ps.clone(),
        reason,
    };
    let class = inf.value("Version", "Class").unwrap_or("").to_string();
    let class_guid = inf.value("Version", "ClassGuid").unwrap_or("").to_string();
    let provider = inf.value("Version", "Provider").unwrap_or("").to_string();
    // [Manufacturer]: %mfg% = Models, NTamd64, NTamd64.10.0 …
    // (rank, models section, decoration)
    let mut best: Option<(Rank, String, String)> = None;
    for m in inf.section("Manufacturer").unwrap_or(&[]) {
        let base = m.value(0).to_string();
        if base.is_empty() {
            continue;
        }
        let decs: Vec<&String> = m.values.iter().skip(1).filter(|d| !d.is_empty()).collect();
        if decs.is_empty() {
            let rank = (0, 0, 0, 0);
            if best.as_ref().is_none_or(|(r, ..)| rank > *r) {
                best = Some((rank, base.clone(), String::new()));
            }
        }
        for d in decs {
            if let Some(rank) = decoration_rank(d, t) {
                if best.as_ref().is_none_or(|(r, ..)| rank > *r) {
                    best = Some((rank, format!("{base}.{d}"), d.clone()));
                }
            }
        }
    }
    let Some((_, models_section, decoration)) = best else {
        return Ok(None);
    };
    let Some(entries) = inf.section(&models_section) else {
        return Err(bad(format!(
            "[Manufacturer] names the models section [{models_section}], which does not exist"
        )));
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut models: Vec<Model> = Vec::new();
    for e in entries {
        let install_base = e.value(0);
        let ids: Vec<String> = e
            .values
            .iter()
            .skip(1)
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        if install_base.is_empty() || ids.is_empty() {
            return Err(bad(format!(
                "line {}: a model needs an install section and a hardware ID",
                e.line
            )));
        }
        let install = decorated(inf, install_base, &t.arch).ok_or_else(|| {
            bad(format!(
                "line {}: install section [{install_base}] does not exist",
                e.line
            ))
        })?;
        match models.iter_mut().find(|m| m.install == install) {
            Some(m) => {
                for id in ids {
                    if !m.hardware_ids.iter().any(|x| x.eq_ignore_ascii_case(&id)) {
                        m.hardware_ids.push(id);
                    }
                }
            }
            None => models.push(Model {
                description: e.key.clone().unwrap_or_default(),
                install,
                hardware_ids: ids,
            }),
        }
    }
    if models.is_empty() {
        return Ok(None);
    }
    // DestinationDirs
    let dest_for = |section: &str| -> Result<String, DriverError> {
        let dd = inf.section("DestinationDirs").unwrap_or(&[]);
        let e = dd
            .iter()
            .find(|e| {
                e.key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(section))
            })
            .or_else(|| dd.iter().find(|e| key_is(e, "DefaultDestDir")));
        let Some(e) = e else {
            return Err(bad(format!(
                "no DestinationDirs entry for [{section}] and no DefaultDestDir"
            )));
        };
        let id = num(e.value(0)).unwrap_or(u32::MAX);
        dirid_path(id, e.value(1)).ok_or_else(|| {
            bad(format!(
                "DestinationDirs {} (DIRID {}): only 10, 11 and 12 are supported (13, the driver store, needs pnputil)",
                e.key.as_deref().unwrap_or(""),
                e.value(0)
            ))
        })
    };
    let mut services: Vec<Service> = Vec::new();
    let mut copies: Vec<FileCopy> = Vec::new();
    let add_copy =
        |name: &str, dest_dir: &str, copies: &mut Vec<FileCopy>| -> Result<(), DriverError> {
            let source = find_file(dir, name).ok_or_else(|| {
                bad(format!(
                    "{name}: named by CopyFiles but not in the package folder"
                ))
            })?;
            let dest = format!("{dest_dir}/{}", name.to_ascii_lowercase());
            if !copies.iter().any(|c| c.dest.eq_ignore_ascii_case(&dest)) {
                copies.push(FileCopy { source, dest });
            }
            Ok(())
        };
    for m in &models {
        for item in inf.values(&m.install, "CopyFiles") {
            if let Some(file) = item.strip_prefix('@') {
                let d = dest_for(&m.install)?;
                add_copy(file, &d, &mut copies)?;
                continue;
            }
            let d = dest_for(&item)?;
            for fe in inf.section(&item).unwrap_or(&[]) {
                let name = fe.key.clone().unwrap_or_else(|| fe.value(0).to_string());
                if !name.is_empty() {
                    add_copy(&name, &d, &mut copies)?;
                }
            }
        }
        let svc_section = format!("{}.Services", m.install);
        for e in inf.section(&svc_section).unwrap_or(&[]) {
            if !key_is(e, "AddService") {
                continue;
            }
            let name = e.value(0).to_string();
            let flags = num(e.value(1)).unwrap_or(0);
            let inst = e.value(2);
            if name.is_empty() || inst.is_empty() {
                continue;
            }
            if services.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
                continue;
            }
            let field = |k: &str| inf.value(inst, k).map(str::to_string);
            let numf = |k: &str| -> Result<u32, DriverError> {
                let v = field(k).ok_or_else(|| bad(format!("[{inst}] has no {k}")))?;
                num(&v).ok_or_else(|| bad(format!("[{inst}] {k} = {v:?} is not a number")))
            };
            let binary = field("ServiceBinary")
                .ok_or_else(|| bad(format!("[{inst}] has no ServiceBinary")))?;
            let image = image_path(&binary).ok_or_else(|| {
                bad(format!(
                    "[{inst}] ServiceBinary {binary:?}: only %10%, %11% and %12% paths are supported"
                ))
            })?;
            let mut addreg = Vec::new();
            for sec in inf.values(inst, "AddReg") {
                for l in inf.section(&sec).unwrap_or(&[]) {
                    let mut fields = Vec::new();
                    if let Some(k) = &l.key {
                        // "HKR = …" is unusual but a key/value split of the first field
                        fields.push(k.clone());
                    }
                    fields.extend(l.values.iter().cloned());
                    addreg.push(
                        addreg_line(&fields)
                            .map_err(|r| bad(format!("[{sec}] line {}: {r}", l.line)))?,
                    );
                }
            }
            services.push(Service {
                name,
                display_name: field("DisplayName"),
                service_type: numf("ServiceType")?,
                start_type: numf("StartType")?,
                error_control: numf("ErrorControl")?,
                image_path: image,
                group: field("LoadOrderGroup").filter(|g| !g.is_empty()),
                addreg,
                flags,
            });
        }
    }
    if services.is_empty() {
        return Err(bad(
            "no AddService in any install section's .Services section".into(),
        ));
    }
    let inf_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut package_files = vec![path.to_path_buf()];
    if let Some(cat) = inf
        .value("Version", &format!("CatalogFile.NT{}", t.arch))
        .or_else(|| inf.value("Version", "CatalogFile.NT"))
        .or_else(|| inf.value("Version", "CatalogFile"))
    {
        if let Some(p) = find_file(dir, cat) {
            package_files.push(p);
        }
    }
    for c in &copies {
        if !package_files.contains(&c.source) {
            package_files.push(c.source.clone());
        }
    }
    Ok(Some(Package {
        inf_path: path.to_path_buf(),
        inf_name,
        class,
        class_guid,
        provider,
        decoration,
        models,
        services,
        copies,
        package_files,
    }))
}

/// A file of the package folder by name, case-insensitively.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    if name.contains(['/', '\\']) || name == ".." {
        return None;
    }
    let exact = dir.join(name);
    if exact.is_file() {
        return Some(exact);
    }
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let n = e.file_name();
        (n.to_string_lossy().eq_ignore_ascii_case(name) && e.path().is_file()).then(|| e.path())
    })
}

/// Every `*.inf` under `dir` (sorted, bounded), without following symlinks.
pub fn find_infs(dir: &Path) -> Result<Vec<PathBuf>, DriverError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((d, depth)) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| DriverError::Io {
            path: d.display().to_string(),
            source,
        })?;
        for e in rd.flatten() {
            seen += 1;
            if seen > MAX_FILES {
                return Err(DriverError::Package {
                    path: dir.display().to_string(),
                    reason: format!("more than {MAX_FILES} files in the driver folder"),
                });
            }
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() && depth < MAX_DEPTH {
                stack.push((p, depth + 1));
            } else if ft.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("inf")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(arch: &str, major: u32, minor: u32, build: Option<u32>) -> Target {
        Target {
            arch: arch.into(),
            major,
            minor,
            build,
        }
    }

    #[test]
    fn decorations() {
        let w10 = t("amd64", 10, 0, Some(17763));
        assert_eq!(decoration_rank("NTamd64", &w10), Some((1, 0, 0, 0)));
        assert_eq!(
            decoration_rank("NTamd64.10.0...16299", &w10),
            Some((1, 10, 0, 16299))
        );
        assert_eq!(decoration_rank("NTamd64.10.0...20348", &w10), None);
        assert_eq!(decoration_rank("NTx86", &w10), None);
        assert_eq!(decoration_rank("NT", &w10), Some((0, 0, 0, 0)));
        assert_eq!(
            decoration_rank("NTamd64.6.3", &t("amd64", 6, 1, None)),
            None
        );
        assert_eq!(decoration_rank("Win64", &w10), None);
        // not a char boundary after two bytes (fuzz finding kept in fuzz/regressions/inf)
        assert_eq!(decoration_rank("\u{fc4e}86", &w10), None);
        assert_eq!(decoration_rank("N", &w10), None);
    }

    #[test]
    fn addreg_types() {
        let l = |s: &str| {
            addreg_line(
                &s.split(',')
                    .map(|x| x.trim().to_string())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            l("HKR, Parameters, BusType, 0x00010001, 0x00000001")
                .unwrap()
                .value,
            Some(ValueData::dword(1))
        );
        assert_eq!(
            l("HKR, , Name, 0, hello").unwrap().value,
            Some(ValueData::sz("hello"))
        );
        assert_eq!(
            l("HKR, , M, 0x00010000, a, b").unwrap().value,
            Some(ValueData::multi_sz(&["a", "b"]))
        );
        assert_eq!(
            l("HKR, , E, 0x00020000, %x%").unwrap().value,
            Some(ValueData::expand_sz("%x%"))
        );
        assert_eq!(
            l("HKR, , B, 1, 01, ff").unwrap().value,
            Some(ValueData::binary(vec![1, 0xff]))
        );
        assert_eq!(
            l("HKR, , Q, 0x000B0001, 01,00,00,00,00,00,00,00")
                .unwrap()
                .value,
            Some(ValueData::qword(1))
        );
        assert!(l("HKR, Parameters, , 0x00000010").unwrap().value.is_none());
        assert!(l("HKR, , N, 0x00000002, x").unwrap().no_clobber);
        assert!(l("HKR, , N, bogus, x").is_err());
        assert!(l("HKR, , N, 0x00010001, nope").is_err());
    }

    #[test]
    fn image_paths() {
        assert_eq!(
            image_path("%12%\\viostor.sys").as_deref(),
            Some("\\SystemRoot\\System32\\drivers\\viostor.sys")
        );
        assert_eq!(image_path("%13%\\x.sys"), None);
    }
}
