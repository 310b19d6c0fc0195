//! The lab's Kubernetes API through the `kube` client, over the SSH connection kubelab already
//! holds: the admin kubeconfig is read from the control plane into memory
//! ([`AdminKubeconfig`]), and every HTTP connection is an SSH `direct-tcpip` channel from the
//! control-plane node to the kubeconfig's server (`192.168.1.134:6443`), TLS-verified against
//! the kubeconfig's CA ([`TunnelConnector`]). Main type: [`ClusterApi`].
//!
//! * typed probes returning the object and the API server's body as received ([`Probed`]),
//!   and typed accessors over recorded facts ([`nodes_from_fact`], …);
//! * [`ClusterApiEvidence`]: an evidence source serving the cluster probes through the client;
//! * [`wait`]: kube-runtime waits (nodes Ready, serving CSRs + approval, metrics APIService,
//!   LoadBalancer ingress);
//! * [`KubeClusterWaits`]: the provisioner's [`crate::provision::ClusterWaits`] through the client;
//! * [`ClusterApiError`] with an exit code per kind.

mod client;
mod cluster_waits;
mod connect;
mod error;
mod probes;
mod source;
pub mod wait;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tunnel_tests;

pub use client::{ApiBody, ApiService, CONNECT_TIMEOUT, Capture, ClusterApi, Exchange, PROBE_TIMEOUT};
pub use cluster_waits::KubeClusterWaits;
pub use connect::{ADMIN_KUBECONFIG, AdminKubeconfig, ApiStream, TunnelConnector};
pub use error::{ClusterApiError, ConnectError};
pub use probes::{
    API_PROBES, FactDecodeError, KubeProxyConfiguration, KubeProxyIpvsConfiguration, METRICS_APISERVICE, Probed, apiservice_from_fact,
    csrs_from_fact, kube_proxy_config_from_fact, node_metrics_from_fact, nodes_from_fact, parse_kube_proxy_config, pods_from_fact,
    services_from_fact, version_from_fact,
};
pub use source::{ClusterApiEvidence, VIA, api_catalog, api_format};
