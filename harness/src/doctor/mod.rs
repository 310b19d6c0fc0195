//! `kubelab doctor`: checks that this host and its libvirt can run a lab, each with the
//! fix to apply. Main type: [`DoctorReport`], built by [`run`] (real host) or [`run_with`]
//! (any [`CommandRunner`] / [`HostFs`], e.g. the fakes in [`fake`]).
//!
//! The KVM check boots a 512-byte probe sector ([`boot_probe`]) rather than trusting
//! `/dev/kvm`: under nested virtualisation the device exists while guests never run.

pub mod boot_probe;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
mod imp;
mod network;
pub mod parse;
mod render;
pub mod runner;
#[cfg(test)]
mod tests;

pub use imp::{DoctorItem, DoctorOptions, DoctorReport, LAB_NETNS, PROBE_NETNS, Status, run, run_with};
pub use render::JSON_SCHEMA_VERSION;
pub use runner::{HostFs, RealFs};
