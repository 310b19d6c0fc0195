//! Hermetic tests of the kube client path: an in-process API server (a tower service answering
//! by request line) for the typed probes, errors and waits; the recording fake shell with an
//! in-process TLS API server (CA generated here with rcgen) for the tunnel itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use super::*;
use crate::evidence::{self, BundleWriter, EvidenceSource, LiveEvidence, Probe, Target};
use crate::remote::ExecOutput;
use crate::remote::fake::{FakeShell, FakeTunnel};

const NODE0: &str = "ICE-k8s-machines-node0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The capture after the corpus header (`---` line), byte for byte.
fn real_capture(probe: &str, name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/real").join(probe).join(name)).unwrap();
    text.split_once("\n---\n").unwrap().1.to_string()
}

/// The stdout of a fact file of a recorded bundle.
pub(crate) fn bundle_stdout(bundle: &str, probe: &str) -> String {
    let p = repo().join("tests/fixtures/bundles").join(bundle).join("facts/cluster").join(format!("{probe}.json"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["stdout"].as_str().unwrap().to_string()
}

pub(crate) type Reply = (u16, ApiBody);
type Route = Arc<dyn Fn(&str, &str) -> Option<Reply> + Send + Sync>;

/// Every request the in-process server saw: (method, uri, body).
pub(crate) type Seen = Arc<Mutex<Vec<(String, String, Bytes)>>>;

pub(crate) fn full(body: impl Into<Bytes>) -> ApiBody {
    http_body_util::Full::new(body.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A body that sends `first` and then never ends (a watch that stays open).
pub(crate) fn open_stream(first: Option<String>) -> ApiBody {
    let head = futures::stream::iter(first.map(|s| Ok::<_, tower::BoxError>(hyper::body::Frame::data(Bytes::from(s)))));
    let rest = futures::stream::pending();
    http_body_util::StreamBody::new(futures::StreamExt::chain(head, rest)).boxed_unsync()
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":message,"reason":reason,"code":code})
        .to_string()
}

/// An in-process API server: `route(method, uri)` answers; anything else is a 404 Status.
pub(crate) fn server(route: impl Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static) -> (ClusterApi, Seen) {
    let route: Route = Arc::new(route);
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (route, seen) = (route.clone(), s2.clone());
        async move {
            let (method, uri) = (req.method().to_string(), req.uri().to_string());
            let body = req.into_body().collect().await?.to_bytes();
            seen.lock().unwrap().push((method.clone(), uri.clone(), body));
            let (code, body) = route(&method, &uri)
                .unwrap_or_else(|| (404, full(status_json(404, "NotFound", "the server could not find the requested resource"))));
            Ok::<_, tower::BoxError>(http::Response::builder().status(code).header("content-type", "application/json").body(body).unwrap())
        }
    });
    (ClusterApi::from_service(tower::util::BoxCloneSyncService::new(svc), "https://192.168.1.134:6443", NODE0), seen)
}

pub(crate) async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("the test did not finish in 20 s (a request nobody answered?)")
}

pub(crate) fn list(kind: &str, api_version: &str, items: &[&str]) -> String {
    format!(r#"{{"kind":"{kind}","apiVersion":"{api_version}","metadata":{{"resourceVersion":"1234"}},"items":[{}]}}"#, items.join(","))
}

#[tokio::test]
async fn kube_api_typed_probes_decode_upstream_1_23_objects_and_keep_the_raw_body() {
    // Items are k8s.io/api v1.23.0's own serialization (tests/fixtures/real, provenance in each
    // header); the List envelope around them is written here.
    let node = real_capture("k8s-nodes", "upstream-v1.23.0-roundtrip-node.txt");
    let csr = real_capture("k8s-csr", "upstream-v1.23.0-roundtrip-csr.txt");
    let nodes_body = list("NodeList", "v1", &[&node]);
    let csr_body = list("CertificateSigningRequestList", "certificates.k8s.io/v1", &[&csr]);
    let (nb, cb) = (nodes_body.clone(), csr_body.clone());
    let (api, seen) = server(move |m, u| match (m, u) {
        ("GET", "/api/v1/nodes?") => Some((200, full(nb.clone()))),
        ("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests?") => Some((200, full(cb.clone()))),
        _ => None,
    });
    let nodes = within(api.nodes()).await.unwrap();
    assert_eq!(nodes.raw, nodes_body, "the fact keeps the body byte for byte");
    assert_eq!(nodes.request, "GET /api/v1/nodes?");
    let n = &nodes.value.items[0];
    assert_eq!(n.metadata.name.as_deref(), Some("2"));
    let spec = n.spec.as_ref().unwrap();
    assert_eq!(spec.pod_cidr.as_deref(), Some("20"));
    assert_eq!(spec.taints.as_ref().unwrap()[0].key, "23");
    let st = n.status.as_ref().unwrap();
    assert_eq!(st.node_info.as_ref().unwrap().kubelet_version, "39");
    assert_eq!(st.conditions.as_ref().unwrap()[0].reason.as_deref(), Some("30"));
    assert_eq!(st.addresses.as_ref().unwrap()[0].address, "32");
    // 1.23-only fields (spec.externalID, spec.configSource, status.config) are ignored, not fatal.
    assert_eq!(wait::node_ready_summary(n), "no Ready condition");

    let csrs = within(api.csrs()).await.unwrap();
    assert_eq!(csrs.raw, csr_body);
    let c = &csrs.value.items[0];
    assert_eq!(c.spec.signer_name, "20");
    assert_eq!(c.spec.username.as_deref(), Some("21"));
    assert_eq!(c.spec.expiration_seconds, Some(1305381319));
    assert_eq!(c.status.as_ref().unwrap().certificate.as_ref().unwrap().0, b"}".to_vec(), "fQ== decodes to `}}`");
    assert_eq!(wait::csr_state(c), "issued");
    let uris: Vec<String> = seen.lock().unwrap().iter().map(|(m, u, _)| format!("{m} {u}")).collect();
    assert_eq!(uris, ["GET /api/v1/nodes?", "GET /apis/certificates.k8s.io/v1/certificatesigningrequests?"]);
}

/// Serves every cluster probe from a recorded bundle's fact stdout (kubectl-shaped JSON).
fn bundle_server(bundle: &'static str) -> (ClusterApi, Seen) {
    server(move |m, u| {
        if m != "GET" {
            return None;
        }
        let probe = match u {
            "/version" => "k8s-version",
            "/api/v1/nodes?" => "k8s-nodes",
            "/api/v1/namespaces/kube-system/pods?" => "k8s-pods-kube-system",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?" => "k8s-csr",
            "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io" => "k8s-apiservice-metrics",
            "/apis/metrics.k8s.io/v1beta1/nodes?" => "k8s-node-metrics",
            "/api/v1/namespaces/kube-system/configmaps/kube-proxy" => "k8s-kube-proxy-cm",
            "/api/v1/services?" => "k8s-services",
            _ => return None,
        };
        Some((200, full(bundle_stdout(bundle, probe))))
    })
}

fn guide_cfg() -> crate::config::LabConfig {
    crate::config::LabConfig { profile: crate::config::Profile::Guide, ..Default::default() }
}

#[tokio::test]
async fn kube_api_evidence_source_writes_the_same_fact_files_and_the_cluster_checks_agree() {
    let (api, seen) = bundle_server("guide-healthy");
    let shell = Arc::new(FakeShell::new());
    let live = Arc::new(LiveEvidence::new(shell.clone(), guide_cfg(), "ssh"));
    let source = ClusterApiEvidence::new(live, api);
    let tmp = tempfile::tempdir().unwrap();
    let mut w = BundleWriter::create(tmp.path().join("run"), &source.header(), "2022-05-01T00:00:00Z").unwrap();
    let cluster = |p: &Probe| p.scope == evidence::Scope::Cluster;
    let ev = within(evidence::gather(&source, &api_catalog(), &cluster, Some(&mut w))).await.unwrap();
    assert!(shell.calls().is_empty(), "no kubectl over SSH: {:?}", shell.calls());
    assert_eq!(seen.lock().unwrap().len(), API_PROBES.len());
    let dir = w.finish().unwrap();
    for id in API_PROBES {
        assert!(dir.join("facts/cluster").join(format!("{id}.json")).is_file(), "{id}");
    }
    let back = evidence::load_bundle(&dir).unwrap();
    let f = back.fact("k8s-nodes", &Target::Cluster).unwrap();
    assert_eq!(f.command, "GET /api/v1/nodes?");
    assert_eq!(f.output.stdout, bundle_stdout("guide-healthy", "k8s-nodes"));
    assert_eq!(ev.fact("k8s-nodes", &Target::Cluster).unwrap().origin.to_string(), "live via kube API over ssh direct-tcpip");
    for id in API_PROBES {
        let f = back.fact(id, &Target::Cluster).unwrap();
        assert_eq!(f.output.stdout, bundle_stdout("guide-healthy", id), "{id}: the body as served");
    }
    // The bundle's CSRs carry whole base64 CSRs and certificates (openssl-made, as a server
    // holds them): the typed decoder takes every body without objection.
    for id in API_PROBES {
        let f = back.fact(id, &Target::Cluster).unwrap();
        assert!(f.output.success() && f.output.stderr.is_empty(), "{id}: {:?}", f.output.stderr);
    }
    let csrs = csrs_from_fact(back.fact("k8s-csr", &Target::Cluster).unwrap()).unwrap();
    let pem = String::from_utf8(csrs[0].status.as_ref().unwrap().certificate.as_ref().unwrap().0.clone()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n") && pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
    let m = evidence::read_manifest(&dir).unwrap();
    assert!(m.provenance["facts/cluster/k8s-nodes.json"].contains("v1 NodeList (kube client)"), "{:?}", m.provenance);

    // The checks that read only cluster facts judge the kube-path facts as they judge the bundle's.
    let recorded = evidence::load_bundle(&repo().join("tests/fixtures/bundles/guide-healthy")).unwrap();
    let mut compared = 0;
    for (id, v) in crate::checks::run_all(&recorded) {
        let spec = crate::checks::spec(id).unwrap();
        let cat = evidence::ProbeCatalog::standard();
        if !spec.probes.iter().all(|p| cat.get(p).is_some_and(|p| p.scope == evidence::Scope::Cluster)) {
            continue;
        }
        let live_v = crate::checks::run(id, &back).unwrap();
        assert_eq!(std::mem::discriminant(&live_v.outcome), std::mem::discriminant(&v.outcome), "{id}: {live_v} vs {v}");
        compared += 1;
    }
    assert!(compared >= 8, "compared {compared} checks");
}

#[test]
fn kube_api_typed_accessors_read_every_recorded_bundle() {
    for b in ["guide-healthy", "strictarp-false", "kube-proxy-iptables", "csr-pending", "lb-no-ip", "node-notready"] {
        let ev = evidence::load_bundle(&repo().join("tests/fixtures/bundles").join(b)).unwrap();
        let f = |p| ev.fact(p, &Target::Cluster).unwrap();
        assert!(version_from_fact(f("k8s-version")).unwrap().git_version.starts_with("v1.23"), "{b}");
        assert_eq!(nodes_from_fact(f("k8s-nodes")).unwrap().len(), 3, "{b}");
        assert!(!pods_from_fact(f("k8s-pods-kube-system")).unwrap().is_empty(), "{b}");
        // Every CSR decodes, its certificate (when issued) whole.
        let csrs = csrs_from_fact(f("k8s-csr")).unwrap();
        assert_eq!(csrs.len(), 3, "{b}");
        for c in &csrs {
            let issued = c.status.as_ref().and_then(|s| s.certificate.as_ref()).map(|c| c.0.len());
            assert!(issued.is_none_or(|n| n > 500), "{b}: certificate of {n:?} bytes", n = issued);
        }
        apiservice_from_fact(f("k8s-apiservice-metrics")).unwrap();
        services_from_fact(f("k8s-services")).unwrap();
        let (_, kpc) = kube_proxy_config_from_fact(f("k8s-kube-proxy-cm")).unwrap();
        assert_eq!(kpc.kind.as_deref(), Some("KubeProxyConfiguration"), "{b}");
        match b {
            "strictarp-false" => assert!(kpc.strict_arp() == Some(false) && kpc.mode.as_deref() == Some("ipvs")),
            "kube-proxy-iptables" => assert_ne!(kpc.mode.as_deref(), Some("ipvs")),
            _ => assert!(kpc.strict_arp() == Some(true) && kpc.mode.as_deref() == Some("ipvs"), "{b}: {kpc:?}"),
        }
        let nm = f("k8s-node-metrics");
        if nm.output.success() {
            node_metrics_from_fact(nm).unwrap();
        } else {
            assert!(matches!(node_metrics_from_fact(nm), Err(FactDecodeError::Failed { .. })), "{b}");
        }
    }
    let ev = evidence::load_bundle(&repo().join("tests/fixtures/bundles/node-notready")).unwrap();
    let nodes = nodes_from_fact(ev.fact("k8s-nodes", &Target::Cluster).unwrap()).unwrap();
    assert_eq!(nodes.iter().filter(|n| !wait::node_is_ready(n)).count(), 1);
}

#[tokio::test]
async fn kube_api_401_403_404_are_distinct_errors_with_exit_codes() {
    let (api, _) = server(|_, u| match u {
        "/api/v1/nodes?" => Some((401, full(status_json(401, "Unauthorized", "Unauthorized")))),
        "/api/v1/services?" => Some((
            403,
            full(status_json(
                403,
                "Forbidden",
                "services is forbidden: User \"system:anonymous\" cannot list resource \"services\" in API group \"\" at the cluster scope",
            )),
        )),
        _ => None,
    });
    let e = within(api.nodes()).await.unwrap_err();
    assert!(matches!(e, ClusterApiError::Unauthorized { .. }), "{e:?}");
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_API_DENIED);
    assert_eq!(e.to_string(), "GET /api/v1/nodes?: 401 Unauthorized (the kubeconfig's client certificate was not accepted): Unauthorized");
    let e = within(api.services()).await.unwrap_err();
    assert!(matches!(e, ClusterApiError::Forbidden { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 49);
    assert!(e.to_string().contains("403 Forbidden: services is forbidden"), "{e}");
    let e = within(api.metrics_apiservice()).await.unwrap_err();
    assert!(matches!(e, ClusterApiError::NotFound { .. }), "{e:?}");
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_API_NOT_FOUND);
    assert_eq!(
        e.to_string(),
        "GET /apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io: 404 Not Found: the server could not find the requested resource"
    );

    // Through the evidence source a 404 is a failed fact (like kubectl's `Error from server
    // (NotFound)`), not a gap.
    let source = ClusterApiEvidence::new(Arc::new(LiveEvidence::new(Arc::new(FakeShell::new()), guide_cfg(), "ssh")), api);
    let ev = within(evidence::gather(&source, &api_catalog(), &|p| p.id == "k8s-apiservice-metrics", None)).await.unwrap();
    let f = ev.fact("k8s-apiservice-metrics", &Target::Cluster).unwrap();
    assert_eq!(f.output.exit_status, 1);
    assert!(f.output.stderr.contains("404 Not Found"), "{}", f.output.stderr);
    assert!(ev.gaps().is_empty());
}

#[tokio::test]
async fn kube_api_kube_proxy_configmap_parses_mode_and_strict_arp() {
    let (api, _) = bundle_server("strictarp-false");
    let p = within(api.kube_proxy_config()).await.unwrap();
    assert_eq!(p.value.1.mode.as_deref(), Some("ipvs"));
    assert_eq!(p.value.1.strict_arp(), Some(false));
    assert_eq!(p.value.1.api_version.as_deref(), Some("kubeproxy.config.k8s.io/v1alpha1"));
    assert_eq!(p.raw, bundle_stdout("strictarp-false", "k8s-kube-proxy-cm"));
    let (api, _) = bundle_server("guide-healthy");
    let v = within(api.version()).await.unwrap();
    assert_eq!(v.value.git_version, "v1.23.6");
    assert_eq!(v.request, "GET /version");
    let m = within(api.node_metrics()).await.unwrap();
    assert_eq!(m.value.items.len(), 3);
}

// ---- waits -------------------------------------------------------------------------------

pub(crate) fn node_json(name: &str, ready: bool) -> String {
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status. AppArmor enabled")
    } else {
        (
            "False",
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized",
        )
    };
    format!(
        r#"{{"metadata":{{"name":"{name}","resourceVersion":"{rv}"}},"status":{{"conditions":[{{"type":"Ready","status":"{status}","reason":"{reason}","message":"{message}"}}]}}}}"#,
        rv = if ready { 11 } else { 10 }
    )
}

#[tokio::test(start_paused = true)]
async fn kube_api_wait_nodes_ready_times_out_naming_what_it_last_saw() {
    let (api, _) = server(|_, u| {
        if u.starts_with("/api/v1/nodes?") && u.contains("watch=true") {
            Some((200, open_stream(None)))
        } else if u.starts_with("/api/v1/nodes?") {
            Some((200, full(list("NodeList", "v1", &[&node_json("ice-k8s-machines-node1", false)]))))
        } else {
            None
        }
    });
    let e = wait::nodes_ready(&api, &["ice-k8s-machines-node1".into()], Duration::from_secs(300)).await.unwrap_err();
    assert_eq!(e.exit_code(), crate::exit_codes::CLUSTER_WAIT_TIMEOUT);
    assert_eq!(
        e.to_string(),
        "timed out after 300 s waiting for node ice-k8s-machines-node1 to be Ready; last seen: Ready=False (KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized)"
    );
}

#[tokio::test]
async fn kube_api_wait_nodes_ready_follows_the_watch() {
    let (api, seen) = server(|_, u| {
        if u.starts_with("/api/v1/nodes?") && u.contains("watch=true") {
            let ev = format!("{{\"type\":\"MODIFIED\",\"object\":{}}}\n", node_json("ice-k8s-machines-node1", true));
            Some((200, open_stream(Some(ev))))
        } else if u.starts_with("/api/v1/nodes?") {
            Some((200, full(list("NodeList", "v1", &[&node_json("ice-k8s-machines-node1", false)]))))
        } else {
            None
        }
    });
    let nodes = within(wait::nodes_ready(&api, &["ice-k8s-machines-node1".into()], Duration::from_secs(30))).await.unwrap();
    assert!(wait::node_is_ready(&nodes[0]));
    let uris: Vec<String> = seen.lock().unwrap().iter().map(|(_, u, _)| u.clone()).collect();
    assert!(uris[0].contains("fieldSelector=metadata.name%3Dice-k8s-machines-node1"), "{uris:?}");
    assert!(uris.iter().any(|u| u.contains("watch=true")), "{uris:?}");
}

pub(crate) fn csr_json(name: &str, node: &str, state: &str) -> String {
    let status = match state {
        "pending" => "{}".to_string(),
        "issued" => r#"{"conditions":[{"type":"Approved","status":"True","reason":"KubelabApprove"}],"certificate":"fQ=="}"#.to_string(),
        _ => unreachable!(),
    };
    format!(
        r#"{{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{{"name":"{name}","resourceVersion":"5","creationTimestamp":"2022-05-01T10:00:00Z"}},"spec":{{"request":"OA==","signerName":"kubernetes.io/kubelet-serving","username":"system:node:{node}","usages":["digital signature","key encipherment","server auth"]}},"status":{status}}}"#
    )
}

#[tokio::test]
async fn kube_api_serving_csrs_are_approved_through_the_approval_subresource() {
    let approved = Arc::new(Mutex::new(false));
    let a2 = approved.clone();
    let (api, seen) = server(move |m, u| {
        let issued = *a2.lock().unwrap();
        let state = if issued { "issued" } else { "pending" };
        match (m, u) {
            ("GET", u) if u.starts_with("/apis/certificates.k8s.io/v1/certificatesigningrequests?") && u.contains("watch=true") => {
                Some((200, open_stream(None)))
            }
            ("GET", u) if u.starts_with("/apis/certificates.k8s.io/v1/certificatesigningrequests?") => Some((
                200,
                full(list(
                    "CertificateSigningRequestList",
                    "certificates.k8s.io/v1",
                    &[&csr_json("csr-7x2kq", "ice-k8s-machines-node1", state)],
                )),
            )),
            ("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-7x2kq") => {
                Some((200, full(csr_json("csr-7x2kq", "ice-k8s-machines-node1", "pending"))))
            }
            ("PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-7x2kq/approval?") => {
                *a2.lock().unwrap() = true;
                Some((200, full(csr_json("csr-7x2kq", "ice-k8s-machines-node1", "issued"))))
            }
            _ => None,
        }
    });
    let names = within(wait::approve_serving_csrs(&api, &["ice-k8s-machines-node1".into()], Duration::from_secs(30))).await.unwrap();
    assert_eq!(names, ["csr-7x2kq"]);
    assert!(*approved.lock().unwrap());
    let seen = seen.lock().unwrap();
    let (_, _, body) = seen.iter().find(|(m, _, _)| m == "PUT").expect("a PUT to /approval");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let c = &v["status"]["conditions"][0];
    assert_eq!((c["type"].as_str(), c["status"].as_str(), c["reason"].as_str()), (Some("Approved"), Some("True"), Some("KubelabApprove")));
}

#[tokio::test(start_paused = true)]
async fn kube_api_waits_for_apiservice_and_lb_ingress_name_the_last_state() {
    let (api, _) = server(|_, u| {
        if u.contains("watch=true") {
            return Some((200, open_stream(None)));
        }
        if u.starts_with("/apis/apiregistration.k8s.io/v1/apiservices?") {
            let a = r#"{"metadata":{"name":"v1beta1.metrics.k8s.io","resourceVersion":"3"},"spec":{"group":"metrics.k8s.io","version":"v1beta1","groupPriorityMinimum":100,"versionPriority":100,"service":{"name":"metrics-server","namespace":"kube-system"}},"status":{"conditions":[{"type":"Available","status":"False","reason":"MissingEndpoints","message":"endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}]}}"#;
            return Some((200, full(list("APIServiceList", "apiregistration.k8s.io/v1", &[a]))));
        }
        if u.starts_with("/api/v1/namespaces/default/services?") {
            let s = r#"{"metadata":{"name":"nginx","namespace":"default","resourceVersion":"4"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]},"status":{"loadBalancer":{}}}"#;
            return Some((200, full(list("ServiceList", "v1", &[s]))));
        }
        None
    });
    let e = wait::metrics_apiservice_available(&api, Duration::from_secs(180)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "timed out after 180 s waiting for APIService v1beta1.metrics.k8s.io to be Available; last seen: Available=False (MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\")"
    );
    let e = wait::lb_ingress_assigned(&api, "default", "nginx", Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "timed out after 60 s waiting for a LoadBalancer ingress IP for Service default/nginx; last seen: type LoadBalancer, no ingress (EXTERNAL-IP <pending>)"
    );
}

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
