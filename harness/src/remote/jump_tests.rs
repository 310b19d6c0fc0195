//! Tests of [`JumpHost::from_libvirt_uri`] and of [`RusshShell::through`] against in-process
//! sshds: a jump server forwarding `direct-tcpip` to guest servers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::remote::RemoteShell;
use crate::remote::russh_shell::{RusshShell, SshPolicy, fingerprint, parse_public_key};
use crate::remote::test_sshd::{TestSshd, forward};

/// A fresh ed25519 public key line (`ssh-ed25519 AAAA… comment`).
fn public_line(dir: &Path, name: &str) -> String {
    crate::seed::generate_ed25519(&dir.join(name), name).unwrap().1
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn config_err(uri: &str) -> String {
    match JumpHost::from_libvirt_uri(uri) {
        Err(e @ RemoteError::JumpConfig { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with(&format!("libvirt_uri `{uri}`: ")) && !text.contains('\n'), "{text}");
            text
        }
        other => panic!("{uri}: expected a JumpConfig error, got {other:?}"),
    }
}

#[test]
fn local_uris_have_no_jump_host() {
    for uri in [
        "qemu:///system",
        "qemu:///session",
        "test:///default",
        "qemu+unix:///system",
        "qemu+unix:///system?socket=/run/l.sock",
        "qemu+tcp://localhost/system",
    ] {
        assert!(JumpHost::from_libvirt_uri(uri).unwrap().is_none(), "{uri}");
    }
}

#[test]
fn an_ssh_uri_gives_the_host_user_port_key_and_the_pinned_key_from_known_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, other) = (public_line(tmp.path(), "ours"), public_line(tmp.path(), "other"));
    let kh = write(tmp.path(), "kh", &format!("# lab hosts\n10.255.3.20 {other}\nnot a known_hosts line\n10.255.3.2 {ours}\n"));
    let uri =
        format!("qemu+libssh://root@10.255.3.2/system?keyfile=/k&known_hosts={}&known_hosts_verify=normal&sshauth=privkey", kh.display());
    let j = JumpHost::from_libvirt_uri(&uri).unwrap().expect("a jump host");
    assert_eq!(
        (j.name.as_str(), j.addr, j.user.as_str(), j.key_path.as_path()),
        ("10.255.3.2", "10.255.3.2:22".parse().unwrap(), "root", Path::new("/k"))
    );
    assert_eq!(j.host_key, parse_public_key(&ours).unwrap());
    // No user: root. qemu+ssh works the same.
    let uri = format!("qemu+ssh://10.255.3.2/system?keyfile=/k&known_hosts={}", kh.display());
    assert_eq!(JumpHost::from_libvirt_uri(&uri).unwrap().unwrap().user, "root");
}

#[test]
fn a_port_in_the_uri_selects_the_bracketed_entry_and_values_are_percent_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let (on22, on2222) = (public_line(tmp.path(), "on22"), public_line(tmp.path(), "on2222"));
    let kh = write(tmp.path(), "known hosts", &format!("10.255.3.2 {on22}\n[10.255.3.2]:2222 {on2222}\n"));
    let kh_arg = kh.display().to_string().replace(' ', "%20");
    let uri = format!("qemu+libssh2://ad%6Din@10.255.3.2:2222/system?keyfile=%2Fhome%2Fa%20b%2Fk+1&known_hosts={kh_arg}");
    let j = JumpHost::from_libvirt_uri(&uri).unwrap().unwrap();
    assert_eq!((j.addr.port(), j.user.as_str(), j.key_path.as_path()), (2222, "admin", Path::new("/home/a b/k+1")));
    assert_eq!(j.host_key, parse_public_key(&on2222).unwrap());
    // Without the bracketed entry, port 2222 has no key (the plain entry is port 22's).
    let kh22 = write(tmp.path(), "kh22", &format!("10.255.3.2 {on22}\n"));
    let text = config_err(&format!("qemu+libssh://10.255.3.2:2222/system?keyfile=/k&known_hosts={}", kh22.display()));
    assert!(text.contains("no key for `[10.255.3.2]:2222`") && text.contains("ssh-keyscan -p 2222 10.255.3.2"), "{text}");
}

