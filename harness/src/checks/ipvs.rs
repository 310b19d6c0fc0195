//! kube-proxy IPVS checks (the guide's 开启IPVS).

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::{Evidence, Target};
use crate::parsers::{
    IPVS_NOT_LOADED, kube_proxy_config, loose_key, parse_ipvsadm, parse_kube_proxy_configuration, parse_lsmod, parse_proxy_mode, services,
};

const MODULES: [&str; 5] = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"];
const MOD_FIX: &str = "`sudo modprobe -- ip_vs; sudo modprobe -- ip_vs_rr; sudo modprobe -- ip_vs_wrr; sudo modprobe -- ip_vs_sh; sudo modprobe -- nf_conntrack` and add them to /etc/rc.local (guide: 开启IPVS)";
const MODE_FIX: &str = "`kubectl edit cm -n kube-system kube-proxy`, set `mode: \"ipvs\"`, then delete the kube-proxy pods so they restart in IPVS mode (guide: 开启IPVS)";

/// `ipvs.kernel-modules`
pub fn kernel_modules(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let mods = parse_lsmod(j.stdout("lsmod", t, MOD_FIX)?);
            let missing: Vec<&str> = MODULES.iter().copied().filter(|m| !mods.contains(m)).collect();
            if !missing.is_empty() {
                return Err(fail(format!("{} loaded", MODULES.join(", ")), format!("missing {}", missing.join(", ")), MOD_FIX));
            }
            Ok(())
        })?;
        Ok("IPVS modules loaded on every node (lsmod)".into())
    })
}

/// `ipvs.configmap-mode`
pub fn configmap_mode(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let (json, text) = j.doc("k8s-kube-proxy-cm", MODE_FIX)?;
        let conf = kube_proxy_config(json, text).map_err(|e| j.unreadable("k8s-kube-proxy-cm", &Target::Cluster, &e))?;
        // The whole config.conf as a typed KubeProxyConfiguration, or a `grep` excerpt's line.
        let typed_mode = parse_kube_proxy_configuration(&conf).ok().and_then(|c| c.mode);
        let mode = typed_mode.as_deref().or_else(|| loose_key(&conf, "mode")).unwrap_or("");
        if mode != "ipvs" {
            let shown = if mode.is_empty() { "\"\" (iptables, the default)".to_string() } else { mode.to_string() };
            return Err(fail("kube-proxy ConfigMap mode: ipvs", format!("mode: {shown}"), MODE_FIX));
        }
        Ok("kube-proxy ConfigMap mode: ipvs (k8s-kube-proxy-cm)".into())
    })
}

const PROXY_DOWN_FIX: &str = "nothing answers on 127.0.0.1:10249: kube-proxy is not running on this node (`kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide`, its logs) or its metricsBindAddress moved";

/// `ipvs.proxy-mode`
pub fn proxy_mode(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let out = j.stdout("proxy-mode", t, MODE_FIX)?;
            let mode = match parse_proxy_mode(out) {
                Ok(m) => m,
                Err(e) if e.culprit().starts_with("curl: (7)") => {
                    return Err(fail("kube-proxy /proxyMode answers ipvs", e.culprit().to_string(), PROXY_DOWN_FIX));
                }
                Err(e) => return Err(j.unreadable("proxy-mode", t, &e)),
            };
            if mode != "ipvs" {
                return Err(fail("kube-proxy /proxyMode answers ipvs", format!("/proxyMode answers {mode}"), MODE_FIX));
            }
            Ok(())
        })?;
        Ok("kube-proxy runs in ipvs mode on every node (proxy-mode)".into())
    })
}

/// `ipvs.kubernetes-service`
pub fn kubernetes_service(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        // The `kubernetes` Service's ClusterIP (10.96.0.1 with kubeadm's default service CIDR).
        let svcs = j
            .optional("k8s-services", &Target::Cluster)
            .and_then(|_| j.ev.json("k8s-services", &Target::Cluster))
            .and_then(|(_, v)| v.ok())
            .and_then(|v| services(v).ok())
            .unwrap_or_default();
        let vip = svcs
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("kubernetes") && s.metadata.namespace.as_deref() == Some("default"))
            .and_then(|s| s.spec.as_ref()?.cluster_ip.as_deref())
            .unwrap_or("10.96.0.1");
        let want = format!("{vip}:443");
        let single = j.ev.single_capture().is_some() && j.optional("k8s-services", &Target::Cluster).is_none();
        j.per_node(|j, _n, t| {
            let vs = match parse_ipvsadm(j.stdout("ipvsadm", t, MODE_FIX)?) {
                Ok(vs) => vs,
                Err(e) if e.message.starts_with(IPVS_NOT_LOADED) => {
                    return Err(fail("an IPVS table", e.culprit().to_string(), MOD_FIX));
                }
                Err(e) => return Err(j.unreadable("ipvsadm", t, &e)),
            };
            // One pasted table, service CIDR unknown: the kubernetes Service is the TCP :443
            // virtual service whose real servers are API servers (:6443).
            let found = if single {
                vs.iter()
                    .find(|s| s.protocol == "TCP" && s.address.ends_with(":443") && s.reals.iter().any(|r| r.address.ends_with(":6443")))
                    .or_else(|| vs.iter().find(|s| s.protocol == "TCP" && s.address == want))
            } else {
                vs.iter().find(|s| s.protocol == "TCP" && s.address == want)
            };
            match found {
                Some(s) if !s.reals.is_empty() => Ok(()),
                Some(_) => {
                    Err(fail(format!("IPVS service TCP {want} with a real server"), format!("TCP {want} has no real server"), MODE_FIX))
                }
                None => Err(fail(
                    format!("IPVS service TCP {want} (the kubernetes Service)"),
                    if vs.is_empty() {
                        "empty IPVS table: no virtual servers, so the kubernetes Service is not programmed".to_string()
                    } else {
                        format!(
                            "{} virtual servers, none {want}: the kubernetes Service (TCP :443 → API servers :6443) is not programmed",
                            vs.len()
                        )
                    },
                    MODE_FIX,
                )),
            }
        })?;
        Ok(format!("every node's IPVS table serves TCP {want} (ipvsadm)"))
    })
}

/// `ipvs.kube-ipvs0`
pub fn kube_ipvs0(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let out = j.stdout("kube-ipvs0", t, MODE_FIX)?;
            if let Some(l) = out.lines().map(str::trim).find(|l| l.contains("does not exist")) {
                return Err(fail("the kube-ipvs0 dummy interface", l.to_string(), MODE_FIX));
            }
            // `ip link|addr` headers (`5: kube-ipvs0: <BROADCAST,NOARP> ...`), in a full listing too.
            let names: Vec<&str> = out
                .lines()
                .filter_map(|l| {
                    let (n, rest) = l.trim_start().split_once(": ")?;
                    (n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() && rest.contains(": <"))
                        .then(|| rest.split([':', '@']).next().unwrap_or(""))
                })
                .collect();
            if names.is_empty() {
                let first = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty output)");
                return Err(j.unreadable(
                    "kube-ipvs0",
                    t,
                    &crate::parsers::ParseError::at("ip -d link show kube-ipvs0", first, "no interface header"),
                ));
            }
            if !names.contains(&"kube-ipvs0") {
                return Err(fail("the kube-ipvs0 dummy interface", format!("absent (interfaces: {})", names.join(", ")), MODE_FIX));
            }
            Ok(())
        })?;
        Ok("kube-ipvs0 exists on every node (kube-ipvs0)".into())
    })
}
