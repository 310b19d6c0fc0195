//! [`Fact`]: one probe's output on one node or on the cluster, with its origin.

use std::fmt;
use std::path::PathBuf;

use crate::remote::ExecOutput;

/// Where a probe ran: a node, or the cluster (fetched from the control plane).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A node, by its configured name.
    Node(String),
    /// The cluster's API (kubectl on the control plane).
    Cluster,
}

impl Target {
    /// Directory name inside a bundle's `facts/` (`cluster` for the cluster).
    pub fn dir_name(&self) -> &str {
        match self {
            Target::Node(n) => n,
            Target::Cluster => "cluster",
        }
    }

    /// Inverse of [`Target::dir_name`].
    pub fn from_dir_name(s: &str) -> Self {
        if s == "cluster" { Target::Cluster } else { Target::Node(s.to_string()) }
    }

    /// `node X` or `the cluster`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Node(n) => format!("node {n}"),
            Target::Cluster => "the cluster".into(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// Where a fact came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Fetched now from a running lab.
    Live {
        /// Transport, e.g. `ssh`.
        via: String,
    },
    /// Read from an evidence bundle.
    Recorded {
        /// The bundle directory.
        bundle: PathBuf,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Live { via } => write!(f, "live via {via}"),
            Origin::Recorded { bundle } => write!(f, "recorded in bundle {}", bundle.display()),
        }
    }
}

/// One probe's output on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// Probe id from the [`ProbeCatalog`](super::ProbeCatalog).
    pub probe: String,
    /// Node or cluster.
    pub target: Target,
    /// The exact script that ran.
    pub command: String,
    /// What it printed and returned.
    pub output: ExecOutput,
    /// RFC 3339 UTC time the output was taken.
    pub fetched_at: String,
    /// Live or recorded.
    pub origin: Origin,
}

impl Fact {
    /// A reference to this fact for a verdict.
    pub fn to_ref(&self) -> FactRef {
        FactRef { probe: self.probe.clone(), target: self.target.clone(), origin: self.origin.to_string() }
    }
}

/// Which fact a verdict read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactRef {
    /// Probe id.
    pub probe: String,
    /// Node or cluster.
    pub target: Target,
    /// [`Origin`] as text (`live via ssh`, `recorded in bundle ...`).
    pub origin: String,
}

impl fmt::Display for FactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} ({})", self.probe, self.target, self.origin)
    }
}
