//! [`ProbeCatalog`]: every probe id → script, scope, tier and the output format it yields.
//! Kubernetes objects are read by running kubectl with the admin kubeconfig on the control plane
//! over the same SSH transport; `kube_api::ClusterApiEvidence` can serve the cluster probes through the `kube` client instead (docs/evidence.md).

use crate::config::{NodeConfig, Profile, Role};

use super::{Evidence, Target};

/// The kubeconfig kubeadm writes on the control plane (the default of `kubeconfig` in the lab
/// config and the inventory).
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

/// kubectl as the probes run it on the control plane with the default kubeconfig.
pub const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// kubectl with `kubeconfig` (quoted when it holds spaces).
pub fn kubectl_with(kubeconfig: &str) -> String {
    if kubeconfig.contains(' ') { format!("kubectl --kubeconfig '{kubeconfig}'") } else { format!("kubectl --kubeconfig {kubeconfig}") }
}

/// Where a probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// On every node; one fact per node.
    EachNode,
    /// On the control-plane node only.
    ControlPlane,
    /// On every worker.
    Workers,
    /// Cluster-wide, fetched with kubectl on the control plane; stored under `cluster`.
    Cluster,
}

/// Test tier: `@host` facts exist in both profiles (live); `@k8s` facts need a cluster (live in
/// the guide profile, recorded in the offline profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Host-level, runnable live in the offline profile.
    Host,
    /// Needs Kubernetes.
    K8s,
}

impl Tier {
    /// Gherkin tag, `@host` or `@k8s`.
    pub fn tag(self) -> &'static str {
        match self {
            Tier::Host => "@host",
            Tier::K8s => "@k8s",
        }
    }
}

