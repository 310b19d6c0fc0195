//! Kubernetes steps (guide profile only), by guide phase: [`kubeadm`] (packages, kubeadm
//! init/join, kubeconfig), [`network`] (calico, calicoctl, kube-proxy IPVS), [`metrics`]
//! (kubelet serving certificates, metrics-server), [`addons`] (Helm, MetalLB).

mod addons;
mod kubeadm;
mod metrics;
mod network;

pub(crate) use addons::{helm_install, metallb_apply, metallb_pool, metallb_strict_arp};
pub(crate) use kubeadm::{
    CA_HASH_PLACEHOLDER, JOIN_TOKEN_PLACEHOLDER, images_pull, join_credentials, k8s_packages, kubeadm_init, kubeadm_join, kubeconfig,
};
pub(crate) use metrics::{csr_approve, metrics_server, server_tls_bootstrap};
pub(crate) use network::{calico_apply, calicoctl_install, kube_proxy_ipvs};

/// Root's kubeconfig (the guide's `export KUBECONFIG=/etc/kubernetes/admin.conf`).
const KUBECONFIG: &str = "export KUBECONFIG=/etc/kubernetes/admin.conf\n";
/// kubelab's own files on the nodes (rendered configs, fetched manifests).
const KUBELAB_DIR: &str = "/etc/kubelab";
/// The aliyun image repository the guide passes to kubeadm.
const ALIYUN_REPO: &str = "registry.aliyuncs.com/google_containers";

/// Makes `$tmp`, a scratch directory removed when the script exits.
fn tmpdir() -> &'static str {
    "tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n"
}
