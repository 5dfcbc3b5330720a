use crate::block::BlockError;

/// Errors of the volume layer. Each names the device and the on-disk structure that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("{dev}: corrupt {structure}: {reason}")]
    Corrupt {
        dev: String,
        structure: &'static str,
        reason: String,
    },
    #[error("LVM: {reason}")]
    Lvm { reason: String },
    #[error("LVM metadata text: {reason}")]
    LvmSyntax { reason: String },
    #[error("{dev}: unsupported: {what}")]
    Unsupported { dev: String, what: String },
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
