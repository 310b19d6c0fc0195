//! Steps of `features/calico.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("every node sees the other nodes as BGP peers in state Established")]
async fn calico_bgp_mesh(w: &mut LabWorld) {
    w.judge("calico.bgp-mesh");
}

#[then("every node routes the other nodes' pod blocks via the tunnel")]
async fn calico_tunl0_routes(w: &mut LabWorld) {
    w.judge("calico.tunl0-routes");
}

#[then("protocol-4 traffic flows between every pair of nodes")]
async fn calico_ipip_traffic(w: &mut LabWorld) {
    w.judge("calico.ipip-traffic");
}
