//! guestfix: offline guest-OS surgery for VM disk images.
//!
//! Data flows one way through the layers, and a lower layer never knows about a higher one:
//!
//! `block` (containers → one [`block::BlockDev`]) → `volume` (partitions, LVM) → `fs` (one
//! [`fs::Filesystem`] trait, guest-rooted path resolution) → `guest` (inspection facts) and `hive`
//! (Windows registry) → `check` / `rules` / `plan` → `apply`.
//!
//! Every parser treats the image as untrusted: bad input gives a typed error, never a panic,
//! hang, unbounded allocation or host file access. The requirement IDs cited in comments
//! (FMT-1, MOD-L3, …) refer to `../shared/spec/import-requirements.md`.

#![forbid(unsafe_code)]

pub mod apply;
pub mod block;
pub mod bytes;
pub mod check;
pub mod civil;
pub mod formats;
pub mod fs;
pub mod guest;
pub mod hive;
pub mod plan;
pub mod rules;
pub mod volume;
