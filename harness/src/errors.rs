//! Library error types (`thiserror`). Display texts are lowercase fragments that name the thing
//! and, where the user can act, the fix. Main types: [`ConfigError`], [`HypervisorError`],
//! [`RemoteError`], [`LabError`].

use thiserror::Error;

/// A lab configuration could not be read or is invalid.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read lab config {file}: {message}")]
    Read {
        /// Path of the config file.
        file: String,
        /// OS error text.
        message: String,
    },
    /// The TOML did not parse into a lab config.
    #[error("lab config {file}: {}{message}", key_part(.key))]
    Parse {
        /// Path of the config file.
        file: String,
        /// Dotted key, when known.
        key: String,
        /// Parser message.
        message: String,
    },
    /// A value broke a rule.
    #[error("lab config key `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `nodes[1].ip`.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

fn key_part(key: &str) -> String {
    if key.is_empty() { String::new() } else { format!("key `{key}`: ") }
}

/// A libvirt (or fake) hypervisor operation failed.
#[derive(Debug, Error)]
pub enum HypervisorError {
    /// The connection to libvirtd could not be opened.
    #[error("libvirt at {uri} is unreachable ({message}); start libvirtd (`ci/labenv start`) or fix `libvirt_uri`")]
    Unreachable {
        /// Connection URI.
        uri: String,
        /// libvirt's message.
        message: String,
    },
    /// A lab of this name already has resources.
    #[error("a lab named `{lab}` already exists ({what}); run `kubelab down` first or choose another `name`")]
    LabExists {
        /// Lab name.
        lab: String,
        /// The resource found.
        what: String,
    },
    /// The subnet is already used by another libvirt network.
    #[error("subnet {subnet} is already used by libvirt network `{network}`; change `subnet` or remove that network")]
    SubnetInUse {
        /// Subnet asked for.
        subnet: String,
        /// Network that holds it.
        network: String,
    },
    /// The base image is missing or unreadable.
    #[error("base image {path} is missing or unreadable ({message}); run `kubelab image build offline` or set `base_image`")]
    BaseImage {
        /// Path of the image.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// XML libvirt returned (or kubelab built) is not well-formed.
    #[error("cannot read the XML of {what}")]
    Xml {
        /// Whose XML, e.g. `domain kubelab-node2`.
        what: String,
        /// The parser's error.
        #[source]
        source: quick_xml::Error,
    },
    /// Any other libvirt call failed.
    #[error("libvirt {op} failed: {message}")]
    Call {
        /// The operation, e.g. `define domain kubelab-node0`.
        op: String,
        /// libvirt's message.
        message: String,
    },
}

/// A remote command could not be run.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// TCP connect or SSH handshake failed or timed out.
    #[error("cannot reach {node} at {addr} over ssh: {message}")]
    Connect {
        /// Node name.
        node: String,
        /// address:port.
        addr: String,
        /// Cause.
        message: String,
    },
    /// The server presented a host key other than the pinned one.
    #[error(
        "host key of {node} changed: expected {expected}, got {found}; if the node was re-created on purpose run `kubelab down` and `kubelab up` again"
    )]
    HostKeyMismatch {
        /// Node name.
        node: String,
        /// Pinned fingerprint.
        expected: String,
        /// Presented fingerprint.
        found: String,
    },
    /// The server refused the lab key.
    #[error("ssh authentication as {user} on {node} failed; the lab key {key} is not authorized there (was the node seeded by this lab?)")]
    Auth {
        /// Node name.
        node: String,
        /// Login user.
        user: String,
        /// Private key path.
        key: String,
    },
    /// The channel broke while a command ran.
    #[error("ssh session to {node} failed: {message}")]
    Session {
        /// Node name.
        node: String,
        /// Cause.
        message: String,
    },
    /// The command did not finish in time.
    #[error("command on {node} timed out after {secs} s")]
    Timeout {
        /// Node name.
        node: String,
        /// Seconds waited.
        secs: u64,
    },
    /// The node is not part of this lab.
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    /// A TCP tunnel (SSH `direct-tcpip`) from the node could not be opened.
    #[error("cannot open a tunnel from {node} to {dest}: {message}")]
    Tunnel {
        /// Node the tunnel starts on.
        node: String,
        /// host:port it was to reach.
        dest: String,
        /// Cause (e.g. the server's `connect failed`).
        message: String,
    },
}

/// A lab lifecycle operation failed.
#[derive(Debug, Error)]
pub enum LabError {
    /// Config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Hypervisor problem.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// Remote problem.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A guest never showed boot progress.
    #[error("{node} shows no boot progress on its serial console after {secs} s under {accel}{hint}")]
    NoBootProgress {
        /// Node name.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// Accelerator used.
        accel: String,
        /// Extra advice.
        hint: String,
    },
    /// A guest booted but SSH never answered.
    #[error("{node} did not answer ssh within {secs} s (last error: {last})")]
    SshNeverUp {
        /// Node name.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// Last connect error.
        last: String,
    },
    /// Local file-system or tool failure.
    #[error("{op}: {message}")]
    Local {
        /// What was attempted.
        op: String,
        /// Cause.
        message: String,
    },
    /// No lab of that name exists.
    #[error("no lab named `{0}` is up; run `kubelab up` first")]
    NotUp(String),
    /// The user interrupted the operation (SIGINT/SIGTERM); what it had created was removed.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl LabError {
    /// Wraps an I/O error with what was attempted.
    pub fn local(op: impl Into<String>, e: impl std::fmt::Display) -> Self {
        LabError::Local { op: op.into(), message: e.to_string() }
    }
}
