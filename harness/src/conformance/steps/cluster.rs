//! Steps of `features/cluster.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("kubeadm join succeeded on every worker")]
async fn kubeadm_join(w: &mut LabWorld) {
    w.judge("kubeadm.join");
}

#[then("the API server reports the pinned version")]
async fn cluster_version(w: &mut LabWorld) {
    w.judge("cluster.version");
}

#[then("every node is Ready with the pinned kubelet version")]
async fn cluster_nodes_ready(w: &mut LabWorld) {
    w.judge("cluster.nodes-ready");
}

#[then("every kube-system pod is Running and Ready")]
async fn cluster_kube_system_pods(w: &mut LabWorld) {
    w.judge("cluster.kube-system-pods");
}