#[test]
fn hashed_and_wildcard_entries_match_and_revoked_keys_do_not() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let hashed = |name: &str| {
        let salt = b"0123456789abcdefghij";
        let mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap().chain_update(name.as_bytes()).finalize().into_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("|1|{}|{}", b64.encode(salt), b64.encode(mac))
    };
    let (k1, k2, k3) = (public_line(tmp.path(), "k1"), public_line(tmp.path(), "k2"), public_line(tmp.path(), "k3"));
    let kh = write(tmp.path(), "kh", &format!("{} {k1}\n{} {k2}\n10.255.4.* {k3}\n", hashed("10.255.3.9"), hashed("10.255.3.2")));
    let key_of = |host: &str| {
        let uri = format!("qemu+libssh://{host}/system?keyfile=/k&known_hosts={}", kh.display());
        JumpHost::from_libvirt_uri(&uri).unwrap().unwrap().host_key
    };
    assert_eq!(key_of("10.255.3.2"), parse_public_key(&k2).unwrap());
    assert_eq!(key_of("10.255.4.7"), parse_public_key(&k3).unwrap());
    let revoked = write(tmp.path(), "revoked", &format!("10.255.3.2 {k1}\n@revoked * {k1}\n"));
    let text = config_err(&format!("qemu+libssh://10.255.3.2/system?keyfile=/k&known_hosts={}", revoked.display()));
    assert!(text.contains("no key for `10.255.3.2`"), "{text}");
}

#[test]
fn missing_parameters_or_entries_are_errors_naming_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let kh = write(tmp.path(), "kh", &format!("10.255.3.2 {}\n", public_line(tmp.path(), "k")));
    let kh = kh.display();
    let text = config_err(&format!("qemu+libssh://root@10.255.3.2/system?known_hosts={kh}"));
    assert!(text.contains("no keyfile= parameter; add keyfile=<private key that logs in as root on 10.255.3.2>"), "{text}");
    let text = config_err("qemu+libssh://root@10.255.3.2/system?keyfile=/k");
    assert!(
        text.contains("no known_hosts= parameter; add known_hosts=<OpenSSH known_hosts file with the host key of 10.255.3.2>"),
        "{text}"
    );
    let text = config_err(&format!("qemu+libssh://root@10.255.3.9/system?keyfile=/k&known_hosts={kh}"));
    assert!(
        text.contains(&format!("no key for `10.255.3.9` in the known_hosts= file {kh}; add it (`ssh-keyscan -p 22 10.255.3.9 >> {kh}`")),
        "{text}"
    );
    let gone = tmp.path().join("gone");
    let uri = format!("qemu+libssh://root@10.255.3.2/system?keyfile=/k&known_hosts={}", gone.display());
    let text = config_err(&uri);
    assert!(
        text.contains(&format!("cannot read the known_hosts= file {}", gone.display())) && text.contains("point known_hosts= at"),
        "{text}"
    );
    let e = JumpHost::from_libvirt_uri(&uri).unwrap_err();
    assert!(std::error::Error::source(&e).is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()), "{e:?}");
    let text = config_err("qemu+tcp://10.255.3.2/system");
    assert!(text.contains("over tcp, not ssh; use qemu+libssh://"), "{text}");
}

/// A jump sshd in front of `n` guest sshds: guest `i` is `node{i}` at `192.168.77.1{i}:22`,
/// which the jump forwards to the guest's real 127.0.0.1 port.
struct Lab {
    tmp: tempfile::TempDir,
    jump: TestSshd,
    guests: Vec<TestSshd>,
    client: PathBuf,
}

fn guest_addr(i: usize) -> std::net::SocketAddr {
    format!("192.168.77.1{i}:22").parse().unwrap()
}

