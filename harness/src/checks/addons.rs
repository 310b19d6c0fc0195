//! Add-on checks: metrics-server, MetalLB (strictARP, LoadBalancer IPs), Helm.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Verdict;
use super::judge::{Stop, fail, judge};
use crate::evidence::{Evidence, Target};
use k8s_metrics::v1beta1::NodeMetrics;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;

use crate::parsers::{
    Condition, ParseError, apiservice_available, conditions_in, error_line, json_in, kube_proxy_config, lb_rows, loose_key,
    node_metrics_names, parse_helm_short, parse_kube_proxy_configuration, table_in, typed,
};

const METRICS_FIX: &str = "metrics-server cannot scrape kubelets whose serving certificate lacks the node IP: enable serverTLSBootstrap and `kubectl certificate approve` the kubelet-serving CSRs (guide: 启用TLSBootstrap); then `kubectl logs -n kube-system deploy/metrics-server`";

/// The APIService's `Available` condition from JSON, YAML, `describe` or the
/// `kubectl get apiservices` table (`False (FailedDiscoveryCheck)`).
fn available_condition(json: Option<&serde_json::Value>, text: &str) -> Option<Condition> {
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        let a: APIService = typed("APIService", v).ok()?;
        return apiservice_available(&a).map(|(s, r, m)| Condition {
            kind: "Available".into(),
            status: s.into(),
            reason: r.into(),
            message: m.into(),
        });
    }
    if let Some(c) = conditions_in(text).into_iter().find(|c| c.kind == "Available") {
        return Some(c);
    }
    let t = table_in(text, &["NAME", "SERVICE", "AVAILABLE"]);
    let rows: Vec<Vec<String>> = match t {
        Some(t) => t.rows,
        None => text.lines().filter(|l| l.contains("metrics.k8s.io")).map(|l| l.split_whitespace().map(String::from).collect()).collect(),
    };
    rows.iter().find(|r| r.first().is_some_and(|n| n.contains("metrics.k8s.io"))).and_then(|r| {
        let i = r.iter().position(|c| c == "True" || c == "False" || c == "Unknown")?;
        Some(Condition {
            kind: "Available".into(),
            status: r[i].clone(),
            reason: r.get(i + 1).filter(|x| x.starts_with('(')).map(|x| x.trim_matches(['(', ')']).to_string()).unwrap_or_default(),
            message: String::new(),
        })
    })
}

/// `metrics.apiservice-available`
pub fn apiservice_available_check(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-apiservice-metrics", METRICS_FIX)?;
        match available_condition(json, text) {
            Some(c) if c.status == "True" => Ok("APIService v1beta1.metrics.k8s.io Available=True (k8s-apiservice-metrics)".into()),
            Some(c) => Err(fail(
                "APIService v1beta1.metrics.k8s.io Available=True",
                format!(
                    "APIService v1beta1.metrics.k8s.io Available={} ({}{})",
                    c.status,
                    c.reason,
                    if c.message.is_empty() { String::new() } else { format!(": {}", c.message) }
                ),
                METRICS_FIX,
            )),
            None if json.is_some() || text.contains("APIService") => {
                Err(fail("APIService v1beta1.metrics.k8s.io Available=True", "no Available condition", METRICS_FIX))
            }
            None => {
                let e = ParseError::at(
                    "kubectl get apiservice",
                    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty output)"),
                    "no APIService",
                );
                Err(j.unreadable("k8s-apiservice-metrics", &Target::Cluster, &e))
            }
        }
    })
}

/// Node names with metrics: NodeMetricsList / NodeMetrics JSON or `kubectl top nodes`.
fn metrics_nodes(json: Option<&serde_json::Value>, text: &str) -> Result<Vec<String>, ParseError> {
    let parsed = if json.is_none() { json_in(text) } else { None };
    if let Some(v) = json.or(parsed.as_ref()) {
        if v.get("kind").and_then(|k| k.as_str()) == Some("NodeMetrics") {
            let m: NodeMetrics = typed("metrics.k8s.io NodeMetrics", v)?;
            return Ok(m.metadata.name.into_iter().collect());
        }
        return node_metrics_names(v);
    }
    match table_in(text, &["NAME", "CPU(cores)"]) {
        Some(t) => Ok(t.rows.iter().map(|r| r[0].clone()).collect()),
        None => Err(ParseError::at(
            "kubectl top nodes",
            error_line(text).or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("(empty output)"),
            "neither a NodeMetricsList nor a `kubectl top nodes` table",
        )),
    }
}

