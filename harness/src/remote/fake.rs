//! [`FakeShell`]: a recording [`RemoteShell`] with scripted replies, for unit tests. Tunnels
//! ([`RemoteShell::open_direct_tcpip`]) are recorded too and served in-process by a
//! [`FakeShell::serve_tunnels`] handler over a `tokio::io::duplex` pair.

use std::sync::Mutex;
use std::time::Instant;

use super::{BoxFuture, ExecOutput, RemoteShell, Tunnel};
use crate::errors::RemoteError;

/// One recorded call.
#[derive(Clone, Debug)]
pub struct FakeCall {
    /// Node the script ran on.
    pub node: String,
    /// The script.
    pub script: String,
    /// When the call started (relative order and overlap for concurrency assertions).
    pub started: Instant,
    /// When it returned.
    pub finished: Instant,
}

/// One recorded tunnel open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTunnel {
    /// Node the tunnel started on.
    pub node: String,
    /// Destination host, as asked.
    pub host: String,
    /// Destination port.
    pub port: u16,
}

type Responder = Box<dyn Fn(&str, &str) -> Option<Result<ExecOutput, RemoteError>> + Send + Sync>;
/// Serves one tunnel: gets (node, host, port) and the server end of the duplex stream, or
/// refuses with the message the node's sshd would give.
type TunnelServer = Box<dyn Fn(&FakeTunnel, tokio::io::DuplexStream) -> Result<(), String> + Send + Sync>;

/// A fake shell: replies come from responders tried in order (first `Some` wins);
/// with no match it answers exit 0 and empty output. Every call is recorded.
#[derive(Default)]
pub struct FakeShell {
    responders: Mutex<Vec<Responder>>,
    calls: Mutex<Vec<FakeCall>>,
    tunnel_server: Mutex<Option<TunnelServer>>,
    tunnels: Mutex<Vec<FakeTunnel>>,
    forgets: Mutex<Vec<String>>,
    /// Simulated latency of each call.
    pub latency: std::time::Duration,
}

impl FakeShell {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replies `out` to any script on `node` (or any node for `"*"`) that contains `needle`.
    pub fn on(&self, node: &str, needle: &str, out: ExecOutput) -> &Self {
        let (node, needle) = (node.to_string(), needle.to_string());
        self.respond(move |n, s| ((node == "*" || node == n) && s.contains(&needle)).then(|| out.clone()))
    }

    /// Adds an arbitrary responder.
    pub fn respond(&self, f: impl Fn(&str, &str) -> Option<ExecOutput> + Send + Sync + 'static) -> &Self {
        self.respond_result(move |n, s| f(n, s).map(Ok))
    }

    /// Adds a responder that may also fail the call the way the transport does (connection
    /// refused, host key mismatch, …). A failed call is recorded like any other.
    pub fn respond_result(&self, f: impl Fn(&str, &str) -> Option<Result<ExecOutput, RemoteError>> + Send + Sync + 'static) -> &Self {
        self.responders.lock().expect("poisoned").push(Box::new(f));
        self
    }

    /// Nodes whose cached connection was dropped ([`RemoteShell::forget`]), in order.
    pub fn forgets(&self) -> Vec<String> {
        self.forgets.lock().expect("poisoned").clone()
    }

    /// Scripts run on `node`, in start order.
    pub fn scripts_on(&self, node: &str) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.node == node).map(|c| c.script).collect()
    }

    /// Serves every tunnel opened from now on with `f` (which typically spawns a task that
    /// speaks the protocol on the stream). Without a server, tunnels are refused with sshd's
    /// `Connect failed` (nothing listening).
    pub fn serve_tunnels(&self, f: impl Fn(&FakeTunnel, tokio::io::DuplexStream) -> Result<(), String> + Send + Sync + 'static) -> &Self {
        *self.tunnel_server.lock().expect("poisoned") = Some(Box::new(f));
        self
    }

    /// Every tunnel opened so far (refused ones included), in order.
    pub fn tunnels(&self) -> Vec<FakeTunnel> {
        self.tunnels.lock().expect("poisoned").clone()
    }

    /// All calls so far, in start order.
    pub fn calls(&self) -> Vec<FakeCall> {
        let mut c = self.calls.lock().expect("poisoned").clone();
        c.sort_by_key(|c| c.started);
        c
    }
}

impl RemoteShell for FakeShell {
    fn open_direct_tcpip<'a>(&'a self, node: &'a str, host: &'a str, port: u16) -> BoxFuture<'a, Result<Tunnel, RemoteError>> {
        Box::pin(async move {
            let t = FakeTunnel { node: node.to_string(), host: host.to_string(), port };
            self.tunnels.lock().expect("poisoned").push(t.clone());
            let refused =
                |message: String| RemoteError::Tunnel { node: node.to_string(), dest: format!("{host}:{port}"), source: message.into() };
            let (client, server) = tokio::io::duplex(64 * 1024);
            match self.tunnel_server.lock().expect("poisoned").as_ref() {
                None => Err(refused("Connect failed (nothing listens there)".into())),
                Some(f) => f(&t, server).map(|()| Box::new(client) as Tunnel).map_err(refused),
            }
        })
    }

    fn run<'a>(&'a self, node: &'a str, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, RemoteError>> {
        Box::pin(async move {
            let started = Instant::now();
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let out = {
                let r = self.responders.lock().expect("poisoned");
                r.iter().find_map(|f| f(node, script)).unwrap_or_else(|| Ok(ExecOutput::default()))
            };
            self.calls.lock().expect("poisoned").push(FakeCall {
                node: node.to_string(),
                script: script.to_string(),
                started,
                finished: Instant::now(),
            });
            out
        })
    }

    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, ()> {
        self.forgets.lock().expect("poisoned").push(node.to_string());
        Box::pin(async {})
    }
}
