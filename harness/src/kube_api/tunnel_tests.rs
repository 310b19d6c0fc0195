//! kube_api tests of the transport: TLS against the kubeconfig CA over the fake shell's
//! tunnels and over a real in-process russh sshd, refused tunnels, key redaction, CSR approval
//! requests, probe timeouts.

use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use super::tests::*;
use super::*;
use crate::errors::error_chain;
use crate::evidence::{self, LiveEvidence, Target};
use crate::remote::ExecOutput;
use crate::remote::fake::{FakeShell, FakeTunnel};

// ---- the tunnel ---------------------------------------------------------------------------

struct Pki {
    ca_pem: String,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
    client_cert_pem: String,
    client_key_pem: String,
}

/// A kubeadm-like PKI: CA `kubernetes`, apiserver cert with kubeadm's SANs for `server_ip`,
/// client cert `kubernetes-admin` (O=system:masters).
fn pki(server_ip: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "kubernetes");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let sans = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "ice-k8s-machines-node0",
        "10.96.0.1",
        server_ip,
    ];
    let mut sp = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    sp.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    let skey = KeyPair::generate().unwrap();
    let scert = sp.signed_by(&skey, &ca).unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name.push(DnType::CommonName, "kubernetes-admin");
    cp.distinguished_name.push(DnType::OrganizationName, "system:masters");
    let ckey = KeyPair::generate().unwrap();
    let ccert = cp.signed_by(&ckey, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_chain: vec![scert.der().clone()],
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(skey.serialize_der().into()),
        client_cert_pem: ccert.pem(),
        client_key_pem: ckey.serialize_pem(),
    }
}

fn kubeconfig(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nkind: Config\npreferences: {{}}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b(ca_pem),
        b(cert_pem),
        b(key_pem)
    )
}

fn tls_acceptor(server: &Pki, client_ca: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsAcceptor {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.server_chain.clone(), server.server_key.clone_key())
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// HTTP/1.1 over TLS on `stream`: requires a client certificate from the acceptor's client CA,
/// answers `GET /api/v1/nodes?` with `body` (anything else 404), records request lines.
fn spawn_tls_api<S>(acceptor: tokio_rustls::TlsAcceptor, stream: S, lines: Arc<Mutex<Vec<String>>>, body: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let Ok(mut tls) = acceptor.accept(stream).await else {
            return;
        };
        loop {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                if tls.read(&mut b).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(b[0]);
            }
            let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
            lines.lock().unwrap().push(line.clone());
            let (code, body) = if line.starts_with("GET /api/v1/nodes? ") {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", status_json(404, "NotFound", "not here"))
            };
            let resp = format!("HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            if tls.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    });
}

/// The fake shell serves [`spawn_tls_api`] on every tunnel to 192.168.1.134:6443.
fn serve_api_over_tunnels(
    shell: &FakeShell,
    server: &Pki,
    client_ca: rustls::pki_types::CertificateDer<'static>,
    nodes_body: String,
) -> Arc<Mutex<Vec<String>>> {
    let acceptor = tls_acceptor(server, client_ca);
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = lines.clone();
    shell.serve_tunnels(move |t: &FakeTunnel, stream| {
        if (t.host.as_str(), t.port) != ("192.168.1.134", 6443) {
            return Err("Connect failed".into());
        }
        spawn_tls_api(acceptor.clone(), stream, l2.clone(), nodes_body.clone());
        Ok(())
    });
    lines
}

fn shell_with_kubeconfig(kc: String) -> Arc<FakeShell> {
    let shell = Arc::new(FakeShell::new());
    shell.on(NODE0, "cat /etc/kubernetes/admin.conf", ExecOutput::ok(kc));
    shell
}

#[tokio::test]
async fn kube_api_client_goes_through_the_ssh_tunnel_to_node0_6443_with_verified_tls() {
    let pki = pki("192.168.1.134");
    let shell = shell_with_kubeconfig(kubeconfig("https://192.168.1.134:6443", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem));
    let body = list("NodeList", "v1", &[&node_json("ice-k8s-machines-node0", true)]);
    let lines = serve_api_over_tunnels(&shell, &pki, pki.ca_der.clone(), body.clone());
    let api = within(ClusterApi::connect(shell.clone(), NODE0)).await.unwrap();
    let nodes = within(api.nodes()).await.unwrap();
    assert_eq!(nodes.raw, body);
    assert!(wait::node_is_ready(&nodes.value.items[0]));
    assert_eq!(shell.tunnels(), [FakeTunnel { node: NODE0.into(), host: "192.168.1.134".into(), port: 6443 }]);
    assert_eq!(*lines.lock().unwrap(), ["GET /api/v1/nodes? HTTP/1.1"]);
    // The only command over SSH was reading the kubeconfig.
    let calls: Vec<String> = shell.calls().into_iter().map(|c| c.script).collect();
    assert_eq!(calls, ["cat /etc/kubernetes/admin.conf"]);
    // A second request reuses the pooled tunnel.
    within(api.nodes()).await.unwrap();
    assert_eq!(shell.tunnels().len(), 1);
}

#[tokio::test]
async fn kube_api_certificate_from_another_ca_is_refused_with_exit_48() {
    let lab = pki("192.168.1.134");
    let impostor = pki("192.168.1.134");
    let shell = shell_with_kubeconfig(kubeconfig("https://192.168.1.134:6443", &lab.ca_pem, &lab.client_cert_pem, &lab.client_key_pem));
    serve_api_over_tunnels(&shell, &impostor, lab.ca_der.clone(), "{}".into());
    let api = within(ClusterApi::connect(shell.clone(), NODE0)).await.unwrap();
    let e = within(api.nodes()).await.unwrap_err();
    assert!(matches!(e, ClusterApiError::Certificate { .. }), "{e:?}");
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_API_CERTIFICATE);
    let chain = error_chain(&e);
    assert!(chain.starts_with("GET /api/v1/nodes?: refusing the API server https://192.168.1.134:6443/: the API server's certificate is not valid for `192.168.1.134` under the kubeconfig's certificate-authority-data: invalid peer certificate"), "{chain}");
}

#[tokio::test]
async fn kube_api_certificate_without_the_servers_address_is_refused() {
    // The kubeconfig names an address the certificate does not carry.
    let pki = pki("192.168.1.200");
    let shell = shell_with_kubeconfig(kubeconfig("https://192.168.1.134:6443", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem));
    serve_api_over_tunnels(&shell, &pki, pki.ca_der.clone(), "{}".into());
    let api = within(ClusterApi::connect(shell.clone(), NODE0)).await.unwrap();
    let e = within(api.nodes()).await.unwrap_err();
    assert_eq!(e.exit_code(), 48, "{e:?}");
    assert!(error_chain(&e).contains("certificate not valid for name \"192.168.1.134\""), "{}", error_chain(&e));
}

#[tokio::test]
async fn kube_api_refused_tunnel_is_unreachable_with_exit_47() {
    let pki = pki("192.168.1.134");
    // No tunnel server: the fake answers like sshd when nothing listens on 6443.
    let shell = shell_with_kubeconfig(kubeconfig("https://192.168.1.134:6443", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem));
    let api = within(ClusterApi::connect(shell.clone(), NODE0)).await.unwrap();
    let e = within(api.version()).await.unwrap_err();
    assert!(matches!(e, ClusterApiError::Unreachable { .. }), "{e:?}");
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_API_UNREACHABLE);
    assert_eq!(
        error_chain(&e),
        "GET /version: the API server https://192.168.1.134:6443/ is unreachable through ICE-k8s-machines-node0: cannot open the tunnel to the API server: cannot open a tunnel from ICE-k8s-machines-node0 to 192.168.1.134:6443: Connect failed (nothing listens there)"
    );
    assert_eq!(shell.tunnels().len(), 1);

    // Through the evidence source a refused tunnel is a gap with that reason.
    let source = ClusterApiEvidence::new(Arc::new(LiveEvidence::new(shell.clone(), guide_cfg(), "ssh")), api);
    let ev = within(evidence::gather(&source, &api_catalog(), &|p| p.id == "k8s-version", None)).await.unwrap();
    assert!(ev.missing_reason("k8s-version", &Target::Cluster).contains("Connect failed"));
}

