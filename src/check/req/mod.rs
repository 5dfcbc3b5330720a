//! The requirement checks, one function per requirement ID (and per OS where the facts differ),
//! grouped by the spec's sections. They are registered in `super::registry::REQUIREMENTS`.

pub mod boot;
pub mod fmt;
pub mod general;
pub mod lnx;
pub mod modif;
pub mod os;
pub mod win;

const TIB: u64 = 1 << 40;

/// A size for humans: MiB, GiB or TiB with one decimal.
pub(crate) fn human(b: u64) -> String {
    if b >= TIB {
        format!("{:.1} TiB", b as f64 / TIB as f64)
    } else if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}
#[cfg(test)]
mod tests;
