//! [`TestSshd`] (tests only): an in-process russh server on 127.0.0.1 that accepts one
//! generated client key and hands each `direct-tcpip` channel to a callback — the real
//! [`RusshShell`](super::russh_shell::RusshShell) path without a VM.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelOpenFailure, ChannelStream};

use super::russh_shell::{RusshShell, SshPolicy, SshTarget};

/// Serves one channel to (host, port): `true` = accepted (the callback owns the stream),
/// `false` = refused as OpenSSH refuses when nothing listens (`connect failed`).
type Serve = Arc<dyn Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync>;

#[derive(Clone)]
struct Handler {
    client_key: PublicKey,
    opened: Arc<Mutex<Vec<(String, u32)>>>,
    serve: Serve,
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_publickey(&mut self, _user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        Ok(if key.public_key.key_data() == self.client_key.key_data() { Auth::Accept } else { Auth::reject() })
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.opened.lock().expect("poisoned").push((host.to_string(), port));
        // Accept first (the client waits for the confirmation), then hand the stream over.
        if (self.serve)(host, port, channel.into_stream()) {
            reply.accept().await;
        } else {
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
        }
        Ok(())
    }
}

/// A running in-process sshd.
pub(crate) struct TestSshd {
    addr: std::net::SocketAddr,
    host_key: PublicKey,
    client_key_path: PathBuf,
    opened: Arc<Mutex<Vec<(String, u32)>>>,
    connections: Arc<Mutex<usize>>,
}

fn keypair(dir: &Path, name: &str) -> (PathBuf, PrivateKey) {
    let path = dir.join(name);
    crate::seed::generate_ed25519(&path, name).expect("ssh-keygen");
    let key = russh::keys::load_secret_key(&path, None).expect("generated key loads");
    (path, key)
}

impl TestSshd {
    /// Starts the server; keys are generated in `dir`.
    pub(crate) async fn start(dir: &Path, serve: impl Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync + 'static) -> Self {
        let (client_key_path, client_key) = keypair(dir, "client");
        let (_, host_key) = keypair(dir, "host");
        let opened: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let handler = Handler { client_key: client_key.public_key().clone(), opened: opened.clone(), serve: Arc::new(serve) };
        let cfg = Arc::new(russh::server::Config { keys: vec![host_key.clone()], ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns = connections.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                *conns.lock().expect("poisoned") += 1;
                let (cfg, h) = (cfg.clone(), handler.clone());
                tokio::spawn(async move {
                    if let Ok(session) = russh::server::run_stream(cfg, sock, h).await {
                        let _ = session.await;
                    }
                });
            }
        });
        TestSshd { addr, host_key: host_key.public_key().clone(), client_key_path, opened, connections }
    }

    /// A [`RusshShell`] that knows this server as `node` (host key pinned).
    pub(crate) fn shell(&self, node: &str) -> RusshShell {
        let target = SshTarget { node: node.into(), addr: self.addr, user: "root".into(), host_key: self.host_key.clone() };
        RusshShell::new(vec![target], &self.client_key_path, SshPolicy::default()).expect("shell")
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Every `direct-tcpip` destination asked for, in order.
    pub(crate) fn opened(&self) -> Vec<(String, u32)> {
        self.opened.lock().expect("poisoned").clone()
    }

    /// SSH connections accepted.
    pub(crate) fn connections(&self) -> usize {
        *self.connections.lock().expect("poisoned")
    }
}
