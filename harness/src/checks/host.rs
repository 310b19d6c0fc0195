//! Host-preparation checks (the guide's 关闭防火墙和swap, br_netfilter, sysctls, 6443, cgroup
//! driver, NetworkManager).

use super::Verdict;
use super::judge::{fail, judge};
use crate::config::Role;
use crate::evidence::Evidence;
use crate::parsers::{
    docker_cgroup_driver, docker_daemon_down, fstab_swap_lines, parse_kubelet_config, parse_lsmod, parse_network_manager, parse_proc_swaps,
    parse_ss_listeners, parse_swapon_show, parse_sysctl_output,
};

const SWAP_FIX: &str = "comment out the swap line in /etc/fstab and run `swapoff -a` (guide: 关闭防火墙和swap)";

/// `host.swap-off`
pub fn swap_off(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        // One pasted capture holds one of the three files: judge the one present.
        let single = j.ev.single_capture().is_some();
        j.per_node(|j, _n, t| {
            let active = if j.optional("swapon", t).is_some() {
                let out = j.stdout("swapon", t, SWAP_FIX)?;
                parse_swapon_show(out).map_err(|e| j.unreadable("swapon", t, &e))?
            } else if !single || j.optional("proc-swaps", t).is_some() {
                let out = j.stdout("proc-swaps", t, SWAP_FIX)?;
                parse_proc_swaps(out).map_err(|e| j.unreadable("proc-swaps", t, &e))?
            } else {
                Vec::new()
            };
            let lines =
                if !single || j.optional("fstab", t).is_some() { fstab_swap_lines(j.stdout("fstab", t, SWAP_FIX)?) } else { Vec::new() };
            let mut found = Vec::new();
            if !active.is_empty() {
                found.push(format!("active swap {}", active.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(",")));
            }
            if !lines.is_empty() {
                found.push(format!("/etc/fstab swap entry `{}`", lines.join("`, `").replace('\t', " ")));
            }
            if let Some(k) = ["swapon", "proc-swaps"].iter().filter_map(|p| j.ev.stdout(p, t)).find_map(crate::parsers::kubelet_swap_error)
                && !found.is_empty()
            {
                found.push(format!("kubelet: {k}"));
            }
            if !found.is_empty() {
                return Err(fail("no active swap and no uncommented swap line in /etc/fstab", found.join(" and "), SWAP_FIX));
            }
            Ok(())
        })?;
        Ok("swap off and out of /etc/fstab on every node (swapon, fstab)".into())
    })
}

const BR_FIX: &str = "`sudo modprobe br_netfilter` (guide note) and persist it in /etc/modules-load.d/k8s.conf";

/// `host.br-netfilter`
pub fn br_netfilter(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let mods = parse_lsmod(j.stdout("lsmod", t, BR_FIX)?);
            if !mods.contains(&"br_netfilter") {
                return Err(fail("br_netfilter in `lsmod`", "br_netfilter not loaded", BR_FIX));
            }
            Ok(())
        })?;
        Ok("br_netfilter loaded on every node (lsmod)".into())
    })
}

