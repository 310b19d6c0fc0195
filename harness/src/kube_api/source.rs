//! [`ClusterApiEvidence`]: an [`EvidenceSource`] that answers the cluster-scope probes through
//! a [`ClusterApi`] and passes every other probe to an inner source (normally
//! [`LiveEvidence`](crate::evidence::LiveEvidence), so host probes still run over SSH).

use std::sync::Arc;

use super::client::ClusterApi;
use super::error::ClusterApiError;
use super::probes::API_PROBES;
use crate::config::NodeConfig;
use crate::evidence::{Evidence, EvidenceError, EvidenceHeader, EvidenceSource, Fact, Origin, Probe, ProbeCatalog, Target};
use crate::remote::{BoxFuture, ExecOutput};

/// How facts fetched through the client name their origin (`live via …`).
pub const VIA: &str = "kube API over ssh direct-tcpip";

/// Cluster probes through the kube client, the rest through `inner`.
pub struct ClusterApiEvidence {
    inner: Arc<dyn EvidenceSource>,
    api: ClusterApi,
}

impl ClusterApiEvidence {
    /// Wraps `inner`; cluster probes it offers are fetched through `api` instead.
    pub fn new(inner: Arc<dyn EvidenceSource>, api: ClusterApi) -> Self {
        ClusterApiEvidence { inner, api }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The format note of a fact fetched through the client (the API server's own JSON).
pub fn api_format(id: &str) -> Option<&'static str> {
    Some(match id {
        "k8s-version" => "kube-apiserver 1.23 /version JSON (kube client)",
        "k8s-nodes" => "kube-apiserver 1.23 v1 NodeList (kube client)",
        "k8s-pods-kube-system" => "kube-apiserver 1.23 v1 PodList (kube client)",
        "k8s-csr" => "kube-apiserver 1.23 certificates.k8s.io/v1 CertificateSigningRequestList (kube client)",
        "k8s-apiservice-metrics" => "apiregistration.k8s.io/v1 APIService (kube client)",
        "k8s-node-metrics" => "metrics-server 0.6.1 NodeMetricsList (kube client)",
        "k8s-kube-proxy-cm" => "v1 ConfigMap (kube client); data.config.conf is KubeProxyConfiguration v1alpha1 YAML",
        "k8s-services" => "kube-apiserver 1.23 v1 ServiceList (kube client)",
        _ => return None,
    })
}

/// The standard catalog with the format notes of the client-served probes (bundle provenance
/// then names the API server's JSON, not kubectl's).
pub fn api_catalog() -> ProbeCatalog {
    ProbeCatalog::standard().map_probes(|p| {
        if let Some(f) = api_format(p.id) {
            p.format = f;
        }
    })
}

impl EvidenceSource for ClusterApiEvidence {
    fn header(&self) -> EvidenceHeader {
        let mut h = self.inner.header();
        h.source = format!("{}; cluster objects via the kube API over ssh direct-tcpip to {}", h.source, self.api.server());
        h
    }

    fn offers(&self, probe: &Probe) -> bool {
        self.inner.offers(probe)
    }

    fn fetch<'a>(
        &'a self,
        probe: &'a Probe,
        target: &'a Target,
        node: &'a NodeConfig,
        so_far: &'a Evidence,
    ) -> BoxFuture<'a, Result<Option<Fact>, EvidenceError>> {
        if *target != Target::Cluster || !API_PROBES.contains(&probe.id) || !self.inner.offers(probe) {
            return self.inner.fetch(probe, target, node, so_far);
        }
        Box::pin(async move {
            let fetched_at = now_rfc3339();
            let res = self.api.probe_raw(probe.id).await.expect("API_PROBES are served");
            let (command, output) = match res {
                Ok((request, raw)) => (request, ExecOutput::ok(raw)),
                // The server answered with an error Status: a failed fact, as kubectl's
                // `Error from server (…)` is on the kubectl path.
                Err(e) if e.is_server_answer() => (probe_request(&e), ExecOutput::failed(1, e.to_string())),
                // The server answered 2xx but the body is not the typed object: keep the body
                // as the evidence (kubectl would have printed it) and say why in stderr.
                Err(e @ ClusterApiError::Decode { .. }) if decoded_body(&e).is_some_and(|b| !b.is_empty()) => {
                    let note = format!("kubelab: {}\n", crate::errors::error_chain(&e));
                    let ClusterApiError::Decode { what, body, .. } = e else { unreachable!("matched above") };
                    (what, ExecOutput { stdout: body, stderr: note, exit_status: 0 })
                }
                Err(e) => {
                    return Err(EvidenceError::Fetch {
                        probe: probe.id.into(),
                        target: target.to_string(),
                        message: crate::errors::error_chain(&e),
                    });
                }
            };
            Ok(Some(Fact {
                probe: probe.id.into(),
                target: target.clone(),
                command,
                output,
                fetched_at,
                origin: Origin::Live { via: VIA.into() },
            }))
        })
    }
}

fn decoded_body(e: &ClusterApiError) -> Option<&str> {
    match e {
        ClusterApiError::Decode { body, .. } => Some(body),
        _ => None,
    }
}

fn probe_request(e: &ClusterApiError) -> String {
    match e {
        ClusterApiError::Unauthorized { what, .. }
        | ClusterApiError::Forbidden { what, .. }
        | ClusterApiError::NotFound { what, .. }
        | ClusterApiError::Status { what, .. } => what.clone(),
        _ => String::new(),
    }
}
