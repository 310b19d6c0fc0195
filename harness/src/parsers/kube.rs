//! Kubernetes API objects as `kubectl ... -o json` prints them (kubectl 1.23), plus `helm version
//! --short`. Objects stay `serde_json::Value`; these helpers pull out
//! the fields the checks judge.

use serde_json::Value;

use super::ParseError;

/// Parses JSON output of kubectl.
pub fn parse_json(what: &'static str, text: &str) -> Result<Value, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::new(what, e.to_string()))
}

/// The `items` of a `...List` object.
pub fn list_items<'a>(what: &'static str, v: &'a Value) -> Result<&'a [Value], ParseError> {
    v.get("items").and_then(Value::as_array).map(Vec::as_slice).ok_or_else(|| ParseError::new(what, "not a List object (no `items` array)"))
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// `gitVersion` of `kubectl get --raw /version`.
pub fn version_git(v: &Value) -> Option<&str> {
    s(v, &["gitVersion"])
}

/// A Node's readiness and kubelet version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSummary<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// Status of the `Ready` condition (`True`, `False`, `Unknown`), if present.
    pub ready: Option<&'a str>,
    /// `message` of the `Ready` condition.
    pub ready_message: &'a str,
    /// `status.nodeInfo.kubeletVersion`.
    pub kubelet_version: Option<&'a str>,
    /// `InternalIP` address.
    pub internal_ip: Option<&'a str>,
}

/// Summaries of `kubectl get nodes -o json`.
pub fn node_summaries(v: &Value) -> Result<Vec<NodeSummary<'_>>, ParseError> {
    Ok(list_items("kubectl get nodes", v)?
        .iter()
        .map(|n| {
            let ready = conditions(n).find(|c| s(c, &["type"]) == Some("Ready"));
            NodeSummary {
                name: s(n, &["metadata", "name"]).unwrap_or(""),
                ready: ready.and_then(|c| s(c, &["status"])),
                ready_message: ready.and_then(|c| s(c, &["message"])).unwrap_or(""),
                kubelet_version: s(n, &["status", "nodeInfo", "kubeletVersion"]),
                internal_ip: n
                    .pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| s(x, &["type"]) == Some("InternalIP")))
                    .and_then(|x| s(x, &["address"])),
            }
        })
        .collect())
}

fn conditions(v: &Value) -> impl Iterator<Item = &Value> {
    v.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten()
}

/// A Pod's phase and readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `spec.nodeName`.
    pub node: &'a str,
    /// `status.phase`.
    pub phase: &'a str,
    /// Ready condition is `True`.
    pub ready: bool,
    /// Containers ready / total, as `kubectl get pods` shows READY.
    pub containers_ready: (usize, usize),
}

/// Summaries of `kubectl get pods -o json`.
pub fn pod_summaries(v: &Value) -> Result<Vec<PodSummary<'_>>, ParseError> {
    Ok(list_items("kubectl get pods", v)?
        .iter()
        .map(|p| {
            let cs = p.pointer("/status/containerStatuses").and_then(Value::as_array);
            let total = cs.map_or(0, Vec::len);
            let ready_n = cs.map_or(0, |a| a.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count());
            PodSummary {
                name: s(p, &["metadata", "name"]).unwrap_or(""),
                node: s(p, &["spec", "nodeName"]).unwrap_or(""),
                phase: s(p, &["status", "phase"]).unwrap_or(""),
                ready: conditions(p).any(|c| s(c, &["type"]) == Some("Ready") && s(c, &["status"]) == Some("True")),
                containers_ready: (ready_n, total),
            }
        })
        .collect())
}

/// A CSR's condition, as `kubectl get csr` shows CONDITION.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrCondition {
    /// No Approved/Denied/Failed condition.
    Pending,
    /// Approved (issued when a certificate is present).
    Approved,
    /// Denied.
    Denied,
    /// Failed.
    Failed,
}

/// A CertificateSigningRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrSummary<'a> {
    /// `metadata.name`, e.g. `csr-2nk7h`.
    pub name: &'a str,
    /// `spec.signerName`.
    pub signer: &'a str,
    /// `spec.username`, e.g. `system:node:ICE-k8s-machines-node2`.
    pub username: &'a str,
    /// Condition.
    pub condition: CsrCondition,
    /// `status.certificate` is present.
    pub issued: bool,
}

/// Summaries of `kubectl get csr -o json` (certificates.k8s.io/v1).
pub fn csr_summaries(v: &Value) -> Result<Vec<CsrSummary<'_>>, ParseError> {
    Ok(list_items("kubectl get csr", v)?
        .iter()
        .map(|c| {
            let has = |t: &str| conditions(c).any(|x| s(x, &["type"]) == Some(t) && s(x, &["status"]) != Some("False"));
            let condition = if has("Denied") {
                CsrCondition::Denied
            } else if has("Failed") {
                CsrCondition::Failed
            } else if has("Approved") {
                CsrCondition::Approved
            } else {
                CsrCondition::Pending
            };
            CsrSummary {
                name: s(c, &["metadata", "name"]).unwrap_or(""),
                signer: s(c, &["spec", "signerName"]).unwrap_or(""),
                username: s(c, &["spec", "username"]).unwrap_or(""),
                condition,
                issued: s(c, &["status", "certificate"]).is_some_and(|x| !x.is_empty()),
            }
        })
        .collect())
}

