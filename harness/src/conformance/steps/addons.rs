//! Steps of `features/addons.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("the APIService v1beta1.metrics.k8s.io is Available")]
async fn metrics_apiservice_available(w: &mut LabWorld) {
    w.judge("metrics.apiservice-available");
}

#[then("node metrics exist for every node")]
async fn metrics_node_metrics(w: &mut LabWorld) {
    w.judge("metrics.node-metrics");
}

#[then("kube-proxy has ipvs.strictARP true")]
async fn metallb_strict_arp(w: &mut LabWorld) {
    w.judge("metallb.strict-arp");
}

#[then("every LoadBalancer Service has an ingress IP from the MetalLB pool")]
async fn metallb_lb_ingress_ip(w: &mut LabWorld) {
    w.judge("metallb.lb-ingress-ip");
}

#[then("the LoadBalancer IPs answer HTTP")]
async fn metallb_lb_http(w: &mut LabWorld) {
    w.judge("metallb.lb-http");
}

#[then("helm version reports the pinned version")]
async fn helm_version(w: &mut LabWorld) {
    w.judge("helm.version");
}
