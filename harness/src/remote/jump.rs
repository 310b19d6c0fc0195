//! [`JumpHost`]: the host every node connection goes through, for a lab on a remote libvirt
//! host whose guest network is private to that host. Read from the lab's libvirt URI
//! ([`JumpHost::from_libvirt_uri`]); used by [`RusshShell::through`](super::russh_shell::RusshShell::through):
//! one pinned connection to the host's sshd, and per node a `direct-tcpip` channel to the
//! node's sshd carrying the node's own (pinned) SSH session.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::percent_decode_str;
use russh::client::{self, Handle};
use russh::keys::ssh_key::known_hosts::{HostPatterns, KnownHosts, Marker};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::russh_shell::{Hop, Pinned, SshTarget, client_config};
use crate::errors::{BoxError, RemoteError, context};

/// A host every node connection goes through (the remote libvirt host of a lab).
#[derive(Clone, Debug)]
pub struct JumpHost {
    /// For messages, e.g. `10.255.3.2` (the host part of the URI).
    pub name: String,
    /// Its sshd.
    pub addr: SocketAddr,
    /// Login user.
    pub user: String,
    /// The host key it must present (pinned).
    pub host_key: PublicKey,
    /// Client private key for the jump host.
    pub key_path: PathBuf,
}

/// The libvirt transports that reach their host over SSH.
const SSH_TRANSPORTS: [&str; 3] = ["ssh", "libssh", "libssh2"];

