//! Waiting for the guide's cluster milestones with kube-runtime (`await_condition`, watchers),
//! each bounded by a timeout whose error names what was awaited and what was last seen:
//! nodes Ready, kubelet-serving CSRs present (and their approval through the `approval`
//! subresource), the metrics APIService Available, a LoadBalancer ingress IP assigned.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

use super::client::ClusterApi;
use super::error::ClusterApiError;
use super::probes::METRICS_APISERVICE;

/// The signer of kubelet serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";

type LastSeen = Arc<Mutex<String>>;

fn seen(l: &LastSeen) -> String {
    l.lock().expect("poisoned").clone()
}

/// Waits until the object `name` satisfies `ok`; `describe` says what each observed version
/// looked like (the timeout error quotes the last).
async fn await_named<K>(
    api: Api<K>,
    name: &str,
    awaited: String,
    timeout: Duration,
    ok: impl Fn(&K) -> bool + Send + Sync + 'static,
    describe: impl Fn(&K) -> String + Send + Sync + 'static,
) -> Result<K, ClusterApiError>
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let last: LastSeen = Arc::new(Mutex::new("nothing (no answer from the API server yet)".into()));
    let l = last.clone();
    let cond = move |o: Option<&K>| {
        let (text, done) = match o {
            None => ("the object does not exist".to_string(), false),
            Some(k) => (describe(k), ok(k)),
        };
        *l.lock().expect("poisoned") = text;
        done
    };
    match tokio::time::timeout(timeout, await_condition(api, name, cond)).await {
        Err(_) => Err(ClusterApiError::WaitTimeout { awaited, secs: timeout.as_secs(), last_seen: seen(&last) }),
        Ok(Err(e)) => Err(ClusterApiError::Watch { awaited, last_seen: seen(&last), source: Box::new(e) }),
        Ok(Ok(Some(k))) => Ok(k),
        Ok(Ok(None)) => Err(ClusterApiError::WaitTimeout { awaited, secs: timeout.as_secs(), last_seen: seen(&last) }),
    }
}

/// The Ready condition of a node: `Ready=True`, or `Ready=False (KubeletNotReady: …)`.
pub fn node_ready_summary(n: &Node) -> String {
    let c = n.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match c {
        None => "no Ready condition".into(),
        Some(c) if c.status == "True" => "Ready=True".into(),
        Some(c) => format!("Ready={} ({}: {})", c.status, c.reason.as_deref().unwrap_or("-"), c.message.as_deref().unwrap_or("-")),
    }
}

/// Whether the node's Ready condition is True.
pub fn node_is_ready(n: &Node) -> bool {
    node_ready_summary(n) == "Ready=True"
}

/// Waits until every node in `names` (Kubernetes node names: lowercased hostnames) is Ready.
pub async fn nodes_ready(api: &ClusterApi, names: &[String], timeout: Duration) -> Result<Vec<Node>, ClusterApiError> {
    let waits = names.iter().map(|n| {
        await_named(Api::<Node>::all(api.client()), n, format!("node {n} to be Ready"), timeout, node_is_ready, node_ready_summary)
    });
    futures::future::try_join_all(waits).await
}

/// What a CSR looks like: `pending`, `approved`, `issued`, `denied`, `failed`.
pub fn csr_state(c: &CertificateSigningRequest) -> &'static str {
    let st = c.status.as_ref();
    if st.and_then(|s| s.certificate.as_ref()).is_some_and(|b| !b.0.is_empty()) {
        return "issued";
    }
    let has = |t: &str| st.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"));
    if has("Denied") {
        "denied"
    } else if has("Failed") {
        "failed"
    } else if has("Approved") {
        "approved"
    } else {
        "pending"
    }
}

fn serving_csr_of(c: &CertificateSigningRequest) -> Option<&str> {
    (c.spec.signer_name == KUBELET_SERVING).then(|| c.spec.username.as_deref()?.strip_prefix("system:node:")).flatten()
}

fn csr_table(csrs: &BTreeMap<String, CertificateSigningRequest>) -> String {
    let rows: Vec<String> =
        csrs.values().filter_map(|c| Some(format!("{} {} {}", c.metadata.name.as_deref()?, serving_csr_of(c)?, csr_state(c)))).collect();
    if rows.is_empty() { "no kubelet-serving CSR".into() } else { rows.join(", ") }
}

