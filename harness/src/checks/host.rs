//! Host-preparation checks (the guide's 关闭防火墙和swap, br_netfilter, sysctls, 6443, cgroup
//! driver, NetworkManager).

use super::Verdict;
use super::judge::{R, fail, judge};
use crate::config::Role;
use crate::evidence::Evidence;
use crate::parsers::{
    docker_cgroup_driver, fstab_swap_lines, parse_kubelet_config, parse_lsmod,
    parse_network_manager, parse_proc_swaps, parse_ss_listeners, parse_swapon_show, parse_sysctl,
};

fn parsed<T>(r: Result<T, crate::parsers::ParseError>, remediation: &str) -> R<T> {
    r.map_err(|e| {
        fail(
            "output in the tool's usual format",
            e.to_string(),
            remediation,
        )
    })
}

const SWAP_FIX: &str =
    "comment the swap line in /etc/fstab and run `swapoff -a` (guide: 关闭防火墙和swap)";

/// `host.swap-off`
pub fn swap_off(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let active = match j.optional("swapon", t) {
                Some(_) => parsed(
                    parse_swapon_show(j.stdout("swapon", t, SWAP_FIX)?),
                    SWAP_FIX,
                )?,
                None => parsed(
                    parse_proc_swaps(j.stdout("proc-swaps", t, SWAP_FIX)?),
                    SWAP_FIX,
                )?,
            };
            let fstab = j.stdout("fstab", t, SWAP_FIX)?;
            let lines = fstab_swap_lines(fstab);
            let mut found = Vec::new();
            if !active.is_empty() {
                found.push(format!(
                    "active swap {}",
                    active
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            if !lines.is_empty() {
                found.push(format!(
                    "/etc/fstab swap entry `{}`",
                    lines.join("`, `").replace('\t', " ")
                ));
            }
            if !found.is_empty() {
                return Err(fail(
                    "no active swap and no uncommented swap line in /etc/fstab",
                    found.join(" and "),
                    SWAP_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("swap off and out of /etc/fstab on every node (swapon, fstab)".into())
    })
}

const BR_FIX: &str =
    "`sudo modprobe br_netfilter` (guide note) and persist it in /etc/modules-load.d/k8s.conf";

/// `host.br-netfilter`
pub fn br_netfilter(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let mods = parse_lsmod(j.stdout("lsmod", t, BR_FIX)?);
            if !mods.contains(&"br_netfilter") {
                return Err(fail(
                    "br_netfilter in `lsmod`",
                    "br_netfilter not loaded",
                    BR_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("br_netfilter loaded on every node (lsmod)".into())
    })
}

fn sysctl_is_one(ev: &Evidence, key: &'static str, fix: &'static str) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            // `sysctl` exits non-zero when one key is missing but still prints the others.
            let f = j.fact("sysctl-net", t)?;
            let pairs = parse_sysctl(&f.output.stdout);
            match pairs.iter().find(|(k, _)| *k == key) {
                Some((_, "1")) => Ok(()),
                Some((_, v)) => Err(fail(format!("{key} = 1"), format!("{key} = {v}"), fix)),
                None => {
                    let path = key.replace('.', "/");
                    let why = f
                        .output
                        .stderr
                        .lines()
                        .find(|l| l.contains(key) || l.contains(&path))
                        .unwrap_or("not printed")
                        .trim();
                    Err(fail(
                        format!("{key} = 1"),
                        format!("{key} absent ({why})"),
                        fix,
                    ))
                }
            }
        })?;
        Ok(format!("{key} = 1 on every node (sysctl-net)"))
    })
}

/// `host.bridge-nf-call-iptables`
pub fn bridge_nf_call_iptables(ev: &Evidence) -> Verdict {
    sysctl_is_one(
        ev,
        "net.bridge.bridge-nf-call-iptables",
        "load br_netfilter, then `sudo sysctl -w net.bridge.bridge-nf-call-iptables=1` and persist it in /etc/sysctl.d/k8s.conf (kubeadm preflight requires it)",
    )
}

