//! Cluster checks: API version, nodes Ready, kube-system pods. Each reads kubectl's (or the API
//! server's) JSON as typed k8s-openapi objects, or the YAML/table/`kubectl version` forms a
//! pasted capture holds.

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::{Evidence, Target};
use crate::parsers::{ParseError, error_line, json_in, node_rows, pod_rows, version_git};

/// The API server's gitVersion in `/version` JSON, `kubectl version [-o json|--short]` or the
/// legacy `Server Version: version.Info{... GitVersion:"v1.23.5" ...}`.
fn server_version(json: Option<&serde_json::Value>, text: &str) -> Option<String> {
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        // `version.Info` of /version, or `kubectl version -o json`'s serverVersion.
        if let Some(g) = version_git(v) {
            return Some(g);
        }
    }
    let line = text.lines().map(str::trim).find(|l| l.starts_with("Server Version:"))?;
    if let Some((_, r)) = line.split_once("GitVersion:\"") {
        return r.split('"').next().map(String::from);
    }
    line["Server Version:".len()..].split_whitespace().next().map(String::from)
}

/// `cluster.version`
pub fn version(ev: &Evidence) -> Verdict {
    let want = &ev.header.expect.kubernetes;
    let fix = format!(
        "install kubeadm/kubelet/kubectl={}-00 and hold them (guide: 指定版本), then `kubeadm init` again after `kubeadm reset`",
        want.trim_start_matches('v')
    );
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-version", &fix)?;
        let Some(got) = server_version(json, text) else {
            if let Some(e) = error_line(text) {
                return Err(fail(
                    format!("API server gitVersion {want}"),
                    format!("no server version: {e}"),
                    "kubectl cannot reach the API server: use the admin kubeconfig (`export KUBECONFIG=/etc/kubernetes/admin.conf` or the guide's `~/.kube/config` copy) and check kube-apiserver on the control plane",
                ));
            }
            let e = ParseError::at(
                "kubectl version",
                text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty output)"),
                "no server gitVersion",
            );
            return Err(j.unreadable("k8s-version", &Target::Cluster, &e));
        };
        if &got != want {
            return Err(fail(format!("API server gitVersion {want}"), format!("gitVersion {got}"), fix));
        }
        Ok(format!("API server {got} (k8s-version)"))
    })
}

/// `cluster.nodes-ready`
pub fn nodes_ready(ev: &Evidence) -> Verdict {
    let want = &ev.header.expect.kubernetes;
    let fix = "on each NotReady node: `systemctl status kubelet` / `journalctl -u kubelet`; before calico is applied nodes stay NotReady (guide: 配置网络); if the VM lost its network reboot it (guide pitfall 4); a kubelet other than the pinned version: install kubelet=1.23.6-00 (guide: 指定版本)";
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-nodes", fix)?;
        let nodes = node_rows(json, text).map_err(|e| j.unreadable("k8s-nodes", &Target::Cluster, &e))?;
        let single = j.ev.single_capture().cloned();
        // One pasted list: judge the nodes it shows (and their number, when the cluster size is known).
        let wanted: Vec<String> = match &single {
            Some(_) => nodes.iter().map(|n| n.name.clone()).collect(),
            None => j.ev.header.nodes.iter().map(|n| n.name.clone()).collect(),
        };
        let mut bad = Vec::new();
        for name in &wanted {
            match nodes.iter().find(|n| &n.name == name) {
                None => bad.push(format!("{name} not registered")),
                Some(n) => {
                    if n.ready != "True" {
                        bad.push(format!("{} Ready={} ({})", n.name, n.ready, n.detail));
                    }
                    match n.kubelet_version.as_deref() {
                        Some(v) if v == want => {}
                        Some(v) => bad.push(format!("{} kubelet {v}", n.name)),
                        None if single.is_some() => {}
                        None => bad.push(format!("{} kubelet unknown", n.name)),
                    }
                }
            }
        }
        if let Some(n) = single.as_ref().and_then(|s| s.expected_nodes)
            && nodes.len() < n
        {
            bad.push(format!("{} of {n} nodes registered", nodes.len()));
        }
        if nodes.is_empty() {
            bad.push("no nodes listed".into());
        }
        if !bad.is_empty() {
            return Err(fail(format!("{} nodes Ready with kubelet {want}", wanted.len()), bad.join("; "), fix));
        }
        Ok(format!("{}/{} nodes Ready, kubelet {want} (k8s-nodes)", wanted.len(), nodes.len()))
    })
}

/// `cluster.kube-system-pods`
pub fn kube_system_pods(ev: &Evidence) -> Verdict {
    let fix = "`kubectl describe pod -n kube-system <pod>` and `kubectl logs -n kube-system <pod>` for each pod listed";
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-pods-kube-system", fix)?;
        let mut pods = pod_rows(json, text).map_err(|e| j.unreadable("k8s-pods-kube-system", &Target::Cluster, &e))?;
        // `-A` tables: only kube-system is judged.
        pods.retain(|p| p.namespace.as_deref().is_none_or(|ns| ns == "kube-system"));
        if pods.is_empty() {
            return Err(fail("kube-system pods Running and Ready", "no pods in kube-system", fix));
        }
        let bad: Vec<String> = pods
            .iter()
            .filter(|p| p.status != "Running" || !p.is_ready)
            .map(|p| {
                let on = if p.node.is_empty() { String::new() } else { format!(" on {}", p.node) };
                format!("{}{on}: {} {}/{}", p.name, p.status, p.ready.0, p.ready.1)
            })
            .collect();
        if !bad.is_empty() {
            return Err(fail("every kube-system pod Running and Ready", bad.join("; "), fix));
        }
        Ok(format!("{} kube-system pods Running and Ready (k8s-pods-kube-system)", pods.len()))
    })
}