async fn lab(n: usize) -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let client = tmp.path().join("client");
    crate::seed::generate_ed25519(&client, "lab").unwrap();
    let mut guests = Vec::new();
    for i in 0..n {
        // Each guest serves `pong` on 6443 (the kube API) and refuses every other port.
        let serve = |_: &str, port, mut s: russh::ChannelStream<russh::server::Msg>| {
            port == 6443 && {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt as _;
                    let _ = s.write_all(b"pong").await;
                    let _ = s.shutdown().await;
                });
                true
            }
        };
        guests.push(TestSshd::start_for(&tmp.path().join(format!("g{i}")), &client, serve).await);
    }
    let routes = guests.iter().enumerate().map(|(i, g)| ((guest_addr(i).ip().to_string(), 22), g.addr())).collect();
    let jump = TestSshd::start(&tmp.path().join("jump"), forward(routes)).await;
    Lab { tmp, jump, guests, client }
}

impl Lab {
    fn jump_host(&self) -> JumpHost {
        JumpHost {
            name: "10.255.3.2".into(),
            addr: self.jump.addr(),
            user: "root".into(),
            host_key: self.jump.host_key().clone(),
            key_path: self.jump.client_key_path().to_path_buf(),
        }
    }

    /// The shell to `n` nodes (node `i` pinned to `keys[i]`) through `jump`.
    fn shell(&self, keys: &[PublicKey], jump: JumpHost, policy: SshPolicy) -> RusshShell {
        let targets = (0..keys.len())
            .map(|i| SshTarget { node: format!("node{i}"), addr: guest_addr(i), user: "root".into(), host_key: keys[i].clone() })
            .collect();
        RusshShell::new(targets, &self.client, policy).unwrap().through(jump).unwrap()
    }

    fn guest_keys(&self) -> Vec<PublicKey> {
        self.guests.iter().map(|g| g.host_key().clone()).collect()
    }
}

fn quick() -> SshPolicy {
    SshPolicy { attempts: 3, backoff: Duration::from_millis(100), connect_timeout: Duration::from_secs(10), ..SshPolicy::default() }
}

#[tokio::test]
async fn commands_run_on_guests_reached_only_through_one_jump_connection() {
    let lab = lab(2).await;
    let shell = lab.shell(&lab.guest_keys(), lab.jump_host(), SshPolicy::default());
    let run = async {
        for round in 0..3 {
            for (i, g) in lab.guests.iter().enumerate() {
                let script = format!("echo {round}");
                let out = shell.run(&format!("node{i}"), &script).await.unwrap();
                // The answer of that guest's server (its host key), to that script.
                assert_eq!(out.stdout, format!("{}:{script}", fingerprint(g.host_key())));
                assert!(out.success());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), run).await.expect("within 30 s");
    assert_eq!(lab.jump.connections(), 1, "one connection to the jump host for all nodes");
    assert_eq!(lab.jump.opened(), [("192.168.77.10".to_string(), 22), ("192.168.77.11".to_string(), 22)]);
    assert_eq!(lab.guests.iter().map(TestSshd::connections).collect::<Vec<_>>(), [1, 1], "one session per guest");
    // Forgetting a node drops its session only; the jump connection stays.
    shell.forget("node0").await;
    shell.run("node0", "true").await.unwrap();
    assert_eq!((lab.jump.connections(), lab.guests[0].connections(), lab.jump.opened().len()), (1, 2, 3));
    // A kube API tunnel from node0 runs inside node0's session, inside the jump's channel.
    let mut t = shell.open_direct_tcpip("node0", "192.168.77.10", 6443).await.unwrap();
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut t, &mut back).await.unwrap();
    assert_eq!(back, b"pong");
    let e = shell.open_direct_tcpip("node0", "192.168.77.10", 6444).await.err().expect("the guest refuses 6444");
    assert!(matches!(&e, RemoteError::Tunnel { node, .. } if node == "node0"), "{e:?}");
    assert_eq!(lab.guests[0].opened(), [("192.168.77.10".to_string(), 6443), ("192.168.77.10".to_string(), 6444)]);
    assert_eq!((lab.jump.connections(), lab.guests[0].connections(), lab.jump.opened().len()), (1, 2, 3), "no new connections");
}

