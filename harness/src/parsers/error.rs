use thiserror::Error;

/// A tool's output did not have the shape its parser expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot parse {what} output: {message}")]
pub struct ParseError {
    /// Which output, e.g. `calicoctl node status`.
    pub what: &'static str,
    /// What was wrong (names the offending line when there is one).
    pub message: String,
    /// The first line that could not be read, verbatim (trimmed), when one is to blame.
    pub line: Option<String>,
}

impl ParseError {
    /// A parse error for `what`.
    pub fn new(what: &'static str, message: impl Into<String>) -> Self {
        ParseError { what, message: message.into(), line: None }
    }

    /// A parse error blaming one line of the output.
    pub fn at(what: &'static str, line: &str, message: impl Into<String>) -> Self {
        ParseError { what, message: message.into(), line: Some(line.trim().to_string()) }
    }

    /// The offending line, or the message when no single line is to blame.
    pub fn culprit(&self) -> &str {
        self.line.as_deref().unwrap_or(&self.message)
    }
}
