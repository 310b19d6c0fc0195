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

pub use bundle::*;
pub use catalog::*;
pub use error::*;
pub use fact::*;
pub use source::*;
pub use store::*;
