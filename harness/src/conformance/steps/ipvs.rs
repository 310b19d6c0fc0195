//! Steps of `features/ipvs.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("the kube-proxy ConfigMap has mode ipvs")]
async fn ipvs_configmap_mode(w: &mut LabWorld) {
    w.judge("ipvs.configmap-mode");
}

#[then("kube-proxy reports ipvs on its metrics port on every node")]
async fn ipvs_proxy_mode(w: &mut LabWorld) {
    w.judge("ipvs.proxy-mode");
}

#[then("ipvsadm lists the kubernetes Service on every node")]
async fn ipvs_kubernetes_service(w: &mut LabWorld) {
    w.judge("ipvs.kubernetes-service");
}

#[then("the kube-ipvs0 interface exists on every node")]
async fn ipvs_kube_ipvs0(w: &mut LabWorld) {
    w.judge("ipvs.kube-ipvs0");
}
