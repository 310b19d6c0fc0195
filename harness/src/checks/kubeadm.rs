//! `kubeadm join` outcome, judged from the provisioner's recorded step output (or one pasted
//! capture). Each failure kubeadm prints gets the fix that addresses it; `kubeadm reset` is only
//! advised where state from an earlier init/join is the cause.

use super::Verdict;
use super::judge::{Stop, fail, judge};
use crate::config::Role;
use crate::evidence::{Evidence, Target};
use crate::parsers::{JoinFailure, PreflightError, parse_kubeadm_join};

const TOKEN_FIX: &str = "the bootstrap token is unknown or expired (24 h TTL): on the control plane run `kubeadm token create --print-join-command` and join with the new token (guide: token会在24小时后过期 … 生成token的命令 `kubeadm token create`)";
const CA_FIX: &str = "the --discovery-token-ca-cert-hash does not match the cluster CA: compute it on the control plane with `openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt | openssl rsa -pubin -outform der 2>/dev/null | openssl dgst -sha256 -hex | sed 's/^.* //'` (guide) and join with `--discovery-token-ca-cert-hash sha256:<that hash>`";
const UNREACHABLE_FIX: &str = "the joining node cannot reach the API server on TCP 6443: check that kube-apiserver runs on the control plane (`kubectl get pods -n kube-system`), that the join command names the control plane's reachable address (kubeadm init `--apiserver-advertise-address`), and that the security group / firewall allows TCP 6443 from the workers (`nc -zv <control-plane> 6443`); the worker's state is not the problem";
const EXISTS_FIX: &str = "a Node of this name is already registered: on the control plane `kubectl delete node <name>` if it is a stale entry, otherwise give this machine a unique hostname (`hostnamectl set-hostname ...`, guide: 修改主机名) before joining";
const KUBELET_FIX: &str = "the kubelet on the joining node never became healthy: `systemctl status kubelet` and `journalctl -xeu kubelet`; the usual cause is the cgroup driver mismatch (docker `cgroupfs` vs the kubelet's `systemd`: add `\"exec-opts\": [\"native.cgroupdriver=systemd\"]` to /etc/docker/daemon.json, restart docker; guide: 如果出现报错：cgroup不一致) or swap still on; then `sudo kubeadm reset` and join again";
const PHASE_FIX: &str = "read the error above: `journalctl -u kubelet` on the worker for kubelet-start/TLS bootstrap failures; once fixed, `sudo kubeadm reset` on the worker and join again (guide: 如果安装中出现错误，则需要执行kubeadm reset)";

/// The guide's fix for one fatal preflight check.
fn preflight_fix(e: &PreflightError) -> String {
    let c = e.check.as_str();
    if c == "Swap" {
        return "`sudo swapoff -a` and comment the swap line in /etc/fstab (guide: 关闭防火墙和swap)".into();
    }
    if c.contains("bridge-nf-call-iptables") {
        return "`sudo modprobe br_netfilter` (guide note), then `sudo sysctl -w net.bridge.bridge-nf-call-iptables=1` and persist both"
            .into();
    }
    if c.contains("ip_forward") {
        return "`sudo sysctl -w net.ipv4.ip_forward=1` and persist it in /etc/sysctl.d/k8s.conf".into();
    }
    if let Some(port) = c.strip_prefix("Port-") {
        return format!(
            "port {port} is in use: find the holder with `ss -tlnp 'sport = :{port}'` (guide: `lsof -i | grep {port}`); a kubelet or API server left by an earlier init/join goes with `sudo kubeadm reset`"
        );
    }
    if c.starts_with("FileAvailable") || c.starts_with("DirAvailable") {
        return "this node was initialised or joined before: `sudo kubeadm reset` on it, then join again (guide: 如果安装中出现错误，则需要执行kubeadm reset)".into();
    }
    if c == "CRI" || c.starts_with("CRI") {
        return "the container runtime does not serve CRI: `systemctl status docker containerd`; for containerd remove `cri` from `disabled_plugins` in /etc/containerd/config.toml and `systemctl restart containerd`".into();
    }
    if c.starts_with("FileExisting-") {
        return format!("install the missing tool `{}` (apt-get install)", c.trim_start_matches("FileExisting-"));
    }
    if c == "IsPrivilegedUser" {
        return "run kubeadm as root (`sudo kubeadm join ...`)".into();
    }
    if c == "NumCPU" || c == "Mem" {
        return "give the VM at least 2 vCPUs and 1.7 GB of memory (kubeadm's minimum)".into();
    }
    format!("fix the `{c}` preflight check as its message says (kubeadm docs: preflight checks)")
}