/// `host.ip-forward`
pub fn ip_forward(ev: &Evidence) -> Verdict {
    sysctl_is_one(
        ev,
        "net.ipv4.ip_forward",
        "`sudo sysctl -w net.ipv4.ip_forward=1` and persist it in /etc/sysctl.d/k8s.conf (kubeadm preflight requires it)",
    )
}

const PORT_FIX: &str = "stop whatever holds TCP 6443 before `kubeadm init` (guide: `lsof -i | grep 6443` must print nothing)";

/// `host.port-6443`
pub fn port_6443(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let mut apiserver = false;
        j.per_node(|j, n, t| {
            let ls = parse_ss_listeners(j.stdout("listen-6443", t, PORT_FIX)?)
                .map_err(|e| fail("`ss` rows", e.to_string(), PORT_FIX))?;
            for l in ls.iter().filter(|l| l.port == 6443) {
                let proc_name = l.process.as_deref().unwrap_or("an unknown process");
                if n.role == Role::ControlPlane && proc_name == "kube-apiserver" {
                    apiserver = true;
                    continue;
                }
                return Err(fail(
                    "TCP 6443 free (or held by kube-apiserver on the control plane after init)",
                    format!("{} listens on {}", proc_name, l.local),
                    PORT_FIX,
                ));
            }
            Ok(())
        })?;
        Ok(if apiserver {
            "6443 held only by kube-apiserver on the control plane (listen-6443)".into()
        } else {
            "6443 free on every node (listen-6443)".into()
        })
    })
}

const CGROUP_FIX: &str = "add `\"exec-opts\": [\"native.cgroupdriver=systemd\"]` to /etc/docker/daemon.json and `sudo systemctl restart docker` (guide: 如果出现报错：cgroup不一致)";

/// `host.cgroup-driver`
pub fn cgroup_driver(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let mut before_init = false;
        j.per_node(|j, _n, t| {
            let docker =
                docker_cgroup_driver(j.stdout("docker-info", t, CGROUP_FIX)?).ok_or_else(|| {
                    fail(
                        "a `Cgroup Driver:` line in `docker info`",
                        "none",
                        CGROUP_FIX,
                    )
                })?;
            let kubelet_fact = j.fact("kubelet-config", t)?;
            let kubelet = if kubelet_fact.output.success() {
                let c = parse_kubelet_config(&kubelet_fact.output.stdout)
                    .map_err(|e| fail("a KubeletConfiguration", e.to_string(), CGROUP_FIX))?;
                // kubeadm 1.23 writes `cgroupDriver: systemd` when none is set.
                c.cgroup_driver.unwrap_or_else(|| "systemd".into())
            } else {
                // Before `kubeadm init/join` there is no kubelet config: kubeadm 1.23 will write systemd.
                before_init = true;
                "systemd".into()
            };
            if docker != kubelet {
                return Err(fail(
                    format!("docker's cgroup driver equal to the kubelet's ({kubelet})"),
                    format!("docker uses {docker}, kubelet {kubelet}"),
                    CGROUP_FIX,
                ));
            }
            Ok(())
        })?;
        Ok(if before_init {
            "docker uses systemd, as kubeadm 1.23's kubelet will (no kubelet config yet on some nodes) (docker-info, kubelet-config)".into()
        } else {
            "docker and kubelet both use systemd (docker-info, kubelet-config)".into()
        })
    })
}

const NM_FIX: &str = "`sudo apt-get remove network-manager` (guide: 最佳实践是使用apt-get remove network-manager卸载)";

/// `host.no-network-manager`
pub fn no_network_manager(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let s = parse_network_manager(j.stdout("network-manager", t, NM_FIX)?)
                .map_err(|e| fail("the probe's two lines", e.to_string(), NM_FIX))?;
            if s.active || s.installed {
                let found = match (s.active, s.installed) {
                    (true, _) => "NetworkManager active",
                    _ => "network-manager installed (inactive)",
                };
                return Err(fail(
                    "NetworkManager absent (it interferes with calico's interfaces)",
                    found,
                    NM_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("NetworkManager absent on every node (network-manager)".into())
    })
}
