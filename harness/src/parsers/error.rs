use thiserror::Error;

/// A tool's output did not have the shape its parser expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot parse {what} output: {message}")]
pub struct ParseError {
    /// Which output, e.g. `calicoctl node status`.
    pub what: &'static str,
    /// What was wrong (names the offending line when there is one).
    pub message: String,
}

impl ParseError {
    /// A parse error for `what`.
    pub fn new(what: &'static str, message: impl Into<String>) -> Self {
        ParseError {
            what,
            message: message.into(),
        }
    }
}