/// (expected, found, remediation) for one failure on `target`.
fn diagnose(target: &Target, f: &JoinFailure) -> (String, String, String) {
    let on = target.to_string();
    match f {
        JoinFailure::Preflight(errs) => (
            "`kubeadm join` preflight checks to pass".into(),
            format!("{on}: {}", errs.iter().map(|e| format!("[ERROR {}]: {}", e.check, e.detail)).collect::<Vec<_>>().join("; ")),
            errs.iter().map(|e| format!("{}: {}", e.check, preflight_fix(e))).collect::<Vec<_>>().join("; "),
        ),
        JoinFailure::Token { token, line } => (
            "`kubeadm join` to validate the API server with a live bootstrap token".into(),
            format!("{on}: token {} unknown or expired — {line}", token.as_deref().unwrap_or("?")),
            TOKEN_FIX.into(),
        ),
        JoinFailure::CaHash { line } => {
            ("the cluster CA to match --discovery-token-ca-cert-hash".into(), format!("{on}: {line}"), CA_FIX.into())
        }
        JoinFailure::Unreachable { endpoint, line } => (
            format!("the API server {} reachable from the joining node", endpoint.as_deref().unwrap_or("(port 6443)")),
            format!("{on}: {line}"),
            UNREACHABLE_FIX.into(),
        ),
        JoinFailure::NodeExists { name, line } => (
            "a node name not yet registered in the cluster".into(),
            format!("{on}: {line}"),
            match name {
                Some(n) => EXISTS_FIX.replace("<name>", n),
                None => EXISTS_FIX.into(),
            },
        ),
        JoinFailure::KubeletUnhealthy { line } => {
            ("the kubelet to become healthy during `kubeadm join`".into(), format!("{on}: {line}"), KUBELET_FIX.into())
        }
        JoinFailure::Phase { line, .. } | JoinFailure::Other { line } => {
            ("`kubeadm join` to succeed".into(), format!("{on}: {line}"), PHASE_FIX.into())
        }
    }
}

/// `kubeadm.join`
pub fn join(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let workers: Vec<Target> =
            j.ev.header.nodes.iter().filter(|n| n.role == Role::Worker).map(|n| Target::Node(n.name.clone())).collect();
        let facts: Vec<_> = workers.iter().filter_map(|t| j.optional("kubeadm-join", t)).collect();
        if facts.is_empty() {
            let t = workers.first().cloned().unwrap_or(Target::Cluster);
            return Err(Stop::Skip(j.ev.missing_reason("kubeadm-join", &t)));
        }
        for f in &facts {
            let stdout = j.ev.stdout("kubeadm-join", &f.target).unwrap_or(&f.output.stdout);
            let all = format!("{stdout}\n{}", f.output.stderr);
            let r = parse_kubeadm_join(&all);
            if let Some(failure) = &r.failure {
                let (expected, found, remediation) = diagnose(&f.target, failure);
                return Err(fail(expected, found, remediation));
            }
            if !r.joined {
                // Neither success nor a known error: nothing is concluded from it.
                return Err(super::judge::unreadable_stop(
                    "kubeadm-join",
                    &f.target,
                    "kubeadm join",
                    if r.last_line.is_empty() { "(empty output)" } else { &r.last_line },
                    "kubeadm join ...",
                ));
            }
            if !f.output.success() {
                return Err(fail("`kubeadm join` to succeed", format!("{}: exit status {}", f.target, f.output.exit_status), PHASE_FIX));
            }
        }
        Ok(format!("{} worker(s) joined (kubeadm-join)", facts.len()))
    })
}
