//! Checking a cluster kubelab did not create (e.g. one built by hand on a university cloud):
//! an inventory file names the nodes, the SSH key and a known_hosts file with their host keys.
//! Main type: [`Inventory`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::config::{LabConfig, NodeConfig, Profile, Versions};
use crate::errors::ConfigError;
use crate::remote::RemoteShell;
use crate::remote::russh_shell::{RusshShell, SshPolicy, SshTarget, parse_public_key};

/// An existing cluster reachable over SSH.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Name used in reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// `guide` (a real kubeadm cluster) or `offline`.
    #[serde(default = "default_profile")]
    pub profile: Profile,
    /// SSH login user (needs passwordless sudo, as in the guide).
    pub user: String,
    /// Private key for that user.
    pub ssh_key: PathBuf,
    /// known_hosts file with every node's host key (unhashed: `ssh-keyscan -t ed25519 IP >> FILE`).
    pub known_hosts: PathBuf,
    /// SSH port.
    #[serde(default = "default_port")]
    pub ssh_port: u16,
    /// Node subnet (default: the /24 of the first node).
    pub subnet: Option<ipnet::Ipv4Net>,
    /// Pod CIDR.
    pub pod_cidr: Option<ipnet::Ipv4Net>,
    /// Service CIDR (default: kubeadm's `10.96.0.0/12`).
    pub service_cidr: Option<ipnet::Ipv4Net>,
    /// MetalLB pool.
    pub metallb_pool: Option<String>,
    /// Versions the cluster should run (default: the guide's).
    #[serde(default)]
    pub versions: Versions,
    /// The nodes.
    pub nodes: Vec<NodeConfig>,
    /// kubeconfig for the kubectl probes on the control plane (default: kubeadm's admin.conf).
    #[serde(default = "default_kubeconfig")]
    pub kubeconfig: String,
}

fn default_kubeconfig() -> String {
    crate::evidence::ADMIN_KUBECONFIG.into()
}

fn default_name() -> String {
    "inventory".into()
}
fn default_profile() -> Profile {
    Profile::Guide
}
fn default_port() -> u16 {
    22
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { file: file.clone(), source: e })?;
        let inv: Inventory = toml::from_str(&text).map_err(|e| crate::config::parse_error(&text, &file, &e))?;
        inv.lab_config()?;
        Ok(inv)
    }

    /// The lab config the checks judge against (validated like a lab's).
    pub fn lab_config(&self) -> Result<LabConfig, ConfigError> {
        let first = self
            .nodes
            .first()
            .ok_or_else(|| ConfigError::Invalid { key: "nodes".into(), message: "at least one node is needed".into() })?;
        let subnet = self.subnet.unwrap_or_else(|| ipnet::Ipv4Net::new(first.ip, 24).expect("24 is valid").trunc());
        let mut cfg = LabConfig {
            name: self.name.clone(),
            profile: self.profile,
            user: self.user.clone(),
            subnet,
            gateway: Ipv4Addr::from(u32::from(subnet.network()) + 1),
            nodes: self.nodes.clone(),
            versions: self.versions.clone(),
            kubeconfig: self.kubeconfig.clone(),
            ..LabConfig::default()
        };
        if let Some(p) = self.pod_cidr {
            cfg.pod_cidr = p;
        }
        if let Some(s) = self.service_cidr {
            cfg.service_cidr = s;
        }
        if let Some(p) = &self.metallb_pool {
            cfg.metallb_pool = p.clone();
        }
        if cfg.nodes.iter().any(|n| n.ip == cfg.gateway) {
            // The gateway is only used for kubelab's own labs; pick an address no node has.
            cfg.gateway = subnet.hosts().find(|h| cfg.nodes.iter().all(|n| n.ip != *h)).unwrap_or(cfg.gateway);
        }
        cfg.validate_inventory(self.metallb_pool.is_some())?;
        if self.ssh_port == 0 {
            return Err(ConfigError::Invalid {
                key: "ssh_port".into(),
                message: "0 is not a TCP port; use 1-65535 (sshd listens on 22)".into(),
            });
        }
        Ok(cfg)
    }

    /// An SSH shell to the nodes, pinning the host keys from `known_hosts`.
    pub fn shell(&self) -> Result<Arc<dyn RemoteShell>, ConfigError> {
        let kh = std::fs::read_to_string(&self.known_hosts)
            .map_err(|e| ConfigError::Read { file: self.known_hosts.display().to_string(), source: e })?;
        let mut targets = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let line = host_key_line(&kh, n).ok_or_else(|| ConfigError::Invalid {
                key: format!("nodes[{i}]"),
                message: format!(
                    "no host key for {} ({}) in {}; add it with `ssh-keyscan -t ed25519 {} >> {}` after checking it",
                    n.name,
                    n.ip,
                    self.known_hosts.display(),
                    n.ip,
                    self.known_hosts.display()
                ),
            })?;
            let host_key = parse_public_key(&line).map_err(|e| ConfigError::Invalid { key: "known_hosts".into(), message: e })?;
            targets.push(SshTarget {
                node: n.name.clone(),
                addr: SocketAddr::new(n.ip.into(), self.ssh_port),
                user: self.user.clone(),
                host_key,
            });
        }
        RusshShell::new(targets, &self.ssh_key, SshPolicy::default())
            .map(|s| Arc::new(s) as Arc<dyn RemoteShell>)
            .map_err(|e| ConfigError::Invalid { key: "ssh_key".into(), message: e.to_string() })
    }
}

