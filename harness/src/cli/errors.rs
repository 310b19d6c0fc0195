//! The CLI boundary's error: each variant maps to one documented exit code.

use kubelab::errors::{ConfigError, HypervisorError, LabError, RemoteError};
use kubelab::exit_codes as code;

/// Every error the CLI reports, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// A lab-level error, printed with its `#[source]` chain (once, here at the edge).
    #[error("{}", kubelab::kube_api::error_chain(.0))]
    Lab(#[from] LabError),
    /// At least one scenario failed (already reported).
    #[error("{0} scenario(s) failed")]
    ChecksFailed(usize),
    /// A provisioning step failed.
    #[error("{0}")]
    Provision(String),
    /// Building a base image failed.
    #[error("{0}")]
    ImageBuild(String),
    /// The host cannot run a lab.
    #[error("this host cannot run a lab (see the items marked FAIL above)")]
    HostUnfit,
    /// A recorded evidence bundle could not be read.
    #[error(transparent)]
    Evidence(#[from] kubelab::evidence::EvidenceError),
    /// A check run refused its inputs (tags, feature files, ids).
    #[error(transparent)]
    Run(#[from] crate::conformance::features::RunError),
    /// The cluster's API through the kube client (`check --cluster-api kube`).
    #[error("{}", kubelab::kube_api::error_chain(.0))]
    ClusterApi(kubelab::kube_api::ClusterApiError),
    /// `explain` could not tell (or was told a wrong) probe.
    #[error(transparent)]
    Explain(kubelab::checks::ExplainError),
    /// Anything else (a bug or an environment problem).
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl From<ConfigError> for ExpectedError {
    fn from(e: ConfigError) -> Self {
        ExpectedError::Lab(e.into())
    }
}
impl From<HypervisorError> for ExpectedError {
    fn from(e: HypervisorError) -> Self {
        ExpectedError::Lab(e.into())
    }
}
impl From<kubelab::kube_api::ClusterApiError> for ExpectedError {
    fn from(e: kubelab::kube_api::ClusterApiError) -> Self {
        ExpectedError::ClusterApi(e)
    }
}
impl From<kubelab::runner::RunnerError> for ExpectedError {
    fn from(e: kubelab::runner::RunnerError) -> Self {
        use kubelab::runner::RunnerError as R;
        match e {
            R::Evidence(e) => ExpectedError::Evidence(e),
            R::ClusterApi(e) => ExpectedError::ClusterApi(e),
            R::Lab(e) => ExpectedError::Lab(e),
            R::Report(e) => ExpectedError::Run(e.into()),
            e @ R::NoControlPlane => ExpectedError::Other(e.into()),
        }
    }
}
impl From<RemoteError> for ExpectedError {
    fn from(e: RemoteError) -> Self {
        ExpectedError::Lab(e.into())
    }
}

impl ExpectedError {
    /// The documented exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExpectedError::Lab(e) => match e {
                LabError::Config(_) => code::CONFIG_INVALID,
                LabError::Hypervisor(h) => match h {
                    HypervisorError::Unreachable { .. } => code::LIBVIRT_UNREACHABLE,
                    HypervisorError::BaseImage { .. } => code::BASE_IMAGE_MISSING,
                    HypervisorError::LabExists { .. } => code::LAB_EXISTS,
                    HypervisorError::SubnetInUse { .. } => code::SUBNET_IN_USE,
                    HypervisorError::Call { .. } | HypervisorError::Xml { .. } => code::LIBVIRT_FAILED,
                },
                LabError::Remote(r) => match r {
                    RemoteError::Auth { .. } => code::SSH_AUTH,
                    RemoteError::HostKeyMismatch { .. } => code::HOST_KEY_MISMATCH,
                    RemoteError::UnknownNode(_) => code::CONFIG_INVALID,
                    _ => code::SSH_UNREACHABLE,
                },
                LabError::NoBootProgress { .. } => code::GUEST_NO_BOOT,
                LabError::SshNeverUp { .. } => code::SSH_UNREACHABLE,
                LabError::Local { .. } => code::LOCAL,
                LabError::NotUp(_) => code::LAB_NOT_UP,
                LabError::Interrupted(_) => code::INTERRUPTED,
            },
            ExpectedError::ChecksFailed(_) => code::CHECKS_FAILED,
            ExpectedError::Provision(_) => code::PROVISION_FAILED,
            ExpectedError::ImageBuild(_) => code::IMAGE_BUILD_FAILED,
            ExpectedError::HostUnfit => code::HOST_UNFIT,
            ExpectedError::Evidence(e) => match e {
                kubelab::evidence::EvidenceError::FormatVersion { .. } => code::EVIDENCE_FORMAT,
                kubelab::evidence::EvidenceError::Bundle { .. } => code::EVIDENCE_UNREADABLE,
                kubelab::evidence::EvidenceError::Fetch { .. } => code::SSH_UNREACHABLE,
            },
            ExpectedError::Run(e) => {
                use crate::conformance::features::RunError;
                match e {
                    RunError::BadTags { .. } => code::BAD_TAGS,
                    RunError::UnknownId { .. } => code::UNKNOWN_ID,
                    RunError::Features { .. } => code::FEATURES_INVALID,
                    RunError::Report(_) => code::LOCAL,
                    RunError::Interrupted(_) => code::INTERRUPTED,
                    RunError::Other(_) => code::INTERNAL,
                }
            }
            ExpectedError::ClusterApi(e) => e.exit_code(),
            ExpectedError::Explain(kubelab::checks::ExplainError::UnknownProbe) => code::PROBE_UNKNOWN,
            ExpectedError::Explain(kubelab::checks::ExplainError::BadProbe(_)) => code::USAGE,
            ExpectedError::Other(_) => code::INTERNAL,
        }
    }
}
