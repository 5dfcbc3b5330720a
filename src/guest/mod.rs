//! Inspection: the facts about each operating system found on a disk set (Linux and Windows),
//! read through the guest file tree. Facts that could not be read are explicit (`unknown` with a
//! reason), never silently absent.

pub(crate) mod arch;
pub mod facts;
pub mod inspect;
pub mod linux;
pub mod mount;
pub mod report;
pub(crate) mod treefiles;
pub mod windows;
