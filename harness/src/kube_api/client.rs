//! [`ClusterApi`]: a `kube::Client` factory over one HTTP service stack (the tunnel connector
//! in the lab, any in-process service in tests), and [`Capture`], the layer that keeps each
//! probe's response body exactly as the API server sent it.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tower::BoxError;
use tower::util::BoxCloneSyncService;

use super::connect::{AdminKubeconfig, TunnelConnector};
use super::error::ClusterApiError;
use crate::remote::{BoxFuture, RemoteShell};

/// The response body type of the service stack.
pub type ApiBody = UnsyncBoxBody<Bytes, BoxError>;
/// The HTTP service every client of a [`ClusterApi`] sends through.
pub type ApiService = BoxCloneSyncService<http::Request<kube::client::Body>, http::Response<ApiBody>, BoxError>;

/// Access to one cluster's API server.
#[derive(Clone)]
pub struct ClusterApi {
    service: ApiService,
    server: String,
    node: String,
}

impl std::fmt::Debug for ClusterApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterApi").field("server", &self.server).field("via", &self.node).finish_non_exhaustive()
    }
}

/// Budget of one probe request (watches are not bounded by it).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connect + TLS budget per connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl ClusterApi {
    /// The lab's API server: the kubeconfig `kc` (read from the control plane), every
    /// connection an SSH `direct-tcpip` channel from `kc.node()` over `shell`'s pinned
    /// connection, TLS verified against the kubeconfig's CA.
    pub fn over_ssh(shell: Arc<dyn RemoteShell>, kc: &AdminKubeconfig) -> Result<Self, ClusterApiError> {
        use kube::client::ConfigExt;
        let connector = TunnelConnector::new(shell, kc, CONNECT_TIMEOUT)?;
        let hyper =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build::<_, kube::client::Body>(connector);
        let auth = kc.config().auth_layer().map_err(|e| ClusterApiError::KubeconfigInvalid {
            node: kc.node().into(),
            path: kc.path().into(),
            source: Box::new(e),
        })?;
        let svc = tower::ServiceBuilder::new()
            .layer(kc.config().base_uri_layer())
            .option_layer(auth)
            .map_err(BoxError::from)
            .map_response(|r: http::Response<hyper::body::Incoming>| r.map(|b| b.map_err(BoxError::from).boxed_unsync()))
            .service(hyper);
        Ok(ClusterApi { service: BoxCloneSyncService::new(svc), server: kc.server(), node: kc.node().into() })
    }

    /// Reads the admin kubeconfig on `node` and builds [`ClusterApi::over_ssh`].
    pub async fn connect(shell: Arc<dyn RemoteShell>, node: &str) -> Result<Self, ClusterApiError> {
        let kc = AdminKubeconfig::fetch(shell.as_ref(), node, super::connect::ADMIN_KUBECONFIG).await?;
        Self::over_ssh(shell, &kc)
    }

    /// Any HTTP service (tests: an in-process API server); `server` and `node` name it in errors.
    pub fn from_service(service: ApiService, server: impl Into<String>, node: impl Into<String>) -> Self {
        ClusterApi { service, server: server.into(), node: node.into() }
    }

    /// A plain client (streaming bodies: watches work).
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service.clone(), "default")
    }

    /// A client whose responses are also recorded in the returned [`Capture`].
    pub fn capturing_client(&self) -> (kube::Client, Capture) {
        let cap = Capture::default();
        let svc = CaptureService { inner: self.service.clone(), slot: cap.clone() };
        (kube::Client::new(svc, "default"), cap)
    }

    /// The server URL (for messages).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The node the tunnel starts on (for messages).
    pub fn node(&self) -> &str {
        &self.node
    }

    pub(crate) fn error(&self, what: &str, e: kube::Error) -> ClusterApiError {
        ClusterApiError::from_kube(what, &self.server, &self.node, e)
    }
}

/// One exchange as recorded by [`Capture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// `GET /api/v1/nodes?` (path as kube built it, before the server URL is prefixed).
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// The body, byte for byte.
    pub body: Bytes,
}

/// The exchanges a capturing client made, in order.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<Exchange>>>);

impl Capture {
    /// All exchanges so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0.lock().expect("poisoned").clone()
    }
    /// The last exchange.
    pub fn last(&self) -> Option<Exchange> {
        self.0.lock().expect("poisoned").last().cloned()
    }
}

#[derive(Clone)]
struct CaptureService {
    inner: ApiService,
    slot: Capture,
}

impl tower::Service<http::Request<kube::client::Body>> for CaptureService {
    type Response = http::Response<ApiBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let request = format!("{} {}", req.method(), req.uri());
        let slot = self.slot.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let (parts, body) = resp.into_parts();
            // Probe responses are bounded (lists, single objects); watches use `client()`.
            let body = body.collect().await?.to_bytes();
            slot.0.lock().expect("poisoned").push(Exchange { request, status: parts.status.as_u16(), body: body.clone() });
            let body = http_body_util::Full::new(body).map_err(|never| match never {}).boxed_unsync();
            Ok(http::Response::from_parts(parts, body))
        })
    }
}
