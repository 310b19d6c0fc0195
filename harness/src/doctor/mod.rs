//! `kubelab doctor`: checks that this host and its libvirt can run a lab, each with the
//! fix to apply. Main type: [`DoctorReport`], built by [`run`] (real host) or [`run_with`]
//! (any [`CommandRunner`] / [`HostFs`], e.g. the fakes in [`fake`]).
//!
//! The KVM check boots a 512-byte probe sector ([`boot_probe`]) rather than trusting
//! `/dev/kvm`: under nested virtualisation the device exists while guests never run.

pub mod boot_probe;
mod checks;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
mod network;
pub mod parse;
mod render;
mod report;
pub mod runner;
#[cfg(test)]
mod tests;

pub use checks::{DoctorOptions, LAB_NETNS, PROBE_NETNS, run, run_with};
pub use render::JSON_SCHEMA_VERSION;
pub use report::{DoctorItem, DoctorReport, Status};
pub use runner::{HostFs, RealFs};
