//! The config's shape: [`LabConfig`] and the types it holds ([`NodeConfig`], [`Versions`], [`Profile`],
//! [`Role`], [`Accel`], [`Mirror`]), its defaults (the guide's values), bounds, and the lookups
//! later steps use (`control_plane`, `node`, `lab_dir`, `domain_name`, `network_name`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Which of the two lab profiles to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Ubuntu 20.04 cloud image, internet access, the whole guide.
    Guide,
    /// A Debian 12 image kubelab builds itself; no internet; host-level steps only
    /// (plus the BIRD stand-in for calico's BGP mesh).
    Offline,
}

impl Profile {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Guide => "guide",
            Profile::Offline => "offline",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "guide" => Ok(Profile::Guide),
            "offline" => Ok(Profile::Offline),
            other => Err(format!("unknown profile `{other}` (expected `guide` or `offline`)")),
        }
    }
}

/// Role of a node in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs `kubeadm init` (the guide's node0).
    ControlPlane,
    /// Runs `kubeadm join`.
    Worker,
}

/// Hardware acceleration for the guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Try KVM; if a guest shows no boot progress, fall back to TCG.
    Auto,
    /// Hardware virtualisation only.
    Kvm,
    /// Software emulation only.
    Tcg,
}

/// One node of the lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Hostname and libvirt domain suffix, e.g. `ICE-k8s-machines-node0`.
    pub name: String,
    /// Static address inside the lab subnet.
    pub ip: Ipv4Addr,
    /// Control plane or worker.
    pub role: Role,
}

/// Versions of everything the guide installs (the guide's table; overridable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Versions {
    /// kubeadm, kubelet and kubectl.
    pub kubernetes: String,
    /// calico manifest and calicoctl.
    pub calico: String,
    /// metrics-server components.yaml.
    pub metrics_server: String,
    /// MetalLB manifests.
    pub metallb: String,
    /// Helm binary.
    pub helm: String,
    /// cfssl / cfssljson.
    pub cfssl: String,
    /// docker-ce (held).
    pub docker: String,
}

impl Versions {
    /// Every key of the table with its value, in file order.
    pub fn entries(&self) -> [(&'static str, &str); 7] {
        [
            ("kubernetes", &self.kubernetes),
            ("calico", &self.calico),
            ("metrics_server", &self.metrics_server),
            ("metallb", &self.metallb),
            ("helm", &self.helm),
            ("cfssl", &self.cfssl),
            ("docker", &self.docker),
        ]
    }
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            kubernetes: "1.23.6".into(),
            calico: "3.22.2".into(),
            metrics_server: "0.6.1".into(),
            metallb: "0.12.1".into(),
            helm: "3.8.0".into(),
            cfssl: "1.6.1".into(),
            docker: "20.10.24".into(),
        }
    }
}

/// Where packages and images come from in the guide profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mirror {
    /// Pinned, checksum-verified upstream sources (dl.k8s.io, registry.k8s.io, quay.io).
    #[default]
    Upstream,
    /// The guide's own choice: mirrors.aliyun.com apt and registry.aliyuncs.com/google_containers.
    Aliyun,
}

