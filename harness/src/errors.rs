//! Library error types (`thiserror`). Display texts are lowercase fragments that name the thing
//! and, where the user can act, the fix. Main types: [`ConfigError`], [`HypervisorError`],
//! [`RemoteError`], [`LabError`].

use thiserror::Error;

/// A lab configuration could not be read or is invalid.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read lab config {file}: {source}")]
    Read {
        /// Path of the config file.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
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
    #[error("libvirt at {uri} is unreachable ({source}); start libvirtd (`ci/labenv start`) or fix `libvirt_uri`")]
    Unreachable {
        /// Connection URI.
        uri: String,
        /// libvirt's error (`hypervisor::libvirt::LibvirtError`), or a text kubelab wrote.
        #[source]
        source: BoxError,
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
    #[error("libvirt {op} failed: {source}")]
    Call {
        /// The operation, e.g. `define domain kubelab-node0`.
        op: String,
        /// libvirt's error (`hypervisor::libvirt::LibvirtError`), or a text kubelab (or a fake) wrote.
        #[source]
        source: BoxError,
    },
}

/// A remote command could not be run.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// TCP connect or SSH handshake failed or timed out.
    #[error("cannot reach {node} at {addr} over ssh: {source}")]
    Connect {
        /// Node name.
        node: String,
        /// address:port.
        addr: String,
        /// The cause: russh's error (in a [`Context`] naming the step, when there was one), or a
        /// text kubelab wrote (a timeout).
        #[source]
        source: BoxError,
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
    #[error("ssh session to {node} failed: {source}")]
    Session {
        /// Node name.
        node: String,
        /// The cause: russh's error in a [`Context`] naming the step, or a text kubelab wrote.
        #[source]
        source: BoxError,
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
    /// The jump host (the remote libvirt host every node connection goes through) refused its key.
    #[error(
        "ssh authentication as {user} on jump host {jump} failed; the key {key} (`keyfile=` of libvirt_uri) is not authorized there (add its public half to ~{user}/.ssh/authorized_keys on {jump})"
    )]
    JumpAuth {
        /// Jump host name (the host part of libvirt_uri).
        jump: String,
        /// Login user.
        user: String,
        /// Private key path.
        key: String,
    },
    /// A libvirt URI names a host over SSH that kubelab cannot use as the jump host to the
    /// lab's guests (a parameter missing, the known_hosts file unreadable or without the host).
    #[error("libvirt_uri `{uri}`: {why}")]
    JumpConfig {
        /// The URI as configured.
        uri: String,
        /// Which part is wrong, and the fix.
        why: String,
        /// The cause, when there is one (e.g. the I/O error reading known_hosts).
        #[source]
        source: Option<BoxError>,
    },
    /// A TCP tunnel (SSH `direct-tcpip`) from the node could not be opened.
    #[error("cannot open a tunnel from {node} to {dest}: {source}")]
    Tunnel {
        /// Node the tunnel starts on.
        node: String,
        /// host:port it was to reach.
        dest: String,
        /// The cause: russh's error (e.g. the server's `connect failed`), or a text kubelab (or a
        /// fake) wrote.
        #[source]
        source: BoxError,
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
    #[error("{op}: {source}")]
    Local {
        /// What was attempted.
        op: String,
        /// The cause: the wrapped error (I/O, serde, key encoding, …), or a text kubelab wrote.
        #[source]
        source: BoxError,
    },
    /// No lab of that name exists.
    #[error("no lab named `{0}` is up; run `kubelab up` first")]
    NotUp(String),
    /// The user interrupted the operation (SIGINT/SIGTERM); what it had created was removed.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl LabError {
    /// Wraps an error (kept as the `#[source]`) or a text with what was attempted.
    pub fn local(op: impl Into<String>, e: impl Into<BoxError>) -> Self {
        LabError::Local { op: op.into(), source: e.into() }
    }
}

/// A wrapped cause of any type: what a `#[source]` field holds when the cause's type varies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A cause with the step it interrupted, rendered `step: cause`, the cause kept as its
/// `#[source]`: what a [`RemoteError`] holds when the step needs naming (`open channel: …`).
#[derive(Debug, Error)]
#[error("{step}: {source}")]
pub struct Context {
    /// What was being done, e.g. `open channel`.
    pub step: String,
    /// The error it ended with.
    #[source]
    pub source: BoxError,
}

/// Wraps `e` with the step it interrupted, as a [`BoxError`] for a `#[source]` field.
pub fn context(step: impl Into<String>, e: impl Into<BoxError>) -> BoxError {
    Box::new(Context { step: step.into(), source: e.into() })
}

/// Renders an error and its `#[source]` chain on one line, `top: cause: cause`, printing each
/// cause once: a cause whose text is already in what has been rendered (a parent that formats
/// its source into its own message) is skipped, but its own sources are still visited.
/// This is how the CLI prints every error, once, at the edge.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enoent() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)")
    }

    /// An error whose message does not repeat its source, the way a well-behaved library error reads.
    #[derive(Debug, Error)]
    #[error("load the plan")]
    struct Quiet(#[source] LabError);

    #[test]
    fn local_keeps_the_wrapped_error_as_its_source() {
        let e = LabError::local("write lab state", enoent());
        let src = std::error::Error::source(&e).expect("a source");
        let io = src.downcast_ref::<std::io::Error>().expect("the io::Error itself, not its text");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_printed_once() {
        let e = LabError::local("write lab state", enoent());
        assert_eq!(e.to_string(), "write lab state: No such file or directory (os error 2)");
        assert_eq!(error_chain(&e), "write lab state: No such file or directory (os error 2)");
        let cfg = LabError::from(ConfigError::Read { file: "lab.toml".into(), source: enoent() });
        assert_eq!(error_chain(&cfg), "cannot read lab config lab.toml: No such file or directory (os error 2)");
        assert_eq!(error_chain(&cfg).matches("No such file").count(), 1);
    }

    #[test]
    fn a_cause_missing_from_its_parents_message_is_appended() {
        let e = Quiet(LabError::local("parse plan.json", enoent()));
        assert_eq!(error_chain(&e), "load the plan: parse plan.json: No such file or directory (os error 2)");
    }

    #[test]
    fn hypervisor_and_remote_errors_keep_their_cause_and_print_it_once() {
        let e = LabError::from(HypervisorError::Call { op: "define domain d".into(), source: "boom".into() });
        assert_eq!(e.to_string(), "libvirt define domain d failed: boom");
        assert_eq!(error_chain(&e), "libvirt define domain d failed: boom");
        let e = RemoteError::Session { node: "node0".into(), source: context("open channel", enoent()) };
        assert_eq!(e.to_string(), "ssh session to node0 failed: open channel: No such file or directory (os error 2)");
        assert_eq!(error_chain(&e), e.to_string());
        let step = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<Context>()).expect("the step");
        assert_eq!(step.step, "open channel");
        let io = std::error::Error::source(step).and_then(|s| s.downcast_ref::<std::io::Error>()).expect("the io::Error itself");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let e = RemoteError::Connect { node: "node0".into(), addr: "192.168.1.134:22".into(), source: enoent().into() };
        assert_eq!(
            error_chain(&Quiet(e.into())),
            "load the plan: cannot reach node0 at 192.168.1.134:22 over ssh: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_text_cause_has_no_further_source_and_renders_on_one_line() {
        let e = LabError::local("select node", format!("unknown node `{}`", "node9"));
        assert!(std::error::Error::source(&e).is_some_and(|s| s.source().is_none()));
        let line = error_chain(&Quiet(e));
        assert_eq!(line, "load the plan: select node: unknown node `node9`");
        assert!(!line.contains('\n'));
    }
}