fn sysctl_is_one(ev: &Evidence, key: &'static str, fix: &'static str) -> Verdict {
    judge(ev, |j| {
        let single = j.ev.single_capture().is_some();
        j.per_node(|j, _n, t| {
            // `sysctl` exits non-zero when one key is missing but still prints the others.
            let f = j.fact("sysctl-net", t)?;
            let text = format!("{}\n{}", j.ev.stdout("sysctl-net", t).unwrap_or(""), f.output.stderr);
            let out = parse_sysctl_output(&text);
            match (out.value(key), out.missing(key)) {
                (Some("1"), _) => {
                    if let Some(l) = out.unread.first() {
                        let e = crate::parsers::ParseError::at("sysctl", l, "not sysctl output");
                        return Err(j.unreadable("sysctl-net", t, &e));
                    }
                    Ok(())
                }
                (Some(v), _) => Err(fail(format!("{key} = 1"), format!("{key} = {v}"), fix)),
                (None, Some(why)) => Err(fail(
                    format!("{key} = 1"),
                    format!("{key} absent: {why}{}", if key.starts_with("net.bridge.") { " (br_netfilter not loaded)" } else { "" }),
                    fix,
                )),
                (None, None) if single => Err(super::judge::Stop::Skip(format!("the capture does not show {key}"))),
                (None, None) => Err(fail(format!("{key} = 1"), format!("{key} absent (not printed)"), fix)),
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
        "the key exists only while br_netfilter is loaded: `sudo modprobe br_netfilter` (guide note), then `sudo sysctl -w net.bridge.bridge-nf-call-iptables=1` and persist both (/etc/modules-load.d/k8s.conf, /etc/sysctl.d/k8s.conf; kubeadm preflight requires it)",
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

/// One pasted listener list, taken on the control plane after `kubeadm init`: kube-apiserver
/// must hold 6443 on an address the workers can reach.
fn port_6443_alone(j: &mut super::judge::Judge<'_>, t: &crate::evidence::Target) -> super::judge::R<String> {
    let out = j.stdout("listen-6443", t, PORT_FIX)?;
    let ls = parse_ss_listeners(out).map_err(|e| j.unreadable("listen-6443", t, &e))?;
    let on: Vec<&crate::parsers::Listener> = ls.iter().filter(|l| l.port == 6443).collect();
    if on.is_empty() {
        return Err(fail(
            "kube-apiserver listening on TCP 6443 on the control plane (after `kubeadm init`)",
            "nothing is listening on 6443 (kube-apiserver not listening; only other ports or client connections shown)",
            "check the kube-apiserver static pod on the control plane: `crictl ps -a | grep kube-apiserver` / `docker ps -a | grep kube-apiserver` and its logs, /etc/kubernetes/manifests/kube-apiserver.yaml (before `kubeadm init` 6443 must be free: this is then fine)",
        ));
    }
    if let Some(l) = on.iter().find(|l| l.process.as_deref().is_some_and(|p| !p.starts_with("kube-apis"))) {
        return Err(fail(
            "TCP 6443 held by kube-apiserver only",
            format!("{} listens on {}", l.process.as_deref().unwrap_or("?"), l.local),
            PORT_FIX,
        ));
    }
    if on.iter().all(|l| l.loopback()) {
        return Err(fail(
            "kube-apiserver on TCP 6443 reachable from the other nodes",
            format!("6443 bound to {} (loopback only)", on[0].local),
            "the API server listens on loopback only: other nodes cannot join; set kube-apiserver `--bind-address`/`--advertise-address` (kubeadm init --apiserver-advertise-address=<node IP>) to the node's address",
        ));
    }
    Ok(format!("6443 held by kube-apiserver on {} (listen-6443)", on[0].local))
}

/// `host.port-6443`
pub fn port_6443(ev: &Evidence) -> Verdict {
    if ev.single_capture().is_some() {
        return judge(ev, |j| {
            let mut summary = String::new();
            j.per_node(|j, _n, t| {
                summary = port_6443_alone(j, t)?;
                Ok(())
            })?;
            Ok(summary)
        });
    }
    judge(ev, |j| {
        let mut apiserver = false;
        j.per_node(|j, n, t| {
            let out = j.stdout("listen-6443", t, PORT_FIX)?;
            let ls = parse_ss_listeners(out).map_err(|e| j.unreadable("listen-6443", t, &e))?;
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

const DOCKER_DOWN_FIX: &str = "the Docker daemon is not running (or this user cannot reach its socket): `sudo systemctl start docker` / `systemctl status docker`, and run `docker info` as root";

/// `host.cgroup-driver`
pub fn cgroup_driver(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let single = j.ev.single_capture().is_some();
        let mut before_init = false;
        j.per_node(|j, _n, t| {
            // One pasted capture holds one side; the other is what kubeadm 1.23 sets up (systemd).
            let docker = if !single || j.optional("docker-info", t).is_some() {
                let f = j.fact("docker-info", t)?;
                let text = format!("{}\n{}", j.ev.stdout("docker-info", t).unwrap_or(""), f.output.stderr);
                if let Some(down) = docker_daemon_down(&text) {
                    return Err(fail("`docker info` answered by the Docker daemon", down.to_string(), DOCKER_DOWN_FIX));
                }
                let out = j.stdout("docker-info", t, CGROUP_FIX)?;
                Some(
                    docker_cgroup_driver(out)
                        .ok_or_else(|| {
                            let e = crate::parsers::ParseError::at(
                                "docker info",
                                out.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty output)"),
                                "no `Cgroup Driver:` line",
                            );
                            j.unreadable("docker-info", t, &e)
                        })?
                        .to_string(),
                )
            } else {
                None
            };
            let kubelet_seen = !single || j.optional("kubelet-config", t).is_some();
            let kubelet = if kubelet_seen {
                let kubelet_fact = j.fact("kubelet-config", t)?;
                if kubelet_fact.output.success() {
                    let out = j.ev.stdout("kubelet-config", t).unwrap_or(&kubelet_fact.output.stdout);
                    let c = parse_kubelet_config(out).map_err(|e| j.unreadable("kubelet-config", t, &e))?;
                    // kubeadm 1.23 writes `cgroupDriver: systemd` when none is set.
                    c.cgroup_driver.unwrap_or_else(|| "systemd".into())
                } else {
                    // Before `kubeadm init/join` there is no kubelet config: kubeadm 1.23 will write systemd.
                    before_init = true;
                    "systemd".into()
                }
            } else {
                "systemd".into()
            };
            // One pasted side is compared with what the guide sets up for the other (systemd).
            let shown = |seen: bool, what: &str, v: &str| {
                if seen { format!("{what} uses {v}") } else { format!("{what} not in this capture (the guide's: {v})") }
            };
            let docker_seen = docker.is_some();
            let docker = docker.unwrap_or_else(|| "systemd".into());
            if docker != kubelet {
                return Err(fail(
                    format!("docker's cgroup driver equal to the kubelet's ({kubelet})"),
                    format!("{}, {}", shown(docker_seen, "docker", &docker), shown(kubelet_seen, "kubelet", &kubelet)),
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

const NM_FIX: &str = "`sudo apt-get remove network-manager` (guide: 最佳实践是使用apt-get remove network-manager卸载); if it must stay, keep it off calico's interfaces: /etc/NetworkManager/conf.d/calico.conf with `[keyfile]` `unmanaged-devices=interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico`";

/// `host.no-network-manager`
pub fn no_network_manager(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let out = j.stdout("network-manager", t, NM_FIX)?;
            let s = parse_network_manager(out).map_err(|e| j.unreadable("network-manager", t, &e))?;
            if s.active || s.installed {
                let devices = crate::parsers::nmcli_devices(out);
                let found = match (s.active, s.installed) {
                    (true, _) if !devices.is_empty() => format!("NetworkManager active, managing {}", devices.join(", ")),
                    (true, _) => "NetworkManager active".to_string(),
                    _ => "network-manager installed (inactive)".to_string(),
                };
                return Err(fail("NetworkManager absent (it interferes with calico's interfaces)", found, NM_FIX));
            }
            Ok(())
        })?;
        Ok("NetworkManager absent on every node (network-manager)".into())
    })
}
