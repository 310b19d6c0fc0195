//! Where each synthesised fact of the recorded bundles gets its layout from: a real capture
//! under `tests/fixtures/real/` (test-only). `fixtures.rs` names it in every manifest's
//! provenance; the test below fails when a bundle holds a fact whose shape names no existing
//! real capture.

/// Probes whose output format is kubelab's own (defined by the probe catalog): no real capture
/// exists by construction.
pub(crate) const KUBELAB_FORMATS: [&str; 4] = ["ping-peers", "ipip-ping", "network-manager", "lb-http"];

/// The real capture (path under `tests/fixtures/real/`) whose layout `probe`'s fact in `bundle`
/// follows; fault bundles name the capture of the faulty state they reproduce.
pub(crate) fn shape(bundle: &str, probe: &str) -> Option<&'static str> {
    Some(match (bundle, probe) {
        ("bgp-peer-active", "bgp-calicoctl") => {
            "bgp-calicoctl/calicoctl-issue-1883-start-active-refused.txt (wrapped `Active Socket: ...` INFO), bgp-calicoctl/calico-issue-1073-aws-start-connect.txt (`start | Connect`)"
        }
        ("join-token-expired", "kubeadm-join") => "kubeadm-join/kind-issue-2798-v1-24-jws-signature-missing-verbose.txt",
        ("csr-pending", "k8s-node-metrics") => "k8s-node-metrics/test-infra-16081-top-serviceunavailable.txt",
        ("csr-pending", "kubelet-serving-cert") | ("join-token-expired", "kubelet-config") => {
            "none: a `cat`/openssl `No such file or directory` error line"
        }
        ("kube-proxy-iptables", "ipvsadm") => "ipvsadm/rke2-issue-4416-empty-table.txt",
        ("kube-proxy-iptables", "kube-ipvs0") => "none: iproute2's `Device \"kube-ipvs0\" does not exist.` line",
        ("kube-proxy-iptables", "proxy-mode") => "proxy-mode/k8s-docs-source-ip-iptables.txt",
        (_, "hostname") => "hostname/kubeadm-584-ec2-redacted-hostname.txt",
        (_, "product-uuid") => "product-uuid/kind-1027-same-system-uuid-three-nodes.txt",
        (_, "machine-id") => "machine-id/footloose-154-ubuntu1804-same-after-regenerate.txt",
        (_, "ip-link") => "ip-link/fusioninventory-640-ip-o-link-bond-vlans-shared-mac.txt",
        (_, "ssh-hostkey") => "ssh-hostkey/sparkleshare-1940-ed25519-root-at-host.txt",
        (_, "etc-hosts") => "etc-hosts/kubeform-19-only-loopback-hostname.txt",
        (_, "swapon") => "swapon/swaptop-4-swapfile-and-zram.txt (empty when no swap is active)",
        (_, "proc-swaps") => "proc-swaps/cloudly-224-dm-1-partition.txt (header only when no swap)",
        (_, "fstab") => "fstab/capi-ibmcloud-183-sed-preview-commented-swap.txt",
        (_, "lsmod") => "lsmod/kubeadm-312-arch-br-netfilter-blank-line.txt",
        (_, "sysctl-net") => "sysctl-net/rke-788-root-prompt-iptables-1.txt",
        (_, "listen-6443") => "listen-6443/kubeadm-1647-ss-tlpn-grep-apiserver-private-ip.txt",
        (_, "docker-info") => "docker-info/docker-cli-v20.10.24-golden-no-swarm.txt",
        (_, "kubelet-config") => "kubelet-config/minikube-v1.23-golden-kubeletconfiguration-systemd.txt",
        (_, "bgp-calicoctl") => "bgp-calicoctl/felix-issue-1942-healthy-3-peers-date-since.txt",
        (_, "ip-route") => "ip-route/medium-samueldarwin-ip-route-healthy-ipip.txt",
        (_, "tunl0") => "tunl0/calico-discuss-25-master1-tunl0-pool-addr.txt",
        (_, "ipvsadm") => "ipvsadm/kubeadm-issue-2205-healthy-10-96-0-1.txt",
        (_, "kube-ipvs0") => "kube-ipvs0/kubernetes-issue-107662-ip-addr-kube-ipvs0-down-normal.txt",
        (_, "proxy-mode") => "proxy-mode/k8s-docs-source-ip-iptables.txt (the mode word, no newline)",
        (_, "kubelet-serving-cert") => "kubelet-serving-cert/temach-master-kubelet-server-current-ca-signed-ip-san.txt",
        (_, "kubeadm-join") => "kubeadm-join/kubeadm-issue-574-v1-24-success-indented.txt",
        (_, "k8s-version") => "k8s-version/kthw-1.21.0-curl-version.txt",
        (_, "k8s-nodes") => "k8s-nodes/kubview-eks-1.14-nodes-list-json-ready.txt",
        (_, "k8s-pods-kube-system") => {
            "k8s-pods-kube-system/calico-2904-calico-node-0of1-running.txt (its table; the JSON is the v1 Pod schema)"
        }
        (_, "k8s-csr") => "k8s-csr/nectar-csr-yaml-client-approved-issued.txt (its YAML; the JSON is the same object)",
        (_, "k8s-apiservice-metrics") => {
            "k8s-apiservice-metrics/metrics-server-525-missingendpoints-yaml.txt (its YAML; the JSON is the same object)"
        }
        (_, "k8s-node-metrics") => "k8s-node-metrics/dangolk-get-raw-single-nodemetrics-ub18.txt",
        (_, "k8s-kube-proxy-cm") => {
            "k8s-kube-proxy-cm/temach-kubeadm-1.32-full-yaml-mode-empty-strictarp-false.txt (its YAML; the JSON is the same ConfigMap)"
        }
        (_, "k8s-services") => "k8s-services/krowsnest-k3s-svc-json-lb-no-ingress.txt",
        (_, "helm-version") => "helm-version/helm-golden-version-short-v3-3.txt",
        (_, p) if KUBELAB_FORMATS.contains(&p) => "none: kubelab's own format (probe catalog)",
        _ => return None,
    })
}

/// The capture paths a shape names (the `.txt` words).
pub(crate) fn shape_paths(shape: &str) -> Vec<&str> {
    shape.split([' ', ',']).filter(|w| w.ends_with(".txt")).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_synthesised_fact_names_an_existing_real_capture() {
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/real");
        let mut problems = Vec::new();
        for b in super::super::fixtures::all() {
            for (_, probe) in b.facts.keys() {
                match shape(b.name, probe) {
                    None => problems.push(format!("{}: {probe} names no real capture", b.name)),
                    Some(s) if s.starts_with("none:") => {}
                    Some(s) => {
                        let paths = shape_paths(s);
                        if paths.is_empty() {
                            problems.push(format!("{}: {probe}: `{s}` names no capture file", b.name));
                        }
                        for p in paths {
                            if !real.join(p).is_file() {
                                problems.push(format!("{}: {probe}: {p} does not exist", b.name));
                            }
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
