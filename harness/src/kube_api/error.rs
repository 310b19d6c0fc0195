//! [`ClusterApiError`]: everything that can go wrong talking to the lab's API server through
//! the SSH tunnel, each kind mapped to an exit code ([`ClusterApiError::exit_code`]).

use thiserror::Error;

use crate::errors::RemoteError;
use crate::exit_codes as code;

/// Why the connector could not hand hyper a TLS stream to the API server.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The SSH `direct-tcpip` channel was refused or could not be opened.
    #[error("cannot open the tunnel to the API server")]
    Tunnel(#[source] RemoteError),
    /// The API server's certificate does not verify under the kubeconfig's CA for `name`.
    #[error("the API server's certificate is not valid for `{name}` under the kubeconfig's certificate-authority-data")]
    Certificate {
        /// The name it was verified against (an IP address or a DNS name).
        name: String,
        /// rustls' verdict.
        #[source]
        source: tokio_rustls::rustls::Error,
    },
    /// The TLS handshake failed for another reason (peer closed, protocol error).
    #[error("TLS handshake with the API server failed")]
    Handshake(#[source] std::io::Error),
    /// Tunnel + handshake did not finish in time.
    #[error("connecting to the API server timed out after {secs} s")]
    Timeout {
        /// Seconds waited.
        secs: u64,
    },
}

impl ConnectError {
    /// Sorts a tokio-rustls handshake error: certificate verdicts become [`Certificate`](Self::Certificate).
    pub(crate) fn from_handshake(name: &str, e: std::io::Error) -> Self {
        let rustls_err = e.get_ref().and_then(|i| i.downcast_ref::<tokio_rustls::rustls::Error>());
        match rustls_err {
            Some(r @ tokio_rustls::rustls::Error::InvalidCertificate(_)) => {
                ConnectError::Certificate { name: name.to_string(), source: r.clone() }
            }
            _ => ConnectError::Handshake(e),
        }
    }
}

/// A request to the lab's API server (or reading its kubeconfig) failed.
#[derive(Debug, Error)]
pub enum ClusterApiError {
    /// The kubeconfig could not be read over SSH.
    #[error("cannot read the kubeconfig {path} on {node}")]
    KubeconfigRead {
        /// Control-plane node.
        node: String,
        /// Path on the node.
        path: String,
        /// The SSH failure.
        #[source]
        source: Box<RemoteError>,
    },
    /// `cat` of the kubeconfig failed on the node (its stderr; never its contents).
    #[error("cannot read the kubeconfig {path} on {node}: exit {status}: {stderr}")]
    KubeconfigMissing {
        /// Control-plane node.
        node: String,
        /// Path on the node.
        path: String,
        /// Exit status of `cat`.
        status: u32,
        /// Its stderr.
        stderr: String,
    },
    /// The kubeconfig does not parse or lacks a cluster, a CA or credentials.
    #[error("the kubeconfig {path} on {node} is not usable")]
    KubeconfigInvalid {
        /// Control-plane node.
        node: String,
        /// Path on the node.
        path: String,
        /// kube's verdict (never quotes key material).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Nothing answers at the API server's address (tunnel refused, connection closed).
    #[error("{what}: the API server {server} is unreachable through {node}")]
    Unreachable {
        /// The request (`GET /api/v1/nodes?`).
        what: String,
        /// The kubeconfig's server URL.
        server: String,
        /// The node the tunnel starts on.
        node: String,
        /// The connector's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API server's certificate does not match the kubeconfig's CA / the expected name.
    #[error("{what}: refusing the API server {server}")]
    Certificate {
        /// The request.
        what: String,
        /// The kubeconfig's server URL.
        server: String,
        /// The connector's [`ConnectError::Certificate`].
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// 401: the kubeconfig's credentials were not accepted.
    #[error("{what}: 401 Unauthorized (the kubeconfig's client certificate was not accepted): {message}")]
    Unauthorized {
        /// The request.
        what: String,
        /// The API server's Status message.
        message: String,
    },
    /// 403: authenticated, but not allowed.
    #[error("{what}: 403 Forbidden: {message}")]
    Forbidden {
        /// The request.
        what: String,
        /// The API server's Status message.
        message: String,
    },
    /// 404: the object or the API does not exist (e.g. metrics-server not installed).
    #[error("{what}: 404 Not Found: {message}")]
    NotFound {
        /// The request.
        what: String,
        /// The API server's Status message.
        message: String,
    },
    /// Any other error Status from the API server.
    #[error("{what}: the API server answered {code} {reason}: {message}")]
    Status {
        /// The request.
        what: String,
        /// HTTP status code.
        code: u16,
        /// Status reason (`ServiceUnavailable`, ...).
        reason: String,
        /// Status message.
        message: String,
    },
    /// The response did not decode as the typed object (or the ConfigMap's YAML as
    /// KubeProxyConfiguration).
    #[error("{what}: the response is not a valid {expected}")]
    Decode {
        /// The request.
        what: String,
        /// The type expected.
        expected: &'static str,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The body that did not decode (the API server did answer; kept as evidence).
        body: String,
    },
    /// Any other client failure.
    #[error("{what} failed")]
    Client {
        /// The request.
        what: String,
        /// kube's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A wait ran out of time.
    #[error("timed out after {secs} s waiting for {awaited}; last seen: {last_seen}")]
    WaitTimeout {
        /// What was awaited.
        awaited: String,
        /// The budget.
        secs: u64,
        /// The state last observed.
        last_seen: String,
    },
    /// The watch behind a wait failed.
    #[error("watching for {awaited} failed (last seen: {last_seen})")]
    Watch {
        /// What was awaited.
        awaited: String,
        /// The state last observed.
        last_seen: String,
        /// kube-runtime's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ClusterApiError {
    /// The documented exit code (README "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            ClusterApiError::KubeconfigRead { .. } => code::SSH_UNREACHABLE,
            ClusterApiError::KubeconfigMissing { .. } | ClusterApiError::KubeconfigInvalid { .. } => code::KUBECONFIG_INVALID,
            ClusterApiError::Unreachable { .. } => code::CLUSTER_API_UNREACHABLE,
            ClusterApiError::Certificate { .. } => code::CLUSTER_API_CERTIFICATE,
            ClusterApiError::Unauthorized { .. } | ClusterApiError::Forbidden { .. } => code::CLUSTER_API_DENIED,
            ClusterApiError::NotFound { .. } => code::CLUSTER_API_NOT_FOUND,
            ClusterApiError::Status { .. } | ClusterApiError::Decode { .. } | ClusterApiError::Client { .. } => code::CLUSTER_API_FAILED,
            ClusterApiError::WaitTimeout { .. } | ClusterApiError::Watch { .. } => code::CLUSTER_WAIT_TIMEOUT,
        }
    }

    /// An HTTP-level answer of the API server (401/403/404/other Status), as opposed to a
    /// transport failure: the evidence source records these as failed facts, like kubectl's
    /// `Error from server (...)`.
    pub fn is_server_answer(&self) -> bool {
        matches!(
            self,
            ClusterApiError::Unauthorized { .. }
                | ClusterApiError::Forbidden { .. }
                | ClusterApiError::NotFound { .. }
                | ClusterApiError::Status { .. }
        )
    }

    /// Sorts a kube client error for the request `what`.
    pub(crate) fn from_kube(what: &str, server: &str, node: &str, e: kube::Error) -> Self {
        let what = what.to_string();
        match e {
            kube::Error::Api(s) => match s.code {
                401 => ClusterApiError::Unauthorized { what, message: s.message.clone() },
                403 => ClusterApiError::Forbidden { what, message: s.message.clone() },
                404 => ClusterApiError::NotFound { what, message: s.message.clone() },
                code => ClusterApiError::Status { what, code, reason: s.reason.clone(), message: s.message.clone() },
            },
            kube::Error::SerdeError(source) => {
                ClusterApiError::Decode { what, expected: "Kubernetes object", source: Box::new(source), body: String::new() }
            }
            e => match find_connect_error(&e) {
                Some(ConnectError::Certificate { name, source }) => ClusterApiError::Certificate {
                    what,
                    server: server.to_string(),
                    source: Box::new(ConnectError::Certificate { name: name.clone(), source: source.clone() }),
                },
                Some(c) => ClusterApiError::Unreachable {
                    what,
                    server: server.to_string(),
                    node: node.to_string(),
                    source: Box::new(ConnectSummary(c.to_string(), chain_text(c))),
                },
                None => ClusterApiError::Client { what, source: Box::new(e) },
            },
        }
    }
}

/// A [`ConnectError`] found in a client error's source chain, re-stated (the original is
/// borrowed from kube's error).
#[derive(Debug)]
struct ConnectSummary(String, Option<String>);

impl std::fmt::Display for ConnectSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.1 {
            Some(cause) => write!(f, "{}: {cause}", self.0),
            None => f.write_str(&self.0),
        }
    }
}
impl std::error::Error for ConnectSummary {}

/// The causes of `e` as [`error_chain`](crate::errors::error_chain) prints them after `e`'s own
/// text: each once (a cause its parent already quotes is skipped), `None` when there are none.
fn chain_text(e: &dyn std::error::Error) -> Option<String> {
    let line = crate::errors::error_chain(e);
    line.strip_prefix(e.to_string().as_str()).and_then(|rest| rest.strip_prefix(": ")).map(str::to_string)
}

fn find_connect_error(e: &kube::Error) -> Option<&ConnectError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<ConnectError>() {
            return Some(c);
        }
        cur = err.source();
    }
    None
}
