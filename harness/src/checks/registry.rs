//! [`CHECKS`]: every check with its stable id, domain, tier and probes; [`run`] one by id,
//! [`run_all`] over one evidence set.

use super::{Verdict, addons, calico, cluster, egress, host, identity, ipvs, kubeadm, port, tls};
use crate::evidence::{Evidence, Tier};

/// A check's static description.
#[derive(Clone, Copy, Debug)]
pub struct CheckSpec {
    /// Stable id, e.g. `host.swap-off` (used by the Gherkin steps and reports).
    pub id: &'static str,
    /// Domain (the part before the dot).
    pub domain: &'static str,
    /// `@host` or `@k8s`.
    pub tier: Tier,
    /// Probe ids it reads (`bgp-calicoctl` in the guide profile, `bgp-birdc` offline).
    pub probes: &'static [&'static str],
    /// The guide outcome it judges.
    pub summary: &'static str,
    /// The judging function.
    pub judge: fn(&Evidence) -> Verdict,
}

macro_rules! check {
    ($id:literal, $domain:literal, $tier:ident, [$($p:literal),*], $summary:literal, $f:path) => {
        CheckSpec { id: $id, domain: $domain, tier: Tier::$tier, probes: &[$($p),*], summary: $summary, judge: $f }
    };
}

/// Every check, in report order.
pub const CHECKS: &[CheckSpec] = &[
    check!("identity.hostnames", "identity", Host, ["hostname"], "each node's hostname is the configured one", identity::hostnames),
    check!("identity.unique-macs", "identity", Host, ["ip-link"], "NIC MAC addresses pairwise distinct", identity::unique_macs),
    check!(
        "identity.unique-product-uuid",
        "identity",
        Host,
        ["product-uuid"],
        "product_uuid pairwise distinct",
        identity::unique_product_uuid
    ),
    check!("identity.unique-machine-id", "identity", Host, ["machine-id"], "machine-id pairwise distinct", identity::unique_machine_id),
    check!(
        "identity.unique-host-keys",
        "identity",
        Host,
        ["ssh-hostkey"],
        "SSH host key fingerprints pairwise distinct",
        identity::unique_host_keys
    ),
    check!("identity.etc-hosts", "identity", Host, ["etc-hosts"], "/etc/hosts maps every node name to its address", identity::etc_hosts),
    check!("identity.reach-by-name", "identity", Host, ["ping-peers"], "every node pings the others by name", identity::reach_by_name),
    check!(
        "port.address-allowed",
        "port",
        Host,
        ["port-filter", "ip-addr", "ping-peers"],
        "every node uses an address its port (anti-spoofing filter) allows",
        port::address_allowed
    ),
    check!(
        "net.egress",
        "net",
        Host,
        ["egress", "ping-peers", "floating-ips"],
        "every node can download from the outside (HTTP and docker pull, through its floating IP)",
        egress::egress
    ),
    check!("host.swap-off", "host", Host, ["swapon", "proc-swaps", "fstab"], "swap off, no swap line in /etc/fstab", host::swap_off),
    check!("host.br-netfilter", "host", Host, ["lsmod"], "br_netfilter loaded", host::br_netfilter),
    check!(
        "host.bridge-nf-call-iptables",
        "host",
        Host,
        ["sysctl-net"],
        "net.bridge.bridge-nf-call-iptables = 1",
        host::bridge_nf_call_iptables
    ),
    check!("host.ip-forward", "host", Host, ["sysctl-net"], "net.ipv4.ip_forward = 1", host::ip_forward),
    check!("host.port-6443", "host", Host, ["listen-6443"], "TCP 6443 free (or kube-apiserver's on the control plane)", host::port_6443),
    check!(
        "host.cgroup-driver",
        "host",
        Host,
        ["docker-info", "kubelet-config"],
        "docker's cgroup driver equals the kubelet's (systemd)",
        host::cgroup_driver
    ),
    check!("host.no-network-manager", "host", Host, ["network-manager"], "NetworkManager not installed", host::no_network_manager),
    check!(
        "ipvs.kernel-modules",
        "ipvs",
        Host,
        ["lsmod"],
        "ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh, nf_conntrack loaded",
        ipvs::kernel_modules
    ),
    check!(
        "calico.bgp-mesh",
        "calico",
        Host,
        ["bgp-calicoctl", "bgp-birdc"],
        "every node sees N-1 BGP peers Established",
        calico::bgp_mesh
    ),
    check!("calico.tunl0-routes", "calico", Host, ["ip-route"], "tunl0 routes to every other node's pod block", calico::tunl0_routes),
    check!(
        "calico.ipip-traffic",
        "calico",
        Host,
        ["ipip-ping", "tunl0"],
        "IPIP (protocol 4) traffic between every pair of nodes",
        calico::ipip_traffic
    ),
    check!("kubeadm.join", "kubeadm", K8s, ["kubeadm-join"], "workers joined; an expired token is diagnosed", kubeadm::join),
    check!("cluster.version", "cluster", K8s, ["k8s-version"], "API server gitVersion is the pinned one", cluster::version),
    check!("cluster.nodes-ready", "cluster", K8s, ["k8s-nodes"], "all nodes Ready with the pinned kubelet", cluster::nodes_ready),
    check!(
        "cluster.kube-system-pods",
        "cluster",
        K8s,
        ["k8s-pods-kube-system"],
        "every kube-system pod Running and Ready",
        cluster::kube_system_pods
    ),
    check!("ipvs.configmap-mode", "ipvs", K8s, ["k8s-kube-proxy-cm"], "kube-proxy ConfigMap mode: ipvs", ipvs::configmap_mode),
    check!("ipvs.proxy-mode", "ipvs", K8s, ["proxy-mode"], "kube-proxy /proxyMode answers ipvs on every node", ipvs::proxy_mode),
    check!(
        "ipvs.kubernetes-service",
        "ipvs",
        K8s,
        ["ipvsadm", "k8s-services"],
        "IPVS serves the kubernetes Service on every node",
        ipvs::kubernetes_service
    ),
    check!("ipvs.kube-ipvs0", "ipvs", K8s, ["kube-ipvs0"], "kube-ipvs0 exists on every node", ipvs::kube_ipvs0),
    check!(
        "tls.server-tls-bootstrap",
        "tls",
        K8s,
        ["kubelet-config"],
        "serverTLSBootstrap: true on every kubelet",
        tls::server_tls_bootstrap
    ),
    check!("tls.no-pending-csr", "tls", K8s, ["k8s-csr"], "no Pending or Denied kubelet-serving CSR", tls::no_pending_csr),
    check!(
        "tls.serving-certs",
        "tls",
        K8s,
        ["k8s-csr", "kubelet-serving-cert"],
        "each kubelet has an approved serving certificate",
        tls::serving_certs
    ),
    check!(
        "metrics.apiservice-available",
        "metrics",
        K8s,
        ["k8s-apiservice-metrics"],
        "APIService v1beta1.metrics.k8s.io Available",
        addons::apiservice_available_check
    ),
    check!("metrics.node-metrics", "metrics", K8s, ["k8s-node-metrics"], "node metrics for every node", addons::node_metrics),
    check!("metallb.strict-arp", "metallb", K8s, ["k8s-kube-proxy-cm"], "kube-proxy ipvs.strictARP: true", addons::strict_arp),
    check!(
        "metallb.lb-ingress-ip",
        "metallb",
        K8s,
        ["k8s-services"],
        "LoadBalancer Services get an ingress IP from the pool",
        addons::lb_ingress_ip
    ),
    check!("metallb.lb-http", "metallb", K8s, ["lb-http"], "LoadBalancer IPs answer HTTP", addons::lb_http),
    check!("helm.version", "helm", K8s, ["helm-version"], "helm is the pinned version", addons::helm_version),
];

