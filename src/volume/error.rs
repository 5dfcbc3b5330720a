use crate::block::BlockError;

/// Errors of the volume layer. Each names the device and the on-disk structure that is wrong.
///
/// Returned while scanning a disk set for partition tables (MBR, GPT) and LVM2 volumes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Reading a disk failed (see [`BlockError`]).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A partition table or LVM on-disk structure breaks its format's rules (e.g. both GPT
    /// headers bad, an EBR without 0x55AA, an LVM label or metadata area that does not fit).
    #[error("{dev}: corrupt {structure}: {reason}")]
    Corrupt {
        /// The disk's description (its path or URL).
        dev: String,
        /// The structure that is wrong (e.g. "GPT", "EBR", "LVM label", "LVM metadata area").
        structure: &'static str,
        /// What is wrong with it, with sectors or byte offsets where they apply.
        reason: String,
    },
    /// LVM2 metadata that parses but does not describe a usable volume group (a missing or
    /// negative field, a bogus extent size, too many segments, a malformed stripe list, …).
    #[error("LVM: {reason}")]
    Lvm {
        /// What is wrong, naming the VG or LV concerned.
        reason: String,
    },
    /// LVM2 metadata text that does not parse, or is larger than the bound accepted.
    #[error("LVM metadata text: {reason}")]
    LvmSyntax {
        /// Where parsing failed (byte offset and line in the text), or the size refused.
        reason: String,
    },
    /// A layout this layer does not handle (e.g. more disks in one set than accepted).
    #[error("{dev}: unsupported: {what}")]
    Unsupported {
        /// The disk's description, or "disk set" for the whole set.
        dev: String,
        /// What is not supported.
        what: String,
    },
}

pub(crate) fn corrupt(
    dev: &str,
    structure: &'static str,
    reason: impl Into<String>,
) -> VolumeError {
    VolumeError::Corrupt {
        dev: dev.to_string(),
        structure,
        reason: reason.into(),
    }
}
