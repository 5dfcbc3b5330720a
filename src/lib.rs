//! guestfix: offline guest-OS surgery for VM disk images.
//!
//! guestfix reads a disk image (raw, qcow2, VMDK, VHD, VHDX, OVA; a local path or an
//! `http(s)://` / `s3://` URL) in userspace, finds the operating systems on it, checks them
//! against a target profile's import requirements, plans the changes that make the guest boot
//! on the target as unified diffs, and applies them through its own filesystem writers into a
//! qcow2 overlay (or in place, through an undo journal).
//!
//! # Using the library
//!
//! The crate root re-exports the five steps an import pipeline needs and their types:
//!
//! | step | function | options / result / error |
//! |------|----------|--------------------------|
//! | open | [`open`] (one image as a [`BlockDev`]) | [`OpenOptions`], [`BlockError`] |
//! | inspect | [`inspect`] (a disk set: one or more images) | [`InspectOptions`], [`Inspected`] (facts in [`Inspection`]), [`InspectError`] |
//! | check | [`check()`] | a target [`Profile`] from [`RulesSource`], [`CheckReport`] of [`Finding`]s with a [`Severity`] |
//! | plan | [`plans_for`] (one [`Plan`] per guest) | [`PlannedChange`]s of a [`Change`], [`PlanError`] |
//! | apply | [`apply()`] (inspects and plans again, then writes) | [`Output`], [`ApplyReport`], [`ApplyError`] |
//!
//! Nothing is written before [`apply()`]: open, inspect, check and plan only read the image.
//!
//! ```
//! use std::path::PathBuf;
//!
//! // The small Debian 12 sample guest bundled with the crate.
//! let image = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/test-images/sample.qcow2"));
//!
//! // Inspect (the quick way: initramfs images are not decompressed).
//! let opts = guestfix::InspectOptions { skip_initramfs: true, ..Default::default() };
//! let inspected = guestfix::inspect(&[image], &opts)?;
//! let os = &inspected.inspection.operating_systems[0];
//! assert_eq!(os.os_type, "linux");
//!
//! // Check against the built-in `ec2` profile, as of a given day (YYYY-MM-DD).
//! let profile = guestfix::RulesSource::Embedded.load("ec2")?;
//! let report = guestfix::check(&inspected.inspection, &profile, "2026-01-01");
//! assert!(report.findings.iter().any(|f| f.severity == guestfix::Severity::Blocker));
//!
//! // Plan: the sample's fstab names /dev/sda1, which the plan rewrites to a UUID.
//! let plans = guestfix::plans_for(&inspected, &profile)?;
//! let fstab = plans[0].changes.iter().find(|c| c.change.path() == "/etc/fstab");
//! assert!(fstab.is_some());
//! print!("{}", plans[0].render_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Applying writes a qcow2 overlay beside the source, which stays untouched:
//!
//! ```no_run
//! # let profile = guestfix::RulesSource::Embedded.load("ec2")?;
//! let out = guestfix::Output::Overlay("guest.fixed.qcow2".into());
//! let report = guestfix::apply(
//!     "guest.qcow2".as_ref(),
//!     &profile,
//!     &out,
//!     &guestfix::InspectOptions::default(),
//! )?;
//! for w in &report.written {
//!     println!("{} {} ({} bytes, verified: {})", w.action, w.path, w.bytes, w.verified);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/inspect_and_plan.rs` is a complete program (`cargo run --example inspect_and_plan
//! -- IMAGE`).
//!
//! # Layers
//!
//! Data flows one way through the modules, and a lower layer never knows about a higher one:
//!
//! [`block`] (containers → one [`block::BlockDev`]) → [`volume`] (partitions, LVM) → [`fs`] (one
//! [`fs::Filesystem`] trait, guest-rooted path resolution) → [`guest`] (inspection facts) and
//! [`hive`] (Windows registry) → [`check`](mod@check) / [`rules`] / [`plan`](mod@plan) →
//! [`apply`](mod@apply).
//! The modules are public for tools that need one layer (a filesystem reader, the registry
//! reader); their implementation details are private.
//!
//! Every parser treats the image as untrusted: bad input gives a typed error, never a panic,
//! hang, unbounded allocation or host file access. The requirement IDs cited in the docs
//! (FMT-1, MOD-L3, …) refer to `../shared/spec/import-requirements.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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

pub use apply::{ApplyError, ApplyReport, Output, Written, apply};
pub use block::{BlockDev, BlockError, OpenOptions, open};
pub use check::{Finding, Report as CheckReport, Severity, run as check};
pub use guest::facts::{Fact, Inspection, OsFacts};
pub use guest::inspect::{InspectError, InspectOptions, Inspected, inspect};
pub use plan::planner::{PlanError, plans_for};
pub use plan::{Change, Plan, PlannedChange};
pub use rules::{Profile, RulesError, RulesSource};
