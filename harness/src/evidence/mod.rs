//! Evidence: what each probe printed on each node (or on the cluster), where it came from, and
//! the bundles that keep it. Main types: [`Fact`], [`Evidence`] (the in-memory set the checks
//! judge), [`ProbeCatalog`], the [`EvidenceSource`] trait with [`LiveEvidence`] and
//! [`RecordedEvidence`], and [`BundleWriter`].

mod bundle;
mod catalog;
mod error;
mod fact;
mod source;
mod store;

pub use bundle::{BUNDLE_FORMAT_VERSION, BundleWriter, FactFile, Manifest, fact_path, load_bundle, read_manifest};
pub use catalog::{ADMIN_KUBECONFIG, KUBECTL, Probe, ProbeCatalog, Scope, Script, ScriptContext, Tier, egress_script, kubectl_with};
pub use error::EvidenceError;
pub use fact::{Fact, FactRef, Origin, Target};
pub use source::{EvidenceSource, LiveEvidence, RecordedEvidence, gather};
pub use store::{Evidence, EvidenceHeader, Expectations, Gap, SingleCapture};
