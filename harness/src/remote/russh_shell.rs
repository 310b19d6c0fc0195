//! [`RusshShell`]: the real [`RemoteShell`] over russh. One connection per node, reused for
//! every command; host keys pinned (a mismatch is an error naming the node); connect timeouts
//! and retry with exponential backoff. With a [`JumpHost`] ([`RusshShell::through`]) every node
//! connection runs inside a `direct-tcpip` channel of one shared connection to that host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::jump::{Jump, JumpHost};
use super::{BoxFuture, ExecOutput, RemoteShell, Tunnel};
use crate::errors::{BoxError, RemoteError, context};

/// Where and how to reach one node.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// Node name (for messages).
    pub node: String,
    /// address:port.
    pub addr: SocketAddr,
    /// Login user.
    pub user: String,
    /// The host key the node must present.
    pub host_key: PublicKey,
}

/// Timeouts and retry policy.
#[derive(Clone, Debug)]
pub struct SshPolicy {
    /// TCP connect + handshake timeout per attempt.
    pub connect_timeout: Duration,
    /// Connect attempts before giving up.
    pub attempts: u32,
    /// First backoff delay (doubles, capped at 10 s).
    pub backoff: Duration,
    /// Per-command timeout.
    pub command_timeout: Duration,
}

impl Default for SshPolicy {
    fn default() -> Self {
        SshPolicy {
            connect_timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
            command_timeout: Duration::from_secs(900),
        }
    }
}

/// The client handler: accepts only the pinned host key, and records the fingerprint of any
/// other key presented (read back by [`Hop::handshake`]).
pub(super) struct Pinned {
    node: String,
    expected: PublicKey,
    mismatch: Arc<std::sync::Mutex<Option<String>>>,
}

/// Where a mismatching fingerprint lands.
pub(super) type Mismatch = Arc<std::sync::Mutex<Option<String>>>;

impl Pinned {
    /// A handler pinned to `expected`, and the slot it reports a mismatch in.
    pub(super) fn new(node: &str, expected: &PublicKey) -> (Self, Mismatch) {
        let mismatch = Mismatch::default();
        (Pinned { node: node.to_string(), expected: expected.clone(), mismatch: mismatch.clone() }, mismatch)
    }
}

/// The client config of every connection (nodes and jump host).
pub(super) fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        ..Default::default()
    })
}

/// One SSH hop being connected: whom errors name, and the budget its connect ran under.
pub(super) struct Hop<'a> {
    /// Node name, or `jump host <name>`.
    pub(super) who: &'a str,
    /// Where it is (for messages).
    pub(super) addr: SocketAddr,
    /// The pinned host key.
    pub(super) expected: &'a PublicKey,
    /// The whole connect budget (for the timeout message).
    pub(super) budget: Duration,
    /// `through jump host <name>` for a node reached through one: prefixed to its errors' causes.
    pub(super) via: Option<String>,
}

impl Hop<'_> {
    /// A [`RemoteError::Connect`] naming this hop (and the jump host it went through).
    pub(super) fn connect_err(&self, source: BoxError) -> RemoteError {
        let source = match &self.via {
            Some(via) => context(via.clone(), source),
            None => source,
        };
        RemoteError::Connect { node: self.who.to_string(), addr: self.addr.to_string(), source }
    }

    /// Runs the handshake `connect` (whose handler reports into `mismatch`) until `deadline`.
    pub(super) async fn handshake(
        &self,
        connect: impl std::future::Future<Output = Result<Handle<Pinned>, russh::Error>>,
        mismatch: &Mismatch,
        deadline: Instant,
    ) -> Result<Handle<Pinned>, RemoteError> {
        match tokio::time::timeout_at(deadline, connect).await {
            Err(_) => Err(self.connect_err(format!("timed out after {:?}", self.budget).into())),
            Ok(Err(e)) => {
                if let Some(found) = mismatch.lock().expect("poisoned").take() {
                    return Err(RemoteError::HostKeyMismatch {
                        node: self.who.to_string(),
                        expected: self.expected.fingerprint(HashAlg::Sha256).to_string(),
                        found,
                    });
                }
                Err(self.connect_err(e.into()))
            }
            Ok(Ok(h)) => Ok(h),
        }
    }
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let presented = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        if presented.key_data() == self.expected.key_data() {
            return Ok(true);
        }
        tracing::debug!(node = %self.node, "host key mismatch");
        *self.mismatch.lock().expect("poisoned") = Some(presented.fingerprint(HashAlg::Sha256).to_string());
        Ok(false)
    }
}

/// SSH to the lab nodes.
pub struct RusshShell {
    targets: HashMap<String, SshTarget>,
    key: Arc<PrivateKey>,
    key_path: String,
    policy: SshPolicy,
    conns: HashMap<String, Mutex<Option<Handle<Pinned>>>>,
    jump: Option<Jump>,
}