/// `metrics.node-metrics`
pub fn node_metrics(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-node-metrics", METRICS_FIX)?;
        let names = match metrics_nodes(json, text) {
            Ok(n) => n,
            Err(_) if let Some(l) = error_line(text) => {
                return Err(fail("metrics for every node (`kubectl top nodes`)", l.to_string(), METRICS_FIX));
            }
            Err(e) => return Err(j.unreadable("k8s-node-metrics", &Target::Cluster, &e)),
        };
        let single = j.ev.single_capture().cloned();
        let missing: Vec<String> = match &single {
            Some(s) => {
                let mut m = Vec::new();
                if names.is_empty() {
                    m.push("any node (the NodeMetricsList `items` is empty)".to_string());
                }
                // A single NodeMetrics (`get --raw .../nodes/<name>`) answers for one node only.
                let one = json.or(json_in(text).as_ref()).is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("NodeMetrics"));
                if let Some(n) = s.expected_nodes
                    && names.len() < n
                    && !one
                {
                    m.push(format!("{} of {n} nodes", n - names.len()));
                }
                m
            }
            None => j.ev.header.nodes.iter().map(|n| n.name.clone()).filter(|n| !names.contains(n)).collect(),
        };
        if !missing.is_empty() {
            return Err(fail(
                "metrics for every node (`kubectl top nodes`)",
                format!("no metrics for {}", missing.join(", ")),
                METRICS_FIX,
            ));
        }
        Ok(format!("metrics for all {} nodes (k8s-node-metrics)", names.len()))
    })
}

const STRICT_ARP_FIX: &str = "`kubectl edit configmap -n kube-system kube-proxy` → `ipvs.strictARP: true`, then restart the kube-proxy pods (guide: 安装MetalLB; metallb#153)";

/// `metallb.strict-arp`
pub fn strict_arp(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-kube-proxy-cm", STRICT_ARP_FIX)?;
        let conf = kube_proxy_config(json, text).map_err(|e| j.unreadable("k8s-kube-proxy-cm", &Target::Cluster, &e))?;
        // The whole config.conf as a typed KubeProxyConfiguration; a `grep` excerpt is not a
        // document, so its `strictARP:` line is read as it stands.
        let typed_arp = parse_kube_proxy_configuration(&conf).ok().and_then(|c| c.strict_arp()).map(|b| b.to_string());
        let v = typed_arp.as_deref().or_else(|| loose_key(&conf, "strictARP"));
        match v {
            Some("true") => Ok("kube-proxy ipvs.strictARP: true (k8s-kube-proxy-cm)".into()),
            other => Err(fail(
                "ipvs.strictARP: true in the kube-proxy ConfigMap",
                format!("ipvs.strictARP: {}", other.unwrap_or("unset")),
                STRICT_ARP_FIX,
            )),
        }
    })
}

/// A MetalLB 0.12 address range: `a.b.c.d-e.f.g.h` or a CIDR.
fn in_pool(ip: Ipv4Addr, pool: &str) -> Option<bool> {
    if let Some((a, b)) = pool.split_once('-') {
        let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        return Some(a <= ip && ip <= b);
    }
    Some(pool.trim().parse::<Ipv4Net>().ok()?.contains(&ip))
}

const LB_FIX: &str = "apply the MetalLB 0.12.1 ConfigMap `config` in metallb-system with a layer2 address pool (guide: metallbcm.yaml — 172.42.42.100-172.42.42.120 需要修改成实际的IP; MetalLB ≥0.13 ignores the ConfigMap), check `kubectl logs -n metallb-system deploy/controller`";