/// The `keytype base64` part of the first known_hosts line naming the node (by IP or name),
/// preferring ed25519. Hashed entries cannot be matched.
pub fn host_key_line(known_hosts: &str, node: &NodeConfig) -> Option<String> {
    let ip = node.ip.to_string();
    let mut found: Vec<String> = Vec::new();
    for line in known_hosts.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        let (Some(hosts), Some(kt), Some(key)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let names = hosts.split(',').map(|h| h.trim_start_matches('[').split(']').next().unwrap_or(h));
        if names.clone().any(|h| h == ip || h.eq_ignore_ascii_case(&node.name)) {
            found.push(format!("{kt} {key}"));
        }
    }
    found.iter().find(|l| l.starts_with("ssh-ed25519 ")).or(found.first()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    const KH: &str = "# comment\n192.168.1.134 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC\n192.168.1.134,ICE-k8s-machines-node0 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJiO0/wvF/C12jN7dO7UItnBnpSH0RMMy9rkR8bfNbfx\n[ice-k8s-machines-node1]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEgS+MAth+tDFTReaPjRioFHEGvwgaKS8LPm/hhHEEHN\n|1|hashed= ssh-ed25519 AAAA\n";

    fn node(name: &str, ip: &str) -> NodeConfig {
        NodeConfig { name: name.into(), ip: ip.parse().unwrap(), role: Role::Worker }
    }

    #[test]
    fn known_hosts_lookup_prefers_ed25519_and_matches_names() {
        assert!(host_key_line(KH, &node("x", "192.168.1.134")).unwrap().starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJiO"));
        assert!(host_key_line(KH, &node("ICE-k8s-machines-node1", "192.168.1.135")).unwrap().contains("IEgS+"));
        assert!(host_key_line(KH, &node("node2", "192.168.1.136")).is_none());
    }

    #[test]
    fn inventory_becomes_a_validated_lab_config() {
        let inv: Inventory = toml::from_str(
            "user = \"speit\"\nssh_key = \"/k\"\nknown_hosts = \"/kh\"\n[[nodes]]\nname = \"ICE-k8s-machines-node0\"\nip = \"10.64.13.10\"\nrole = \"control-plane\"\n[[nodes]]\nname = \"ICE-k8s-machines-node1\"\nip = \"10.64.13.11\"\nrole = \"worker\"\n",
        )
        .unwrap();
        let cfg = inv.lab_config().unwrap();
        assert_eq!(cfg.subnet.to_string(), "10.64.13.0/24");
        assert_eq!(cfg.profile, Profile::Guide);
        assert_eq!(cfg.control_plane().name, "ICE-k8s-machines-node0");
        // The guide's own warning: a pod CIDR overlapping the nodes is refused.
        let bad = Inventory { pod_cidr: Some("10.64.0.0/16".parse().unwrap()), ..inv.clone() };
        assert!(bad.lab_config().unwrap_err().to_string().contains("pod_cidr"));
        // The guide's default pool is not this cluster's: unstated, it is not held against it.
        assert_eq!(cfg.metallb_pool, "192.168.1.200-192.168.1.220");
        let stated = Inventory { metallb_pool: Some("10.64.13.200-10.64.13.220".into()), ..inv.clone() };
        assert_eq!(stated.lab_config().unwrap().metallb_pool, "10.64.13.200-10.64.13.220");
        let outside = Inventory { metallb_pool: Some("192.168.1.200-192.168.1.220".into()), ..inv.clone() };
        assert!(outside.lab_config().unwrap_err().to_string().contains("key `metallb_pool`"));
        let svc = Inventory { service_cidr: Some("10.64.0.0/16".parse().unwrap()), ..inv.clone() };
        assert!(svc.lab_config().unwrap_err().to_string().contains("key `service_cidr`: 10.64.0.0/16 overlaps the node subnet"));
        let svc = Inventory { service_cidr: Some("10.128.0.0/16".parse().unwrap()), ..inv.clone() };
        assert_eq!(svc.lab_config().unwrap().service_cidr.to_string(), "10.128.0.0/16");
        let port = Inventory { ssh_port: 0, ..inv.clone() };
        assert!(port.lab_config().unwrap_err().to_string().contains("key `ssh_port`"));
        assert_eq!(cfg.kubeconfig, "/etc/kubernetes/admin.conf");
        // Binary installs keep the admin kubeconfig elsewhere: the kubectl probes use the key.
        let bin = Inventory { kubeconfig: "/opt/kube/admin.kubeconfig".into(), ..inv.clone() };
        let cfg = bin.lab_config().unwrap();
        let ev = crate::evidence::Evidence::new(crate::evidence::EvidenceHeader::from_config(&cfg, "t"));
        let catalog = crate::evidence::ProbeCatalog::standard();
        let script =
            catalog.get("k8s-nodes").unwrap().script_for(&crate::evidence::ScriptContext { node: &cfg.nodes[0], so_far: &ev }).unwrap();
        assert_eq!(script, "kubectl --kubeconfig /opt/kube/admin.kubeconfig get nodes -o json");
        let rel = Inventory { kubeconfig: "admin.conf".into(), ..inv };
        assert!(rel.lab_config().unwrap_err().to_string().contains("kubeconfig"));
    }

    #[test]
    fn inventory_unknown_keys_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("inv.toml");
        std::fs::write(&p, "user = \"speit\"\nssh_key = \"/k\"\nknown_hosts = \"/kh\"\n[[nodes]]\nname = \"n0\"\nip = \"10.64.13.10\"\nrole = \"control-plane\"\nport = 22\n").unwrap();
        let e = Inventory::load(&p).unwrap_err().to_string();
        assert!(e.contains("key `nodes[0].port`: unknown key"), "{e}");
    }
}