impl RusshShell {
    /// A shell for these targets, authenticating with the private key at `key_path`.
    pub fn new(targets: Vec<SshTarget>, key_path: &std::path::Path, policy: SshPolicy) -> Result<Self, RemoteError> {
        let key = russh::keys::load_secret_key(key_path, None).map_err(|e| RemoteError::Session {
            node: "-".into(),
            source: context(format!("cannot load lab key {}", key_path.display()), e),
        })?;
        let conns = targets.iter().map(|t| (t.node.clone(), Mutex::new(None))).collect();
        Ok(RusshShell {
            targets: targets.into_iter().map(|t| (t.node.clone(), t)).collect(),
            key: Arc::new(key),
            key_path: key_path.display().to_string(),
            policy,
            conns,
            jump: None,
        })
    }

    /// The same shell, reaching every node through `jump`: one connection to the jump host
    /// (its host key pinned, authenticated with `jump.key_path`), shared by all nodes, and per
    /// node a `direct-tcpip` channel to the node's address carrying the node's own SSH session.
    /// Fails when the jump key cannot be loaded.
    pub fn through(mut self, jump: JumpHost) -> Result<Self, RemoteError> {
        self.jump = Some(Jump::new(jump)?);
        Ok(self)
    }

    /// Changes the policy (e.g. a short connect budget for probing).
    pub fn set_policy(&mut self, policy: SshPolicy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// One connect: TCP (or, with a jump host, a `direct-tcpip` channel through it) and the
    /// pinned handshake within `policy.connect_timeout` for both hops together, then the login.
    async fn connect_once(&self, t: &SshTarget) -> Result<Handle<Pinned>, RemoteError> {
        let deadline = Instant::now() + self.policy.connect_timeout;
        let (handler, mismatch) = Pinned::new(&t.node, &t.host_key);
        let hop = Hop {
            who: &t.node,
            addr: t.addr,
            expected: &t.host_key,
            budget: self.policy.connect_timeout,
            via: self.jump.as_ref().map(Jump::via),
        };
        let mut h = match &self.jump {
            None => hop.handshake(client::connect(client_config(), t.addr, handler), &mismatch, deadline).await?,
            Some(j) => {
                let channel = j.open_channel(t, deadline, self.policy.connect_timeout).await?;
                let connect = client::connect_stream(client_config(), channel.into_stream(), handler);
                hop.handshake(connect, &mismatch, deadline).await?
            }
        };
        let auth = h
            .authenticate_publickey(t.user.clone(), PrivateKeyWithHashAlg::new(self.key.clone(), None))
            .await
            .map_err(|e| hop.connect_err(context("authentication exchange", e)))?;
        if !auth.success() {
            return Err(RemoteError::Auth { node: t.node.clone(), user: t.user.clone(), key: self.key_path.clone() });
        }
        Ok(h)
    }

    /// Connects with retries and backoff (backon on tokio time: `policy.backoff`, doubling, capped
    /// at 10 s, `policy.attempts` tries in all). Host-key and auth failures (of the node or the
    /// jump host) are not retried; a channel the jump host refuses is, like a refused TCP connect.
    async fn connect(&self, t: &SshTarget) -> Result<Handle<Pinned>, RemoteError> {
        use backon::{ExponentialBuilder, Retryable as _};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff)
            .with_max_delay(Duration::from_secs(10))
            .with_factor(2.0)
            .with_max_times(self.policy.attempts.max(1) as usize - 1);
        (|| self.connect_once(t))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| !matches!(e, RemoteError::HostKeyMismatch { .. } | RemoteError::Auth { .. } | RemoteError::JumpAuth { .. }))
            .notify(|e, after| tracing::debug!(node = %t.node, error = %e, retry_in = ?after, "ssh connect failed"))
            .await
    }

    /// Drops the cached connection of `node` (after a reboot, or to measure fresh connects).
    async fn forget_inner(&self, node: &str) {
        if let Some(m) = self.conns.get(node)
            && let Some(h) = m.lock().await.take()
        {
            let _ = h.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
    }

    async fn exec_on(h: &Handle<Pinned>, node: &str, script: &str) -> Result<ExecOutput, (bool, RemoteError)> {
        let session_err = |source: BoxError| RemoteError::Session { node: node.to_string(), source };
        // `true` = nothing ran yet, safe to reconnect and retry.
        let mut ch = h.channel_open_session().await.map_err(|e| (true, session_err(context("open channel", e))))?;
        ch.exec(true, "sudo -n /bin/bash -s").await.map_err(|e| (true, session_err(context("exec", e))))?;
        ch.data_bytes(script.as_bytes().to_vec()).await.map_err(|e| (false, session_err(context("send script", e))))?;
        ch.eof().await.map_err(|e| (false, session_err(context("eof", e))))?;
        let (mut out, mut err, mut code) = (Vec::new(), Vec::new(), None);
        while let Some(msg) = ch.wait().await {
            match msg {
                russh::ChannelMsg::Data { data } => out.extend_from_slice(&data),
                russh::ChannelMsg::ExtendedData { data, ext: 1 } => err.extend_from_slice(&data),
                russh::ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                russh::ChannelMsg::ExitSignal { signal_name, .. } => {
                    err.extend_from_slice(format!("killed by signal {signal_name:?}").as_bytes());
                    code = Some(255);
                }
                _ => {}
            }
        }
        let Some(exit_status) = code else {
            return Err((false, session_err("connection lost before the command finished".into())));
        };
        Ok(ExecOutput {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            exit_status,
        })
    }

    async fn run_inner(&self, node: &str, script: &str) -> Result<ExecOutput, RemoteError> {
        let t = self.targets.get(node).ok_or_else(|| RemoteError::UnknownNode(node.to_string()))?;
        let slot = self.conns.get(node).ok_or_else(|| RemoteError::UnknownNode(node.to_string()))?;
        for round in 0..2 {
            let handle = {
                let mut g = slot.lock().await;
                if g.as_ref().is_none_or(|h| h.is_closed()) {
                    *g = Some(self.connect(t).await?);
                }
                // Handles are cheap to share by reference only; hold the lock for the command so
                // one node's commands are serialised on its connection.
                g
            };
            let h = handle.as_ref().expect("connected above");
            match Self::exec_on(h, node, script).await {
                Ok(o) => return Ok(o),
                Err((retryable, e)) => {
                    drop(handle);
                    *slot.lock().await = None;
                    if !retryable || round == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("loop returns")
    }
}

impl RusshShell {
    /// Opens a `direct-tcpip` channel on `node`'s (pinned, reused) connection, reconnecting
    /// once when the cached connection turns out to be closed.
    async fn tunnel_inner(&self, node: &str, host: &str, port: u16) -> Result<Tunnel, RemoteError> {
        let t = self.targets.get(node).ok_or_else(|| RemoteError::UnknownNode(node.to_string()))?;
        let slot = self.conns.get(node).ok_or_else(|| RemoteError::UnknownNode(node.to_string()))?;
        let tunnel_err =
            |source: russh::Error| RemoteError::Tunnel { node: node.to_string(), dest: format!("{host}:{port}"), source: source.into() };
        for round in 0..2 {
            let mut g = slot.lock().await;
            if g.as_ref().is_none_or(|h| h.is_closed()) {
                *g = Some(self.connect(t).await?);
            }
            let h = g.as_ref().expect("connected above");
            // The originator is informational (sshd logs it); the channel is local to sshd.
            match h.channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0).await {
                Ok(ch) => return Ok(Box::new(ch.into_stream())),
                // The server refused this channel (nothing listens, forwarding disabled): final.
                Err(e @ russh::Error::ChannelOpenFailure(_)) => return Err(tunnel_err(e)),
                Err(e) => {
                    *g = None;
                    if round == 1 {
                        return Err(tunnel_err(e));
                    }
                }
            }
        }
        unreachable!("loop returns")
    }
}

impl RemoteShell for RusshShell {
    fn forget<'a>(&'a self, node: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.forget_inner(node))
    }

    fn open_direct_tcpip<'a>(&'a self, node: &'a str, host: &'a str, port: u16) -> BoxFuture<'a, Result<Tunnel, RemoteError>> {
        Box::pin(async move {
            let secs = self.policy.connect_timeout.as_secs();
            match tokio::time::timeout(self.policy.connect_timeout * 2, self.tunnel_inner(node, host, port)).await {
                Ok(r) => r,
                Err(_) => Err(RemoteError::Tunnel {
                    node: node.to_string(),
                    dest: format!("{host}:{port}"),
                    source: format!("timed out after {} s", secs * 2).into(),
                }),
            }
        })
    }

    fn run<'a>(&'a self, node: &'a str, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, RemoteError>> {
        Box::pin(async move {
            let secs = self.policy.command_timeout.as_secs();
            match tokio::time::timeout(self.policy.command_timeout, self.run_inner(node, script)).await {
                Ok(r) => r,
                Err(_) => {
                    self.forget_inner(node).await;
                    Err(RemoteError::Timeout { node: node.to_string(), secs })
                }
            }
        })
    }
}

