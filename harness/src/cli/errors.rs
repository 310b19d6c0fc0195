//! The CLI boundary's error: each variant maps to one documented exit code.

use kubelab::errors::{ConfigError, HypervisorError, LabError, RemoteError};
use kubelab::exit_codes as code;

/// Every error the CLI reports, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// A lab-level error.
    #[error(transparent)]
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
                    HypervisorError::Call { .. } => code::LIBVIRT_FAILED,
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
            },
            ExpectedError::ChecksFailed(_) => code::CHECKS_FAILED,
            ExpectedError::Provision(_) => code::PROVISION_FAILED,
            ExpectedError::ImageBuild(_) => code::IMAGE_BUILD_FAILED,
            ExpectedError::HostUnfit => code::HOST_UNFIT,
            ExpectedError::Explain(kubelab::checks::ExplainError::UnknownProbe) => code::PROBE_UNKNOWN,
            ExpectedError::Explain(kubelab::checks::ExplainError::BadProbe(_)) => code::USAGE,
            ExpectedError::Other(_) => code::INTERNAL,
        }
    }
}