/// No check has this id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check `{0}`; see docs/evidence.md for the ids")]
pub struct UnknownCheck(pub String);

/// The spec of a check.
pub fn spec(id: &str) -> Option<&'static CheckSpec> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Runs one check by id.
pub fn run(id: &str, ev: &Evidence) -> Result<Verdict, UnknownCheck> {
    spec(id).map(|c| (c.judge)(ev)).ok_or_else(|| UnknownCheck(id.to_string()))
}

/// Runs every check.
pub fn run_all(ev: &Evidence) -> Vec<(&'static str, Verdict)> {
    CHECKS.iter().map(|c| (c.id, (c.judge)(ev))).collect()
}

/// Everything in `ev` that could not be fetched (transport gaps) or could not be read (a check
/// failing with `cannot read <probe> output on <target>: <line>`), one line each, for the reports.
pub fn evidence_gaps(ev: &Evidence) -> Vec<String> {
    let mut out: Vec<String> =
        ev.gaps().iter().map(|g| format!("probe {} on {} could not be fetched: {}", g.probe, g.target.describe(), g.reason)).collect();
    for (_, v) in run_all(ev) {
        if let super::Outcome::Fail { found, .. } = &v.outcome {
            for part in found.split("; ") {
                if let Some(i) = part.find("cannot read ") {
                    let line = part[i..].trim_end_matches(')').to_string();
                    if !out.contains(&line) {
                        out.push(line);
                    }
                }
            }
        }
    }
    out
}
