//! [`Plan`]: the guide as ordered steps with stable ids, rendered from a [`LabConfig`] (pure).
//! [`StepFilter`] selects a part of it (`--only`, `--from`, `--until`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::config::{LabConfig, Profile, Role};

use super::ProvisionError;
use super::pins::PinSet;
use super::scripts::{self, Ctx, Scripts};
use super::waits::{ClusterWait, StepWait};

/// Every step id, in run order.
pub const STEP_IDS: [&str; 27] = [
    "host.hosts-file",
    "host.swap-off",
    "host.br-netfilter",
    "host.sysctl",
    "host.firewall-off",
    "host.ipvs-modules",
    "host.network-manager",
    "docker.install",
    "docker.cgroup-systemd",
    "docker.outside-registry",
    "k8s.packages",
    "kubeadm.images-pull",
    "kubeadm.init",
    "kubeadm.join",
    "kubeconfig",
    "calico.apply",
    "bgp.bird-mesh",
    "net.ipip-tunnels",
    "calicoctl.install",
    "kube-proxy.ipvs",
    "kubelet.server-tls-bootstrap",
    "csr.approve",
    "metrics-server.apply",
    "helm.install",
    "metallb.strict-arp",
    "metallb.apply",
    "metallb.pool",
];

/// Skip reason of the Kubernetes steps in the offline profile.
pub const NEEDS_GUIDE_PROFILE: &str = "needs the guide profile (internet)";

/// Which nodes a step runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepNodes {
    /// Every node, concurrently.
    All,
    /// The control-plane node only.
    ControlPlane,
    /// Every worker, concurrently.
    Workers,
}

/// One node as the plan sees it: address, role, and its calico-style pod block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanNode {
    /// Node name (hostname).
    pub name: String,
    /// Node address.
    pub ip: Ipv4Addr,
    /// True for the control-plane node.
    pub control_plane: bool,
    /// The node's /26 carved from `pod_cidr` in node order (calico IPAM block size).
    pub pod_block: Ipv4Net,
    /// The node's IPIP tunnel address: first host of its pod block.
    pub tunnel_addr: Ipv4Addr,
}

/// One provisioning step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Stable id, e.g. `host.sysctl`.
    pub id: &'static str,
    /// What the guide says, in a few words.
    pub guide: &'static str,
    /// Where it runs.
    pub nodes: StepNodes,
    /// Profiles it runs in.
    pub profiles: Vec<Profile>,
    /// Bash: exit 0 when the node already is in the wanted state.
    pub check: String,
    /// Bash: brings the node into the wanted state.
    pub action: String,
    /// Set when this plan's profile does not run the step: the reason.
    pub skip: Option<String>,
    /// The action needs a join token and CA hash from the control plane (`kubeadm.join`).
    pub needs_join_credentials: bool,
    /// A cluster milestone awaited through the Kubernetes API after the action, before the
    /// re-check (no bash polling).
    pub wait: Option<StepWait>,
}

/// The ordered steps for one lab config and profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Profile the plan was rendered for.
    pub profile: Profile,
    /// The nodes, in config order.
    pub nodes: Vec<PlanNode>,
    /// The steps, in run order.
    pub steps: Vec<Step>,
    /// Runs on the control plane before `kubeadm.join`; prints `token=` and `hash=` lines.
    pub join_credentials_script: String,
}

const BOTH: &[Profile] = &[Profile::Guide, Profile::Offline];
const GUIDE: &[Profile] = &[Profile::Guide];
const OFFLINE: &[Profile] = &[Profile::Offline];