/// The whole lab configuration, as parsed from TOML (or defaulted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabConfig {
    /// Lab name; every libvirt resource is prefixed and tagged with it.
    pub name: String,
    /// `guide` or `offline`.
    pub profile: Profile,
    /// libvirt connection URI: `driver[+transport]://[user@][host[:port]]/path[?query]`,
    /// e.g. `qemu:///system` or `qemu+ssh://user@host/system`.
    pub libvirt_uri: String,
    /// `auto`, `kvm` or `tcg`.
    pub accel: Accel,
    /// Login user created on every node (the guide's `speit`; a name `useradd` accepts).
    pub user: String,
    /// Node subnet; the host side of the lab bridge takes `gateway`.
    pub subnet: Ipv4Net,
    /// Address of the lab bridge on the hypervisor.
    pub gateway: Ipv4Addr,
    /// `kubeadm init --pod-network-cidr`.
    pub pod_cidr: Ipv4Net,
    /// `kubeadm init --service-cidr` (kubeadm's default `10.96.0.0/12`); disjoint from `pod_cidr`
    /// and `subnet`, a /12 to /28.
    pub service_cidr: Ipv4Net,
    /// MetalLB layer-2 pool: `a.b.c.d-e.f.g.h` or a CIDR inside `subnet`, clear of the nodes
    /// and the gateway.
    pub metallb_pool: String,
    /// Guest memory in MiB (1024-65536).
    pub memory_mib: u64,
    /// Guest vCPUs (1-64).
    pub vcpus: u32,
    /// Seconds to wait for a guest to answer SSH (1-86400).
    pub boot_timeout_secs: u64,
    /// Seconds without serial-console output after which a guest counts as not booting (1-86400).
    pub boot_progress_secs: u64,
    /// With `accel = auto`: seconds a KVM guest may print nothing on its serial console before
    /// the lab falls back to TCG (1-86400; at most `boot_progress_secs` is used). A working KVM
    /// guest prints its first kernel line within a second or two; nested KVM that hangs prints
    /// nothing, and every `up` on such a host pays this wait once.
    pub kvm_probe_secs: u64,
    /// Where per-lab state (keys, seeds, overlays, evidence) lives (absolute).
    pub state_dir: PathBuf,
    /// Where base images are cached (absolute).
    pub image_cache: PathBuf,
    /// Explicit base image (overrides the profile's cached image; absolute).
    pub base_image: Option<PathBuf>,
    /// Versions table.
    pub versions: Versions,
    /// Package and image mirrors (guide profile).
    pub mirror: Mirror,
    /// The three nodes.
    pub nodes: Vec<NodeConfig>,
    /// kubeconfig the kubectl probes use on the control plane (kubeadm writes
    /// `/etc/kubernetes/admin.conf`; binary installs keep it elsewhere).
    pub kubeconfig: String,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            name: "kubelab".into(),
            profile: Profile::Offline,
            libvirt_uri: "qemu:///system".into(),
            accel: Accel::Auto,
            user: "speit".into(),
            subnet: "192.168.1.0/24".parse().expect("static"),
            gateway: Ipv4Addr::new(192, 168, 1, 1),
            pod_cidr: "10.233.0.0/16".parse().expect("static"),
            service_cidr: DEFAULT_SERVICE_CIDR.parse().expect("static"),
            metallb_pool: "192.168.1.200-192.168.1.220".into(),
            memory_mib: 2048,
            vcpus: 2,
            boot_timeout_secs: 900,
            boot_progress_secs: 120,
            kvm_probe_secs: 15,
            state_dir: PathBuf::from("/var/lib/kubelab"),
            image_cache: PathBuf::from("/var/cache/kubelab/images"),
            base_image: None,
            versions: Versions::default(),
            mirror: Mirror::Upstream,
            nodes: (0..3)
                .map(|i| NodeConfig {
                    name: format!("ICE-k8s-machines-node{i}"),
                    ip: Ipv4Addr::new(192, 168, 1, 134 + i as u8),
                    role: if i == 0 { Role::ControlPlane } else { Role::Worker },
                })
                .collect(),
            kubeconfig: crate::evidence::ADMIN_KUBECONFIG.into(),
        }
    }
}

/// kubeadm's default `--service-cidr`.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// Smallest `memory_mib` (kubeadm's preflight wants 1700 MB on the control plane).
pub const MEMORY_MIB_MIN: u64 = 1024;
/// Largest `memory_mib` (64 GiB per guest).
pub const MEMORY_MIB_MAX: u64 = 64 * 1024;
/// Largest `vcpus`.
pub const VCPUS_MAX: u32 = 64;
/// Largest timeout in seconds (a day).
pub const TIMEOUT_SECS_MAX: u64 = 24 * 3600;

impl LabConfig {
    /// How long `accel = auto` waits for a KVM guest's first console byte before falling back
    /// to TCG: `kvm_probe_secs`, never longer than `boot_progress_secs`.
    pub fn kvm_probe(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.kvm_probe_secs.min(self.boot_progress_secs))
    }

    /// MiB of guest memory the whole lab needs (every node's `memory_mib`).
    pub fn memory_needed_mib(&self) -> u64 {
        self.memory_mib.saturating_mul(self.nodes.len() as u64)
    }

    /// [`super::memory_warning`] for this lab against `MemAvailable` (KiB).
    pub fn memory_warning(&self, available_kib: u64) -> Option<String> {
        super::memory_warning(self.memory_needed_mib(), self.nodes.len(), self.memory_mib, available_kib)
    }

    /// The control-plane node (validation guarantees there is exactly one).
    pub fn control_plane(&self) -> &NodeConfig {
        self.nodes.iter().find(|n| n.role == Role::ControlPlane).expect("validated")
    }

    /// Looks a node up by full name, by `nodeN` suffix, or by index.
    pub fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .or_else(|| self.nodes.iter().find(|n| n.name.to_ascii_lowercase().ends_with(&name.to_ascii_lowercase())))
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.nodes.get(i)))
    }

    /// Directory holding this lab's state.
    pub fn lab_dir(&self) -> PathBuf {
        self.state_dir.join(&self.name)
    }

    /// The libvirt domain name of a node.
    pub fn domain_name(&self, node: &NodeConfig) -> String {
        format!("{}-{}", self.name, node.name)
    }

    /// The libvirt network name of the lab.
    pub fn network_name(&self) -> String {
        format!("{}-net", self.name)
    }
}
