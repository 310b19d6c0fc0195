//! Kubernetes API objects as `kubectl ... -o json` (kubectl 1.23) or the API server prints
//! them, read as the typed objects of k8s-openapi (`Node`, `Pod`, `Service`, `ConfigMap`,
//! `CertificateSigningRequest`, `APIService`, `version::Info`) and k8s-metrics (`NodeMetrics`);
//! the summaries pull out the fields the checks judge. Plus `helm version --short`.

use k8s_metrics::v1beta1::NodeMetrics;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node, NodeCondition, Pod, Service};
use k8s_openapi::apimachinery::pkg::version::Info;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ParseError;

/// Parses JSON output of kubectl.
pub fn parse_json(what: &'static str, text: &str) -> Result<Value, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::new(what, e.to_string()))
}

/// Reads `v` as the typed Kubernetes object `T` (k8s-openapi / k8s-metrics types). Lenient
/// the way k8s-openapi is for older servers: a required field that a 1.23 object (or a trimmed
/// paste) lacks becomes its default; fields the type does not know are ignored.
pub fn typed<T: DeserializeOwned>(what: &'static str, v: &Value) -> Result<T, ParseError> {
    T::deserialize(v).map_err(|e| ParseError::new(what, e.to_string()))
}

/// The `items` of a `...List` object (kubectl's `List` or the API server's `NodeList`, …),
/// each read as `T`; an item that is not a `T` is an error naming its index.
pub fn list_items<T: DeserializeOwned>(what: &'static str, v: &Value) -> Result<Vec<T>, ParseError> {
    let items = v.get("items").and_then(Value::as_array).ok_or_else(|| ParseError::new(what, "not a List object (no `items` array)"))?;
    items_as(what, items.iter())
}

/// Every value of `items` read as `T`.
pub fn items_as<'a, T: DeserializeOwned>(what: &'static str, items: impl Iterator<Item = &'a Value>) -> Result<Vec<T>, ParseError> {
    items.enumerate().map(|(i, x)| T::deserialize(x).map_err(|e| ParseError::new(what, format!("items[{i}]: {e}")))).collect()
}

/// `gitVersion` of `/version` (`version.Info`) or of `kubectl version -o json`'s
/// `serverVersion`; `None` when neither holds one.
pub fn version_git(v: &Value) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct KubectlVersion {
        server_version: Option<Info>,
    }
    let own = Info::deserialize(v).ok().map(|i| i.git_version).filter(|g| !g.is_empty());
    own.or_else(|| KubectlVersion::deserialize(v).ok()?.server_version.map(|i| i.git_version).filter(|g| !g.is_empty()))
}

fn condition<'a>(cs: Option<&'a Vec<NodeCondition>>, kind: &str) -> Option<&'a NodeCondition> {
    cs?.iter().find(|c| c.type_ == kind)
}

/// A Node's readiness and kubelet version, read from the typed [`Node`].
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

/// The summary of one typed Node.
pub fn node_summary(n: &Node) -> NodeSummary<'_> {
    let st = n.status.as_ref();
    let ready = condition(st.and_then(|s| s.conditions.as_ref()), "Ready");
    NodeSummary {
        name: n.metadata.name.as_deref().unwrap_or(""),
        ready: ready.map(|c| c.status.as_str()),
        ready_message: ready.and_then(|c| c.message.as_deref()).unwrap_or(""),
        // A Node without nodeInfo has no kubelet version (k8s-openapi defaults it to "").
        kubelet_version: st.and_then(|s| s.node_info.as_ref()).map(|i| i.kubelet_version.as_str()).filter(|v| !v.is_empty()),
        internal_ip: st
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|x| x.type_ == "InternalIP"))
            .map(|x| x.address.as_str()),
    }
}

/// The Nodes of `kubectl get nodes -o json` (or the API server's NodeList).
pub fn nodes(v: &Value) -> Result<Vec<Node>, ParseError> {
    list_items("kubectl get nodes", v)
}

