//! [`PinSet`]: every download of the guide profile, resolved from the versions table to a URL
//! and a hard-coded sha256 (sources: `shared/reference/artifacts.md` of the project, kubespray v2.19.x).
//! Artifacts with no published checksum carry `sha256: None` and are fetched trust-on-first-use:
//! the script prints the digest it saw so it can be pinned.

use crate::config::Versions;

use super::ProvisionError;

/// One downloadable artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// Short name, e.g. `kubeadm`.
    pub artifact: &'static str,
    /// Download URL.
    pub url: String,
    /// Expected sha256 (lowercase hex); `None` = no trustworthy checksum known.
    pub sha256: Option<&'static str>,
}

/// All artifacts the guide-profile scripts download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSet {
    /// `v1.23.6`-style Kubernetes tag.
    pub kube_tag: String,
    /// `1.23`: kubelet-config ConfigMap suffix.
    pub kube_minor: String,
    /// kubeadm, kubelet, kubectl binaries.
    pub kube_binaries: Vec<Pin>,
    /// kubelet.service (kubernetes/release v0.4.0).
    pub kubelet_service: Pin,
    /// 10-kubeadm.conf (kubernetes/release v0.4.0).
    pub kubeadm_dropin: Pin,
    /// crictl tarball.
    pub crictl: Pin,
    /// CNI plugins tarball.
    pub cni_plugins: Pin,
    /// calico release tarball (contains `k8s-manifests/calico.yaml`).
    pub calico_release: Pin,
    /// calicoctl binary.
    pub calicoctl: Pin,
    /// metrics-server components.yaml.
    pub metrics_server: Pin,
    /// Helm tarball.
    pub helm: Pin,
    /// MetalLB namespace.yaml.
    pub metallb_namespace: Pin,
    /// MetalLB metallb.yaml.
    pub metallb_manifest: Pin,
    /// apt version of docker-ce / docker-ce-cli on focal.
    pub docker_apt_version: String,
}

/// Every key of the versions table with the releases kubelab has pinned artifacts for (the guide
/// profile downloads nothing else). Config validation refuses any other value; a leading `v` is
/// accepted except for `docker` (an apt version).
pub const PINNED_VERSIONS: [(&str, &[&str]); 7] = [
    ("kubernetes", &["1.23.6"]),
    ("calico", &["3.22.2"]),
    ("metrics_server", &["0.6.1"]),
    ("metallb", &["0.12.1"]),
    ("helm", &["3.8.0"]),
    // No artifact is downloaded for cfssl; the guide's release is the only one kubelab knows.
    ("cfssl", &["1.6.1"]),
    ("docker", &["20.10.24"]),
];

/// The pinned releases of one versions-table key (empty for an unknown key).
pub fn pinned_versions(key: &str) -> &'static [&'static str] {
    PINNED_VERSIONS.iter().find(|(k, _)| *k == key).map_or(&[], |(_, v)| v)
}

fn no_pin(artifact: &str, version: &str, key: &str) -> ProvisionError {
    ProvisionError::NoPin { artifact: artifact.into(), version: version.into(), key: key.into(), known: pinned_versions(key).join(", ") }
}

