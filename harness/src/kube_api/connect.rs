//! The transport: the control plane's kubeconfig read over SSH into memory
//! ([`AdminKubeconfig`]), and [`TunnelConnector`], a hyper connector (a tower
//! `Service<Uri>`) that opens an SSH `direct-tcpip` channel from the control-plane node to the
//! kubeconfig's server address and runs TLS over it, verified against the kubeconfig's CA.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio_rustls::rustls::pki_types::ServerName;

use super::error::{ClusterApiError, ConnectError};
use crate::remote::{BoxFuture, RemoteShell, Tunnel};

/// Where kubeadm writes the admin kubeconfig on the control plane.
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

/// A kubeconfig held in memory only (never written to disk). Its `Debug` names the node, the
/// path and the server, never the key material.
pub struct AdminKubeconfig {
    node: String,
    path: String,
    config: kube::Config,
}

impl std::fmt::Debug for AdminKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminKubeconfig")
            .field("node", &self.node)
            .field("path", &self.path)
            .field("server", &self.config.cluster_url.to_string())
            .field("credentials", &"<redacted>")
            .finish()
    }
}

impl AdminKubeconfig {
    /// Reads `path` on `node` over `shell` (`cat`, output kept in memory).
    pub async fn fetch(shell: &dyn RemoteShell, node: &str, path: &str) -> Result<Self, ClusterApiError> {
        let out = shell.run(node, &format!("cat {path}")).await.map_err(|source| ClusterApiError::KubeconfigRead {
            node: node.into(),
            path: path.into(),
            source: Box::new(source),
        })?;
        if !out.success() {
            return Err(ClusterApiError::KubeconfigMissing {
                node: node.into(),
                path: path.into(),
                status: out.exit_status,
                stderr: out.stderr.trim().to_string(),
            });
        }
        Self::from_yaml(node, path, &out.stdout).await
    }

    /// Parses kubeconfig YAML (what `cat` printed). Errors never quote the text.
    pub async fn from_yaml(node: &str, path: &str, yaml: &str) -> Result<Self, ClusterApiError> {
        let invalid = |source: Box<dyn std::error::Error + Send + Sync>| ClusterApiError::KubeconfigInvalid {
            node: node.into(),
            path: path.into(),
            source,
        };
        let kc = Kubeconfig::from_yaml(yaml).map_err(|e| invalid(Box::new(e)))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(|e| invalid(Box::new(e)))?;
        if config.root_cert.is_none() {
            return Err(invalid("the cluster has no certificate-authority-data to verify the API server with".into()));
        }
        Ok(AdminKubeconfig { node: node.into(), path: path.into(), config })
    }

    /// The kubeconfig's server URL (`https://192.168.1.134:6443` for kubeadm's admin.conf).
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// Host and port the tunnel must reach: the server URL's.
    pub fn server_host_port(&self) -> (String, u16) {
        let u = &self.config.cluster_url;
        let host = u.host().unwrap_or("localhost").trim_start_matches('[').trim_end_matches(']').to_string();
        (host, u.port_u16().unwrap_or(443))
    }

    /// The name the API server's certificate is verified against: the kubeconfig's
    /// `tls-server-name` when set, else the server URL's host — what kubectl does. For kubeadm's
    /// admin.conf that is the advertise address (an IP SAN of kubeadm's apiserver certificate;
    /// rustls sends no SNI for an IP).
    pub fn verify_name(&self) -> String {
        self.config.tls_server_name.clone().unwrap_or_else(|| self.server_host_port().0)
    }

    pub(crate) fn config(&self) -> &kube::Config {
        &self.config
    }

    /// The kubeconfig's path on the node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The control-plane node the kubeconfig came from (and the tunnel starts on).
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// A hyper connector: every connection is an SSH `direct-tcpip` channel from `node` to the API
/// server's host:port, with TLS on top.
#[derive(Clone)]
pub struct TunnelConnector {
    shell: Arc<dyn RemoteShell>,
    node: String,
    host: String,
    port: u16,
    tls: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    name_text: String,
    timeout: Duration,
}

impl std::fmt::Debug for TunnelConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelConnector")
            .field("node", &self.node)
            .field("dest", &format!("{}:{}", self.host, self.port))
            .field("verify_name", &self.name_text)
            .finish_non_exhaustive()
    }
}

impl TunnelConnector {
    /// A connector for `kc`'s server through `shell`, starting on `kc.node()`.
    pub fn new(shell: Arc<dyn RemoteShell>, kc: &AdminKubeconfig, timeout: Duration) -> Result<Self, ClusterApiError> {
        use kube::client::ConfigExt;
        let invalid = |source: Box<dyn std::error::Error + Send + Sync>| ClusterApiError::KubeconfigInvalid {
            node: kc.node.clone(),
            path: kc.path.clone(),
            source,
        };
        // kube builds the rustls config from the kubeconfig: its CA as the only root, its
        // client certificate + key as the identity.
        let mut tls = kc.config.rustls_client_config().map_err(|e| invalid(Box::new(e)))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name_text = kc.verify_name();
        let name = ServerName::try_from(name_text.clone()).map_err(|e| invalid(Box::new(e)))?;
        let (host, port) = kc.server_host_port();
        Ok(TunnelConnector {
            shell,
            node: kc.node.clone(),
            host,
            port,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            name,
            name_text,
            timeout,
        })
    }

    async fn connect(self) -> Result<ApiStream, ConnectError> {
        let tunnel = self.shell.open_direct_tcpip(&self.node, &self.host, self.port).await.map_err(ConnectError::Tunnel)?;
        let tls = self.tls.connect(self.name.clone(), tunnel).await.map_err(|e| ConnectError::from_handshake(&self.name_text, e))?;
        Ok(ApiStream(TokioIo::new(tls)))
    }
}

impl tower::Service<http::Uri> for TunnelConnector {
    type Response = ApiStream;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<ApiStream, ConnectError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        // The URI is the kubeconfig's server; the tunnel destination was taken from it already.
        let this = self.clone();
        let secs = this.timeout.as_secs();
        Box::pin(async move { tokio::time::timeout(this.timeout, this.connect()).await.map_err(|_| ConnectError::Timeout { secs })? })
    }
}

/// TLS over a tunnel, as hyper's I/O.
pub struct ApiStream(TokioIo<tokio_rustls::client::TlsStream<Tunnel>>);

impl Connection for ApiStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for ApiStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: hyper::rt::ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ApiStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
