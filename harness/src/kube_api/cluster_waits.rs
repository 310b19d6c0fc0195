//! [`KubeClusterWaits`]: the provisioner's [`ClusterWaits`] through the kube client — the
//! admin kubeconfig read from the control plane on first use, then kube-runtime watches
//! ([`super::wait`]) over the SSH direct-tcpip tunnel; CSRs approved through the `approval`
//! subresource.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::client::ClusterApi;
use super::error::ClusterApiError;
use super::wait;
use crate::provision::{ClusterWait, ClusterWaits};
use crate::remote::{BoxFuture, RemoteShell};

/// How the client is obtained.
enum Via {
    /// Connect on first use: kubeconfig from `node` over `shell`.
    Ssh { shell: Arc<dyn RemoteShell>, node: String },
}

/// Cluster waits through a [`ClusterApi`].
pub struct KubeClusterWaits {
    via: Option<Via>,
    api: OnceCell<ClusterApi>,
}

impl KubeClusterWaits {
    /// Connects on the first wait (the kubeconfig exists only after `kubeadm init`): the admin
    /// kubeconfig read from `control_plane` over `shell`, the API server through the tunnel.
    pub fn over_ssh(shell: Arc<dyn RemoteShell>, control_plane: impl Into<String>) -> Self {
        KubeClusterWaits { via: Some(Via::Ssh { shell, node: control_plane.into() }), api: OnceCell::new() }
    }

    /// Waits through an existing client (tests: an in-process API server).
    pub fn with_api(api: ClusterApi) -> Self {
        KubeClusterWaits { via: None, api: OnceCell::new_with(Some(api)) }
    }

    async fn api(&self) -> Result<&ClusterApi, ClusterApiError> {
        self.api
            .get_or_try_init(|| async {
                match &self.via {
                    Some(Via::Ssh { shell, node }) => ClusterApi::connect(shell.clone(), node).await,
                    None => unreachable!("with_api sets the client"),
                }
            })
            .await
    }
}

impl ClusterWaits for KubeClusterWaits {
    fn wait<'a>(&'a self, w: ClusterWait, nodes: &'a [String], timeout: Duration) -> BoxFuture<'a, Result<String, ClusterApiError>> {
        Box::pin(async move {
            let api = self.api().await?;
            Ok(match w {
                ClusterWait::NodesReady => {
                    let ready = wait::nodes_ready(api, nodes, timeout).await?;
                    format!("{} node(s) Ready: {}", ready.len(), nodes.join(", "))
                }
                ClusterWait::ServingCsrsApproved => {
                    let approved = wait::approve_serving_csrs(api, nodes, timeout).await?;
                    let how = if approved.is_empty() { "none pending".to_string() } else { format!("approved {}", approved.join(", ")) };
                    format!("kubelet-serving certificates issued for {} ({how}, via the approval subresource)", nodes.join(", "))
                }
                ClusterWait::MetricsApiAvailable => {
                    let a = wait::metrics_apiservice_available(api, timeout).await?;
                    format!("APIService {} {}", a.metadata.name.as_deref().unwrap_or(""), wait::apiservice_summary(&a))
                }
                ClusterWait::LoadBalancerIngress => {
                    let lbs = wait::lb_ingress_all(api, timeout).await?;
                    if lbs.is_empty() {
                        "no Service of type LoadBalancer exists: nothing to assign".to_string()
                    } else {
                        lbs.iter().map(|(s, ips)| format!("{s} ingress {}", ips.join(","))).collect::<Vec<_>>().join("; ")
                    }
                }
            })
        })
    }
}