#[tokio::test]
async fn a_jump_host_with_another_key_is_a_mismatch_naming_it_and_not_retried() {
    let lab = lab(1).await;
    let other = parse_public_key(&public_line(lab.tmp.path(), "impostor")).unwrap();
    let jump = JumpHost { host_key: other, ..lab.jump_host() };
    let shell = lab.shell(&lab.guest_keys(), jump, SshPolicy { backoff: Duration::from_secs(5), ..quick() });
    let t0 = std::time::Instant::now();
    let e = shell.run("node0", "true").await.unwrap_err();
    assert!(
        matches!(&e, RemoteError::HostKeyMismatch { node, found, .. } if node == "jump host 10.255.3.2" && *found == fingerprint(lab.jump.host_key())),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("host key of jump host 10.255.3.2 changed"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "no backoff sleep: {:?}", t0.elapsed());
    assert_eq!((lab.jump.connections(), lab.jump.opened().len(), lab.guests[0].connections()), (1, 0, 0));
}

#[tokio::test]
async fn a_guest_with_another_key_behind_the_jump_is_a_mismatch_naming_the_node() {
    let lab = lab(1).await;
    let other = parse_public_key(&public_line(lab.tmp.path(), "impostor")).unwrap();
    let shell = lab.shell(&[other], lab.jump_host(), SshPolicy { backoff: Duration::from_secs(5), ..quick() });
    let t0 = std::time::Instant::now();
    let e = shell.run("node0", "true").await.unwrap_err();
    assert!(
        matches!(&e, RemoteError::HostKeyMismatch { node, found, .. } if node == "node0" && *found == fingerprint(lab.guests[0].host_key())),
        "{e:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "no backoff sleep: {:?}", t0.elapsed());
    assert_eq!((lab.jump.connections(), lab.guests[0].connections()), (1, 1));
}

#[tokio::test]
async fn a_refused_channel_names_the_node_and_the_jump_host_and_is_retried() {
    // Two nodes configured, one guest behind the jump: nothing answers at node1's address.
    let lab = lab(1).await;
    let mut keys = lab.guest_keys();
    keys.push(keys[0].clone());
    let shell = lab.shell(&keys, lab.jump_host(), quick());
    let e = tokio::time::timeout(Duration::from_secs(30), shell.run("node1", "true")).await.expect("in time").unwrap_err();
    assert!(matches!(&e, RemoteError::Connect { node, addr, .. } if node == "node1" && addr == "192.168.77.11:22"), "{e:?}");
    let text = crate::errors::error_chain(&e);
    assert!(text.starts_with("cannot reach node1 at 192.168.77.11:22 over ssh: direct-tcpip through jump host 10.255.3.2: "), "{text}");
    assert_eq!(lab.jump.opened(), vec![("192.168.77.11".to_string(), 22); 3], "policy.attempts channel opens");
    assert_eq!(lab.jump.connections(), 1, "the refusals kept the jump connection");
    // The jump still carries the node that is up.
    assert!(shell.run("node0", "true").await.unwrap().success());
}

#[tokio::test]
async fn an_unreachable_jump_host_is_a_connect_error_naming_its_address() {
    let lab = lab(1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let shell = lab.shell(&lab.guest_keys(), JumpHost { addr: closed, ..lab.jump_host() }, quick());
    let t0 = std::time::Instant::now();
    let e = shell.run("node0", "true").await.unwrap_err();
    assert!(
        matches!(&e, RemoteError::Connect { node, addr, .. } if node == "jump host 10.255.3.2" && *addr == closed.to_string()),
        "{e:?}"
    );
    assert!(e.to_string().starts_with(&format!("cannot reach jump host 10.255.3.2 at {closed} over ssh: ")), "{e}");
    // Retried: three attempts, sleeps of 0.1 and 0.2 s.
    assert!(t0.elapsed() >= Duration::from_millis(300), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_jump_key_the_host_refuses_is_a_jump_auth_error() {
    let lab = lab(1).await;
    // The lab's node key is not authorized on the jump host.
    let shell = lab.shell(&lab.guest_keys(), JumpHost { key_path: lab.client.clone(), ..lab.jump_host() }, quick());
    let e = shell.run("node0", "true").await.unwrap_err();
    assert!(matches!(&e, RemoteError::JumpAuth { jump, user, .. } if jump == "10.255.3.2" && user == "root"), "{e:?}");
    assert_eq!(lab.jump.connections(), 1, "not retried");
}
