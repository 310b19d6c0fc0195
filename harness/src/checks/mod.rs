//! Checks: pure functions over [`Evidence`](crate::evidence::Evidence) returning a [`Verdict`]
//! (Pass / Fail with expected, found and the guide's remediation / Skip with a reason) plus the
//! facts it read. Call one by id with [`run`], all with [`run_all`]; [`CHECKS`] lists them with
//! domain, tier and probes. Main types: [`Verdict`], [`CheckSpec`].

mod addons;
mod bench;
mod calico;
mod capture;
mod cluster;
mod egress;
mod host;
mod identity;
mod ipvs;
mod judge;
mod kubeadm;
mod port;
mod registry;
mod tls;
mod verdict;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod shapes;
#[cfg(test)]
mod tests;

pub use bench::{RejudgeStats, rejudge};
pub use capture::{CAPTURE_NODE, ExplainError, Explanation, capture_evidence, checks_reading, explain, guess_probe};
pub use registry::{CHECKS, CheckSpec, UnknownCheck, evidence_gaps, run, run_all, spec};
pub use verdict::{Outcome, Verdict};
