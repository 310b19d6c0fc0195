//! Typed probes: each cluster probe of the catalog as an `Api<…>` call, returning the typed
//! object and the API server's body exactly as received ([`Probed`]); and the typed accessors
//! (`nodes_from_fact`, …) that read the same objects back from a [`Fact`] of either path
//! (kubectl's `-o json` List or the API server's own `NodeList`).

use k8s_metrics::v1beta1::NodeMetrics;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::version::Info;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, ListParams, ObjectList};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{Capture, ClusterApi};
use super::error::ClusterApiError;
use crate::evidence::Fact;
pub use crate::parsers::{KubeProxyConfiguration, KubeProxyIpvsConfiguration};

/// The name of metrics-server's APIService.
pub const METRICS_APISERVICE: &str = "v1beta1.metrics.k8s.io";

/// A typed object and the response it came from.
#[derive(Clone, Debug)]
pub struct Probed<T> {
    /// The object.
    pub value: T,
    /// The request (`GET /api/v1/nodes?`).
    pub request: String,
    /// The API server's body, as received.
    pub raw: String,
}

/// Parses the ConfigMap's `config.conf`.
pub fn parse_kube_proxy_config(cm: &ConfigMap) -> Result<KubeProxyConfiguration, String> {
    let text = cm.data.as_ref().and_then(|d| d.get("config.conf")).ok_or_else(|| "the ConfigMap has no data.config.conf".to_string())?;
    crate::parsers::parse_kube_proxy_configuration(text).map_err(|e| format!("config.conf is not a KubeProxyConfiguration: {e}"))
}

async fn probe<T>(
    api: &ClusterApi,
    what: &str,
    call: impl AsyncFnOnce(kube::Client) -> Result<T, kube::Error>,
) -> Result<Probed<T>, ClusterApiError> {
    let (client, cap) = api.capturing_client();
    let Ok(res) = tokio::time::timeout(super::client::PROBE_TIMEOUT, call(client)).await else {
        return Err(ClusterApiError::Unreachable {
            what: what.to_string(),
            server: api.server().to_string(),
            node: api.node().to_string(),
            source: format!("no answer within {} s", super::client::PROBE_TIMEOUT.as_secs()).into(),
        });
    };
    let (request, raw) = last(&cap, what);
    res.map(|value| Probed { value, request: request.clone(), raw: raw.clone() }).map_err(|e| {
        let mut err = api.error(&request, e);
        if let ClusterApiError::Decode { body, .. } = &mut err {
            *body = raw;
        }
        err
    })
}

fn last(cap: &Capture, what: &str) -> (String, String) {
    match cap.last() {
        Some(x) => (x.request, String::from_utf8_lossy(&x.body).into_owned()),
        None => (what.to_string(), String::new()),
    }
}

impl ClusterApi {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Probed<Info>, ClusterApiError> {
        probe(self, "GET /version", async |c| c.apiserver_version().await).await
    }

    /// All Nodes.
    pub async fn nodes(&self) -> Result<Probed<ObjectList<Node>>, ClusterApiError> {
        probe(self, "GET /api/v1/nodes?", async |c| Api::<Node>::all(c).list(&ListParams::default()).await).await
    }

    /// Pods in kube-system.
    pub async fn kube_system_pods(&self) -> Result<Probed<ObjectList<Pod>>, ClusterApiError> {
        probe(self, "GET /api/v1/namespaces/kube-system/pods?", async |c| {
            Api::<Pod>::namespaced(c, "kube-system").list(&ListParams::default()).await
        })
        .await
    }

    /// All CertificateSigningRequests.
    pub async fn csrs(&self) -> Result<Probed<ObjectList<CertificateSigningRequest>>, ClusterApiError> {
        probe(self, "GET /apis/certificates.k8s.io/v1/certificatesigningrequests?", async |c| {
            Api::<CertificateSigningRequest>::all(c).list(&ListParams::default()).await
        })
        .await
    }

    /// The metrics APIService.
    pub async fn metrics_apiservice(&self) -> Result<Probed<APIService>, ClusterApiError> {
        probe(self, "GET /apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", async |c| {
            Api::<APIService>::all(c).get(METRICS_APISERVICE).await
        })
        .await
    }

    /// Node metrics (metrics.k8s.io/v1beta1, served by metrics-server).
    pub async fn node_metrics(&self) -> Result<Probed<ObjectList<NodeMetrics>>, ClusterApiError> {
        probe(self, "GET /apis/metrics.k8s.io/v1beta1/nodes?", async |c| Api::<NodeMetrics>::all(c).list(&ListParams::default()).await)
            .await
    }

    /// Services in all namespaces.
    pub async fn services(&self) -> Result<Probed<ObjectList<Service>>, ClusterApiError> {
        probe(self, "GET /api/v1/services?", async |c| Api::<Service>::all(c).list(&ListParams::default()).await).await
    }

    /// The kube-proxy ConfigMap and its parsed `config.conf`.
    pub async fn kube_proxy_config(&self) -> Result<Probed<(ConfigMap, KubeProxyConfiguration)>, ClusterApiError> {
        let what = "GET /api/v1/namespaces/kube-system/configmaps/kube-proxy";
        let p = probe(self, what, async |c| Api::<ConfigMap>::namespaced(c, "kube-system").get("kube-proxy").await).await?;
        let kpc = parse_kube_proxy_config(&p.value).map_err(|e| ClusterApiError::Decode {
            what: p.request.clone(),
            expected: "KubeProxyConfiguration",
            source: e.into(),
            body: p.raw.clone(),
        })?;
        Ok(Probed { value: (p.value, kpc), request: p.request, raw: p.raw })
    }