/// Parses an OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn parse_public_key(line: &str) -> Result<PublicKey, String> {
    PublicKey::from_openssh(line.trim()).map_err(|e| e.to_string())
}

/// SHA256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::remote::test_sshd::TestSshd;

    /// A shell to `node0` at `addr`, pinned to a freshly generated host key.
    fn shell_to(dir: &std::path::Path, addr: SocketAddr, policy: SshPolicy) -> RusshShell {
        let (_, public) = crate::seed::generate_ed25519(&dir.join("host"), "host").unwrap();
        crate::seed::generate_ed25519(&dir.join("client"), "client").unwrap();
        let target = SshTarget { node: "node0".into(), addr, user: "u".into(), host_key: parse_public_key(&public).unwrap() };
        RusshShell::new(vec![target], &dir.join("client"), policy).unwrap()
    }

    #[tokio::test]
    async fn refused_connects_are_retried_with_doubling_backoff_then_reported() {
        let tmp = tempfile::tempdir().unwrap();
        // A port nothing listens on: bound, then closed. (Real sockets: tokio's paused clock
        // would advance past the connect timeout while the kernel answers.)
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let policy = SshPolicy { attempts: 4, backoff: Duration::from_millis(200), ..SshPolicy::default() };
        let shell = shell_to(tmp.path(), addr, policy);
        let t0 = std::time::Instant::now();
        let e = shell.run("node0", "true").await.unwrap_err();
        assert!(
            matches!(&e, RemoteError::Connect { node, source, .. } if node == "node0" && source.to_string().contains("refused")),
            "{e:?}"
        );
        // russh's error itself, not its text; the one-line message still says why.
        assert!(std::error::Error::source(&e).is_some_and(|s| s.downcast_ref::<russh::Error>().is_some()), "{e:?}");
        assert!(e.to_string().starts_with(&format!("cannot reach node0 at {addr} over ssh: ")) && e.to_string().contains("refused"), "{e}");
        // Four attempts, three sleeps of 0.2, 0.4 and 0.8 s.
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test]
    async fn a_host_key_mismatch_is_not_retried() {
        let tmp = tempfile::tempdir().unwrap();
        let sshd = TestSshd::start(tmp.path(), |_, _, _| false).await;
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        // Pinned to a key the server does not have.
        let policy = SshPolicy { attempts: 4, backoff: Duration::from_secs(5), ..SshPolicy::default() };
        let shell = shell_to(&other, sshd.addr(), policy);
        let t0 = std::time::Instant::now();
        let e = shell.run("node0", "true").await.unwrap_err();
        assert!(matches!(e, RemoteError::HostKeyMismatch { .. }), "{e:?}");
        assert!(t0.elapsed() < Duration::from_secs(5), "no backoff sleep: {:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn direct_tcpip_tunnel_runs_over_the_pinned_connection_of_a_russh_server() {
        let tmp = tempfile::tempdir().unwrap();
        // Serves `pong:` + 5 echoed bytes on 6443; every other port is refused.
        let sshd = TestSshd::start(tmp.path(), |_host, port, mut s| {
            if port != 6443 {
                return false;
            }
            tokio::spawn(async move {
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(b"pong:").await;
                    let _ = s.write_all(&buf).await;
                    let _ = s.flush().await;
                }
            });
            true
        })
        .await;
        let shell = sshd.shell("node0");
        let run = async {
            let mut t = shell.open_direct_tcpip("node0", "192.168.1.134", 6443).await.unwrap();
            t.write_all(b"ping!").await.unwrap();
            let mut back = [0u8; 10];
            t.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"pong:ping!");
            // Nothing listens there: the server's refusal, named.
            let e = shell.open_direct_tcpip("node0", "192.168.1.134", 6444).await.err().expect("refused");
            assert!(matches!(&e, RemoteError::Tunnel { node, dest, .. } if node == "node0" && dest == "192.168.1.134:6444"), "{e:?}");
            assert!(e.to_string().starts_with("cannot open a tunnel from node0 to 192.168.1.134:6444: "), "{e}");
            assert!(std::error::Error::source(&e).is_some_and(|s| s.downcast_ref::<russh::Error>().is_some()), "{e:?}");
            // A second tunnel reuses the connection.
            let mut t2 = shell.open_direct_tcpip("node0", "192.168.1.134", 6443).await.unwrap();
            t2.write_all(b"again").await.unwrap();
            t2.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"pong:again");
        };
        tokio::time::timeout(Duration::from_secs(30), run).await.expect("within 30 s");
        assert_eq!(
            sshd.opened(),
            [("192.168.1.134".to_string(), 6443), ("192.168.1.134".to_string(), 6444), ("192.168.1.134".to_string(), 6443)]
        );
        assert_eq!(sshd.connections(), 1, "one SSH connection for all tunnels");
    }
}
