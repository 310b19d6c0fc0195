//! The SSH seam: [`RemoteShell`] runs a bash script as root on a named node, and opens TCP
//! tunnels from a node ([`RemoteShell::open_direct_tcpip`], SSH `direct-tcpip` channels).
//! Real sibling: [`russh_shell::RusshShell`] (directly, or through a [`jump::JumpHost`]); recording fake: `fake::FakeShell` (tests and feature
//! `test-support`).

#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod jump;
pub mod russh_shell;
#[cfg(test)]
pub(crate) mod test_sshd;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::errors::RemoteError;

/// A boxed future (the trait must be object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one command printed and returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit status (255 when the remote side gave none).
    pub exit_status: u32,
}

impl ExecOutput {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == 0
    }
    /// A successful output with this stdout.
    pub fn ok(stdout: impl Into<String>) -> Self {
        ExecOutput { stdout: stdout.into(), stderr: String::new(), exit_status: 0 }
    }
    /// A failed output with this status and stderr.
    pub fn failed(exit_status: u32, stderr: impl Into<String>) -> Self {
        ExecOutput { stdout: String::new(), stderr: stderr.into(), exit_status }
    }
}

/// A byte stream tunnelled through a node (an SSH `direct-tcpip` channel, or an in-process
/// duplex stream in the fake).
pub trait TunnelStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> TunnelStream for T {}

/// An open tunnel.
pub type Tunnel = Box<dyn TunnelStream>;

/// Runs scripts on lab nodes.
///
/// `script` is bash source; it is executed as root (`sudo -n bash -s`, script on stdin), so
/// callers never quote. Implementations reuse one connection per node.
pub trait RemoteShell: Send + Sync {
    /// Runs `script` on `node` (a node name from the lab config).
    fn run<'a>(&'a self, node: &'a str, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, RemoteError>>;

    /// Drops the cached connection to `node`, if the shell keeps one, so the next command
    /// connects afresh (after a reboot, a link fault, or an address change). Shells that cache
    /// nothing have nothing to forget.
    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, ()> {
        let _ = node;
        Box::pin(async {})
    }

    /// Opens a TCP connection from `node` to `host:port` (as `ssh -W host:port node` does),
    /// over the node's existing pinned connection. Shells without tunnels answer
    /// [`RemoteError::Tunnel`].
    fn open_direct_tcpip<'a>(&'a self, node: &'a str, host: &'a str, port: u16) -> BoxFuture<'a, Result<Tunnel, RemoteError>> {
        Box::pin(async move {
            Err(RemoteError::Tunnel {
                node: node.to_string(),
                dest: format!("{host}:{port}"),
                source: "this remote shell cannot open TCP tunnels".into(),
            })
        })
    }
}