#[tokio::test]
async fn kube_api_kubeconfig_keys_never_show_in_debug_or_errors() {
    let pki = pki("192.168.1.134");
    let kc = kubeconfig("https://192.168.1.134:6443", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem);
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(&pki.client_key_pem);
    let shell = shell_with_kubeconfig(kc.clone());
    let parsed = AdminKubeconfig::fetch(shell.as_ref(), NODE0, ADMIN_KUBECONFIG).await.unwrap();
    let dbg = format!("{parsed:?}");
    assert!(dbg.contains("https://192.168.1.134:6443") && dbg.contains("<redacted>"), "{dbg}");
    assert_eq!(parsed.verify_name(), "192.168.1.134");
    let api = ClusterApi::over_ssh(shell.clone(), &parsed).unwrap();
    for text in [dbg, format!("{api:?}")] {
        assert!(!text.contains(&key_b64[..40]) && !text.contains("PRIVATE KEY"), "{text}");
    }
    // A kubeconfig whose key is garbage: the error names the file, never its contents.
    let broken = kc.replace(
        &key_b64,
        &base64::engine::general_purpose::STANDARD.encode("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"),
    );
    let e = match AdminKubeconfig::from_yaml(NODE0, ADMIN_KUBECONFIG, &broken).await {
        Ok(kc) => ClusterApi::over_ssh(shell.clone(), &kc).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.exit_code(), crate::exit_codes::KUBECONFIG_INVALID);
    let chain = error_chain(&e);
    assert!(chain.starts_with("the kubeconfig /etc/kubernetes/admin.conf on ICE-k8s-machines-node0 is not usable"), "{chain}");
    assert!(!chain.contains("not a key") && !chain.contains(&key_b64[..40]), "{chain}");
    // A node without the kubeconfig: `cat`'s stderr, exit code 54.
    let shell = Arc::new(FakeShell::new());
    shell.on(
        NODE0,
        "cat /etc/kubernetes/admin.conf",
        ExecOutput::failed(1, "cat: /etc/kubernetes/admin.conf: No such file or directory\n"),
    );
    let e = ClusterApi::connect(shell, NODE0).await.unwrap_err();
    assert_eq!(e.exit_code(), 54);
    assert_eq!(
        e.to_string(),
        "cannot read the kubeconfig /etc/kubernetes/admin.conf on ICE-k8s-machines-node0: exit 1: cat: /etc/kubernetes/admin.conf: No such file or directory"
    );
}

