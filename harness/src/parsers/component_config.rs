//! The component configurations the guide edits, parsed from their YAML (or JSON, a subset of
//! YAML) with `serde-saphyr` into typed structs: kube-proxy's `KubeProxyConfiguration`
//! (`kubeproxy.config.k8s.io/v1alpha1`, the kube-proxy ConfigMap's `config.conf`) and the
//! kubelet's `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`, `/var/lib/kubelet/config.yaml`
//! or the `kubelet-config-1.23` ConfigMap's `kubelet`). Only the fields kubelab reads are
//! declared; every other field is ignored. Main functions: [`parse_kube_proxy_configuration`],
//! [`parse_kubelet_configuration`].

use serde::Deserialize;

use super::ParseError;

/// kube-proxy's `config.conf` (KubeProxyConfiguration v1alpha1), the fields the guide sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeProxyConfiguration {
    /// `kubeproxy.config.k8s.io/v1alpha1`.
    pub api_version: Option<String>,
    /// `KubeProxyConfiguration`.
    pub kind: Option<String>,
    /// `ipvs`, `iptables`, `nftables` or `""` (kube-proxy's default: iptables).
    pub mode: Option<String>,
    /// The `ipvs:` block.
    pub ipvs: Option<KubeProxyIpvsConfiguration>,
    /// `clusterCIDR`.
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Option<String>,
}

/// The `ipvs:` block of [`KubeProxyConfiguration`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeProxyIpvsConfiguration {
    /// `strictARP` (MetalLB needs `true`).
    #[serde(rename = "strictARP")]
    pub strict_arp: Option<bool>,
    /// `scheduler` (`""` = rr).
    pub scheduler: Option<String>,
}

impl KubeProxyConfiguration {
    /// `ipvs.strictARP`, `None` when unset.
    pub fn strict_arp(&self) -> Option<bool> {
        self.ipvs.as_ref()?.strict_arp
    }
}

/// The kubelet's configuration file, the fields the guide sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    /// `kubelet.config.k8s.io/v1beta1`.
    pub api_version: Option<String>,
    /// `KubeletConfiguration`.
    pub kind: Option<String>,
    /// `systemd` (the guide's, matching Docker's) or `cgroupfs`.
    pub cgroup_driver: Option<String>,
    /// `serverTLSBootstrap` (the guide's 启用TLSBootstrap).
    #[serde(rename = "serverTLSBootstrap")]
    pub server_tls_bootstrap: Option<bool>,
}

fn yaml<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T, ParseError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        ParseError::new(what, msg.lines().next().unwrap_or("not YAML").to_string())
    })
}

/// Parses a KubeProxyConfiguration document (the ConfigMap's `config.conf`).
pub fn parse_kube_proxy_configuration(text: &str) -> Result<KubeProxyConfiguration, ParseError> {
    yaml("KubeProxyConfiguration", text)
}

/// Parses a KubeletConfiguration document.
pub fn parse_kubelet_configuration(text: &str) -> Result<KubeletConfiguration, ParseError> {
    yaml("KubeletConfiguration", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_proxy_nested_and_quoted() {
        let t = "ipvs:\n  excludeCIDRs: null\n  scheduler: \"\"\n  strictARP: true # metallb\nkind: KubeProxyConfiguration\nmode: \"ipvs\"\nclusterCIDR: 10.233.0.0/16\n";
        let c = parse_kube_proxy_configuration(t).unwrap();
        assert_eq!(c.strict_arp(), Some(true));
        assert_eq!(c.ipvs.as_ref().unwrap().scheduler.as_deref(), Some(""));
        assert_eq!(c.mode.as_deref(), Some("ipvs"));
        assert_eq!(c.cluster_cidr.as_deref(), Some("10.233.0.0/16"));
        let none = parse_kube_proxy_configuration("kind: KubeProxyConfiguration\nmode: \"\"\n").unwrap();
        assert_eq!((none.strict_arp(), none.mode.as_deref()), (None, Some("")));
        // A strictARP that is not a boolean is an error, not a silent `false`.
        assert!(parse_kube_proxy_configuration("ipvs:\n  strictARP: [1]\n").is_err());
        assert!(parse_kube_proxy_configuration("mode: ipvs\n  strictARP: true\n bad").is_err());
    }

    #[test]
    fn kubelet() {
        let t = "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\ncgroupDriver: systemd\nkind: KubeletConfiguration\nserverTLSBootstrap: true\n";
        let k = parse_kubelet_configuration(t).unwrap();
        assert_eq!(k.kind.as_deref(), Some("KubeletConfiguration"));
        assert_eq!(k.cgroup_driver.as_deref(), Some("systemd"));
        assert_eq!(k.server_tls_bootstrap, Some(true));
    }
}