impl JumpHost {
    /// The jump host of a libvirt URI that reaches its host over SSH
    /// (`qemu+libssh://`, `qemu+libssh2://`, `qemu+ssh://`): user (default root), host, port
    /// (default 22) from the URI; `keyfile=` and `known_hosts=` query parameters required — the
    /// host key is read from that known_hosts file (OpenSSH format: the entry for `host`, or
    /// `[host]:port` off port 22; plain, wildcard and hashed entries; `@revoked` keys refused).
    /// `Ok(None)` for a local URI (`qemu:///system`, `qemu:///session`, `test:///default`,
    /// `qemu+unix:///…`, no host part, or a loopback host over a non-SSH transport).
    /// Errors (a URI over SSH without keyfile= or known_hosts=, no entry for the host in the
    /// file, unreadable file, a remote host over a non-SSH transport) are one line naming the
    /// URI part and the fix.
    pub fn from_libvirt_uri(uri: &str) -> Result<Option<JumpHost>, RemoteError> {
        let fail = |why: String, source: Option<BoxError>| RemoteError::JumpConfig { uri: uri.to_string(), why, source };
        let url = url::Url::parse(uri).map_err(|e| {
            let why =
                format!("not a URI ({e}); write it as libvirt does, e.g. qemu+libssh://root@HOST/system?keyfile=KEY&known_hosts=FILE");
            fail(why, Some(Box::new(e)))
        })?;
        let host = match url.host() {
            None => return Ok(None),
            Some(url::Host::Domain("")) => return Ok(None),
            Some(url::Host::Domain(d)) => decode(d).to_ascii_lowercase(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
        };
        let transport = url.scheme().split_once('+').map(|(_, t)| t);
        match transport {
            Some(t) if SSH_TRANSPORTS.contains(&t) => {}
            Some("unix") => return Ok(None),
            _ if is_loopback(&host) => return Ok(None),
            other => {
                let why = format!(
                    "the guests on {host} can only be reached through its sshd, and this URI reaches it over {}, not ssh; use qemu+libssh://, qemu+libssh2:// or qemu+ssh:// with keyfile= and known_hosts=",
                    other.unwrap_or("tls")
                );
                return Err(fail(why, None));
            }
        }
        let user = match decode(url.username()) {
            u if u.is_empty() => "root".to_string(),
            u => u,
        };
        let port = url.port().unwrap_or(22);
        let param = |name: &str| {
            url.query()
                .unwrap_or("")
                .split('&')
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .find(|(k, _)| decode(k) == name)
                .map(|(_, v)| decode(v))
                .filter(|v| !v.is_empty())
        };
        let keyfile = param("keyfile").ok_or_else(|| {
            let why = format!(
                "no keyfile= parameter; add keyfile=<private key that logs in as {user} on {host}> (kubelab reaches the lab's guests through the sshd of {host} with it)"
            );
            fail(why, None)
        })?;
        let known_hosts = param("known_hosts").ok_or_else(|| {
            let why = format!(
                "no known_hosts= parameter; add known_hosts=<OpenSSH known_hosts file with the host key of {host}> (kubelab pins that key: {host} is the jump host to the lab's guests)"
            );
            fail(why, None)
        })?;
        let text = std::fs::read_to_string(&known_hosts).map_err(|e| {
            let why = format!("cannot read the known_hosts= file {known_hosts} ({e}); point known_hosts= at the OpenSSH known_hosts file holding the host key of {host}");
            fail(why, Some(Box::new(e)))
        })?;
        let name = if port == 22 { host.clone() } else { format!("[{host}]:{port}") };
        let (keys, unreadable) = known_host_keys(&text, &name);
        let Some(host_key) = keys.iter().find(|k| k.algorithm().is_ed25519()).or(keys.first()).cloned() else {
            let skipped = if unreadable > 0 { format!(" ({unreadable} unreadable lines skipped)") } else { String::new() };
            let why = format!(
                "no key for `{name}` in the known_hosts= file {known_hosts}{skipped}; add it (`ssh-keyscan -p {port} {host} >> {known_hosts}`, then compare its fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on {host}) or point known_hosts= at a file that has it"
            );
            return Err(fail(why, None));
        };
        let addr = resolve(&host, port).map_err(|e| {
            fail(format!("cannot resolve the host {host} ({e}); use its address or a name this machine resolves"), Some(Box::new(e)))
        })?;
        Ok(Some(JumpHost { name: host, addr, user, host_key, key_path: PathBuf::from(keyfile) }))
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port).to_socket_addrs()?.next().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

/// The keys `known_hosts` text holds for `name` (`host`, or `[host]:port`), `@revoked` ones
/// left out, and how many lines could not be parsed (skipped, as OpenSSH skips them).
fn known_host_keys(text: &str, name: &str) -> (Vec<PublicKey>, usize) {
    let (mut keys, mut revoked, mut unreadable) = (Vec::new(), Vec::new(), 0);
    for entry in KnownHosts::new(text) {
        let Ok(entry) = entry else {
            unreadable += 1;
            continue;
        };
        if !matches_host(entry.host_patterns(), name) {
            continue;
        }
        match entry.marker() {
            None => keys.push(entry.public_key().clone()),
            Some(Marker::Revoked) => revoked.push(entry.public_key().clone()),
            Some(Marker::CertAuthority) => {}
        }
    }
    keys.retain(|k: &PublicKey| !revoked.iter().any(|r| r.key_data() == k.key_data()));
    (keys, unreadable)
}

/// Whether an entry's host patterns match `name` as OpenSSH matches them: a hashed name by its
/// HMAC-SHA1, a pattern list when one pattern matches (`*`, `?` globs, case-insensitive) and no
/// negated (`!`) one does.
fn matches_host(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            Hmac::<sha1::Sha1>::new_from_slice(salt).is_ok_and(|mac| mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok())
        }
        HostPatterns::Patterns(list) => {
            let name = name.to_ascii_lowercase();
            let hit = |p: &str| glob(p.to_ascii_lowercase().as_bytes(), name.as_bytes());
            let negated = list.iter().filter_map(|p| p.strip_prefix('!')).any(hit);
            !negated && list.iter().filter(|p| !p.starts_with('!')).any(|p| hit(p))
        }
    }
}

fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => glob(rest, s) || (!s.is_empty() && glob(pattern, &s[1..])),
        (Some((b'?', rest)), Some((_, s_rest))) => glob(rest, s_rest),
        (Some((p, rest)), Some((c, s_rest))) if p == c => glob(rest, s_rest),
        _ => false,
    }
}

/// A [`JumpHost`] in use: its key and its one connection, shared by all nodes.
pub(super) struct Jump {
    host: JumpHost,
    key: Arc<PrivateKey>,
    conn: Mutex<Option<Arc<Handle<Pinned>>>>,
}

impl Jump {
    /// Loads the jump key.
    pub(super) fn new(host: JumpHost) -> Result<Self, RemoteError> {
        let key = russh::keys::load_secret_key(&host.key_path, None).map_err(|e| RemoteError::Session {
            node: format!("jump host {}", host.name),
            source: context(format!("cannot load the jump host key {} (keyfile= of libvirt_uri)", host.key_path.display()), e),
        })?;
        Ok(Jump { host, key: Arc::new(key), conn: Mutex::new(None) })
    }

