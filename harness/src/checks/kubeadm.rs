//! `kubeadm join` outcome, judged from the provisioner's recorded step output.

use super::Verdict;
use super::judge::{Stop, fail, judge};
use crate::config::Role;
use crate::evidence::{Evidence, Target};
use crate::parsers::parse_kubeadm_join_error;

const TOKEN_FIX: &str = "on the control plane run `kubeadm token create --print-join-command` and join with the new token (guide: token会在24小时后过期 … 生成token的命令 `kubeadm token create`)";
const OTHER_FIX: &str = "read the error, `sudo kubeadm reset` on the worker and join again (guide: 如果安装中出现错误，则需要执行kubeadm reset)";

/// `kubeadm.join`
pub fn join(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let workers: Vec<Target> =
            j.ev.header
                .nodes
                .iter()
                .filter(|n| n.role == Role::Worker)
                .map(|n| Target::Node(n.name.clone()))
                .collect();
        let facts: Vec<_> = workers
            .iter()
            .filter_map(|t| j.optional("kubeadm-join", t))
            .collect();
        if facts.is_empty() {
            let t = workers.first().cloned().unwrap_or(Target::Cluster);
            return Err(Stop::Skip(j.ev.missing_reason("kubeadm-join", &t)));
        }
        for f in &facts {
            let all = format!("{}\n{}", f.output.stdout, f.output.stderr);
            match parse_kubeadm_join_error(&all) {
                Some(e) if e.expired_token.is_some() => {
                    return Err(fail(
                        "`kubeadm join` to validate the API server with a live bootstrap token",
                        format!(
                            "{}: token {} expired or unknown — {}",
                            f.target,
                            e.expired_token.unwrap_or("?"),
                            e.line
                        ),
                        TOKEN_FIX,
                    ));
                }
                Some(e) => {
                    return Err(fail(
                        "`kubeadm join` to succeed",
                        format!("{}: {}", f.target, e.line),
                        OTHER_FIX,
                    ));
                }
                None if !f.output.success() => {
                    return Err(fail(
                        "`kubeadm join` to succeed",
                        format!("{}: exit status {}", f.target, f.output.exit_status),
                        OTHER_FIX,
                    ));
                }
                None => {}
            }
        }
        Ok(format!("{} worker(s) joined (kubeadm-join)", facts.len()))
    })
}
