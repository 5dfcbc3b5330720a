//! Local accounts from the SAM hive (`Windows\System32\config\SAM`), for WIN-6 ("every account
//! has a password"). Read: `SAM\Domains\Account\Users\<RID>` (`F`: fixed-size record with the
//! RID at 0x30 and the account control bits at 0x38; `V`: 17 descriptors of (offset, length,
//! unknown) — offsets relative to the end of the descriptor table at 0xCC — for the user name,
//! full name, comment, … and the LM / NT password hashes) and `Users\Names\<name>`, whose
//! default value's *type* is the RID.
//!
//! Only whether a hash is stored is looked at — its length in `V` — never its bytes: hashes are
//! neither kept, printed nor serialised. A hash entry is a 4-byte header (PEK id, revision 1 =
//! RC4, + 16 bytes when set) or, since Windows 10 1607, a 0x18-byte header (revision 2 = AES,
//! + 16/32 encrypted bytes when set); a header alone means no password.

use crate::hive::{Hive, HiveError, Key};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most accounts read from one SAM.
pub const MAX_ACCOUNTS: usize = 10_000;
/// Size of the `V` descriptor table (17 × 12 bytes).
pub const V_TABLE: usize = 0xCC;
/// Smallest `F` record holding the account control bits.
pub const F_MIN: usize = 0x3A;

/// Account control bits (`F` at 0x38).
pub const ACB_DISABLED: u16 = 0x0001;
/// The account needs no password.
pub const ACB_PWNOTREQ: u16 = 0x0004;
/// A normal user account.
pub const ACB_NORMAL: u16 = 0x0010;
/// The password never expires.
pub const ACB_PWNOEXP: u16 = 0x0200;
/// The account is locked out.
pub const ACB_AUTOLOCK: u16 = 0x0400;

/// Why a SAM record could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SamError {
    #[error("{0}")]
    /// The hive could not be read.
    Hive(#[from] HiveError),
    #[error("no SAM\\Domains\\Account\\Users key: not a SAM hive")]
    /// No `SAM\Domains\Account\Users` key: not a SAM hive.
    NoUsersKey,
    #[error("user key {key:?} is not an 8-digit hexadecimal RID")]
    /// A user key's name is not an 8-digit hexadecimal RID.
    BadRidKey {
        /// The key's name.
        key: String,
    },
    #[error("user {rid:#x}: {value} value missing")]
    /// A user key lacks a value.
    MissingValue {
        /// The user's RID.
        rid: u32,
        /// The value's name (`F`, `V`).
        value: &'static str,
    },
    #[error("user {rid:#x}: F value is {len} bytes, need {need}")]
    /// The `F` value is too short.
    FTooShort {
        /// The user's RID.
        rid: u32,
        /// Its length in bytes.
        len: usize,
        /// The length needed.
        need: usize,
    },
    #[error("user {rid:#x}: F value names RID {found:#x}")]
    /// The `F` value names another RID than its key.
    RidMismatch {
        /// The key's RID.
        rid: u32,
        /// The RID in `F`.
        found: u32,
    },
    #[error("user {rid:#x}: V value is {len} bytes, shorter than its {need}-byte descriptor table")]
    /// The `V` value is shorter than its descriptor table.
    VTooShort {
        /// The user's RID.
        rid: u32,
        /// Its length in bytes.
        len: usize,
        /// The table's length.
        need: usize,
    },
    #[error(
        "user {rid:#x}: V descriptor {field} (offset {offset:#x}, length {length:#x}) lies past the {len}-byte value"
    )]
    /// A `V` descriptor points past the value.
    VFieldOutOfRange {
        /// The user's RID.
        rid: u32,
        /// The field (`user name`, `full name` …).
        field: &'static str,
        /// The offset it gives, relative to the data after the table.
        offset: u32,
        /// The length it gives, in bytes.
        length: u32,
        /// The value's length in bytes.
        len: usize,
    },
    #[error("more than {MAX_ACCOUNTS} accounts")]
    /// More accounts than the bound.
    TooManyAccounts,
}

/// How a password hash is stored (never the hash itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashFormat {
    /// No hash entry at all (length 0).
    Empty,
    /// Revision 1: RC4-encrypted (before Windows 10 1607).
    Rc4,
    /// Revision 2: AES-encrypted (Windows 10 1607 and later).
    Aes,
    /// Another revision: presence judged by the length alone.
    Unknown,
}

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The user name.
    pub name: String,
    /// The relative ID (500 = Administrator).
    pub rid: u32,
    /// The full name, if set.
    pub full_name: Option<String>,
    /// ACB_DISABLED.
    pub disabled: bool,
    /// ACB_PWNOTREQ: the account may have an empty password.
    pub password_not_required: bool,
    /// An NT hash is stored (false: a blank password).
    pub password_set: bool,
    /// An LM hash is stored too (legacy).
    pub lm_hash_present: bool,
    /// How the NT hash is stored.
    pub hash_format: HashFormat,
    /// The account control bits (`ACB_*`).
    pub acb: u16,
    /// Number of logons.
    pub logon_count: u16,
}

impl Account {
    /// WIN-6: an enabled account that logs on without a password.
    pub fn blank_password(&self) -> bool {
        !self.disabled && !self.password_set
    }
}

/// What the SAM hive tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamFacts {
    /// Accounts in RID order.
    pub accounts: Vec<Account>,
    /// Accounts whose records could not be read, with the reason.
    pub unreadable: Vec<String>,
}

