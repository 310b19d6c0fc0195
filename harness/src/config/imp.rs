use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::rules::{PoolRange, check_libvirt_uri, check_user_name, overlaps, shown};
use crate::errors::ConfigError;
use crate::provision::pinned_versions;

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

/// What a config is validated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// A lab kubelab builds: versions must be pinned, the MetalLB pool is checked.
    Lab,
    /// An existing cluster ([`crate::inventory::Inventory`]): versions need only look like
    /// releases; the pool is checked only when the inventory states it.
    Inventory { pool_stated: bool },
}

impl LabConfig {
    /// Parses and validates a TOML document. `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: LabConfig = toml::from_str(text).map_err(|e| parse_error(text, origin, &e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// MiB of guest memory the whole lab needs (every node's `memory_mib`).
    pub fn memory_needed_mib(&self) -> u64 {
        self.memory_mib.saturating_mul(self.nodes.len() as u64)
    }

    /// [`super::memory_warning`] for this lab against `MemAvailable` (KiB).
    pub fn memory_warning(&self, available_kib: u64) -> Option<String> {
        super::memory_warning(self.memory_needed_mib(), self.nodes.len(), self.memory_mib, available_kib)
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { file: path.display().to_string(), source: e })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks the rules the guide states or implies; errors name the key and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_scope(Scope::Lab)
    }

    /// [`Self::validate`] for a cluster kubelab did not build: the versions need not be pinned
    /// (nothing is downloaded), and `metallb_pool` is only checked when the inventory states it.
    pub fn validate_inventory(&self, pool_stated: bool) -> Result<(), ConfigError> {
        self.validate_scope(Scope::Inventory { pool_stated })
    }

    fn validate_scope(&self, scope: Scope) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_string(), message };
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || self.name.len() > 20 {
            return Err(invalid("name", format!("{} must be 1-20 characters of [A-Za-z0-9-]", shown(&self.name))));
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
                return Err(invalid(&format!("{key}.name"), format!("duplicate node name {}", shown(&n.name))));
            }
            if n.name.is_empty() || n.name.len() > 63 || !n.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid(
                    &format!("{key}.name"),
                    format!("{} is not a valid hostname (1-63 characters of [A-Za-z0-9-])", shown(&n.name)),
                ));
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
        if self.gateway == self.subnet.network() || self.gateway == self.subnet.broadcast() {
            return Err(invalid(
                "gateway",
                format!(
                    "{} is not a host address of subnet {}; use one such as {}",
                    self.gateway,
                    self.subnet,
                    Ipv4Addr::from(u32::from(self.subnet.network()) + 1)
                ),
            ));
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
        let blocks = if self.pod_cidr.prefix_len() <= 26 { 1u64 << (26 - self.pod_cidr.prefix_len()) } else { 0 };
        if (self.nodes.len() as u64) > blocks {
            let need = 26 - (self.nodes.len() as u64).next_power_of_two().trailing_zeros();
            return Err(invalid(
                "pod_cidr",
                format!(
                    "{} has no room for {} /26 pod blocks (one per node, as calico IPAM allocates); use a /{need} or larger",
                    self.pod_cidr,
                    self.nodes.len()
                ),
            ));
        }
        self.check_service_cidr()?;
        if !matches!(scope, Scope::Inventory { pool_stated: false }) {
            self.check_pool()?;
        }
        if self.memory_mib < MEMORY_MIB_MIN {
            return Err(invalid(
                "memory_mib",
                format!(
                    "{} MiB is below kubeadm's 1700 MB preflight floor on the control plane; use 2048 (the guide's; {MEMORY_MIB_MIN}-{MEMORY_MIB_MAX} accepted)",
                    self.memory_mib
                ),
            ));
        }
        if self.memory_mib > MEMORY_MIB_MAX {
            return Err(invalid(
                "memory_mib",
                format!(
                    "{} MiB per guest is absurd for this lab; use 2048 (the guide's; {MEMORY_MIB_MIN}-{MEMORY_MIB_MAX} accepted)",
                    self.memory_mib
                ),
            ));
        }
        if self.vcpus == 0 {
            return Err(invalid("vcpus", "must be at least 1".into()));
        }
        if self.vcpus > VCPUS_MAX {
            return Err(invalid(
                "vcpus",
                format!("{} vCPUs per guest is absurd for this lab; use 2 (the guide's; 1-{VCPUS_MAX} accepted)", self.vcpus),
            ));
        }
        for (key, secs) in [("boot_timeout_secs", self.boot_timeout_secs), ("boot_progress_secs", self.boot_progress_secs)] {
            if !(1..=TIMEOUT_SECS_MAX).contains(&secs) {
                return Err(invalid(key, format!("{secs} s is out of range; use 1 to {TIMEOUT_SECS_MAX} seconds")));
            }
        }
        check_user_name(&self.user).map_err(|m| invalid("user", m))?;
        check_libvirt_uri(&self.libvirt_uri).map_err(|m| invalid("libvirt_uri", m))?;
        let paths = [
            ("state_dir", Some(&self.state_dir), "/var/lib/kubelab"),
            ("image_cache", Some(&self.image_cache), "/var/cache/kubelab/images"),
            ("base_image", self.base_image.as_ref(), "/var/cache/kubelab/images/base.qcow2"),
        ];
        for (key, path, example) in paths {
            if let Some(p) = path
                && !p.is_absolute()
            {
                return Err(invalid(
                    key,
                    format!("{} is a relative path; write it absolute, e.g. `{example}`", shown(&p.display().to_string())),
                ));
            }
        }
        for (key, value) in self.versions.entries() {
            let vkey = format!("versions.{key}");
            match scope {
                Scope::Lab => {
                    let pinned = pinned_versions(key);
                    let bare = if key == "docker" { value } else { value.strip_prefix('v').unwrap_or(value) };
                    if !pinned.contains(&bare) {
                        return Err(invalid(
                            &vkey,
                            format!(
                                "{} is not a release kubelab has pinned artifacts for; set it to {}",
                                shown(value),
                                pinned.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ")
                            ),
                        ));
                    }
                }
                Scope::Inventory { .. } => {
                    if !release_like(value) {
                        return Err(invalid(&vkey, format!("{} is not a release number; write it like `1.23.6`", shown(value))));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_service_cidr(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { key: "service_cidr".into(), message };
        let s = self.service_cidr;
        if s.trunc() != s {
            return Err(invalid(format!("{s} has host bits set; write its network `{}`", s.trunc())));
        }
        if !(12..=28).contains(&s.prefix_len()) {
            return Err(invalid(format!(
                "{s} must be a /12 to /28 (kube-apiserver refuses a larger range, kubeadm puts CoreDNS on its 10th address); kubeadm's default is {DEFAULT_SERVICE_CIDR}"
            )));
        }
        if overlaps(&s, &self.pod_cidr) {
            return Err(invalid(format!(
                "{s} overlaps pod_cidr {}; Service and pod addresses must be disjoint: change one of them",
                self.pod_cidr
            )));
        }
        if overlaps(&s, &self.subnet) {
            return Err(invalid(format!(
                "{s} overlaps the node subnet {}; choose a Service range no host uses (kubeadm's default {DEFAULT_SERVICE_CIDR})",
                self.subnet
            )));
        }
        Ok(())
    }

    fn check_pool(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { key: "metallb_pool".into(), message };
        let pool = PoolRange::parse(&self.metallb_pool).map_err(invalid)?;
        let shown_pool = shown(&self.metallb_pool);
        let (net, bcast) = (self.subnet.network(), self.subnet.broadcast());
        if pool.first <= net || pool.last >= bcast {
            let hosts = match (u32::from(net).checked_add(1), u32::from(bcast).checked_sub(1)) {
                (Some(a), Some(b)) if a <= b => format!("{}-{}", Ipv4Addr::from(a), Ipv4Addr::from(b)),
                _ => "none".into(),
            };
            return Err(invalid(format!(
                "{shown_pool} is not inside the node subnet {} (host addresses {hosts}); MetalLB's layer-2 mode answers ARP on the node network: pick free addresses there",
                self.subnet
            )));
        }
        if let Some((i, n)) = self.nodes.iter().enumerate().find(|(_, n)| pool.contains(n.ip)) {
            return Err(invalid(format!(
                "{shown_pool} contains nodes[{i}].ip {} ({}); keep the pool clear of every node address",
                n.ip, n.name
            )));
        }
        if pool.contains(self.gateway) {
            return Err(invalid(format!("{shown_pool} contains the gateway {}; keep the pool clear of it", self.gateway)));
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

/// `release-like`: `1.23.6`, `v1.23.6`, `20.10.24`, optionally with a `-rc.1`-style suffix.
fn release_like(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (num, suffix) = v.split_once(['-', '+', '~']).unwrap_or((v, ""));
    let parts: Vec<&str> = num.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 9 && p.chars().all(|c| c.is_ascii_digit()))
        && suffix.chars().all(|c| c.is_ascii_alphanumeric() || ".-+~".contains(c))
}

/// A TOML or schema error as a [`ConfigError::Parse`] naming the dotted key where it can.
pub(crate) fn parse_error(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let raw = e.message().trim();
    let at = e.span().map(|s| s.start.min(text.len()));
    let (key, message) = match unknown_field(raw) {
        Some((field, expected)) => {
            let prefix = at.map(|o| table_at(text, o)).unwrap_or_default();
            let inline = at.map(|o| inline_prefix(text, o)).unwrap_or_default();
            (format!("{prefix}{inline}{field}"), format!("unknown key; remove it or check its spelling (expected one of {expected})"))
        }
        None => (at.and_then(|o| key_at(text, o)).unwrap_or_default(), raw.to_string()),
    };
    // One line: TOML syntax errors may quote the offending line.
    let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    ConfigError::Parse { file: origin.to_string(), key, message }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" → (`x`, "`a`, `b`").
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, tail) = rest.split_once('`')?;
    let expected = tail.trim_start_matches(',').trim().trim_start_matches("expected one of ").trim_start_matches("expected ").to_string();
    Some((field.to_string(), if expected.is_empty() { "nothing".into() } else { expected }))
}

/// The table a byte offset is in, as a key prefix: `""`, `"versions."`, `"nodes[1]."`.
fn table_at(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let mut table = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in before.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = arrays.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
            table = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
    }
    if table.is_empty() { table } else { format!("{table}.") }
}

/// For an offset inside an inline table or after a dotted key on its line
/// (`versions = { foo = 1 }`, `versions.foo = 1`), the key path before it: `"versions."`.
fn inline_prefix(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.rsplit('\n').next().unwrap_or("").trim_start();
    if let Some((k, _)) = line.split_once('=') {
        let k = k.trim();
        return if k.is_empty() { String::new() } else { format!("{k}.") };
    }
    // A dotted key whose last part is the unknown field.
    if line.ends_with('.') { line.to_string() } else { String::new() }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Best-effort: the dotted key whose value starts at byte `offset` (for error messages).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.rsplit('\n').next()?;
    let key = line.split('=').next()?.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    Some(format!("{}{key}", table_at(text, offset)))
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

    /// The error of `toml`, asserting it names `key` and says `says`, on one line.
    fn refused(toml: &str, key: &str, says: &str) -> String {
        let e = err(toml);
        assert!(e.contains(&format!("key `{key}`")), "{toml:?} → {e}");
        assert!(e.contains(says), "{toml:?} → {e}");
        assert!(!e.contains('\n'), "{toml:?} → {e}");
        e
    }

    #[test]
    fn unpinned_versions_are_refused_naming_the_key_and_the_pins() {
        for (key, pinned) in crate::provision::PINNED_VERSIONS {
            for bad in ["latest", "1.23", "1.23.6; rm -rf /", "", "vv1.23.6", "1.23.6\n"] {
                let toml = format!("[versions]\n{key} = {bad:?}\n");
                refused(&toml, &format!("versions.{key}"), &format!("set it to `{}`", pinned[0]));
            }
            LabConfig::from_toml(&format!("[versions]\n{key} = {:?}\n", pinned[0]), "lab.toml").unwrap();
        }
        let e = refused("[versions]\nkubernetes = \"1.23.6; rm -rf /\"", "versions.kubernetes", "`1.23.6; rm -rf /` is not a release");
        assert!(e.ends_with("set it to `1.23.6`"), "{e}");
        LabConfig::from_toml("[versions]\nkubernetes = \"v1.23.6\"\nhelm = \"v3.8.0\"", "lab.toml").unwrap();
        refused("[versions]\ndocker = \"v20.10.24\"", "versions.docker", "`20.10.24`");
        // Whatever validation accepts, the pin set resolves.
        let cfg = LabConfig::from_toml("[versions]\nkubernetes = \"v1.23.6\"", "lab.toml").unwrap();
        crate::provision::PinSet::for_versions(&cfg.versions).unwrap();
    }

    #[test]
    fn inventory_versions_need_only_look_like_releases() {
        let cfg = LabConfig { versions: Versions { kubernetes: "1.23.17".into(), ..Versions::default() }, ..LabConfig::default() };
        cfg.validate_inventory(true).unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("versions.kubernetes"));
        let junk = LabConfig { versions: Versions { helm: "3.8; id".into(), ..Versions::default() }, ..LabConfig::default() };
        assert!(junk.validate_inventory(true).unwrap_err().to_string().contains("key `versions.helm`"));
        let far_pool = LabConfig { metallb_pool: "10.9.9.1-10.9.9.9".into(), ..LabConfig::default() };
        far_pool.validate_inventory(false).unwrap();
        assert!(far_pool.validate_inventory(true).unwrap_err().to_string().contains("metallb_pool"));
    }

    #[test]
    fn metallb_pool_must_be_a_free_range_inside_the_subnet() {
        for (pool, says) in [
            ("pool", "is not an address range"),
            ("", "is empty"),
            ("172.42.42.100-120", "`120` is not an IPv4 address"),
            ("192.168.1.220-192.168.1.200", "is reversed: its start 192.168.1.220 comes after its end 192.168.1.200"),
            ("10.0.0.1-10.0.0.5", "is not inside the node subnet 192.168.1.0/24 (host addresses 192.168.1.1-192.168.1.254)"),
            ("192.168.1.0-192.168.1.10", "is not inside the node subnet"),
            ("192.168.1.250-192.168.1.255", "is not inside the node subnet"),
            ("192.168.1.192/26", "is not inside the node subnet"),
            ("192.168.1.130-192.168.1.140", "contains nodes[0].ip 192.168.1.134 (ICE-k8s-machines-node0)"),
            ("192.168.1.136/32", "contains nodes[2].ip 192.168.1.136"),
            ("192.168.1.1-192.168.1.3", "contains the gateway 192.168.1.1"),
            ("192.168.1.204/29", "write its network `192.168.1.200/29`"),
        ] {
            refused(&format!("metallb_pool = {pool:?}"), "metallb_pool", says);
        }
        for ok in [
            "192.168.1.200-192.168.1.220",
            "192.168.1.160/28",
            "192.168.1.200/29",
            "192.168.1.240-192.168.1.240",
            "192.168.1.137-192.168.1.254",
        ] {
            LabConfig::from_toml(&format!("metallb_pool = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn memory_and_vcpus_are_bounded() {
        refused("memory_mib = 512", "memory_mib", "below kubeadm's 1700 MB preflight floor");
        refused("memory_mib = 0", "memory_mib", "use 2048 (the guide's; 1024-65536 accepted)");
        refused("memory_mib = 1048576", "memory_mib", "absurd for this lab; use 2048 (the guide's; 1024-65536 accepted)");
        refused("vcpus = 0", "vcpus", "at least 1");
        refused("vcpus = 1000", "vcpus", "1-64 accepted");
        LabConfig::from_toml("memory_mib = 1024\nvcpus = 1", "lab.toml").unwrap();
        LabConfig::from_toml("memory_mib = 65536\nvcpus = 64", "lab.toml").unwrap();
        let cfg = LabConfig::default();
        assert_eq!(cfg.memory_needed_mib(), 6144);
        assert!(cfg.memory_warning(8 << 20).is_none());
        assert!(cfg.memory_warning(4 << 20).unwrap().contains("needs 6144 MiB"));
    }

    #[test]
    fn user_must_be_a_useradd_name() {
        for bad in ["Speit", "1speit", "sp eit", "speit;reboot", "", "-speit", "spéit", "a$b"] {
            refused(&format!("user = {bad:?}"), "user", "useradd");
        }
        refused(&format!("user = \"{}\"", "a".repeat(33)), "user", "at most 32");
        for ok in ["speit", "_svc", "ci-runner_2", "host$", &"a".repeat(32)] {
            LabConfig::from_toml(&format!("user = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn paths_must_be_absolute() {
        refused("state_dir = \"var/lib/kubelab\"", "state_dir", "`var/lib/kubelab` is a relative path; write it absolute");
        refused("image_cache = \"images\"", "image_cache", "relative path; write it absolute, e.g. `/var/cache/kubelab/images`");
        refused("image_cache = \"\"", "image_cache", "relative path");
        refused("base_image = \"./base.qcow2\"", "base_image", "relative path");
        LabConfig::from_toml("state_dir = \"/srv/kubelab\"\nbase_image = \"/srv/base.qcow2\"", "lab.toml").unwrap();
    }

    #[test]
    fn timeouts_are_at_least_one_second() {
        refused("boot_timeout_secs = 0", "boot_timeout_secs", "use 1 to 86400 seconds");
        refused("boot_progress_secs = 0", "boot_progress_secs", "use 1 to 86400 seconds");
        refused("boot_timeout_secs = 100000000000", "boot_timeout_secs", "out of range");
        refused("boot_progress_secs = -1", "boot_progress_secs", "invalid value");
        LabConfig::from_toml("boot_timeout_secs = 1\nboot_progress_secs = 86400", "lab.toml").unwrap();
    }

    #[test]
    fn libvirt_uri_must_be_uri_syntax() {
        for (bad, says) in [
            ("qemu:/system", "no `://`"),
            ("localhost", "no `://`"),
            ("qemu+ssh://h/system#frag", "fragment"),
            ("qemu:///system; rm -rf /", "a space"),
            ("qemu+telnet://h/system", "unknown transport `telnet`"),
            ("qemu+ssh://root@h", "no path"),
        ] {
            refused(&format!("libvirt_uri = {bad:?}"), "libvirt_uri", says);
        }
        for ok in ["qemu:///system", "qemu+ssh://root@h/system", "qemu+libssh://root@h:2222/system?sshauth=privkey", "test:///default"] {
            LabConfig::from_toml(&format!("libvirt_uri = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn service_cidr_is_kubeadms_default_and_disjoint_from_pods_and_nodes() {
        assert_eq!(LabConfig::default().service_cidr.to_string(), "10.96.0.0/12");
        assert!(toml::to_string_pretty(&LabConfig::default()).unwrap().contains("service_cidr = \"10.96.0.0/12\""));
        refused("service_cidr = \"10.233.0.0/16\"", "service_cidr", "overlaps pod_cidr 10.233.0.0/16");
        refused("pod_cidr = \"10.96.0.0/16\"", "service_cidr", "overlaps pod_cidr 10.96.0.0/16");
        refused("service_cidr = \"10.0.0.0/8\"", "service_cidr", "must be a /12 to /28");
        refused("service_cidr = \"192.168.1.0/28\"", "service_cidr", "overlaps the node subnet 192.168.1.0/24");
        refused("service_cidr = \"10.96.0.0/29\"", "service_cidr", "must be a /12 to /28");
        refused("service_cidr = \"10.96.0.1/12\"", "service_cidr", "write its network `10.96.0.0/12`");
        refused("service_cidr = \"nope\"", "service_cidr", "invalid");
        let cfg = LabConfig::from_toml("service_cidr = \"10.100.0.0/16\"", "lab.toml").unwrap();
        assert_eq!(cfg.service_cidr.to_string(), "10.100.0.0/16");
    }

    #[test]
    fn pod_cidr_has_room_for_a_block_per_node() {
        refused(
            "pod_cidr = \"10.233.0.0/26\"",
            "pod_cidr",
            "no room for 3 /26 pod blocks (one per node, as calico IPAM allocates); use a /24 or larger",
        );
        LabConfig::from_toml("pod_cidr = \"10.233.0.0/24\"", "lab.toml").unwrap();
    }

    #[test]
    fn gateway_must_be_a_host_address() {
        refused("gateway = \"192.168.1.0\"", "gateway", "not a host address of subnet 192.168.1.0/24");
        refused("gateway = \"192.168.1.255\"", "gateway", "not a host address");
    }

    #[test]
    fn unknown_fields_name_the_key() {
        refused("colour = 1", "colour", "unknown key; remove it or check its spelling (expected one of `name`");
        refused("name = \"lab\"\n[versions]\nkubernetes = \"1.23.6\"\nkubernets = \"1.23.6\"\n", "versions.kubernets", "unknown key");
        let nodes = "[[nodes]]\nname = \"a\"\nip = \"192.168.1.10\"\nrole = \"control-plane\"\n[[nodes]]\nname = \"b\"\nip = \"192.168.1.11\"\nrole = \"worker\"\nmac = \"52:54:00:00:00:01\"\n";
        refused(nodes, "nodes[1].mac", "expected one of `name`, `ip`, `role`");
        refused("[[nodes]]\nnam = \"a\"\n", "nodes[0].nam", "unknown key");
        refused("versions = { kubernetes = \"1.23.6\", helmet = \"3.8.0\" }", "versions.helmet", "unknown key");
        refused("versions.extra = \"1\"", "versions.extra", "unknown key");
        // Non-field errors still name their key; syntax errors have none to name.
        refused("[versions]\nhelm = 3", "versions.helm", "invalid type");
        let syntax = err("name = ");
        assert!(syntax.starts_with("lab config lab.toml: ") && !syntax.contains("key ``"), "{syntax}");
    }
}