/// `metallb.lb-ingress-ip`
pub fn lb_ingress_ip(ev: &Evidence) -> Verdict {
    let pool = ev.header.expect.metallb_pool.clone();
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-services", LB_FIX)?;
        let lbs = lb_rows(json, text).map_err(|e| j.unreadable("k8s-services", &Target::Cluster, &e))?;
        if lbs.is_empty() {
            return Err(Stop::Skip("no Service of type LoadBalancer exists to exercise MetalLB".into()));
        }
        let mut bad = Vec::new();
        for lb in &lbs {
            let ns = if lb.namespace.is_empty() { String::new() } else { format!("{}/", lb.namespace) };
            if lb.ips.is_empty() {
                bad.push(format!("{ns}{} EXTERNAL-IP <pending> (no status.loadBalancer.ingress)", lb.name));
            }
            for ip in &lb.ips {
                let inside = ip.parse().ok().and_then(|ip| in_pool(ip, &pool));
                // One pasted list: the pool is the cluster's own, unknown here.
                if inside != Some(true) && j.ev.single_capture().is_none() {
                    bad.push(format!("{ns}{} ingress {ip} outside pool {pool}", lb.name));
                }
            }
        }
        if !bad.is_empty() {
            return Err(fail(format!("every LoadBalancer Service has an ingress IP in {pool}"), bad.join("; "), LB_FIX));
        }
        Ok(format!("{} LoadBalancer Service(s) with ingress IPs in {pool} (k8s-services)", lbs.len()))
    })
}

const HTTP_FIX: &str = "check the MetalLB speaker pods and that kube-proxy has `ipvs.strictARP: true` (only the announcing node may answer ARP for the IP); `arping <ip>` from another host";

/// `metallb.lb-http`
pub fn lb_http(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let cp =
            j.ev.header
                .control_plane()
                .map(|n| Target::Node(n.name.clone()))
                .ok_or_else(|| Stop::Skip("no control-plane node in the evidence".into()))?;
        let out = j.stdout("lb-http", &cp, HTTP_FIX)?;
        let rows: Vec<(&str, &str)> = out.lines().filter_map(|l| l.trim().split_once(' ')).collect();
        if rows.is_empty() {
            return Err(Stop::Skip("no LoadBalancer ingress IP to probe (see metallb.lb-ingress-ip)".into()));
        }
        let bad: Vec<String> = rows
            .iter()
            .filter(|(_, code)| !code.trim().parse::<u16>().is_ok_and(|c| (200..400).contains(&c)))
            .map(|(ip, code)| format!("http://{ip}/ answered {}", if code.trim() == "000" { "nothing (000)" } else { code.trim() }))
            .collect();
        if !bad.is_empty() {
            return Err(fail("every LoadBalancer IP answers HTTP from the control plane", bad.join("; "), HTTP_FIX));
        }
        Ok(format!("{} LoadBalancer IP(s) answer HTTP (lb-http)", rows.len()))
    })
}

/// `helm.version`
pub fn helm_version(ev: &Evidence) -> Verdict {
    let want = ev.header.expect.helm.clone();
    let fix = format!(
        "install the pinned binary: `curl -LO https://get.helm.sh/helm-{want}-linux-amd64.tar.gz` and `sudo install ./linux-amd64/helm /usr/local/bin/helm` (guide: 安装Helm, Linux Binary)"
    );
    judge(ev, |j| {
        let cp =
            j.ev.header
                .control_plane()
                .map(|n| Target::Node(n.name.clone()))
                .ok_or_else(|| Stop::Skip("no control-plane node in the evidence".into()))?;
        let out = j.stdout("helm-version", &cp, &fix)?;
        match parse_helm_short(out) {
            Some(v) if v == want => Ok(format!("helm {v} (helm-version)")),
            Some(v) => Err(fail(format!("helm {want}"), format!("helm {v}"), fix)),
            None if out.trim().is_empty() => Err(fail(format!("helm {want}"), "`helm version` printed no output", fix)),
            None => Err(fail(format!("helm {want}"), format!("unrecognised `{}`", out.trim()), fix)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::in_pool;

    #[test]
    fn pools() {
        assert_eq!(in_pool("192.168.1.200".parse().unwrap(), "192.168.1.200-192.168.1.220"), Some(true));
        assert_eq!(in_pool("192.168.1.221".parse().unwrap(), "192.168.1.200-192.168.1.220"), Some(false));
        assert_eq!(in_pool("172.42.42.101".parse().unwrap(), "172.42.42.96/27"), Some(true));
        assert_eq!(in_pool("1.1.1.1".parse().unwrap(), "nonsense"), None);
    }
}
