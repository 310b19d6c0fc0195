//! Steps of `features/host.feature`.

use cucumber::then;

use crate::conformance::world::LabWorld;

#[then("swap is off and no swap line is active in /etc/fstab")]
async fn host_swap_off(w: &mut LabWorld) {
    w.judge("host.swap-off");
}

#[then("the br_netfilter module is loaded on every node")]
async fn host_br_netfilter(w: &mut LabWorld) {
    w.judge("host.br-netfilter");
}

#[then("net.bridge.bridge-nf-call-iptables is 1 on every node")]
async fn host_bridge_nf_call_iptables(w: &mut LabWorld) {
    w.judge("host.bridge-nf-call-iptables");
}

#[then("net.ipv4.ip_forward is 1 on every node")]
async fn host_ip_forward(w: &mut LabWorld) {
    w.judge("host.ip-forward");
}

#[then("nothing but kube-apiserver listens on port 6443")]
async fn host_port_6443(w: &mut LabWorld) {
    w.judge("host.port-6443");
}

#[then("Docker's cgroup driver equals the kubelet's")]
async fn host_cgroup_driver(w: &mut LabWorld) {
    w.judge("host.cgroup-driver");
}

#[then("NetworkManager is not installed on any node")]
async fn host_no_network_manager(w: &mut LabWorld) {
    w.judge("host.no-network-manager");
}

#[then("ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh and nf_conntrack are loaded on every node")]
async fn ipvs_kernel_modules(w: &mut LabWorld) {
    w.judge("ipvs.kernel-modules");
}
