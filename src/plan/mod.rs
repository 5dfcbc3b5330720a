//! Plans: an ordered list of changes (file edits shown as unified diffs, files to add, registry
//! edits, initramfs appends), each with the backup it keeps of the original (MOD-*). Planning
//! never writes; applying is plan + write.

pub mod diff;
pub mod edit;
