//! Steps of `features/tls.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("serverTLSBootstrap is true in every kubelet config")]
async fn tls_server_tls_bootstrap(w: &mut LabWorld) {
    w.judge("tls.server-tls-bootstrap");
}

#[then("no kubelet-serving CSR is Pending or Denied")]
async fn tls_no_pending_csr(w: &mut LabWorld) {
    w.judge("tls.no-pending-csr");
}

#[then("every kubelet has an approved serving certificate")]
async fn tls_serving_certs(w: &mut LabWorld) {
    w.judge("tls.serving-certs");
}
