//! [`ProvisionError`]: why a plan could not be built or a provisioning run stopped.

use thiserror::Error;

/// A plan could not be built, or a provisioning run stopped.
#[derive(Debug, Error)]
pub enum ProvisionError {
    /// A version in `versions` has no hard-coded checksum (guide profile downloads are pinned).
    #[error("no pinned sha256 for {artifact} {version}; set `versions.{key}` to a pinned version ({known})")]
    NoPin {
        /// Artifact name, e.g. `kubeadm`.
        artifact: String,
        /// Version asked for.
        version: String,
        /// Config key under `versions`.
        key: String,
        /// Versions that are pinned.
        known: String,
    },
    /// `pod_cidr` cannot hold one /26 pod block per node.
    #[error("pod_cidr {cidr} has no room for {nodes} /26 pod blocks (one per node, as calico IPAM allocates)")]
    PodBlocks {
        /// The pod CIDR.
        cidr: String,
        /// Number of nodes.
        nodes: usize,
    },
    /// `--only/--from/--until` named a step that does not exist.
    #[error("unknown step `{id}`; known steps: {known}")]
    UnknownStep {
        /// The id given.
        id: String,
        /// All step ids, in order.
        known: String,
    },
    /// `--from` comes after `--until`, or `--only` was combined with them.
    #[error("step filter: {0}")]
    Filter(String),
    /// A step's action ran and the step is still not in the wanted state (or could not run).
    #[error("step {step} failed on {node}: {message}{}", tail_block(.stderr_tail))]
    StepFailed {
        /// Step id.
        step: String,
        /// Node name.
        node: String,
        /// What went wrong (and, where known, the fix).
        message: String,
        /// Last lines of stderr (redacted).
        stderr_tail: String,
    },
    /// The join token / CA hash could not be obtained on the control plane.
    #[error("cannot obtain join credentials on {node}: {message}")]
    JoinCredentials {
        /// Control-plane node.
        node: String,
        /// Cause (redacted).
        message: String,
    },
    /// The log directory could not be written.
    #[error("cannot write provisioning log {path}: {message}")]
    Log {
        /// Log file.
        path: String,
        /// OS error.
        message: String,
    },
}

fn tail_block(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("\n  last stderr lines:\n{}", indent(tail)) }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
