//! Cluster checks: API version, nodes Ready, kube-system pods.

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::Evidence;
use crate::parsers::{node_summaries, pod_summaries, version_git};

/// `cluster.version`
pub fn version(ev: &Evidence) -> Verdict {
    let want = &ev.header.expect.kubernetes;
    let fix = format!(
        "install kubeadm/kubelet/kubectl={}-00 and hold them (guide: 指定版本), then `kubeadm init` again after `kubeadm reset`",
        want.trim_start_matches('v')
    );
    judge(ev, |j| {
        let v = j.json("k8s-version", &fix)?;
        let got = version_git(v).unwrap_or("(no gitVersion)");
        if got != want {
            return Err(fail(
                format!("API server gitVersion {want}"),
                format!("gitVersion {got}"),
                fix,
            ));
        }
        Ok(format!("API server {got} (k8s-version)"))
    })
}

/// `cluster.nodes-ready`
pub fn nodes_ready(ev: &Evidence) -> Verdict {
    let want = &ev.header.expect.kubernetes;
    let fix = "on each NotReady node: `systemctl status kubelet` / `journalctl -u kubelet`; before calico is applied nodes stay NotReady (guide: 配置网络); if the VM lost its network reboot it (guide pitfall 4)";
    judge(ev, |j| {
        let v = j.json("k8s-nodes", fix)?;
        let nodes = node_summaries(v).map_err(|e| fail("a NodeList", e.to_string(), fix))?;
        let mut bad = Vec::new();
        for want_node in &j.ev.header.nodes {
            match nodes.iter().find(|n| n.name == want_node.name) {
                None => bad.push(format!("{} not registered", want_node.name)),
                Some(n) => {
                    if n.ready != Some("True") {
                        bad.push(format!(
                            "{} Ready={} ({})",
                            n.name,
                            n.ready.unwrap_or("absent"),
                            n.ready_message
                        ));
                    }
                    if n.kubelet_version != Some(want.as_str()) {
                        bad.push(format!(
                            "{} kubelet {}",
                            n.name,
                            n.kubelet_version.unwrap_or("unknown")
                        ));
                    }
                }
            }
        }
        if !bad.is_empty() {
            return Err(fail(
                format!(
                    "{} nodes Ready with kubelet {want}",
                    j.ev.header.nodes.len()
                ),
                bad.join("; "),
                fix,
            ));
        }
        Ok(format!(
            "{}/{} nodes Ready, kubelet {want} (k8s-nodes)",
            j.ev.header.nodes.len(),
            nodes.len()
        ))
    })
}

/// `cluster.kube-system-pods`
pub fn kube_system_pods(ev: &Evidence) -> Verdict {
    let fix = "`kubectl describe pod -n kube-system <pod>` and `kubectl logs -n kube-system <pod>` for each pod listed";
    judge(ev, |j| {
        let v = j.json("k8s-pods-kube-system", fix)?;
        let pods = pod_summaries(v).map_err(|e| fail("a PodList", e.to_string(), fix))?;
        if pods.is_empty() {
            return Err(fail(
                "kube-system pods Running and Ready",
                "no pods in kube-system",
                fix,
            ));
        }
        let bad: Vec<String> = pods
            .iter()
            .filter(|p| p.phase != "Running" || !p.ready)
            .map(|p| {
                format!(
                    "{} on {}: {} {}/{}",
                    p.name, p.node, p.phase, p.containers_ready.0, p.containers_ready.1
                )
            })
            .collect();
        if !bad.is_empty() {
            return Err(fail(
                "every kube-system pod Running and Ready",
                bad.join("; "),
                fix,
            ));
        }
        Ok(format!(
            "{} kube-system pods Running and Ready (k8s-pods-kube-system)",
            pods.len()
        ))
    })
}