impl PinSet {
    /// Resolves the versions table; fails for a version without a hard-coded checksum.
    pub fn for_versions(v: &Versions) -> Result<PinSet, ProvisionError> {
        let k = v.kubernetes.trim_start_matches('v');
        let (kubeadm, kubelet, kubectl) = match k {
            "1.23.6" => (
                "9213c7d738e86c9a562874021df832735236fcfd5599fd4474bab3283d34bfd7",
                "fbb83e35f6b9f7cae19c50694240291805ca9c4028676af868306553b3e9266c",
                "703a06354bab9f45c80102abff89f1a62cbc2c6d80678fd3973a014acc7c500a",
            ),
            other => return Err(no_pin("kubeadm/kubelet/kubectl", other, "kubernetes")),
        };
        let kube_tag = format!("v{k}");
        let kube_minor = k.rsplit_once('.').map_or(k, |(minor, _)| minor).to_string();
        let bin = |artifact: &'static str, sha: &'static str| Pin {
            artifact,
            url: format!("https://dl.k8s.io/release/{kube_tag}/bin/linux/amd64/{artifact}"),
            sha256: Some(sha),
        };
        let release = "https://raw.githubusercontent.com/kubernetes/release/v0.4.0/cmd/kubepkg/templates/latest/deb";
        let calico = v.calico.trim_start_matches('v');
        let calicoctl_sha = match calico {
            "3.22.2" => "2608fe464b50019e4ade388142f194463e351013ec81da21b111307411865a81",
            other => return Err(no_pin("calicoctl", other, "calico")),
        };
        let helm = v.helm.trim_start_matches('v');
        let helm_sha = match helm {
            "3.8.0" => "8408c91e846c5b9ba15eb6b1a5a79fc22dd4d33ac6ea63388e5698d1b2320c8b",
            other => return Err(no_pin("helm", other, "helm")),
        };
        let metallb = v.metallb.trim_start_matches('v');
        let (ns_sha, mlb_sha) = match metallb {
            "0.12.1" => (
                "51a1c68cd8f92e4653075ea978642689a7786099000f9017a616567bab76114f",
                "53b1eec9ce0084df78531b35b212dbb6639cb8182dde351198c0fa50ac39fbd8",
            ),
            other => return Err(no_pin("metallb manifests", other, "metallb")),
        };
        let ms = v.metrics_server.trim_start_matches('v');
        if ms != "0.6.1" {
            return Err(no_pin("metrics-server (image rewrite)", ms, "metrics_server"));
        }
        let docker = v.docker.as_str();
        if docker != "20.10.24" {
            return Err(no_pin("docker-ce (focal apt version)", docker, "docker"));
        }
        Ok(PinSet {
            kube_binaries: vec![bin("kubeadm", kubeadm), bin("kubelet", kubelet), bin("kubectl", kubectl)],
            kubelet_service: Pin {
                artifact: "kubelet.service",
                url: format!("{release}/kubelet/lib/systemd/system/kubelet.service"),
                sha256: Some("48c8f5a6a13d4179fe156f4813167a590177cfdda73c1b9681fec7e3d159b709"),
            },
            kubeadm_dropin: Pin {
                artifact: "10-kubeadm.conf",
                url: format!("{release}/kubeadm/10-kubeadm.conf"),
                sha256: Some("3b6e4cb3ac34a6df6dd60ce45c9ebf035fc3ec160dc001b28afb7cca1c11ef06"),
            },
            // kubespray maps k8s 1.23 to crictl v1.23.0.
            crictl: Pin {
                artifact: "crictl",
                url: "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.23.0/crictl-v1.23.0-linux-amd64.tar.gz".into(),
                sha256: Some("b754f83c80acdc75f93aba191ff269da6be45d0fc2d3f4079704e7d1424f1ca8"),
            },
            // Same CNI plugins version as the 1.23 kubernetes-cni deb (0.8.7-00).
            cni_plugins: Pin {
                artifact: "cni-plugins",
                url: "https://github.com/containernetworking/plugins/releases/download/v0.8.7/cni-plugins-linux-amd64-v0.8.7.tgz".into(),
                sha256: Some("977824932d5667c7a37aa6a3cbba40100a6873e7bd97e83e8be837e3e7afd0a8"),
            },
            calico_release: Pin {
                artifact: "calico-release",
                url: format!("https://github.com/projectcalico/calico/releases/download/v{calico}/release-v{calico}.tgz"),
                sha256: None,
            },
            calicoctl: Pin {
                artifact: "calicoctl",
                url: format!("https://github.com/projectcalico/calico/releases/download/v{calico}/calicoctl-linux-amd64"),
                sha256: Some(calicoctl_sha),
            },
            metrics_server: Pin {
                artifact: "metrics-server",
                url: format!("https://github.com/kubernetes-sigs/metrics-server/releases/download/v{ms}/components.yaml"),
                sha256: None,
            },
            helm: Pin { artifact: "helm", url: format!("https://get.helm.sh/helm-v{helm}-linux-amd64.tar.gz"), sha256: Some(helm_sha) },
            metallb_namespace: Pin {
                artifact: "metallb-namespace",
                url: format!("https://raw.githubusercontent.com/metallb/metallb/v{metallb}/manifests/namespace.yaml"),
                sha256: Some(ns_sha),
            },
            metallb_manifest: Pin {
                artifact: "metallb",
                url: format!("https://raw.githubusercontent.com/metallb/metallb/v{metallb}/manifests/metallb.yaml"),
                sha256: Some(mlb_sha),
            },
            docker_apt_version: format!("5:{docker}~3-0~ubuntu-focal"),
            kube_tag,
            kube_minor,
        })
    }

    /// Every pin, for listing and for the artifact cache.
    pub fn all(&self) -> Vec<&Pin> {
        let mut v: Vec<&Pin> = self.kube_binaries.iter().collect();
        v.extend([
            &self.kubelet_service,
            &self.kubeadm_dropin,
            &self.crictl,
            &self.cni_plugins,
            &self.calico_release,
            &self.calicoctl,
            &self.metrics_server,
            &self.helm,
            &self.metallb_namespace,
            &self.metallb_manifest,
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_versions_resolve_and_unknown_versions_are_refused() {
        let p = PinSet::for_versions(&Versions::default()).unwrap();
        assert_eq!(p.kube_tag, "v1.23.6");
        assert_eq!(p.kube_minor, "1.23");
        assert_eq!(p.kube_binaries[0].url, "https://dl.k8s.io/release/v1.23.6/bin/linux/amd64/kubeadm");
        assert!(p.all().iter().filter(|p| p.sha256.is_some()).all(|p| p.sha256.unwrap().len() == 64));
        let v = Versions { kubernetes: "1.24.0".into(), ..Versions::default() };
        let e = PinSet::for_versions(&v).unwrap_err().to_string();
        assert!(e.contains("versions.kubernetes") && e.contains("1.24.0"), "{e}");
    }

    #[test]
    fn pinned_versions_cover_every_key_and_resolve() {
        let table: toml::Table = toml::to_string(&Versions::default()).unwrap().parse().unwrap();
        assert_eq!(table.len(), PINNED_VERSIONS.len(), "{table:?}");
        for (key, value) in &table {
            let default = value.as_str().unwrap();
            assert!(pinned_versions(key).contains(&default), "versions.{key} default {default} is not in PINNED_VERSIONS");
        }
        for (key, versions) in PINNED_VERSIONS {
            for v in versions {
                let mut t = table.clone();
                t.insert(key.to_string(), toml::Value::String(v.to_string()));
                let versions: Versions = t.try_into().unwrap();
                PinSet::for_versions(&versions).unwrap_or_else(|e| panic!("versions.{key} = {v}: {e}"));
            }
        }
    }
}
