//! Volumes: MBR and GPT partition tables (hybrid/protective MBRs told apart, BOOT-1), LVM2
//! physical volumes, volume groups and linear/striped logical volumes, and detection (not
//! opening) of LUKS, BitLocker, Windows dynamic disks and MD RAID members (GEN-3). Every volume
//! found is exposed as a [`crate::block::BlockDev`].