/// The `Available` condition of an APIService: (status, reason, message).
pub fn apiservice_available(v: &Value) -> Option<(&str, &str, &str)> {
    conditions(v)
        .find(|c| s(c, &["type"]) == Some("Available"))
        .map(|c| (s(c, &["status"]).unwrap_or(""), s(c, &["reason"]).unwrap_or(""), s(c, &["message"]).unwrap_or("")))
}

/// Node names in a `NodeMetricsList` (`/apis/metrics.k8s.io/v1beta1/nodes`).
pub fn node_metrics_names(v: &Value) -> Result<Vec<&str>, ParseError> {
    Ok(list_items("metrics.k8s.io nodes", v)?.iter().filter_map(|m| s(m, &["metadata", "name"])).collect())
}

/// A `type: LoadBalancer` Service and its ingress IPs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerSummary<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// `status.loadBalancer.ingress[*].ip`.
    pub ingress_ips: Vec<&'a str>,
}

/// The LoadBalancer Services of `kubectl get services -A -o json`.
pub fn load_balancers(v: &Value) -> Result<Vec<LoadBalancerSummary<'_>>, ParseError> {
    Ok(list_items("kubectl get services", v)?
        .iter()
        .filter(|x| s(x, &["spec", "type"]) == Some("LoadBalancer"))
        .map(|x| LoadBalancerSummary {
            namespace: s(x, &["metadata", "namespace"]).unwrap_or(""),
            name: s(x, &["metadata", "name"]).unwrap_or(""),
            ingress_ips: x
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| s(i, &["ip"]))
                .collect(),
        })
        .collect())
}

/// `data.<key>` of a ConfigMap.
pub fn configmap_data<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("data")?.get(key)?.as_str()
}

