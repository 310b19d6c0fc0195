//! [`ReportError`]: what can go wrong while consuming events or writing reports.

use thiserror::Error;

/// A report could not be built or written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Writing a report (or the event log) failed.
    #[error("cannot write {what}")]
    Write {
        /// What was being written, e.g. `reports/run1/junit.xml`.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an event log failed.
    #[error("cannot read event log {path}")]
    Read {
        /// Path of the event log.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of an event log is not a valid event.
    #[error("event log {path} line {line} is not a run event")]
    Decode {
        /// Path of the event log.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Events arrived in an order the reporters cannot make sense of (a runner bug).
    #[error("event out of order: {message}")]
    OutOfOrder {
        /// What was wrong, e.g. `step finished outside a scenario`.
        message: String,
    },
}
