//! The CLI boundary's error: each variant maps to one documented exit code. Variants keep
//! their cause as a `#[source]`; `main_impl` prints the chain once with
//! [`kubelab::errors::error_chain`].

use kubelab::errors::{BoxError, ConfigError, HypervisorError, LabError, RemoteError};
use kubelab::exit_codes as code;

/// Every error the CLI reports, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// A lab-level error (its `#[source]` chain is printed at the edge).
    #[error(transparent)]
    Lab(#[from] LabError),
    /// At least one scenario failed (already reported).
    #[error("{0} scenario(s) failed")]
    ChecksFailed(usize),
    /// A provisioning step (or the artifact cache) failed.
    #[error(transparent)]
    Provision(BoxError),
    /// Building a base image failed.
    #[error("image build failed")]
    ImageBuild(#[source] LabError),
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
    #[error(transparent)]
    ClusterApi(kubelab::kube_api::ClusterApiError),
    /// `explain` could not tell (or was told a wrong) probe.
    #[error(transparent)]
    Explain(kubelab::checks::ExplainError),
    /// Labs over many hosts (`--hosts`, `up --labs`, `down --all`).
    #[error(transparent)]
    Fleet(#[from] kubelab::fleet::FleetError),
    /// Anything else (a bug or an environment problem).
    #[error(transparent)]
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
            ExpectedError::Lab(e) => lab_code(e),
            ExpectedError::Fleet(e) => {
                use kubelab::fleet::FleetError as F;
                match e {
                    F::Hosts { .. } | F::Derive { .. } => code::CONFIG_INVALID,
                    F::NoHostFits { .. } => code::NO_HOST_FITS,
                    F::NoSubnet { .. } => code::SUBNET_IN_USE,
                    F::Host { source, .. } => lab_code(source),
                    F::Leftovers(_) => code::LIBVIRT_FAILED,
                }
            }
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

/// The exit code of a lab-level error.
fn lab_code(e: &LabError) -> i32 {
    match e {
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
    }
}

#[cfg(test)]
mod tests {
    use kubelab::errors::error_chain;

    use super::*;

    fn enoent() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)")
    }

    /// Each variant's printed line (the chain, once) and its exit code, as the README's table has it.
    #[test]
    fn each_error_prints_its_chain_once_with_its_documented_exit_code() {
        let cases: Vec<(ExpectedError, &str, i32)> = vec![
            (
                ConfigError::Read { file: "lab.toml".into(), source: enoent() }.into(),
                "cannot read lab config lab.toml: No such file or directory (os error 2)",
                10,
            ),
            (
                HypervisorError::Unreachable { uri: "qemu:///system".into(), source: "no socket".into() }.into(),
                "libvirt at qemu:///system is unreachable (no socket); start libvirtd (`ci/labenv start`) or fix `libvirt_uri`",
                11,
            ),
            (
                HypervisorError::Call { op: "define domain d".into(), source: "boom".into() }.into(),
                "libvirt define domain d failed: boom",
                15,
            ),
            (
                RemoteError::Auth { node: "node0".into(), user: "root".into(), key: "k".into() }.into(),
                "ssh authentication as root on node0 failed; the lab key k is not authorized there (was the node seeded by this lab?)",
                22,
            ),
            (RemoteError::UnknownNode("node9".into()).into(), "unknown node `node9`", 10),
            (
                ExpectedError::Lab(LabError::local("write lab state", enoent())),
                "write lab state: No such file or directory (os error 2)",
                60,
            ),
            (ExpectedError::Lab(LabError::NotUp("kubelab".into())), "no lab named `kubelab` is up; run `kubelab up` first", 41),
            (ExpectedError::Lab(LabError::Interrupted("up".into())), "interrupted: up", 130),
            (
                ExpectedError::ImageBuild(LabError::local("run image recipe", enoent())),
                "image build failed: run image recipe: No such file or directory (os error 2)",
                31,
            ),
            (ExpectedError::Provision(LabError::local("plan", "no control-plane node").into()), "plan: no control-plane node", 30),
            (ExpectedError::ChecksFailed(2), "2 scenario(s) failed", 40),
            (
                kubelab::fleet::FleetError::NoHostFits {
                    lab: "kubelab-3".into(),
                    need_mib: 6144,
                    nodes: 3,
                    memory_mib: 2048,
                    placed: 2,
                    free: "here 5125 MiB, h2 5125 MiB".into(),
                }
                .into(),
                "lab `kubelab-3` fits on no host: it needs 6144 MiB (3 node(s) × memory_mib = 2048) and after the 2 lab(s) placed before it the hosts have here 5125 MiB, h2 5125 MiB free; nothing was created: ask for fewer labs, lower `memory_mib`, or add a host to the hosts file",
                16,
            ),
            (
                kubelab::fleet::FleetError::Host { host: "h2".into(), source: LabError::NotUp("kubelab-2".into()) }.into(),
                "host `h2`: no lab named `kubelab-2` is up; run `kubelab up` first",
                41,
            ),
            (
                ExpectedError::Other(anyhow::Error::new(enoent()).context("read the output to explain")),
                "read the output to explain: No such file or directory (os error 2)",
                1,
            ),
        ];
        for (e, line, code) in cases {
            assert_eq!(error_chain(&e), line);
            assert_eq!(e.exit_code(), code, "{line}");
        }
    }
}
