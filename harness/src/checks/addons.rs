//! Add-on checks: metrics-server, MetalLB (strictARP, LoadBalancer IPs), Helm.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Verdict;
use super::judge::{Stop, fail, judge};
use crate::evidence::{Evidence, Target};
use crate::parsers::{
    apiservice_available, configmap_data, load_balancers, node_metrics_names, parse_helm_short,
    yaml_lite,
};

const METRICS_FIX: &str = "metrics-server cannot scrape kubelets whose serving certificate lacks the node IP: enable serverTLSBootstrap and `kubectl certificate approve` the kubelet-serving CSRs (guide: 启用TLSBootstrap); then `kubectl logs -n kube-system deploy/metrics-server`";

/// `metrics.apiservice-available`
pub fn apiservice_available_check(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let v = j.json("k8s-apiservice-metrics", METRICS_FIX)?;
        match apiservice_available(v) {
            Some(("True", _, _)) => Ok(
                "APIService v1beta1.metrics.k8s.io Available=True (k8s-apiservice-metrics)".into(),
            ),
            Some((status, reason, message)) => Err(fail(
                "APIService v1beta1.metrics.k8s.io Available=True",
                format!("Available={status} ({reason}: {message})"),
                METRICS_FIX,
            )),
            None => Err(fail(
                "APIService v1beta1.metrics.k8s.io Available=True",
                "no Available condition",
                METRICS_FIX,
            )),
        }
    })
}

/// `metrics.node-metrics`
pub fn node_metrics(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let v = j.json("k8s-node-metrics", METRICS_FIX)?;
        let names = node_metrics_names(v)
            .map_err(|e| fail("a NodeMetricsList", e.to_string(), METRICS_FIX))?;
        let missing: Vec<&str> =
            j.ev.header
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .filter(|n| !names.contains(n))
                .collect();
        if !missing.is_empty() {
            return Err(fail(
                format!(
                    "metrics for all {} nodes (`kubectl top nodes`)",
                    j.ev.header.nodes.len()
                ),
                format!("no metrics for {}", missing.join(", ")),
                METRICS_FIX,
            ));
        }
        Ok(format!(
            "metrics for all {} nodes (k8s-node-metrics)",
            names.len()
        ))
    })
}

const STRICT_ARP_FIX: &str = "`kubectl edit configmap -n kube-system kube-proxy` → `ipvs.strictARP: true`, then restart the kube-proxy pods (guide: 安装MetalLB; metallb#153)";

/// `metallb.strict-arp`
pub fn strict_arp(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let cm = j.json("k8s-kube-proxy-cm", STRICT_ARP_FIX)?;
        let conf = configmap_data(cm, "config.conf").ok_or_else(|| {
            fail(
                "data.config.conf in the kube-proxy ConfigMap",
                "absent",
                STRICT_ARP_FIX,
            )
        })?;
        match yaml_lite::get(conf, "ipvs.strictARP") {
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
        let v = j.json("k8s-services", LB_FIX)?;
        let lbs = load_balancers(v).map_err(|e| fail("a ServiceList", e.to_string(), LB_FIX))?;
        if lbs.is_empty() {
            return Err(Stop::Skip(
                "no Service of type LoadBalancer exists to exercise MetalLB".into(),
            ));
        }
        let mut bad = Vec::new();
        for lb in &lbs {
            if lb.ingress_ips.is_empty() {
                bad.push(format!(
                    "{}/{} EXTERNAL-IP <pending>",
                    lb.namespace, lb.name
                ));
            }
            for ip in &lb.ingress_ips {
                let inside = ip.parse().ok().and_then(|ip| in_pool(ip, &pool));
                if inside != Some(true) {
                    bad.push(format!(
                        "{}/{} ingress {ip} outside pool {pool}",
                        lb.namespace, lb.name
                    ));
                }
            }
        }
        if !bad.is_empty() {
            return Err(fail(
                format!("every LoadBalancer Service has an ingress IP in {pool}"),
                bad.join("; "),
                LB_FIX,
            ));
        }
        Ok(format!(
            "{} LoadBalancer Service(s) with ingress IPs in {pool} (k8s-services)",
            lbs.len()
        ))
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
        let rows: Vec<(&str, &str)> = out
            .lines()
            .filter_map(|l| l.trim().split_once(' '))
            .collect();
        if rows.is_empty() {
            return Err(Stop::Skip(
                "no LoadBalancer ingress IP to probe (see metallb.lb-ingress-ip)".into(),
            ));
        }
        let bad: Vec<String> = rows
            .iter()
            .filter(|(_, code)| {
                !code
                    .trim()
                    .parse::<u16>()
                    .is_ok_and(|c| (200..400).contains(&c))
            })
            .map(|(ip, code)| {
                format!(
                    "http://{ip}/ answered {}",
                    if code.trim() == "000" {
                        "nothing (000)"
                    } else {
                        code.trim()
                    }
                )
            })
            .collect();
        if !bad.is_empty() {
            return Err(fail(
                "every LoadBalancer IP answers HTTP from the control plane",
                bad.join("; "),
                HTTP_FIX,
            ));
        }
        Ok(format!(
            "{} LoadBalancer IP(s) answer HTTP (lb-http)",
            rows.len()
        ))
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
            None => Err(fail(
                format!("helm {want}"),
                format!("unrecognised `{}`", out.trim()),
                fix,
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::in_pool;

    #[test]
    fn pools() {
        assert_eq!(
            in_pool(
                "192.168.1.200".parse().unwrap(),
                "192.168.1.200-192.168.1.220"
            ),
            Some(true)
        );
        assert_eq!(
            in_pool(
                "192.168.1.221".parse().unwrap(),
                "192.168.1.200-192.168.1.220"
            ),
            Some(false)
        );
        assert_eq!(
            in_pool("172.42.42.101".parse().unwrap(), "172.42.42.96/27"),
            Some(true)
        );
        assert_eq!(in_pool("1.1.1.1".parse().unwrap(), "nonsense"), None);
    }
}