    /// How errors name the jump host.
    fn who(&self) -> String {
        format!("jump host {}", self.host.name)
    }

    /// The step prefixed to the errors of a node reached through this host.
    pub(super) fn via(&self) -> String {
        format!("through jump host {}", self.host.name)
    }

    /// Connects to the jump host and logs in, until `deadline`.
    async fn connect(&self, deadline: Instant, budget: Duration) -> Result<Handle<Pinned>, RemoteError> {
        let who = self.who();
        let hop = Hop { who: &who, addr: self.host.addr, expected: &self.host.host_key, budget, via: None };
        let (handler, mismatch) = Pinned::new(&who, &self.host.host_key);
        let mut h = hop.handshake(client::connect(client_config(), self.host.addr, handler), &mismatch, deadline).await?;
        let timed_out = || hop.connect_err(format!("timed out after {budget:?} (authentication)").into());
        // An RSA key signs with the best hash the server accepts (OpenSSH refuses SHA-1).
        let hash = if self.key.algorithm().is_rsa() {
            tokio::time::timeout_at(deadline, h.best_supported_rsa_hash()).await.map_err(|_| timed_out())?.ok().flatten().flatten()
        } else {
            None
        };
        let login = h.authenticate_publickey(self.host.user.clone(), PrivateKeyWithHashAlg::new(self.key.clone(), hash));
        let auth = tokio::time::timeout_at(deadline, login)
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| hop.connect_err(context("authentication exchange", e)))?;
        if !auth.success() {
            return Err(RemoteError::JumpAuth {
                jump: self.host.name.clone(),
                user: self.host.user.clone(),
                key: self.host.key_path.display().to_string(),
            });
        }
        Ok(h)
    }

    /// The shared connection, made (or remade, when closed) under the lock so concurrent nodes
    /// make one.
    async fn handle(&self, deadline: Instant, budget: Duration) -> Result<Arc<Handle<Pinned>>, RemoteError> {
        let waited = tokio::time::timeout_at(deadline, self.conn.lock()).await;
        let mut g = waited.map_err(|_| RemoteError::Connect {
            node: self.who(),
            addr: self.host.addr.to_string(),
            source: format!("timed out after {budget:?} (waiting for another node's connect)").into(),
        })?;
        if let Some(h) = g.as_ref().filter(|h| !h.is_closed()) {
            return Ok(h.clone());
        }
        *g = None;
        let h = Arc::new(self.connect(deadline, budget).await?);
        *g = Some(h.clone());
        Ok(h)
    }

    /// A `direct-tcpip` channel from the jump host to `t`'s sshd, until `deadline`. A refusal
    /// (nothing listens there yet) is `t`'s [`RemoteError::Connect`], saying through which
    /// jump host; the connection to the jump host stays (unless it broke).
    pub(super) async fn open_channel(
        &self,
        t: &SshTarget,
        deadline: Instant,
        budget: Duration,
    ) -> Result<russh::Channel<client::Msg>, RemoteError> {
        let h = self.handle(deadline, budget).await?;
        let node_err = |source: BoxError| RemoteError::Connect {
            node: t.node.clone(),
            addr: t.addr.to_string(),
            source: context(format!("direct-tcpip {}", self.via()), source),
        };
        // The originator is informational (sshd logs it).
        let open = h.channel_open_direct_tcpip(t.addr.ip().to_string(), u32::from(t.addr.port()), "127.0.0.1", 0);
        match tokio::time::timeout_at(deadline, open).await {
            Err(_) => Err(node_err(format!("timed out after {budget:?}").into())),
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(e @ russh::Error::ChannelOpenFailure(_))) => Err(node_err(e.into())),
            Ok(Err(e)) => {
                // The jump connection itself failed: the next attempt reconnects.
                let mut g = self.conn.lock().await;
                if g.as_ref().is_some_and(|c| Arc::ptr_eq(c, &h)) {
                    *g = None;
                }
                Err(node_err(e.into()))
            }
        }
    }
}

#[cfg(test)]
#[path = "jump_tests.rs"]
mod tests;