/// A Pod's phase and readiness, read from the typed [`Pod`].
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

/// The summary of one typed Pod.
pub fn pod_summary(p: &Pod) -> PodSummary<'_> {
    let st = p.status.as_ref();
    let cs = st.and_then(|s| s.container_statuses.as_ref());
    PodSummary {
        name: p.metadata.name.as_deref().unwrap_or(""),
        node: p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or(""),
        phase: st.and_then(|s| s.phase.as_deref()).unwrap_or(""),
        ready: st.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        containers_ready: (cs.map_or(0, |a| a.iter().filter(|c| c.ready).count()), cs.map_or(0, Vec::len)),
    }
}

/// The Pods of `kubectl get pods -o json` (or the API server's PodList).
pub fn pods(v: &Value) -> Result<Vec<Pod>, ParseError> {
    list_items("kubectl get pods", v)
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

/// A CertificateSigningRequest, read from the typed [`CertificateSigningRequest`].
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
    /// `status.certificate` is present (and decoded from base64).
    pub issued: bool,
}

/// The summary of one typed CSR.
pub fn csr_summary(c: &CertificateSigningRequest) -> CsrSummary<'_> {
    let st = c.status.as_ref();
    let has = |t: &str| st.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|x| x.type_ == t && x.status != "False"));
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
        name: c.metadata.name.as_deref().unwrap_or(""),
        signer: &c.spec.signer_name,
        username: c.spec.username.as_deref().unwrap_or(""),
        condition,
        issued: st.and_then(|s| s.certificate.as_ref()).is_some_and(|b| !b.0.is_empty()),
    }
}

/// The CSRs of `kubectl get csr -o json` (certificates.k8s.io/v1).
pub fn csrs(v: &Value) -> Result<Vec<CertificateSigningRequest>, ParseError> {
    list_items("kubectl get csr", v)
}

/// The `Available` condition of an APIService: (status, reason, message).
pub fn apiservice_available(a: &APIService) -> Option<(&str, &str, &str)> {
    a.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Available")
        .map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or(""), c.message.as_deref().unwrap_or("")))
}

/// Node names in a `NodeMetricsList` (`/apis/metrics.k8s.io/v1beta1/nodes`), each item read as
/// k8s-metrics' [`NodeMetrics`].
pub fn node_metrics_names(v: &Value) -> Result<Vec<String>, ParseError> {
    Ok(list_items::<NodeMetrics>("metrics.k8s.io nodes", v)?.into_iter().filter_map(|m| m.metadata.name).collect())
}

/// A `type: LoadBalancer` Service and its ingress IPs, read from the typed [`Service`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerSummary<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// `status.loadBalancer.ingress[*].ip`.
    pub ingress_ips: Vec<&'a str>,
}

/// The LoadBalancer Services among `services`.
pub fn load_balancers(services: &[Service]) -> Vec<LoadBalancerSummary<'_>> {
    services
        .iter()
        .filter(|x| x.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        .map(|x| LoadBalancerSummary {
            namespace: x.metadata.namespace.as_deref().unwrap_or(""),
            name: x.metadata.name.as_deref().unwrap_or(""),
            ingress_ips: x
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip.as_deref())
                .collect(),
        })
        .collect()
}

/// The Services of `kubectl get services -A -o json`.
pub fn services(v: &Value) -> Result<Vec<Service>, ParseError> {
    list_items("kubectl get services", v)
}

