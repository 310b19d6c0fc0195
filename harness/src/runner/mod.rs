//! One conformance run, owned in one place: which probes a live run gathers ([`gather`], one
//! profile → tier rule), judging checks over the run's evidence, injecting, settling and
//! healing faults on a live lab ([`faults`]), and emitting [`RunEvent`](crate::report::RunEvent)s
//! to the report sinks **as things happen**, stamped when they happen ([`Run`]). When the run is
//! interrupted ([`until_cancelled`]) the faults it injected are healed and the reports closed,
//! partial but valid.
//!
//! Cucumber (in the binary) drives the scenarios; its steps are thin adapters over [`Run`].

mod cancel;
pub mod faults;
pub mod gather;
mod run;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use cancel::{Interrupted, until_cancelled};
pub use faults::{FaultDriver, LabFaults, Settled};
pub use run::{Judged, Run, RunHeader, StepRef, Summary, verdict_view};

/// What stops a run; each maps to one exit code at the CLI.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Gathering or writing evidence failed.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// The kube client could not reach the cluster.
    #[error(transparent)]
    ClusterApi(#[from] crate::kube_api::ClusterApiError),
    /// A lab operation (libvirt, SSH, snapshot, fault) failed.
    #[error(transparent)]
    Lab(#[from] crate::errors::LabError),
    /// A report sink failed.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// `--cluster-api kube` on a lab without a control-plane node.
    #[error("the lab has no control-plane node: give one node `role = \"control-plane\"` in the config")]
    NoControlPlane,
}
