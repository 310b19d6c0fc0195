//! [`Verdict`]: a check's outcome and the facts it read.

use crate::evidence::FactRef;

/// What a check concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guide's outcome holds. `summary` says what was seen (and from which tool).
    Pass {
        /// One line, e.g. `3/3 nodes Ready, kubelet v1.23.6 (k8s-nodes)`.
        summary: String,
    },
    /// It does not.
    Fail {
        /// What the guide expects.
        expected: String,
        /// What the evidence shows.
        found: String,
        /// The guide's fix.
        remediation: String,
    },
    /// It could not be judged; nothing is claimed.
    Skip {
        /// Why (e.g. `no evidence for probe X on node Y in bundle Z`).
        reason: String,
    },
}

/// A check's outcome plus the facts (probe, target, origin) it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Pass, fail or skip.
    pub outcome: Outcome,
    /// Facts read, in reading order, without duplicates.
    pub evidence: Vec<FactRef>,
}

impl Verdict {
    /// Passed.
    pub fn is_pass(&self) -> bool {
        matches!(self.outcome, Outcome::Pass { .. })
    }
    /// Failed.
    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
    /// Skipped.
    pub fn is_skip(&self) -> bool {
        matches!(self.outcome, Outcome::Skip { .. })
    }
    /// `pass`, `fail` or `skip`.
    pub fn label(&self) -> &'static str {
        match self.outcome {
            Outcome::Pass { .. } => "pass",
            Outcome::Fail { .. } => "fail",
            Outcome::Skip { .. } => "skip",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Pass { summary } => write!(f, "pass: {summary}")?,
            Outcome::Fail { expected, found, remediation } => write!(f, "fail: expected {expected}; found {found}; fix: {remediation}")?,
            Outcome::Skip { reason } => write!(f, "skip: {reason}")?,
        }
        if !self.evidence.is_empty() {
            let refs: Vec<String> = self.evidence.iter().map(ToString::to_string).collect();
            write!(f, " [evidence: {}]", refs.join("; "))?;
        }
        Ok(())
    }
}