/// `data.<key>` of a typed ConfigMap.
pub fn configmap_data<'a>(cm: &'a ConfigMap, key: &str) -> Option<&'a str> {
    cm.data.as_ref()?.get(key).map(String::as_str)
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
        let typed = nodes(&v).unwrap();
        let n: Vec<NodeSummary> = typed.iter().map(node_summary).collect();
        assert_eq!(n[0].ready, Some("True"));
        assert_eq!(n[0].internal_ip, Some("192.168.1.134"));
        assert_eq!(n[1].ready, Some("Unknown"));
        assert_eq!(n[1].ready_message, "Kubelet stopped posting node status.");
        assert!(nodes(&json!({"kind":"Status"})).is_err());
        // A field of the wrong type is an error naming the item, not a silent default.
        let e = nodes(&json!({"items":[{"metadata":{"name":7}}]})).unwrap_err();
        assert!(e.to_string().contains("items[0]"), "{e}");
        assert_eq!(version_git(&json!({"major":"1","minor":"23","gitVersion":"v1.23.6"})).as_deref(), Some("v1.23.6"));
        assert_eq!(
            version_git(&json!({"clientVersion":{"gitVersion":"v1.23.6"},"serverVersion":{"gitVersion":"v1.23.5"}})).as_deref(),
            Some("v1.23.5")
        );
        assert_eq!(version_git(&json!({"clientVersion":{"gitVersion":"v1.23.6"}})), None);
    }

    #[test]
    fn pod_readiness() {
        let v = json!({"kind":"List","items":[
            {"metadata":{"name":"kube-proxy-4cwj7"},"spec":{"nodeName":"ICE-k8s-machines-node0"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"kube-proxy","ready":true}]}},
            {"metadata":{"name":"metrics-server-7f9d"},"spec":{"nodeName":"ICE-k8s-machines-node1"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"metrics-server","ready":false}]}}]});
        let typed = pods(&v).unwrap();
        let p: Vec<PodSummary> = typed.iter().map(pod_summary).collect();
        assert!(p[0].ready);
        assert_eq!(p[1].containers_ready, (0, 1));
        assert!(!p[1].ready);
    }

    #[test]
    fn csr_conditions() {
        // certificates.k8s.io/v1 CSRs as in the guide's `kubectl get csr` table.
        let v = json!({"kind":"List","items":[
            {"metadata":{"name":"csr-2nk7h"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node2"},"status":{}},
            {"metadata":{"name":"csr-8982q"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node1"},
             "status":{"certificate":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==","conditions":[{"type":"Approved","status":"True","reason":"KubectlApprove"}]}},
            {"metadata":{"name":"csr-chg65"},"spec":{"signerName":"kubernetes.io/kubelet-serving","username":"system:node:node0"},
             "status":{"conditions":[{"type":"Denied","status":"True"}]}}]});
        let typed = csrs(&v).unwrap();
        let c: Vec<CsrSummary> = typed.iter().map(csr_summary).collect();
        assert_eq!(
            c.iter().map(|c| c.condition).collect::<Vec<_>>(),
            vec![CsrCondition::Pending, CsrCondition::Approved, CsrCondition::Denied]
        );
        assert!(c[1].issued && !c[0].issued);
        // status.certificate is base64 bytes: a truncated one is not what a server sends.
        let cut = json!({"items":[{"spec":{"signerName":"kubernetes.io/kubelet-serving"},"status":{"certificate":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNrVENDQVhtZ0F3SUJBZ0lR0"}}]});
        assert!(csrs(&cut).is_err());
    }

    #[test]
    fn apiservice_metrics_services_cm() {
        let a = json!({"status":{"conditions":[{"type":"Available","status":"False","reason":"FailedDiscoveryCheck","message":"failing or missing response from https://10.96.86.1:443/apis/metrics.k8s.io/v1beta1"}]}});
        let a: APIService = typed("APIService", &a).unwrap();
        assert_eq!(apiservice_available(&a).unwrap().1, "FailedDiscoveryCheck");
        let m = json!({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[{"metadata":{"name":"n0"},"timestamp":"2022-04-30T10:45:02Z","window":"30s","usage":{"cpu":"1m","memory":"1Ki"}}]});
        assert_eq!(node_metrics_names(&m).unwrap(), vec!["n0"]);
        let svc = json!({"kind":"List","items":[
            {"metadata":{"namespace":"default","name":"kubernetes"},"spec":{"type":"ClusterIP"}},
            {"metadata":{"namespace":"default","name":"nginx"},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.1.200"}]}}},
            {"metadata":{"namespace":"default","name":"web"},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{}}}]});
        let svc = services(&svc).unwrap();
        let lb = load_balancers(&svc);
        assert_eq!(lb.len(), 2);
        assert_eq!(lb[0].ingress_ips, vec!["192.168.1.200"]);
        assert!(lb[1].ingress_ips.is_empty());
        let cm: ConfigMap = typed("ConfigMap", &json!({"data":{"config.conf":"mode: ipvs"}})).unwrap();
        assert_eq!(configmap_data(&cm, "config.conf"), Some("mode: ipvs"));
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

/// The typed readers over real JSON from the capture corpus (`tests/fixtures/real/`, provenance
/// in each file's header): kubectl Lists, a single NodeMetrics, /version, k8s.io/api v1.23.0's
/// own serialization.
#[cfg(test)]
mod real_json {
    use super::*;

    fn body(capture: &str) -> Value {
        let (_, b) = capture.split_once("\n---\n").expect("corpus header");
        crate::parsers::json_in(b).expect("JSON body")
    }

    #[test]
    fn eks_node_list_and_upstream_1_23_node() {
        let v = body(include_str!("../../../tests/fixtures/real/k8s-nodes/kubview-eks-1.14-nodes-list-json-ready.txt"));
        let list = nodes(&v).unwrap();
        let n: Vec<NodeSummary> = list.iter().map(node_summary).collect();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].name, "ip-192-168-4-135.eu-central-1.compute.internal");
        assert_eq!((n[0].ready, n[1].ready), (Some("True"), Some("True")));
        assert_eq!(n[1].kubelet_version, Some("v1.14.8-eks-b8860f"));
        let one = body(include_str!("../../../tests/fixtures/real/k8s-nodes/upstream-v1.23.0-roundtrip-node.txt"));
        let node: Node = typed("Node", &one).unwrap();
        assert_eq!(node.metadata.name.as_deref(), Some("2"));
    }

    #[test]
    fn k3s_services_and_metrics_and_version() {
        let v = body(include_str!("../../../tests/fixtures/real/k8s-services/krowsnest-k3s-svc-json-lb-no-ingress.txt"));
        let svcs = services(&v).unwrap();
        assert_eq!(svcs.len(), 3);
        let lb = load_balancers(&svcs);
        assert_eq!((lb.len(), lb[0].name, lb[0].ingress_ips.len()), (1, "my-release-wordpress", 0));
        let m = body(include_str!("../../../tests/fixtures/real/k8s-node-metrics/dangolk-get-raw-single-nodemetrics-ub18.txt"));
        let nm: NodeMetrics = typed("NodeMetrics", &m).unwrap();
        assert_eq!(nm.metadata.name.as_deref(), Some("ub18"));
        let empty = body(include_str!("../../../tests/fixtures/real/k8s-node-metrics/metrics-server-77-empty-nodemetricslist-1.11.txt"));
        assert!(node_metrics_names(&empty).unwrap().is_empty());
        let ver = body(include_str!("../../../tests/fixtures/real/k8s-version/kthw-1.21.0-curl-version.txt"));
        assert_eq!(version_git(&ver).as_deref(), Some("v1.21.0"));
    }

    #[test]
    fn upstream_1_23_csr_certificate_is_decoded_bytes() {
        let v = body(include_str!("../../../tests/fixtures/real/k8s-csr/upstream-v1.23.0-roundtrip-csr.txt"));
        let c: CertificateSigningRequest = typed("CertificateSigningRequest", &v).unwrap();
        let s = csr_summary(&c);
        assert!(s.issued, "status.certificate fQ== decodes to one byte");
        assert_eq!(s.signer, "20");
    }
}