/// The version `helm version [--short]` prints: `v3.8.0+gd141386` → `v3.8.0`, Helm 3's
/// `version.BuildInfo{Version:"v3.2.1", ...}`, Helm 2's `Client: v2.1.0+ga72cebe` /
/// `Client: &version.Version{SemVer:"v2.0.1", ...}` (the client's).
pub fn parse_helm_short(text: &str) -> Option<&str> {
    for l in text.lines().map(str::trim) {
        for key in ["Version:\"", "SemVer:\""] {
            if let Some((_, r)) = l.split_once(key) {
                return r.split('"').next();
            }
        }
        let l = l.strip_prefix("Client:").map_or(l, str::trim);
        let v = l.split('+').next().unwrap_or("");
        if v.starts_with('v')
            && v.len() > 1
            && !v.contains(' ')
            && (2..=3).contains(&v[1..].split(['.', '-']).take(3).count())
            && v[1..2].chars().all(|c| c.is_ascii_digit())
        {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_and_versions() {
        // Shape of `kubectl get nodes -o json` (v1 NodeList), trimmed to the fields read.
        let v = json!({"apiVersion":"v1","kind":"List","items":[
            {"metadata":{"name":"ICE-k8s-machines-node0"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.134"},{"type":"Hostname","address":"ICE-k8s-machines-node0"}],
             "conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status. AppArmor enabled"}],
             "nodeInfo":{"kubeletVersion":"v1.23.6"}}},
            {"metadata":{"name":"ICE-k8s-machines-node1"},"status":{"conditions":[{"type":"Ready","status":"Unknown","message":"Kubelet stopped posting node status."}],"nodeInfo":{"kubeletVersion":"v1.23.6"}}}]});
        let n = node_summaries(&v).unwrap();
        assert_eq!(n[0].ready, Some("True"));
        assert_eq!(n[0].internal_ip, Some("192.168.1.134"));
        assert_eq!(n[1].ready, Some("Unknown"));
        assert_eq!(n[1].ready_message, "Kubelet stopped posting node status.");
        assert!(node_summaries(&json!({"kind":"Status"})).is_err());
        assert_eq!(version_git(&json!({"major":"1","minor":"23","gitVersion":"v1.23.6"})), Some("v1.23.6"));
    }

    #[test]
    fn pods() {
        let v = json!({"kind":"List","items":[
            {"metadata":{"name":"kube-proxy-4cwj7"},"spec":{"nodeName":"ICE-k8s-machines-node0"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"kube-proxy","ready":true}]}},
            {"metadata":{"name":"metrics-server-7f9d"},"spec":{"nodeName":"ICE-k8s-machines-node1"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"metrics-server","ready":false}]}}]});
        let p = pod_summaries(&v).unwrap();
        assert!(p[0].ready);
        assert_eq!(p[1].containers_ready, (0, 1));
        assert!(!p[1].ready);
    }

    #[test]
    fn csrs() {
        // certificates.k8s.io/v1 CSRs as in the guide's `kubectl get csr` table.
        let v = json!({"kind":"List","items":[
            {"metadata":{"name":"csr-2nk7h"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node2"},"status":{}},
            {"metadata":{"name":"csr-8982q"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node1"},
             "status":{"certificate":"LS0t","conditions":[{"type":"Approved","status":"True","reason":"KubectlApprove"}]}},
            {"metadata":{"name":"csr-chg65"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node0"},
             "status":{"conditions":[{"type":"Denied","status":"True"}]}}]});
        let c = csr_summaries(&v).unwrap();
        assert_eq!(
            c.iter().map(|c| c.condition).collect::<Vec<_>>(),
            vec![CsrCondition::Pending, CsrCondition::Approved, CsrCondition::Denied]
        );
        assert!(c[1].issued && !c[0].issued);
    }

    #[test]
    fn apiservice_metrics_services_cm() {
        let a = json!({"status":{"conditions":[{"type":"Available","status":"False","reason":"FailedDiscoveryCheck","message":"failing or missing response from https://10.96.86.1:443/apis/metrics.k8s.io/v1beta1"}]}});
        assert_eq!(apiservice_available(&a).unwrap().1, "FailedDiscoveryCheck");
        let m = json!({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[{"metadata":{"name":"n0"},"usage":{"cpu":"1m"}}]});
        assert_eq!(node_metrics_names(&m).unwrap(), vec!["n0"]);
        let svc = json!({"kind":"List","items":[
            {"metadata":{"namespace":"default","name":"kubernetes"},"spec":{"type":"ClusterIP"}},
            {"metadata":{"namespace":"default","name":"nginx"},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.1.200"}]}}},
            {"metadata":{"namespace":"default","name":"web"},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{}}}]});
        let lb = load_balancers(&svc).unwrap();
        assert_eq!(lb.len(), 2);
        assert_eq!(lb[0].ingress_ips, vec!["192.168.1.200"]);
        assert!(lb[1].ingress_ips.is_empty());
        assert_eq!(configmap_data(&json!({"data":{"config.conf":"mode: ipvs"}}), "config.conf"), Some("mode: ipvs"));
    }

    #[test]
    fn helm() {
        assert_eq!(parse_helm_short("v3.8.0+gd141386\n"), Some("v3.8.0"));
        assert_eq!(parse_helm_short("bash: helm: command not found"), None);
    }
}

/// Parses kubectl's default table output (`kubectl get csr`, `kubectl get pods`): columns are
/// separated by runs of two or more spaces (cells such as `1 (156m ago)` hold single spaces).
/// Returns the header and the rows; a row with a different cell count is an error.
pub fn parse_kubectl_table(text: &str) -> Result<(Vec<&str>, Vec<Vec<&str>>), ParseError> {
    fn cells(line: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b' ' && (i + 1 < b.len() && b[i + 1] == b' ' || i + 1 == b.len()) {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
                continue;
            }
            if start.is_none() && b[i] != b' ' {
                start = Some(i);
            }
            i += 1;
        }
        if let Some(s) = start {
            out.push(line[s..].trim_end());
        }
        out
    }
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = cells(lines.next().ok_or_else(|| ParseError::new("kubectl table", "empty output"))?);
    let mut rows = Vec::new();
    for l in lines {
        let r = cells(l);
        if r.len() != header.len() {
            return Err(ParseError::new("kubectl table", format!("{} cells for {} columns in `{l}`", r.len(), header.len())));
        }
        rows.push(r);
    }
    Ok((header, rows))
}

#[cfg(test)]
mod table_tests {
    use super::parse_kubectl_table;

    #[test]
    fn guide_csr_table() {
        // Verbatim from the guide (启用TLSBootstrap).
        let t = "NAME        AGE     SIGNERNAME                      REQUESTOR           REQUESTEDDURATION   CONDITION
csr-2nk7h   5m49s   kubernetes.io/kubelet-serving   system:node:node2   <none>              Pending
csr-8982q   14s     kubernetes.io/kubelet-serving   system:node:node1   <none>              Pending
csr-chg65   25s     kubernetes.io/kubelet-serving   system:node:node0   <none>              Pending
";
        let (h, rows) = parse_kubectl_table(t).unwrap();
        assert_eq!(h, vec!["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["csr-8982q", "14s", "kubernetes.io/kubelet-serving", "system:node:node1", "<none>", "Pending"]);
    }

    #[test]
    fn guide_proxy_pods_with_header() {
        // The guide's `kubectl get pods -n kube-system | grep proxy` rows, with kubectl's header restored.
        let t = "NAME                                      READY   STATUS    RESTARTS        AGE
kube-proxy-4cwj7                          1/1     Running   1 (156m ago)    27h
kube-proxy-7pkpb                          1/1     Running   1 (156m ago)    27h
kube-proxy-9r4hn                          1/1     Running   1 (156m ago)    27h
";
        let (h, rows) = parse_kubectl_table(t).unwrap();
        assert_eq!(h[3], "RESTARTS");
        assert_eq!(rows[2], vec!["kube-proxy-9r4hn", "1/1", "Running", "1 (156m ago)", "27h"]);
        assert!(parse_kubectl_table("NAME  READY\nx\n").is_err());
    }
}
