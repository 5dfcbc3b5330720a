//! Plans: an ordered list of changes (file edits shown as unified diffs, files to add, renames,
//! initramfs appends), each with the backup it keeps of the original (MOD-*). Planning never
//! writes; applying is plan + write.

pub mod diff;
pub mod drivers;
pub mod edit;
pub mod kmod_index;
pub(crate) mod model;
pub mod planner;
pub mod windows;

pub use model::{Change, Plan, PlanNote, PlannedChange};
