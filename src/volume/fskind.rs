//! The kind of filesystem a volume holds. The volume layer carries it in
//! [`super::Content::Filesystem`]; the fs layer's probe names it, and every layer above (mounts,
//! inspection, apply's writer choice) matches on the type, never on a name.

use std::fmt;

/// Which filesystem a volume holds (BOOT-2 lists the Linux ones the import service accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// ext2 (no journal).
    Ext2,
    /// ext3 (journal, block-mapped files).
    Ext3,
    /// ext4 (any of the ext4 incompat/ro-compat features).
    Ext4,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
    /// NTFS.
    Ntfs,
    /// FAT12/16/32.
    Vfat,
    /// JFS.
    Jfs,
    /// Linux swap (a volume with a swap signature).
    Swap,
}

impl FsKind {
    /// The name libguestfs/blkid use ("ext4", "vfat", "swap" …).
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Ntfs => "ntfs",
            FsKind::Vfat => "vfat",
            FsKind::Jfs => "jfs",
            FsKind::Swap => "swap",
        }
    }

    /// The kind for a blkid / fstab type name (`ntfs-3g` and `ntfs3` are NTFS, `fat` and `msdos`
    /// FAT); `None` for a name guestfix has no kind for.
    pub fn from_name(name: &str) -> Option<FsKind> {
        Some(match name {
            "ext2" => FsKind::Ext2,
            "ext3" => FsKind::Ext3,
            "ext4" => FsKind::Ext4,
            "xfs" => FsKind::Xfs,
            "btrfs" => FsKind::Btrfs,
            "ntfs" | "ntfs-3g" | "ntfs3" => FsKind::Ntfs,
            "vfat" | "fat" | "msdos" => FsKind::Vfat,
            "jfs" => FsKind::Jfs,
            "swap" => FsKind::Swap,
            _ => return None,
        })
    }
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::FsKind;

    #[test]
    fn names_round_trip_and_match_serde() {
        for k in [
            FsKind::Ext2,
            FsKind::Ext3,
            FsKind::Ext4,
            FsKind::Xfs,
            FsKind::Btrfs,
            FsKind::Ntfs,
            FsKind::Vfat,
            FsKind::Jfs,
            FsKind::Swap,
        ] {
            assert_eq!(FsKind::from_name(k.name()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(FsKind::from_name("ntfs-3g"), Some(FsKind::Ntfs));
        assert_eq!(FsKind::from_name("zfs_member"), None);
    }
}
