//! Reporting, driven by [`events::RunEvent`]s: runners emit events, every format is a
//! [`Reporter`] sink writing to an injectable writer. Main types: [`RunEvent`], [`Reporter`],
//! [`ReportDir`] (writes `events.jsonl`, `cucumber.json`, `junit.xml`, `report.html`),
//! [`TerminalSink`]; the formats are rendered from a [`RunRecord`] folded from the events.

pub mod cucumber_json;
pub mod dir;
pub mod error;
pub mod escape;
pub mod events;
pub mod html;
mod imp;
pub mod junit;
pub mod model;

#[cfg(any(test, feature = "test-support"))]
pub mod sample;
pub mod terminal;

pub use dir::{EVENTS_FILE, ReportDir};
pub use error::ReportError;
pub use events::{FactView, FeatureRef, ProvisionStatus, RunEvent, RunEventKind, ScenarioRef, TestStatus, VerdictView};
pub use imp::{EventLogSink, Fanout, Format, RenderSink, Reporter, read_events};
pub use model::RunRecord;
pub use terminal::TerminalSink;
