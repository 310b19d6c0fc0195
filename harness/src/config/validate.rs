//! The rules a config must follow (`LabConfig::validate`, `validate_inventory`): names, addresses,
//! CIDRs, the MetalLB pool, bounds, pinned or release-like versions. Errors name the key and the fix.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::rules::{PoolRange, check_libvirt_uri, check_user_name, overlaps, shown};
use super::{DEFAULT_SERVICE_CIDR, LabConfig, MEMORY_MIB_MAX, MEMORY_MIB_MIN, Role, TIMEOUT_SECS_MAX, VCPUS_MAX};
use crate::errors::ConfigError;
use crate::provision::pinned_versions;

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
        for (key, secs) in [
            ("boot_timeout_secs", self.boot_timeout_secs),
            ("boot_progress_secs", self.boot_progress_secs),
            ("kvm_probe_secs", self.kvm_probe_secs),
        ] {
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
