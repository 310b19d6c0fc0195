//! [`TestSshd`] (tests only): an in-process russh server on 127.0.0.1 that accepts one
//! client key, hands each `direct-tcpip` channel to a callback, and answers each `exec` with
//! `<its host key fingerprint>:<the script it read on stdin>` (exit 0) — the real
//! [`RusshShell`](super::russh_shell::RusshShell) path without a VM.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, ChannelStream};

use super::russh_shell::{RusshShell, SshPolicy, SshTarget};

/// Serves one channel to (host, port): `true` = accepted (the callback owns the stream),
/// `false` = refused as OpenSSH refuses when nothing listens (`connect failed`).
type Serve = Arc<dyn Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync>;

#[derive(Clone)]
struct Handler {
    client_key: PublicKey,
    opened: Arc<Mutex<Vec<(String, u32)>>>,
    serve: Serve,
    /// What `exec` answers before the script: the host key's fingerprint.
    label: String,
    /// Stdin read so far, per session channel (one connection's: each connection clones).
    stdin: std::collections::HashMap<ChannelId, Vec<u8>>,
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_publickey(&mut self, _user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        Ok(if key.public_key.key_data() == self.client_key.key_data() { Auth::Accept } else { Auth::reject() })
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(&mut self, channel: ChannelId, _command: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        self.stdin.insert(channel, Vec::new());
        session.channel_success(channel)
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], _session: &mut Session) -> Result<(), Self::Error> {
        self.stdin.entry(channel).or_default().extend_from_slice(data);
        Ok(())
    }

    async fn channel_eof(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        let script = self.stdin.remove(&channel).unwrap_or_default();
        let mut out = format!("{}:", self.label).into_bytes();
        out.extend_from_slice(&script);
        session.data(channel, out)?;
        session.exit_status_request(channel, 0)?;
        session.eof(channel)?;
        session.close(channel)
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
    std::fs::create_dir_all(dir).expect("key dir");
    let path = dir.join(name);
    crate::seed::generate_ed25519(&path, name).expect("ssh-keygen");
    let key = russh::keys::load_secret_key(&path, None).expect("generated key loads");
    (path, key)
}

impl TestSshd {
    /// Starts the server; keys are generated in `dir`.
    pub(crate) async fn start(dir: &Path, serve: impl Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync + 'static) -> Self {
        let (client_key_path, client_key) = keypair(dir, "client");
        Self::serve(dir, client_key_path, client_key, serve).await
    }

    /// Starts a server that accepts the client key at `client_key_path` (several servers, one
    /// client key: the lab nodes); its host key is generated in `dir`.
    pub(crate) async fn start_for(
        dir: &Path,
        client_key_path: &Path,
        serve: impl Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync + 'static,
    ) -> Self {
        let client_key = russh::keys::load_secret_key(client_key_path, None).expect("client key loads");
        Self::serve(dir, client_key_path.to_path_buf(), client_key, serve).await
    }

    async fn serve(
        dir: &Path,
        client_key_path: PathBuf,
        client_key: PrivateKey,
        serve: impl Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync + 'static,
    ) -> Self {
        let (_, host_key) = keypair(dir, "host");
        let opened: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let handler = Handler {
            client_key: client_key.public_key().clone(),
            opened: opened.clone(),
            serve: Arc::new(serve),
            label: super::russh_shell::fingerprint(host_key.public_key()),
            stdin: Default::default(),
        };
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

    /// The host key it presents.
    pub(crate) fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// The client key it accepts.
    pub(crate) fn client_key_path(&self) -> &Path {
        &self.client_key_path
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

/// A `serve` callback that forwards each channel to the real address `routes` maps its
/// requested (host, port) to, as sshd's `direct-tcpip` does; other destinations are refused.
pub(crate) fn forward(
    routes: Vec<((String, u32), std::net::SocketAddr)>,
) -> impl Fn(&str, u32, ChannelStream<Msg>) -> bool + Send + Sync + 'static {
    move |host, port, mut stream| {
        let Some(&(_, to)) = routes.iter().find(|((h, p), _)| h == host && *p == port) else {
            return false;
        };
        tokio::spawn(async move {
            if let Ok(mut sock) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut sock).await;
            }
        });
        true
    }
}