    /// The raw probe for catalog probe `id` (`k8s-nodes`, …): request and body. `None` for
    /// probes this client does not serve.
    pub async fn probe_raw(&self, id: &str) -> Option<Result<(String, String), ClusterApiError>> {
        fn raw<T>(r: Result<Probed<T>, ClusterApiError>) -> Result<(String, String), ClusterApiError> {
            r.map(|p| (p.request, p.raw))
        }
        Some(match id {
            "k8s-version" => raw(self.version().await),
            "k8s-nodes" => raw(self.nodes().await),
            "k8s-pods-kube-system" => raw(self.kube_system_pods().await),
            "k8s-csr" => raw(self.csrs().await),
            "k8s-apiservice-metrics" => raw(self.metrics_apiservice().await),
            "k8s-node-metrics" => raw(self.node_metrics().await),
            "k8s-kube-proxy-cm" => raw(self.kube_proxy_config().await),
            "k8s-services" => raw(self.services().await),
            _ => return None,
        })
    }
}

/// The catalog probes [`ClusterApi::probe_raw`] serves.
pub const API_PROBES: &[&str] = &[
    "k8s-version",
    "k8s-nodes",
    "k8s-pods-kube-system",
    "k8s-csr",
    "k8s-apiservice-metrics",
    "k8s-node-metrics",
    "k8s-kube-proxy-cm",
    "k8s-services",
];

/// A fact could not be read as the typed object.
#[derive(Debug, thiserror::Error)]
pub enum FactDecodeError {
    /// The probe failed (non-zero exit, or an error Status from the API server).
    #[error("probe {probe} failed (exit {status}): {stderr}")]
    Failed {
        /// Probe id.
        probe: String,
        /// Exit status.
        status: u32,
        /// Its stderr.
        stderr: String,
    },
    /// The output is not the expected object.
    #[error("probe {probe}: the output is not a {expected}")]
    Json {
        /// Probe id.
        probe: String,
        /// What was expected.
        expected: &'static str,
        /// serde_json's verdict.
        #[source]
        source: serde_json::Error,
    },
    /// The kube-proxy ConfigMap's `config.conf` is not usable.
    #[error("probe {probe}: {message}")]
    KubeProxyConfig {
        /// Probe id.
        probe: String,
        /// What is wrong.
        message: String,
    },
}

fn decode<T: DeserializeOwned>(f: &Fact, expected: &'static str) -> Result<T, FactDecodeError> {
    if !f.output.success() {
        return Err(FactDecodeError::Failed {
            probe: f.probe.clone(),
            status: f.output.exit_status,
            stderr: f.output.stderr.trim().into(),
        });
    }
    serde_json::from_str(&f.output.stdout).map_err(|source| FactDecodeError::Json { probe: f.probe.clone(), expected, source })
}

/// Items of a kubectl `List` or of an API server `XList` alike.
#[derive(Deserialize)]
struct Items<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

fn items<T: DeserializeOwned>(f: &Fact, expected: &'static str) -> Result<Vec<T>, FactDecodeError> {
    decode::<Items<T>>(f, expected).map(|l| l.items)
}

/// `k8s-version` as `version.Info`.
pub fn version_from_fact(f: &Fact) -> Result<Info, FactDecodeError> {
    decode(f, "version.Info")
}
/// `k8s-nodes` as Nodes.
pub fn nodes_from_fact(f: &Fact) -> Result<Vec<Node>, FactDecodeError> {
    items(f, "List of Node")
}
/// `k8s-pods-kube-system` as Pods.
pub fn pods_from_fact(f: &Fact) -> Result<Vec<Pod>, FactDecodeError> {
    items(f, "List of Pod")
}
/// `k8s-csr` as CertificateSigningRequests.
pub fn csrs_from_fact(f: &Fact) -> Result<Vec<CertificateSigningRequest>, FactDecodeError> {
    items(f, "List of CertificateSigningRequest")
}
/// `k8s-apiservice-metrics` as an APIService.
pub fn apiservice_from_fact(f: &Fact) -> Result<APIService, FactDecodeError> {
    decode(f, "APIService")
}
/// `k8s-node-metrics` as NodeMetrics.
pub fn node_metrics_from_fact(f: &Fact) -> Result<Vec<NodeMetrics>, FactDecodeError> {
    items(f, "NodeMetricsList")
}
/// `k8s-services` as Services.
pub fn services_from_fact(f: &Fact) -> Result<Vec<Service>, FactDecodeError> {
    items(f, "List of Service")
}
/// `k8s-kube-proxy-cm` as the ConfigMap and its KubeProxyConfiguration.
pub fn kube_proxy_config_from_fact(f: &Fact) -> Result<(ConfigMap, KubeProxyConfiguration), FactDecodeError> {
    let cm: ConfigMap = decode(f, "ConfigMap")?;
    let kpc = parse_kube_proxy_config(&cm).map_err(|message| FactDecodeError::KubeProxyConfig { probe: f.probe.clone(), message })?;
    Ok((cm, kpc))
}
