//! Steps of `features/identity.feature`.

use cucumber::{given, then};

use crate::conformance::world::LabWorld;

#[then("each node's hostname is the configured one")]
async fn identity_hostnames(w: &mut LabWorld) {
    w.judge("identity.hostnames");
}

#[then("no two nodes share a MAC address")]
async fn identity_unique_macs(w: &mut LabWorld) {
    w.judge("identity.unique-macs");
}

#[then("no two nodes share a product_uuid")]
async fn identity_unique_product_uuid(w: &mut LabWorld) {
    w.judge("identity.unique-product-uuid");
}

#[then("no two nodes share a machine-id")]
async fn identity_unique_machine_id(w: &mut LabWorld) {
    w.judge("identity.unique-machine-id");
}

#[then("no two nodes share an SSH host key")]
async fn identity_unique_host_keys(w: &mut LabWorld) {
    w.judge("identity.unique-host-keys");
}

#[given("/etc/hosts maps every node name to its address")]
async fn identity_etc_hosts(w: &mut LabWorld) {
    w.judge("identity.etc-hosts");
}

#[then("every node pings the other nodes by name")]
async fn identity_reach_by_name(w: &mut LabWorld) {
    w.judge("identity.reach-by-name");
}

#[then("every node uses an address its port allows")]
async fn port_address_allowed(w: &mut LabWorld) {
    w.judge("port.address-allowed");
}
