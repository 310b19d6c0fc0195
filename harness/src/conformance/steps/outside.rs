//! Steps of `features/outside.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("every node fetches the outside's file and pulls its image")]
async fn net_egress(w: &mut LabWorld) {
    w.judge("net.egress");
}