/// How a probe's script is obtained.
#[derive(Clone, Copy, Debug)]
pub enum Script {
    /// A fixed bash script.
    Fixed(&'static str),
    /// `kubectl --kubeconfig /etc/kubernetes/admin.conf <args>`.
    Kubectl(&'static str),
    /// Built from the lab (other nodes' names, facts gathered earlier); `None` when its inputs
    /// are missing.
    Generated(fn(&ScriptContext<'_>) -> Option<String>),
    /// Not a query: the output of a provisioning step, recorded by the provisioner with
    /// [`BundleWriter::write_fact`](super::BundleWriter::write_fact). The text names the step.
    StepOutput(&'static str),
    /// Not run on the node: read by kubelab from the hypervisor (libvirt); the text says what.
    Hypervisor(&'static str),
}

/// What a generated script may look at.
pub struct ScriptContext<'a> {
    /// The node the script will run on.
    pub node: &'a NodeConfig,
    /// Evidence gathered so far in this run (probes run in catalog order).
    pub so_far: &'a Evidence,
}

/// One probe.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// Stable id (the fact file name).
    pub id: &'static str,
    /// Where it runs.
    pub scope: Scope,
    /// `@host` or `@k8s`.
    pub tier: Tier,
    /// Profiles that run it live.
    pub profiles: &'static [Profile],
    /// The script.
    pub script: Script,
    /// Which tool/version's output format the fact holds.
    pub format: &'static str,
}

impl Probe {
    /// The exact script for `node` (`None`: a step output, or inputs missing).
    pub fn script_for(&self, ctx: &ScriptContext<'_>) -> Option<String> {
        match self.script {
            Script::Fixed(s) => Some(s.to_string()),
            Script::Kubectl(args) => Some(format!("{} {args}", kubectl_with(&ctx.so_far.header.kubeconfig))),
            Script::Generated(f) => f(ctx),
            Script::StepOutput(_) | Script::Hypervisor(_) => None,
        }
    }

    /// The targets this probe has among `nodes`, each with the node that runs it.
    pub fn targets<'n>(&self, nodes: &'n [NodeConfig]) -> Vec<(Target, &'n NodeConfig)> {
        let cp = nodes.iter().find(|n| n.role == Role::ControlPlane);
        match self.scope {
            Scope::EachNode => nodes.iter().map(|n| (Target::Node(n.name.clone()), n)).collect(),
            Scope::Workers => nodes.iter().filter(|n| n.role == Role::Worker).map(|n| (Target::Node(n.name.clone()), n)).collect(),
            Scope::ControlPlane => cp.map(|n| (Target::Node(n.name.clone()), n)).into_iter().collect(),
            Scope::Cluster => cp.map(|n| (Target::Cluster, n)).into_iter().collect(),
        }
    }
}

const BOTH: &[Profile] = &[Profile::Guide, Profile::Offline];
const GUIDE: &[Profile] = &[Profile::Guide];
const OFFLINE: &[Profile] = &[Profile::Offline];

/// The catalog of probes.
#[derive(Clone, Debug)]
pub struct ProbeCatalog {
    probes: Vec<Probe>,
}

impl Default for ProbeCatalog {
    fn default() -> Self {
        Self::standard()
    }
}

fn other_nodes<'a>(ctx: &'a ScriptContext<'_>) -> impl Iterator<Item = &'a NodeConfig> {
    ctx.so_far.header.nodes.iter().filter(move |n| n.name != ctx.node.name)
}

fn ping_peers(ctx: &ScriptContext<'_>) -> Option<String> {
    let names: Vec<&str> = other_nodes(ctx).map(|n| n.name.as_str()).collect();
    Some(format!(
        "for n in {}; do if ping -c1 -W2 \"$n\" >/dev/null 2>&1; then echo \"$n ok\"; else echo \"$n fail\"; fi; done",
        names.join(" ")
    ))
}

fn ipip_ping(ctx: &ScriptContext<'_>) -> Option<String> {
    let mut pairs = Vec::new();
    for n in other_nodes(ctx) {
        let f = ctx.so_far.fact("tunl0", &Target::Node(n.name.clone()))?;
        let addr = crate::parsers::parse_tunl0(&f.output.stdout).ok()?.address?;
        pairs.push(format!("{}={addr}", n.name));
    }
    Some(format!(
        "for t in {}; do n=${{t%%=*}}; a=${{t#*=}}; if ping -c1 -W2 \"$a\" >/dev/null 2>&1; then echo \"$n $a ok\"; else echo \"$n $a fail\"; fi; done",
        pairs.join(" ")
    ))
}

/// The `egress` probe: an HTTP fetch of the outside's file and a `docker pull` of its image,
/// each printed as `$ <command>`, its output (stderr too) and `exit <status>`; the pulled image
/// is removed again so the next probe downloads it anew.
pub fn egress_script(_: &ScriptContext<'_>) -> Option<String> {
    use crate::lab::outside::{file_url, image_ref};
    let curl =
        format!("curl -sS -o /dev/null -w \"http %{{http_code}} %{{size_download}} bytes\\n\" --connect-timeout 5 -m 30 {}", file_url());
    let pull = format!("timeout 120 docker pull {}", image_ref());
    Some(format!(
        "printf '$ %s\\n' '{curl}'\n{curl} 2>&1; echo \"exit $?\"\nprintf '$ %s\\n' '{pull}'\n{pull} 2>&1; echo \"exit $?\"\ndocker rmi -f {} >/dev/null 2>&1 || true\n",
        image_ref()
    ))
}

const LB_HTTP: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf get services -A -o jsonpath='{range .items[?(@.spec.type==\"LoadBalancer\")]}{.status.loadBalancer.ingress[0].ip}{\"\\n\"}{end}' | while read -r ip; do [ -n \"$ip\" ] || continue; echo \"$ip $(curl -s -o /dev/null -m 5 -w '%{http_code}' \"http://$ip/\")\"; done";

impl ProbeCatalog {
    /// Every probe kubelab knows, in gathering order (generated scripts come after their inputs).
    pub fn standard() -> Self {
        use Scope::*;
        use Script::*;
        use Tier::*;
        let p = |id, scope, tier, profiles, script, format| Probe { id, scope, tier, profiles, script, format };
        ProbeCatalog {
            probes: vec![
                // identity
                p("hostname", EachNode, Host, BOTH, Fixed("hostname"), "hostname(1): one line"),
                p("product-uuid", EachNode, Host, BOTH, Fixed("cat /sys/class/dmi/id/product_uuid"), "sysfs DMI product_uuid: one UUID"),
                p("machine-id", EachNode, Host, BOTH, Fixed("cat /etc/machine-id"), "systemd machine-id: 32 hex digits"),
                p("ip-link", EachNode, Host, BOTH, Fixed("ip -o link"), "iproute2 5.x `ip -o link`"),
                p(
                    "ssh-hostkey",
                    EachNode,
                    Host,
                    BOTH,
                    Fixed("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"),
                    "OpenSSH 8.x `ssh-keygen -lf`: `256 SHA256:... root@host (ED25519)`",
                ),
                p("etc-hosts", EachNode, Host, BOTH, Fixed("cat /etc/hosts"), "hosts(5)"),
                p(
                    "ping-peers",
                    EachNode,
                    Host,
                    BOTH,
                    Generated(ping_peers),
                    "kubelab: `<node> ok|fail` per other node, from `ping -c1 -W2 <name>`",
                ),
                p(
                    "ip-addr",
                    EachNode,
                    Host,
                    BOTH,
                    Fixed("ip -o -4 addr show"),
                    "iproute2 6.x `ip -o -4 addr show` (over the serial console when the node is cut off)",
                ),
                p(
                    "port-filter",
                    EachNode,
                    Host,
                    BOTH,
                    Hypervisor("the node's lab <interface> element of `virsh dumpxml <domain>`"),
                    "libvirt 11 domain XML `<interface>` element with its `<filterref>` binding",
                ),
                // the outside (guide pitfall 2)
                p(
                    "egress",
                    EachNode,
                    Host,
                    OFFLINE,
                    Generated(egress_script),
                    "kubelab: `$ <command>`, its output, `exit <status>` for curl 7.88 (`-w 'http %{http_code} %{size_download} bytes'`) and Docker 20.10 `docker pull`",
                ),
                p(
                    "floating-ips",
                    Cluster,
                    Host,
                    OFFLINE,
                    Hypervisor("the lab's cloud router: `ip netns exec <router> nft -j list table ip kubelab_outside`"),
                    "nftables 1.0 JSON (schema 1) of the router's table: one SNAT rule per floating IP",
                ),
                // host preparation
                p("swapon", EachNode, Host, BOTH, Fixed("swapon --show"), "util-linux 2.34+ `swapon --show` (empty when no swap)"),
                p("proc-swaps", EachNode, Host, BOTH, Fixed("cat /proc/swaps"), "Linux /proc/swaps"),
                p("fstab", EachNode, Host, BOTH, Fixed("cat /etc/fstab"), "fstab(5)"),
                p("lsmod", EachNode, Host, BOTH, Fixed("lsmod"), "kmod `lsmod`"),
                p(
                    "sysctl-net",
                    EachNode,
                    Host,
                    BOTH,
                    Fixed("sysctl net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward"),
                    "procps `sysctl key...`: `key = value` lines",
                ),
                p("listen-6443", EachNode, Host, BOTH, Fixed("ss -Htlnp 'sport = :6443'"), "iproute2 5.x `ss -Htlnp` (no header)"),
                p("docker-info", EachNode, Host, BOTH, Fixed("docker info"), "Docker 20.10 `docker info`"),
                p(
                    "kubelet-config",
                    EachNode,
                    Host,
                    BOTH,
                    Fixed("cat /var/lib/kubelet/config.yaml"),
                    "kubeadm 1.23 KubeletConfiguration v1beta1 YAML",
                ),
                p(
                    "network-manager",
                    EachNode,
                    Host,
                    BOTH,
                    Fixed(
                        "printf 'is-active: %s\\n' \"$(systemctl is-active NetworkManager 2>/dev/null)\"; dpkg -s network-manager 2>/dev/null | grep '^Status:' || echo 'Status: not-installed'",
                    ),
                    "kubelab: `is-active: <systemctl is-active>` + dpkg `Status:` line",
                ),
                // calico / BGP / tunnels
                p(
                    "bgp-calicoctl",
                    EachNode,
                    K8s,
                    GUIDE,
                    Fixed("calicoctl node status"),
                    "calicoctl 3.22 `node status` table (as in the guide)",
                ),
                p(
                    "bgp-birdc",
                    EachNode,
                    Host,
                    OFFLINE,
                    Fixed("birdc show protocols"),
                    "BIRD 2.0.x `birdc show protocols` (offline stand-in for calico's mesh)",
                ),
                p("ip-route", EachNode, Host, BOTH, Fixed("ip route"), "iproute2 5.x `ip route`"),
                p("tunl0", EachNode, Host, BOTH, Fixed("ip -d addr show tunl0"), "iproute2 5.x `ip -d addr show tunl0`"),
                p(
                    "ipip-ping",
                    EachNode,
                    Host,
                    BOTH,
                    Generated(ipip_ping),
                    "kubelab: `<node> <tunl0 addr> ok|fail` per other node (ping over IPIP, IP protocol 4)",
                ),
                // IPVS
                p("ipvsadm", EachNode, K8s, GUIDE, Fixed("ipvsadm -Ln"), "ipvsadm 1.31 `-Ln`"),
                p("kube-ipvs0", EachNode, K8s, GUIDE, Fixed("ip -d link show kube-ipvs0"), "iproute2 5.x `ip -d link show`"),
                p(
                    "proxy-mode",
                    EachNode,
                    K8s,
                    GUIDE,
                    Fixed("curl -s 127.0.0.1:10249/proxyMode"),
                    "kube-proxy 1.23 metrics mux `/proxyMode`: text/plain mode",
                ),
                p(
                    "kubelet-serving-cert",
                    EachNode,
                    K8s,
                    GUIDE,
                    Fixed("openssl x509 -in /var/lib/kubelet/pki/kubelet-server-current.pem -noout -subject -issuer -ext subjectAltName"),
                    "OpenSSL 1.1.1 `x509 -noout -subject -issuer -ext subjectAltName`",
                ),
                // kubernetes objects
                p("k8s-version", Cluster, K8s, GUIDE, Kubectl("get --raw /version"), "kube-apiserver 1.23 /version JSON"),
                p("k8s-nodes", Cluster, K8s, GUIDE, Kubectl("get nodes -o json"), "kubectl 1.23 v1 List of Node"),
                p("k8s-pods-kube-system", Cluster, K8s, GUIDE, Kubectl("get pods -n kube-system -o json"), "kubectl 1.23 v1 List of Pod"),
                p(
                    "k8s-csr",
                    Cluster,
                    K8s,
                    GUIDE,
                    Kubectl("get csr -o json"),
                    "kubectl 1.23 List of certificates.k8s.io/v1 CertificateSigningRequest",
                ),
                p(
                    "k8s-apiservice-metrics",
                    Cluster,
                    K8s,
                    GUIDE,
                    Kubectl("get apiservice v1beta1.metrics.k8s.io -o json"),
                    "apiregistration.k8s.io/v1 APIService",
                ),
                p(
                    "k8s-node-metrics",
                    Cluster,
                    K8s,
                    GUIDE,
                    Kubectl("get --raw /apis/metrics.k8s.io/v1beta1/nodes"),
                    "metrics-server 0.6.1 NodeMetricsList",
                ),
                p(
                    "k8s-kube-proxy-cm",
                    Cluster,
                    K8s,
                    GUIDE,
                    Kubectl("get configmap -n kube-system kube-proxy -o json"),
                    "v1 ConfigMap; data.config.conf is KubeProxyConfiguration v1alpha1 YAML",
                ),
                p("k8s-services", Cluster, K8s, GUIDE, Kubectl("get services -A -o json"), "kubectl 1.23 v1 List of Service"),
                // add-ons, run on the control plane
                p("helm-version", ControlPlane, K8s, GUIDE, Fixed("helm version --short"), "Helm 3 `version --short`: `v3.8.0+gd141386`"),
                p(
                    "lb-http",
                    ControlPlane,
                    K8s,
                    GUIDE,
                    Fixed(LB_HTTP),
                    "kubelab: `<ingress ip> <http code>` per LoadBalancer Service (curl)",
                ),
                // provisioning step outputs
                p(
                    "kubeadm-join",
                    Workers,
                    K8s,
                    GUIDE,
                    StepOutput("`kubeadm join <cp>:6443 --token ... --discovery-token-ca-cert-hash ... -v=5`"),
                    "kubeadm 1.23 `join -v=5` stdout/stderr, recorded by the provisioner",
                ),
            ],
        }
    }

    /// This catalog with `f` applied to every probe (e.g. another format note for facts
    /// fetched through another transport).
    pub fn map_probes(mut self, f: impl FnMut(&mut Probe)) -> Self {
        self.probes.iter_mut().for_each(f);
        self
    }

    /// All probes in gathering order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// A probe by id.
    pub fn get(&self, id: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;
    use crate::evidence::{EvidenceHeader, Fact, Origin};
    use crate::remote::ExecOutput;

    #[test]
    fn ids_unique_and_scripts_quote_kubectl() {
        let c = ProbeCatalog::standard();
        let mut ids: Vec<_> = c.probes().iter().map(|p| p.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), c.probes().len());
        let cfg = LabConfig::default();
        let ev = Evidence::new(EvidenceHeader::from_config(&cfg, "test"));
        let ctx = ScriptContext { node: &cfg.nodes[0], so_far: &ev };
        assert_eq!(c.get("k8s-csr").unwrap().script_for(&ctx).unwrap(), "kubectl --kubeconfig /etc/kubernetes/admin.conf get csr -o json");
        assert_eq!(c.get("k8s-nodes").unwrap().targets(&cfg.nodes), vec![(Target::Cluster, &cfg.nodes[0])]);
        assert_eq!(c.get("kubeadm-join").unwrap().targets(&cfg.nodes).len(), 2);
        assert!(c.get("kubeadm-join").unwrap().script_for(&ctx).is_none());
    }

    #[test]
    fn generated_scripts_name_the_other_nodes() {
        let cfg = LabConfig::default();
        let mut ev = Evidence::new(EvidenceHeader::from_config(&cfg, "test"));
        let c = ProbeCatalog::standard();
        let ctx = ScriptContext { node: &cfg.nodes[1], so_far: &ev };
        let s = c.get("ping-peers").unwrap().script_for(&ctx).unwrap();
        assert!(s.contains("for n in ICE-k8s-machines-node0 ICE-k8s-machines-node2;"), "{s}");
        assert!(c.get("ipip-ping").unwrap().script_for(&ctx).is_none(), "no tunl0 facts yet");
        for (i, n) in cfg.nodes.iter().enumerate() {
            ev.insert(Fact {
                probe: "tunl0".into(),
                target: Target::Node(n.name.clone()),
                command: "ip -d addr show tunl0".into(),
                output: ExecOutput::ok(format!("5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480\n    link/ipip 0.0.0.0 brd 0.0.0.0\n    ipip any remote any\n    inet 10.233.{i}.0/32 scope global tunl0\n")),
                fetched_at: "2022-05-01T00:00:00Z".into(),
                origin: Origin::Live { via: "ssh".into() },
            });
        }
        let ctx = ScriptContext { node: &cfg.nodes[1], so_far: &ev };
        let s = c.get("ipip-ping").unwrap().script_for(&ctx).unwrap();
        assert!(s.contains("ICE-k8s-machines-node0=10.233.0.0 ICE-k8s-machines-node2=10.233.2.0"), "{s}");
    }
}