type Render = fn(&Ctx<'_>) -> Scripts;
/// (id, guide, nodes, profiles, skip reason outside those profiles, renderer)
type Row = (&'static str, &'static str, StepNodes, &'static [Profile], &'static str, Render);

fn table() -> Vec<Row> {
    use StepNodes::{All, ControlPlane, Workers};
    let cal = "calico provides the BGP mesh in the guide profile";
    let tun = "calico provides the IPIP tunnels (tunl0) in the guide profile";
    let k8s = NEEDS_GUIDE_PROFILE;
    vec![
        ("host.hosts-file", "/etc/hosts block naming the three nodes", All, BOTH, "", scripts::hosts_file),
        ("host.swap-off", "comment out swap in /etc/fstab; swapoff -a", All, BOTH, "", scripts::swap_off),
        ("host.br-netfilter", "modprobe br_netfilter", All, BOTH, "", scripts::br_netfilter),
        ("host.sysctl", "bridge-nf-call-iptables, ip_forward (kubeadm prerequisites)", All, BOTH, "", scripts::sysctl),
        ("host.firewall-off", "ufw disable (iptables stays)", All, BOTH, "", scripts::firewall_off),
        (
            "host.ipvs-modules",
            "modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack; ipvsadm ipset",
            All,
            BOTH,
            "",
            scripts::ipvs_modules,
        ),
        ("host.network-manager", "apt-get remove network-manager", All, BOTH, "", scripts::network_manager),
        ("docker.install", "install Docker; usermod -aG docker", All, BOTH, "", scripts::docker_install),
        ("docker.cgroup-systemd", "daemon.json exec-opts native.cgroupdriver=systemd", All, BOTH, "", scripts::docker_cgroup),
        (
            "docker.outside-registry",
            "offline stand-in for Docker Hub: daemon.json insecure-registries lists the outside's plain-HTTP registry",
            All,
            OFFLINE,
            "the guide profile pulls from the internet's registries over TLS",
            scripts::docker_outside_registry,
        ),
        ("k8s.packages", "kubelet kubeadm kubectl 1.23.6, held", All, GUIDE, k8s, scripts::k8s_packages),
        ("kubeadm.images-pull", "kubeadm config images pull", ControlPlane, GUIDE, k8s, scripts::images_pull),
        ("kubeadm.init", "kubeadm init --pod-network-cidr=10.233.0.0/16", ControlPlane, GUIDE, k8s, scripts::kubeadm_init),
        ("kubeadm.join", "kubeadm join node0:6443 --token --discovery-token-ca-cert-hash", Workers, GUIDE, k8s, scripts::kubeadm_join),
        ("kubeconfig", "copy admin.conf to ~/.kube/config; export KUBECONFIG", ControlPlane, GUIDE, k8s, scripts::kubeconfig),
        ("calico.apply", "kubectl apply -f calico.yaml (v3.22.2)", ControlPlane, GUIDE, k8s, scripts::calico_apply),
        ("bgp.bird-mesh", "calico's BGP node-to-node mesh (offline stand-in: BIRD 2)", All, OFFLINE, cal, scripts::bird_mesh),
        ("net.ipip-tunnels", "calico's IPIP dataplane (offline stand-in: ip tunnel mode ipip)", All, OFFLINE, tun, scripts::ipip_tunnels),
        ("calicoctl.install", "install calicoctl", ControlPlane, GUIDE, k8s, scripts::calicoctl_install),
        ("kube-proxy.ipvs", "kube-proxy ConfigMap mode: ipvs; delete kube-proxy pods", ControlPlane, GUIDE, k8s, scripts::kube_proxy_ipvs),
        (
            "kubelet.server-tls-bootstrap",
            "serverTLSBootstrap: true in kubelet-config-1.23 and /var/lib/kubelet/config.yaml",
            All,
            GUIDE,
            k8s,
            scripts::server_tls_bootstrap,
        ),
        ("csr.approve", "kubectl certificate approve (kubelet-serving CSRs)", ControlPlane, GUIDE, k8s, scripts::csr_approve),
        ("metrics-server.apply", "metrics-server 0.6.1 components.yaml", ControlPlane, GUIDE, k8s, scripts::metrics_server),
        ("helm.install", "Helm 3.8.0 binary", ControlPlane, GUIDE, k8s, scripts::helm_install),
        ("metallb.strict-arp", "kube-proxy ConfigMap ipvs.strictARP: true", ControlPlane, GUIDE, k8s, scripts::metallb_strict_arp),
        ("metallb.apply", "MetalLB 0.12.1 namespace.yaml + metallb.yaml", ControlPlane, GUIDE, k8s, scripts::metallb_apply),
        ("metallb.pool", "MetalLB layer2 address-pool ConfigMap", ControlPlane, GUIDE, k8s, scripts::metallb_pool),
    ]
}

/// The milestones awaited through the kube client, and their budgets.
fn wait_of(id: &str) -> Option<StepWait> {
    let (wait, timeout_secs) = match id {
        "calico.apply" => (ClusterWait::NodesReady, 600),
        "csr.approve" => (ClusterWait::ServingCsrsApproved, 180),
        "metrics-server.apply" => (ClusterWait::MetricsApiAvailable, 180),
        "metallb.pool" => (ClusterWait::LoadBalancerIngress, 120),
        _ => return None,
    };
    Some(StepWait { wait, timeout_secs })
}

fn header(id: &str, kind: &str, body: &str) -> String {
    format!("# kubelab step {id} ({kind})\nset -euo pipefail\nexport DEBIAN_FRONTEND=noninteractive\n{body}")
}

impl Plan {
    /// Renders the plan for `cfg` (its profile, versions, mirror, nodes).
    ///
    /// Fails in the guide profile when a version has no pinned checksum, and when `pod_cidr`
    /// has no room for one /26 pod block per node.
    pub fn from_config(cfg: &LabConfig) -> Result<Plan, ProvisionError> {
        let pins = match cfg.profile {
            Profile::Guide => Some(PinSet::for_versions(&cfg.versions)?),
            // Offline never downloads; the guide scripts are still rendered when pinnable.
            Profile::Offline => PinSet::for_versions(&cfg.versions).ok(),
        };
        let nodes = plan_nodes(cfg)?;
        let ctx = Ctx { cfg, pins: pins.as_ref(), nodes: &nodes };
        let steps = table()
            .into_iter()
            .map(|(id, guide, where_, profiles, reason, render)| {
                let s = render(&ctx);
                Step {
                    id,
                    guide,
                    nodes: where_,
                    profiles: profiles.to_vec(),
                    check: header(id, "check", &s.check),
                    // A step whose whole action is its wait (csr.approve) sends no script.
                    action: if s.action.is_empty() { String::new() } else { header(id, "action", &s.action) },
                    skip: (!profiles.contains(&cfg.profile)).then(|| reason.to_string()),
                    needs_join_credentials: id == "kubeadm.join",
                    wait: wait_of(id),
                }
            })
            .collect();
        Ok(Plan { profile: cfg.profile, nodes, steps, join_credentials_script: scripts::join_credentials() })
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The nodes a step runs on, in config order.
    pub fn targets(&self, step: &Step) -> Vec<&PlanNode> {
        self.nodes
            .iter()
            .filter(|n| match step.nodes {
                StepNodes::All => true,
                StepNodes::ControlPlane => n.control_plane,
                StepNodes::Workers => !n.control_plane,
            })
            .collect()
    }

    /// The control-plane node.
    pub fn control_plane(&self) -> &PlanNode {
        self.nodes.iter().find(|n| n.control_plane).unwrap_or(&self.nodes[0])
    }

    /// A step script as sent to `node`: `KUBELAB_NODE`, `KUBELAB_NODE_IP` and `KUBELAB_ROLE`
    /// exported, then the script.
    pub fn script_for(&self, node: &PlanNode, script: &str) -> String {
        format!(
            "export KUBELAB_NODE='{}'\nexport KUBELAB_NODE_IP='{}'\nexport KUBELAB_ROLE='{}'\n{script}",
            node.name,
            node.ip,
            if node.control_plane { "control-plane" } else { "worker" }
        )
    }
}

fn plan_nodes(cfg: &LabConfig) -> Result<Vec<PlanNode>, ProvisionError> {
    let base = u32::from(cfg.pod_cidr.network());
    let room = if cfg.pod_cidr.prefix_len() <= 26 { 1u64 << (26 - cfg.pod_cidr.prefix_len()) } else { 0 };
    if (cfg.nodes.len() as u64) > room {
        return Err(ProvisionError::PodBlocks { cidr: cfg.pod_cidr.to_string(), nodes: cfg.nodes.len() });
    }
    Ok(cfg
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let start = base + 64 * i as u32;
            PlanNode {
                name: n.name.clone(),
                ip: n.ip,
                control_plane: n.role == Role::ControlPlane,
                pod_block: Ipv4Net::new(Ipv4Addr::from(start), 26).expect("prefix 26 is valid"),
                tunnel_addr: Ipv4Addr::from(start + 1),
            }
        })
        .collect())
}

