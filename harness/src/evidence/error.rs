use thiserror::Error;

/// Evidence could not be fetched, written or loaded.
#[derive(Debug, Error)]
pub enum EvidenceError {
    /// A bundle file could not be read or written.
    #[error("evidence bundle {path}: {message}")]
    Bundle {
        /// File or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The bundle was written by an incompatible kubelab.
    #[error("evidence bundle {path} has format version {found}; this kubelab reads version {expected}")]
    FormatVersion {
        /// Bundle directory.
        path: String,
        /// Version found in `manifest.json`.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Running a probe over the remote shell failed (not the probe's own exit status).
    #[error("probe {probe} on {target}: {message}")]
    Fetch {
        /// Probe id.
        probe: String,
        /// Node or `cluster`.
        target: String,
        /// The transport error.
        message: String,
    },
}

impl EvidenceError {
    pub(crate) fn bundle(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        EvidenceError::Bundle { path: path.display().to_string(), message: e.to_string() }
    }
}
