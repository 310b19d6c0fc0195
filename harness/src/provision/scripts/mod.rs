//! Bash check/action scripts of every step, rendered from the lab config (pure; snapshot-tested).
//! Main type: [`Scripts`].

mod common;
mod host;
mod kube;
mod mesh;

pub(crate) use common::{Ctx, Scripts, sq};
pub(crate) use host::{
    br_netfilter, docker_cgroup, docker_install, docker_outside_registry, firewall_off, hosts_file, ipvs_modules, network_manager,
    swap_off, sysctl,
};
pub(crate) use kube::{
    CA_HASH_PLACEHOLDER, JOIN_TOKEN_PLACEHOLDER, calico_apply, calicoctl_install, csr_approve, helm_install, images_pull, join_credentials,
    k8s_packages, kube_proxy_ipvs, kubeadm_init, kubeadm_join, kubeconfig, metallb_apply, metallb_pool, metallb_strict_arp, metrics_server,
    server_tls_bootstrap,
};
pub(crate) use mesh::{bird_mesh, ipip_tunnels};