#[tokio::test]
async fn kube_api_approve_csr_is_get_then_put_approval_like_kubectl() {
    // kube-rs's own pattern: a tower_test mock handle plays the API server, one request at a
    // time, asserting each request as it comes.
    let (svc, handle) = tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<ApiBody>>();
    let api = ClusterApi::from_service(tower::util::BoxCloneSyncService::new(svc), "https://192.168.1.134:6443", NODE0);
    let verifier = tokio::spawn(async move {
        let mut handle = std::pin::pin!(handle);
        let (req, send) = handle.next_request().await.expect("GET");
        assert_eq!(
            (req.method().as_str(), req.uri().to_string().as_str()),
            ("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-7x2kq")
        );
        send.send_response(http::Response::new(full(csr_json("csr-7x2kq", "ice-k8s-machines-node2", "pending"))));
        let (req, send) = handle.next_request().await.expect("PUT");
        assert_eq!(
            (req.method().as_str(), req.uri().to_string().as_str()),
            ("PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-7x2kq/approval?")
        );
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["spec"]["username"], "system:node:ice-k8s-machines-node2", "the object as read, with the condition appended");
        assert_eq!(v["status"]["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(v["status"]["conditions"][0]["type"], "Approved");
        send.send_response(http::Response::new(full(csr_json("csr-7x2kq", "ice-k8s-machines-node2", "issued"))));
    });
    let csr = within(wait::approve_csr(&api, "csr-7x2kq")).await.unwrap();
    assert_eq!(wait::csr_state(&csr), "issued");
    within(verifier).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn kube_api_probe_without_an_answer_is_unreachable_after_60_s() {
    let (api, _) = server(|_, u| (u == "/api/v1/nodes?").then(|| (200, open_stream(None))));
    let e = api.nodes().await.unwrap_err();
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_API_UNREACHABLE);
    assert_eq!(
        error_chain(&e),
        "GET /api/v1/nodes?: the API server https://192.168.1.134:6443 is unreachable through ICE-k8s-machines-node0: no answer within 60 s"
    );
}

#[tokio::test]
async fn kube_api_client_over_a_real_russh_tunnel_to_an_in_process_api_server() {
    // The whole transport but the VM: RusshShell → in-process russh sshd → direct-tcpip channel
    // → rustls → HTTP/1.1 API server, with the kubeconfig's CA and client certificate.
    let pki = pki("192.168.1.134");
    let acceptor = tls_acceptor(&pki, pki.ca_der.clone());
    let body = list("NodeList", "v1", &[&node_json("ice-k8s-machines-node0", true)]);
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let (l2, b2) = (lines.clone(), body.clone());
    let tmp = tempfile::tempdir().unwrap();
    let sshd = crate::remote::test_sshd::TestSshd::start(tmp.path(), move |host, port, stream| {
        if (host, port) != ("192.168.1.134", 6443) {
            return false;
        }
        spawn_tls_api(acceptor.clone(), stream, l2.clone(), b2.clone());
        true
    })
    .await;
    let shell: Arc<dyn crate::remote::RemoteShell> = Arc::new(sshd.shell(NODE0));
    let kc = kubeconfig("https://192.168.1.134:6443", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem);
    let kc = AdminKubeconfig::from_yaml(NODE0, ADMIN_KUBECONFIG, &kc).await.unwrap();
    let api = ClusterApi::over_ssh(shell, &kc).unwrap();
    let nodes = within(api.nodes()).await.unwrap();
    assert_eq!(nodes.raw, body);
    within(api.nodes()).await.unwrap();
    assert_eq!(*lines.lock().unwrap(), ["GET /api/v1/nodes? HTTP/1.1", "GET /api/v1/nodes? HTTP/1.1"]);
    assert_eq!(sshd.opened(), [("192.168.1.134".to_string(), 6443)], "one pooled tunnel");
    assert_eq!(sshd.connections(), 1);
    // A refused destination through the real sshd is exit 47 as well.
    let other = kubeconfig("https://192.168.1.134:6444", &pki.ca_pem, &pki.client_cert_pem, &pki.client_key_pem);
    let other = AdminKubeconfig::from_yaml(NODE0, ADMIN_KUBECONFIG, &other).await.unwrap();
    let shell: Arc<dyn crate::remote::RemoteShell> = Arc::new(sshd.shell(NODE0));
    let e = within(ClusterApi::over_ssh(shell, &other).unwrap().version()).await.unwrap_err();
    assert_eq!(e.exit_code(), 47, "{}", error_chain(&e));
}
