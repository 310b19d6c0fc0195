//! Kubelet serving certificates (the guide's 启用TLSBootstrap).

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::{Evidence, Target};
use crate::parsers::{CsrCondition, csr_summaries, parse_kubelet_config, parse_serving_cert};

const SIGNER: &str = "kubernetes.io/kubelet-serving";
const APPROVE_FIX: &str = "`kubectl get csr`, then `kubectl certificate approve csr-xxxxx` for each kubelet-serving CSR (guide: 启用TLSBootstrap)";
const BOOTSTRAP_FIX: &str = "add `serverTLSBootstrap: true` under data.kubelet of `kubectl edit cm kubelet-config-1.23 -n kube-system` and to /var/lib/kubelet/config.yaml on every node, `systemctl restart kubelet`, then approve the CSRs (guide: 启用TLSBootstrap)";

/// `tls.server-tls-bootstrap`
pub fn server_tls_bootstrap(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let f = j.fact("kubelet-config", t)?;
            if !f.output.success() && f.output.stderr.contains("No such file") {
                return Err(super::judge::Stop::Skip(format!(
                    "{} has no /var/lib/kubelet/config.yaml yet (not initialised or joined)",
                    t.describe()
                )));
            }
            let c = parse_kubelet_config(j.stdout("kubelet-config", t, BOOTSTRAP_FIX)?)
                .map_err(|e| fail("a KubeletConfiguration", e.to_string(), BOOTSTRAP_FIX))?;
            if !c.server_tls_bootstrap {
                return Err(fail(
                    "serverTLSBootstrap: true in /var/lib/kubelet/config.yaml",
                    "serverTLSBootstrap unset or false",
                    BOOTSTRAP_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("serverTLSBootstrap: true on every node (kubelet-config)".into())
    })
}

/// `tls.no-pending-csr`
pub fn no_pending_csr(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let v = j.json("k8s-csr", APPROVE_FIX)?;
        let csrs = csr_summaries(v).map_err(|e| fail("a CSR list", e.to_string(), APPROVE_FIX))?;
        let bad: Vec<String> = csrs
            .iter()
            .filter(|c| {
                c.signer == SIGNER
                    && matches!(c.condition, CsrCondition::Pending | CsrCondition::Denied)
            })
            .map(|c| format!("{} {} {:?}", c.name, c.username, c.condition))
            .collect();
        if !bad.is_empty() {
            return Err(fail(
                "no Pending or Denied kubelet-serving CSR",
                bad.join("; "),
                APPROVE_FIX,
            ));
        }
        Ok(format!(
            "{} kubelet-serving CSRs, none Pending or Denied (k8s-csr)",
            csrs.iter().filter(|c| c.signer == SIGNER).count()
        ))
    })
}

/// `tls.serving-certs`
pub fn serving_certs(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let csr_fact = j.optional("k8s-csr", &Target::Cluster);
        let csrs = match csr_fact.and_then(|_| j.ev.json("k8s-csr", &Target::Cluster)) {
            Some((_, Ok(v))) => csr_summaries(v).unwrap_or_default(),
            _ => Vec::new(),
        };
        j.per_node(|j, n, t| {
            let user = format!("system:node:{}", n.name);
            if csrs.iter().any(|c| c.signer == SIGNER && c.username == user && c.condition == CsrCondition::Approved && c.issued) {
                return Ok(());
            }
            // Approved CSRs are garbage-collected after an hour: the certificate itself is the proof.
            let ip = n.ip.to_string();
            match j.optional("kubelet-serving-cert", t) {
                Some(f) if f.output.success() => {
                    let c = parse_serving_cert(&f.output.stdout).map_err(|e| fail("openssl's subject/issuer/SAN lines", e.to_string(), BOOTSTRAP_FIX))?;
                    if c.issuer.contains("CN = kubernetes") && c.ip_sans.contains(&ip) {
                        return Ok(());
                    }
                    Err(fail(
                        format!("a cluster-signed serving certificate with IP SAN {ip}"),
                        format!("issuer `{}`, IP SANs [{}]", c.issuer, c.ip_sans.join(", ")),
                        BOOTSTRAP_FIX,
                    ))
                }
                Some(f) => Err(fail(
                    format!("an approved kubelet-serving CSR for {user} or a serving certificate with IP SAN {ip}"),
                    format!("no approved CSR; {}", f.output.stderr.lines().next().unwrap_or("no kubelet-server-current.pem").trim()),
                    APPROVE_FIX,
                )),
                None if csr_fact.is_some() => Err(fail(
                    format!("an approved kubelet-serving CSR for {user}"),
                    "none (and no kubelet-serving-cert fact)",
                    APPROVE_FIX,
                )),
                None => Err(super::judge::Stop::Skip(j.ev.missing_reason("k8s-csr", &Target::Cluster))),
            }
        })?;
        Ok("every kubelet has a cluster-signed serving certificate (k8s-csr / kubelet-serving-cert)".into())
    })
}
