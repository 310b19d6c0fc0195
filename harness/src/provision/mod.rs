//! Provisioning: the guide as ordered, idempotent, observable steps.
//!
//! [`Plan`] (pure, from [`crate::config::LabConfig`]) lists [`Step`]s with stable ids, each a
//! *check* script ("already in the wanted state?") and an *action* script; [`Provisioner`]
//! runs them over a [`crate::remote::RemoteShell`], emitting [`ProvisionEvent`]s, writing
//! redacted per-node logs. [`artifacts`] caches pinned downloads and pushes them to nodes.

pub mod artifacts;
mod error;
mod pins;
mod plan;
mod redact;
mod runner;
mod scripts;
mod waits;

pub use error::ProvisionError;
pub use pins::{PINNED_VERSIONS, Pin, PinSet, pinned_versions};
pub use plan::{Plan, PlanNode, STEP_IDS, Step, StepFilter, StepNodes};
pub use redact::Redactor;
pub use runner::{ProvisionEvent, ProvisionEventKind, ProvisionReport, Provisioner, StepOutcome, StepStatus, log_path};
pub use waits::{ClusterWait, ClusterWaits, FakeClusterWaits, StepWait, WaitCall};