/// Which steps a run covers: `--only STEP` (repeatable), or a `--from STEP` / `--until STEP`
/// range (inclusive). Empty = every step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepFilter {
    /// Run only these steps.
    pub only: Vec<String>,
    /// Start at this step.
    pub from: Option<String>,
    /// Stop after this step.
    pub until: Option<String>,
}

impl StepFilter {
    /// For each plan step: `None` if selected, else the reason it is not.
    pub fn resolve(&self, plan: &Plan) -> Result<Vec<Option<String>>, ProvisionError> {
        let index = |id: &str| {
            plan.steps.iter().position(|s| s.id == id).ok_or_else(|| ProvisionError::UnknownStep {
                id: id.to_string(),
                known: plan.steps.iter().map(|s| s.id).collect::<Vec<_>>().join(", "),
            })
        };
        if !self.only.is_empty() {
            if self.from.is_some() || self.until.is_some() {
                return Err(ProvisionError::Filter("--only cannot be combined with --from/--until".into()));
            }
            let wanted = self.only.iter().map(|id| index(id)).collect::<Result<Vec<_>, _>>()?;
            let list = self.only.join(", ");
            return Ok((0..plan.steps.len()).map(|i| (!wanted.contains(&i)).then(|| format!("not selected (--only {list})"))).collect());
        }
        let from = self.from.as_deref().map(index).transpose()?.unwrap_or(0);
        let until = self.until.as_deref().map(index).transpose()?.unwrap_or(plan.steps.len().saturating_sub(1));
        if from > until {
            return Err(ProvisionError::Filter(format!(
                "--from {} comes after --until {}",
                self.from.as_deref().unwrap_or_default(),
                self.until.as_deref().unwrap_or_default()
            )));
        }
        Ok((0..plan.steps.len())
            .map(|i| {
                if i < from {
                    Some(format!("not selected (--from {})", self.from.as_deref().unwrap_or_default()))
                } else if i > until {
                    Some(format!("not selected (--until {})", self.until.as_deref().unwrap_or_default()))
                } else {
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mirror;

    fn guide() -> LabConfig {
        LabConfig { profile: Profile::Guide, ..LabConfig::default() }
    }

    fn render_all(plan: &Plan) -> String {
        let mut out = String::new();
        for s in &plan.steps {
            out.push_str(&format!("===== {} [{:?}] profiles={:?}\n", s.id, s.nodes, s.profiles));
            match &s.skip {
                Some(reason) => out.push_str(&format!("SKIPPED: {reason}\n")),
                None => out.push_str(&format!("----- check\n{}----- action\n{}", s.check, s.action)),
            }
            if let (Some(w), None) = (&s.wait, &s.skip) {
                out.push_str(&format!(
                    "----- then through the kube client: {:?} ({}), at most {} s\n",
                    w.wait,
                    w.wait.describe(),
                    w.timeout_secs
                ));
            }
        }
        out
    }

    #[test]
    fn step_ids_are_the_plan_order() {
        let plan = Plan::from_config(&guide()).unwrap();
        assert_eq!(plan.steps.iter().map(|s| s.id).collect::<Vec<_>>(), STEP_IDS.to_vec());
    }

    #[test]
    fn pod_blocks_are_consecutive_26s_of_the_pod_cidr() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let blocks: Vec<String> = plan.nodes.iter().map(|n| format!("{} {}", n.pod_block, n.tunnel_addr)).collect();
        assert_eq!(blocks, ["10.233.0.0/26 10.233.0.1", "10.233.0.64/26 10.233.0.65", "10.233.0.128/26 10.233.0.129"]);
        let tiny = LabConfig { pod_cidr: "10.233.0.0/26".parse().unwrap(), ..LabConfig::default() };
        assert!(matches!(Plan::from_config(&tiny), Err(ProvisionError::PodBlocks { nodes: 3, .. })));
    }

    #[test]
    fn guide_profile_scripts_snapshot() {
        insta::assert_snapshot!("guide_profile_scripts", render_all(&Plan::from_config(&guide()).unwrap()));
    }

    #[test]
    fn offline_profile_scripts_snapshot() {
        insta::assert_snapshot!("offline_profile_scripts", render_all(&Plan::from_config(&LabConfig::default()).unwrap()));
    }

    #[test]
    fn aliyun_mirror_uses_the_guides_repo_and_image_repository() {
        let cfg = LabConfig { mirror: Mirror::Aliyun, ..guide() };
        let plan = Plan::from_config(&cfg).unwrap();
        let pk = plan.step("k8s.packages").unwrap();
        assert!(pk.action.contains("https://mirrors.aliyun.com/kubernetes/apt/ kubernetes-xenial main"));
        assert!(pk.action.contains("kubelet=1.23.6-00 kubeadm=1.23.6-00 kubectl=1.23.6-00"));
        assert!(pk.action.contains("apt-mark hold kubelet kubeadm kubectl"));
        let init = plan.step("kubeadm.init").unwrap();
        assert!(init.action.contains("--image-repository registry.aliyuncs.com/google_containers"));
        assert!(init.action.contains("--pod-network-cidr=10.233.0.0/16 --service-cidr=10.96.0.0/12"));
        let up = Plan::from_config(&guide()).unwrap();
        let init = up.step("kubeadm.init").unwrap();
        assert!(init.action.contains("imageRepository: registry.k8s.io\ndns:\n  imageRepository: registry.k8s.io/coredns"));
        assert!(init.action.contains("networking:\n  podSubnet: 10.233.0.0/16\n  serviceSubnet: 10.96.0.0/12\n"));
        assert!(!up.step("k8s.packages").unwrap().action.contains("aliyun"));
    }

    /// `shellcheck -s bash` over every script of every profile/mirror variant, as sent to a
    /// node. Fails when shellcheck is missing and `CI` is set.
    #[test]
    fn every_rendered_script_passes_shellcheck() {
        let shellcheck = std::env::var("SHELLCHECK").unwrap_or_else(|_| "shellcheck".into());
        assert!(
            std::process::Command::new(&shellcheck).arg("--version").output().is_ok(),
            "shellcheck is required: apt-get install shellcheck (ci/labenv setup)"
        );
        let configs = [guide(), LabConfig { mirror: Mirror::Aliyun, ..guide() }, LabConfig::default()];
        let mut problems = Vec::new();
        let mut checked = 0;
        for cfg in &configs {
            let plan = Plan::from_config(cfg).unwrap();
            let mut scripts: Vec<(String, String)> = vec![("join-credentials".into(), plan.join_credentials_script.clone())];
            for s in &plan.steps {
                scripts.push((format!("{} check", s.id), s.check.clone()));
                scripts.push((format!("{} action", s.id), s.action.clone()));
            }
            for (name, body) in scripts {
                let full = plan.script_for(&plan.nodes[0], &body);
                let mut child = std::process::Command::new(&shellcheck)
                    .args(["-s", "bash", "-"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(full.as_bytes()).unwrap();
                let out = child.wait_with_output().unwrap();
                checked += 1;
                if !out.status.success() {
                    problems.push(format!("[{} {:?}] {name}:\n{}", cfg.profile.as_str(), cfg.mirror, String::from_utf8_lossy(&out.stdout)));
                }
            }
        }
        assert!(checked > 150, "only {checked} scripts checked");
        assert!(problems.is_empty(), "{} scripts fail shellcheck:\n{}", problems.len(), problems.join("\n"));
    }

    #[test]
    fn skips_follow_the_profile() {
        let off = Plan::from_config(&LabConfig::default()).unwrap();
        for s in &off.steps {
            let kube = !s.id.starts_with("host.") && !s.id.starts_with("docker.") && !s.id.starts_with("bgp.") && !s.id.starts_with("net.");
            assert_eq!(s.skip.as_deref() == Some(NEEDS_GUIDE_PROFILE), kube, "{}", s.id);
        }
        let g = Plan::from_config(&guide()).unwrap();
        assert_eq!(g.step("bgp.bird-mesh").unwrap().skip.as_deref(), Some("calico provides the BGP mesh in the guide profile"));
        assert!(g.step("net.ipip-tunnels").unwrap().skip.is_some());
        assert_eq!(
            g.step("docker.outside-registry").unwrap().skip.as_deref(),
            Some("the guide profile pulls from the internet's registries over TLS")
        );
        assert_eq!(g.steps.iter().filter(|s| s.skip.is_some()).count(), 3);
    }

    #[test]
    fn filter_selects_ranges_and_rejects_unknown_ids() {
        let plan = Plan::from_config(&guide()).unwrap();
        let f = StepFilter { from: Some("kubeadm.init".into()), until: Some("kubeconfig".into()), ..Default::default() };
        let sel: Vec<&str> = f.resolve(&plan).unwrap().iter().zip(&plan.steps).filter(|(r, _)| r.is_none()).map(|(_, s)| s.id).collect();
        assert_eq!(sel, ["kubeadm.init", "kubeadm.join", "kubeconfig"]);
        let only = StepFilter { only: vec!["host.sysctl".into()], ..Default::default() };
        let r = only.resolve(&plan).unwrap();
        assert_eq!(r.iter().filter(|r| r.is_none()).count(), 1);
        assert_eq!(r[0].as_deref(), Some("not selected (--only host.sysctl)"));
        let bad = StepFilter { only: vec!["host.nope".into()], ..Default::default() };
        assert!(bad.resolve(&plan).unwrap_err().to_string().contains("unknown step `host.nope`"));
        let backwards = StepFilter { from: Some("kubeconfig".into()), until: Some("kubeadm.init".into()), ..Default::default() };
        assert!(backwards.resolve(&plan).is_err());
    }
}
