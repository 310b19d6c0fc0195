//! Hermetic tests of the kube client path: an in-process API server (a tower service answering
//! by request line) for the typed probes, errors and waits; the recording fake shell with an
//! in-process TLS API server (CA generated here with rcgen) for the tunnel itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::*;
use crate::evidence::{self, BundleWriter, EvidenceSource, LiveEvidence, Probe, Target};
use crate::remote::fake::FakeShell;

pub(crate) const NODE0: &str = "ICE-k8s-machines-node0";

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The capture after the corpus header (`---` line), byte for byte.
pub(crate) fn real_capture(probe: &str, name: &str) -> String {
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
pub(crate) type Route = Arc<dyn Fn(&str, &str) -> Option<Reply> + Send + Sync>;

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

pub(crate) fn status_json(code: u16, reason: &str, message: &str) -> String {
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

pub(crate) fn guide_cfg() -> crate::config::LabConfig {
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