/// Waits until every node in `nodes` has a kubelet-serving CSR whose state `want` accepts;
/// returns one CSR per node (the newest), in the order of `nodes`.
pub async fn serving_csrs(
    api: &ClusterApi,
    nodes: &[String],
    awaited: &str,
    want: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Result<Vec<CertificateSigningRequest>, ClusterApiError> {
    let last: LastSeen = Arc::new(Mutex::new("nothing (no answer from the API server yet)".into()));
    let l = last.clone();
    let run = async move {
        let mut all = BTreeMap::<String, CertificateSigningRequest>::new();
        let mut events = std::pin::pin!(watcher(Api::<CertificateSigningRequest>::all(api.client()), watcher::Config::default()));
        while let Some(ev) = events.try_next().await.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)? {
            match ev {
                watcher::Event::Apply(c) | watcher::Event::InitApply(c) => {
                    all.insert(c.metadata.name.clone().unwrap_or_default(), c);
                }
                watcher::Event::Delete(c) => {
                    all.remove(c.metadata.name.as_deref().unwrap_or_default());
                }
                watcher::Event::Init => all.clear(),
                watcher::Event::InitDone => {}
            }
            *l.lock().expect("poisoned") = csr_table(&all);
            let pick = |n: &String| {
                all.values()
                    .filter(|c| serving_csr_of(c) == Some(n.as_str()) && want(csr_state(c)))
                    .max_by_key(|c| c.metadata.creation_timestamp.clone().map(|t| t.0))
                    .cloned()
            };
            let found: Option<Vec<_>> = nodes.iter().map(pick).collect();
            if let Some(v) = found {
                return Ok(v);
            }
        }
        Err("the watch stream ended".into())
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(ClusterApiError::WaitTimeout { awaited: awaited.into(), secs: timeout.as_secs(), last_seen: seen(&last) }),
        Ok(Err(source)) => Err(ClusterApiError::Watch { awaited: awaited.into(), last_seen: seen(&last), source }),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Approves `name` as `kubectl certificate approve` does: GET, append an `Approved` condition,
/// PUT to the `approval` subresource.
pub async fn approve_csr(api: &ClusterApi, name: &str) -> Result<CertificateSigningRequest, ClusterApiError> {
    let csrs = Api::<CertificateSigningRequest>::all(api.client());
    let what = format!("approve CSR {name}");
    let mut csr = csrs.get(name).await.map_err(|e| api.error(&what, e))?;
    let status = csr.status.get_or_insert_with(Default::default);
    status.conditions.get_or_insert_with(Vec::new).push(CertificateSigningRequestCondition {
        type_: "Approved".into(),
        status: "True".into(),
        reason: Some("KubelabApprove".into()),
        message: Some("This CSR was approved by kubelab (as kubectl certificate approve does).".into()),
        last_update_time: Some(Time(k8s_openapi::jiff::Timestamp::now())),
        last_transition_time: None,
    });
    csrs.replace_subresource("approval", name, &PostParams::default(), &csr).await.map_err(|e| api.error(&what, e))
}

/// The guide's `csr.approve`: waits until every node has a pending or issued kubelet-serving
/// CSR, approves the pending ones, then waits until every node's certificate is issued.
/// Returns the names approved.
pub async fn approve_serving_csrs(api: &ClusterApi, nodes: &[String], timeout: Duration) -> Result<Vec<String>, ClusterApiError> {
    let present =
        serving_csrs(api, nodes, "a kubelet-serving CSR from every node", |s| matches!(s, "pending" | "approved" | "issued"), timeout)
            .await?;
    let mut approved = Vec::new();
    for c in present.iter().filter(|c| csr_state(c) == "pending") {
        let name = c.metadata.name.clone().unwrap_or_default();
        approve_csr(api, &name).await?;
        approved.push(name);
    }
    serving_csrs(api, nodes, "an issued kubelet-serving certificate for every node", |s| s == "issued", timeout).await?;
    Ok(approved)
}

/// The Available condition of an APIService, as `kubectl get apiservice` shows it.
pub fn apiservice_summary(a: &APIService) -> String {
    let c = a.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Available"));
    match c {
        None => "no Available condition".into(),
        Some(c) if c.status == "True" => "Available=True".into(),
        Some(c) => format!("Available={} ({}: {})", c.status, c.reason.as_deref().unwrap_or("-"), c.message.as_deref().unwrap_or("-")),
    }
}

/// Waits until `v1beta1.metrics.k8s.io` is Available.
pub async fn metrics_apiservice_available(api: &ClusterApi, timeout: Duration) -> Result<APIService, ClusterApiError> {
    await_named(
        Api::<APIService>::all(api.client()),
        METRICS_APISERVICE,
        format!("APIService {METRICS_APISERVICE} to be Available"),
        timeout,
        |a| apiservice_summary(a) == "Available=True",
        apiservice_summary,
    )
    .await
}

/// The ingress addresses of a LoadBalancer Service (IPs or hostnames).
pub fn lb_ingress(s: &Service) -> Vec<String> {
    s.status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|is| is.iter().filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone())).collect())
        .unwrap_or_default()
}

/// Waits until Service `namespace/name` has a LoadBalancer ingress address; returns them.
pub async fn lb_ingress_assigned(api: &ClusterApi, namespace: &str, name: &str, timeout: Duration) -> Result<Vec<String>, ClusterApiError> {
    let s = await_named(
        Api::<Service>::namespaced(api.client(), namespace),
        name,
        format!("a LoadBalancer ingress IP for Service {namespace}/{name}"),
        timeout,
        |s| !lb_ingress(s).is_empty(),
        |s| {
            let t = s.spec.as_ref().and_then(|sp| sp.type_.clone()).unwrap_or_default();
            format!("type {t}, no ingress (EXTERNAL-IP <pending>)")
        },
    )
    .await?;
    Ok(lb_ingress(&s))
}

/// Waits until every Service of type LoadBalancer (all namespaces, listed once) has an ingress
/// address; returns `(namespace/name, addresses)` per Service, none when no such Service exists.
pub async fn lb_ingress_all(api: &ClusterApi, timeout: Duration) -> Result<Vec<(String, Vec<String>)>, ClusterApiError> {
    let what = "list Services of type LoadBalancer";
    let all = Api::<Service>::all(api.client()).list(&kube::api::ListParams::default()).await.map_err(|e| api.error(what, e))?;
    let lbs: Vec<(String, String)> = all
        .items
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer"))
        .filter_map(|s| Some((s.metadata.namespace.clone()?, s.metadata.name.clone()?)))
        .collect();
    let waits = lbs
        .iter()
        .map(|(ns, n)| async move { Ok::<_, ClusterApiError>((format!("{ns}/{n}"), lb_ingress_assigned(api, ns, n, timeout).await?)) });
    futures::future::try_join_all(waits).await
}
