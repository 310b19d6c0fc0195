use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::errors::ConfigError;

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
    /// libvirt connection URI (any URI, e.g. `qemu+ssh://host/system`).
    pub libvirt_uri: String,
    /// `auto`, `kvm` or `tcg`.
    pub accel: Accel,
    /// Login user created on every node (the guide's `speit`).
    pub user: String,
    /// Node subnet; the host side of the lab bridge takes `gateway`.
    pub subnet: Ipv4Net,
    /// Address of the lab bridge on the hypervisor.
    pub gateway: Ipv4Addr,
    /// `kubeadm init --pod-network-cidr`.
    pub pod_cidr: Ipv4Net,
    /// MetalLB layer-2 pool (the guide's placeholder range).
    pub metallb_pool: String,
    /// Guest memory in MiB.
    pub memory_mib: u64,
    /// Guest vCPUs.
    pub vcpus: u32,
    /// Seconds to wait for a guest to answer SSH.
    pub boot_timeout_secs: u64,
    /// Seconds without serial-console output after which a guest counts as not booting.
    pub boot_progress_secs: u64,
    /// Where per-lab state (keys, seeds, overlays, evidence) lives.
    pub state_dir: PathBuf,
    /// Where base images are cached.
    pub image_cache: PathBuf,
    /// Explicit base image (overrides the profile's cached image).
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
            metallb_pool: "192.168.1.200-192.168.1.220".into(),
            memory_mib: 2048,
            vcpus: 2,
            boot_timeout_secs: 900,
            boot_progress_secs: 120,
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

impl LabConfig {
    /// Parses and validates a TOML document. `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: LabConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: origin.to_string(),
            message: e.message().to_string(),
            key: e
                .span()
                .and_then(|s| key_at(text, s.start))
                .unwrap_or_default(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks the rules the guide states or implies; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_string(), message };
        if self.name.is_empty()
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || self.name.len() > 20
        {
            return Err(invalid("name", format!("`{}` must be 1-20 characters of [A-Za-z0-9-]", self.name)));
        }
        if self.nodes.is_empty() {
            return Err(invalid("nodes", "at least one node is needed".into()));
        }
        if !self.kubeconfig.starts_with('/') || self.kubeconfig.contains(['\'', '\n']) {
            return Err(invalid("kubeconfig", format!("`{}` must be an absolute path without quotes", self.kubeconfig)));
        }
        let mut names = HashSet::new();
        let mut ips = HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let key = format!("nodes[{i}]");
            if !names.insert(n.name.to_ascii_lowercase()) {
                return Err(invalid(&format!("{key}.name"), format!("duplicate node name `{}`", n.name)));
            }
            if n.name.is_empty() || n.name.len() > 63 || !n.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid(&format!("{key}.name"), format!("`{}` is not a valid hostname", n.name)));
            }
            if !ips.insert(n.ip) {
                return Err(invalid(&format!("{key}.ip"), format!("duplicate node address {}", n.ip)));
            }
            if !self.subnet.contains(&n.ip) || n.ip == self.subnet.network() || n.ip == self.subnet.broadcast() {
                return Err(invalid(&format!("{key}.ip"), format!("{} is not a host address of subnet {}", n.ip, self.subnet)));
            }
            if n.ip == self.gateway {
                return Err(invalid(&format!("{key}.ip"), format!("{} is the lab gateway (the hypervisor's bridge)", n.ip)));
            }
        }
        if self.nodes.iter().filter(|n| n.role == Role::ControlPlane).count() != 1 {
            return Err(invalid("nodes", "exactly one node must have role = \"control-plane\"".into()));
        }
        if !self.subnet.contains(&self.gateway) {
            return Err(invalid("gateway", format!("{} is outside subnet {}", self.gateway, self.subnet)));
        }
        if self.pod_cidr.contains(&self.subnet.network()) || self.subnet.contains(&self.pod_cidr.network()) {
            return Err(invalid(
                "pod_cidr",
                format!(
                    "{} overlaps the node subnet {}; the guide: --pod-network-cidr must not collide with any host subnet",
                    self.pod_cidr, self.subnet
                ),
            ));
        }
        if self.memory_mib < 1024 {
            return Err(invalid("memory_mib", format!("{} MiB is below kubeadm's 1700 MB preflight floor on the control plane", self.memory_mib)));
        }
        if self.vcpus == 0 {
            return Err(invalid("vcpus", "must be at least 1".into()));
        }
        Ok(())
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

/// Best-effort: the dotted key whose value starts at byte `offset` (for error messages).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line = before.rsplit('\n').next()?;
    let key = line.split('=').next()?.trim();
    let mut table = String::new();
    for l in before.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').to_string();
        }
    }
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    Some(if table.is_empty() { key.to_string() } else { format!("{table}.{key}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_guides() {
        let c = LabConfig::default();
        c.validate().unwrap();
        assert_eq!(c.nodes[0].name, "ICE-k8s-machines-node0");
        assert_eq!(c.nodes[2].ip, Ipv4Addr::new(192, 168, 1, 136));
        assert_eq!(c.control_plane().name, "ICE-k8s-machines-node0");
        assert_eq!(c.user, "speit");
        assert_eq!(c.pod_cidr.to_string(), "10.233.0.0/16");
        assert_eq!(c.memory_mib, 2048);
        assert_eq!(c.versions.kubernetes, "1.23.6");
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(LabConfig::from_toml("", "lab.toml").unwrap(), LabConfig::default());
    }

    fn err(toml: &str) -> String {
        LabConfig::from_toml(toml, "lab.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key() {
        let dup = r#"
[[nodes]]
name = "a"
ip = "192.168.1.10"
role = "control-plane"
[[nodes]]
name = "a"
ip = "192.168.1.11"
role = "worker"
"#;
        assert!(err(dup).contains("nodes[1].name"), "{}", err(dup));
        let dup_ip = dup.replace("name = \"a\"\nip = \"192.168.1.11\"", "name = \"b\"\nip = \"192.168.1.10\"");
        assert!(err(&dup_ip).contains("nodes[1].ip"), "{}", err(&dup_ip));
        let outside = dup.replace("192.168.1.11", "10.0.0.5").replacen("name = \"a\"\nip = \"10", "name = \"b\"\nip = \"10", 1);
        assert!(err(&outside).contains("nodes[1].ip"), "{}", err(&outside));
        assert!(err("pod_cidr = \"192.168.0.0/16\"").contains("pod_cidr"));
        assert!(err("profile = \"cloud\"").contains("profile"), "{}", err("profile = \"cloud\""));
        assert!(err("colour = 1").contains("colour"), "{}", err("colour = 1"));
    }
}