impl SamFacts {
    /// Enabled accounts without a password (WIN-6).
    pub fn blank_password_accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter().filter(|a| a.blank_password())
    }
}

use crate::bytes::{le_u16 as u16_at, le_u32 as u32_at};

/// The fixed `F` record: (RID, account control bits, logon count).
pub fn parse_f(rid: u32, f: &[u8]) -> Result<(u32, u16, u16), SamError> {
    let short = || SamError::FTooShort {
        rid,
        len: f.len(),
        need: F_MIN,
    };
    let found = u32_at(f, 0x30).ok_or_else(short)?;
    let acb = u16_at(f, 0x38).ok_or_else(short)?;
    Ok((found, acb, u16_at(f, 0x42).unwrap_or(0)))
}

const V_FIELDS: [&str; 17] = [
    "security descriptor",
    "user name",
    "full name",
    "comment",
    "user comment",
    "unknown 5",
    "home directory",
    "home directory drive",
    "script path",
    "profile path",
    "workstations",
    "logon hours",
    "unknown 12",
    "LM hash",
    "NT hash",
    "unknown 15",
    "unknown 16",
];

/// The bytes of `V` descriptor `i`, bounds-checked.
pub fn v_field(rid: u32, v: &[u8], i: usize) -> Result<&[u8], SamError> {
    if v.len() < V_TABLE {
        return Err(SamError::VTooShort {
            rid,
            len: v.len(),
            need: V_TABLE,
        });
    }
    let field = V_FIELDS.get(i).copied().unwrap_or("unknown");
    let offset = u32_at(v, i * 12).unwrap_or(0);
    let length = u32_at(v, i * 12 + 4).unwrap_or(0);
    let start = (offset as usize).checked_add(V_TABLE);
    let end = start.and_then(|s| s.checked_add(length as usize));
    match (start, end) {
        (Some(s), Some(e)) if e <= v.len() => Ok(v.get(s..e).unwrap_or(&[])),
        _ => Err(SamError::VFieldOutOfRange {
            rid,
            field,
            offset,
            length,
            len: v.len(),
        }),
    }
}

/// Whether a hash entry of `V` holds a hash, and its format.
pub fn hash_stored(entry: &[u8]) -> (bool, HashFormat) {
    match (entry.len(), u16_at(entry, 2)) {
        (0, _) => (false, HashFormat::Empty),
        (n, Some(1)) => (n >= 4 + 16, HashFormat::Rc4),
        (n, Some(2)) => (n >= 0x18 + 16, HashFormat::Aes),
        (n, _) => (n > 4, HashFormat::Unknown),
    }
}

fn utf16(b: &[u8]) -> String {
    crate::hive::value::decode_sz(b)
}

/// One account from its RID key.
pub fn read_account(key: &Key<'_>) -> Result<Account, SamError> {
    let name = key.name();
    let rid = (name.len() == 8)
        .then(|| u32::from_str_radix(name, 16).ok())
        .flatten()
        .ok_or_else(|| SamError::BadRidKey { key: name.into() })?;
    let f = key
        .value("F")?
        .ok_or(SamError::MissingValue { rid, value: "F" })?;
    let v = key
        .value("V")?
        .ok_or(SamError::MissingValue { rid, value: "V" })?;
    let (found, acb, logons) = parse_f(rid, &f.raw)?;
    if found != rid {
        return Err(SamError::RidMismatch { rid, found });
    }
    let (password_set, hash_format) = hash_stored(v_field(rid, &v.raw, 14)?);
    let (lm_hash_present, _) = hash_stored(v_field(rid, &v.raw, 13)?);
    let full = utf16(v_field(rid, &v.raw, 2)?);
    Ok(Account {
        name: utf16(v_field(rid, &v.raw, 1)?),
        rid,
        full_name: (!full.is_empty()).then_some(full),
        disabled: acb & ACB_DISABLED != 0,
        password_not_required: acb & ACB_PWNOTREQ != 0,
        password_set,
        lm_hash_present,
        hash_format,
        acb,
        logon_count: logons,
    })
}

/// Read the local accounts of a SAM hive.
pub fn sam_facts(hive: &Hive) -> Result<SamFacts, SamError> {
    let root = hive.root();
    // The root key of a SAM hive holds a key called SAM; accept a hive rooted one level down.
    let users = match root.open_path("SAM\\Domains\\Account\\Users")? {
        Some(k) => k,
        None => root
            .open_path("Domains\\Account\\Users")?
            .ok_or(SamError::NoUsersKey)?,
    };
    let mut out = SamFacts::default();
    let subs = users.subkeys()?;
    if subs.len() > MAX_ACCOUNTS + 1 {
        return Err(SamError::TooManyAccounts);
    }
    // Names\<name>: the default value's type is the RID (a fallback for an empty V name).
    let mut names = std::collections::BTreeMap::new();
    if let Some(n) = users.subkey("Names")? {
        for k in n.subkeys()? {
            if let Some(r) = k.value_records()?.iter().find(|r| r.name.is_empty()) {
                names.insert(r.data_type, k.name().to_string());
            }
        }
    }
    for k in subs
        .iter()
        .filter(|k| !k.name().eq_ignore_ascii_case("Names"))
    {
        match read_account(k) {
            Ok(mut a) => {
                if a.name.is_empty() {
                    if let Some(n) = names.get(&a.rid) {
                        a.name = n.clone();
                    }
                }
                out.accounts.push(a);
            }
            Err(e) => out.unreadable.push(format!("{}: {e}", k.name())),
        }
    }
    out.accounts.sort_by_key(|a| a.rid);
    Ok(out)
}
