//! Kubelet serving certificates (the guide's 启用TLSBootstrap).

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::{Evidence, Target};
use crate::parsers::{CsrRow, csr_rows, parse_kubelet_config, parse_serving_cert};

const SIGNER: &str = "kubernetes.io/kubelet-serving";
const APPROVE_FIX: &str =
    "`kubectl get csr`, then `kubectl certificate approve csr-xxxxx` for each kubelet-serving CSR (guide: 启用TLSBootstrap)";
const BOOTSTRAP_FIX: &str = "without it the kubelet serves its self-signed /var/lib/kubelet/pki/kubelet.crt: add `serverTLSBootstrap: true` under data.kubelet of `kubectl edit cm kubelet-config-1.23 -n kube-system` and to /var/lib/kubelet/config.yaml on every node, `systemctl restart kubelet`, then approve the CSRs (guide: 启用TLSBootstrap)";

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
            let out = j.stdout("kubelet-config", t, BOOTSTRAP_FIX)?;
            let c = parse_kubelet_config(out).map_err(|e| j.unreadable("kubelet-config", t, &e))?;
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

fn read_csrs(j: &mut super::judge::Judge<'_>, fix: &str) -> super::judge::R<Vec<CsrRow>> {
    let (json, text) = j.doc("k8s-csr", fix)?;
    csr_rows(json, text).map_err(|e| j.unreadable("k8s-csr", &Target::Cluster, &e))
}

fn describe(c: &CsrRow) -> String {
    let mut s = format!("{} {} {} {}", c.name, c.signer, c.requestor, c.condition);
    if !c.reason.is_empty() {
        s.push_str(&format!(" ({})", c.reason));
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `tls.no-pending-csr`
pub fn no_pending_csr(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let csrs = read_csrs(j, APPROVE_FIX)?;
        // Tables before kubectl 1.18 have no SIGNERNAME: every CSR counts.
        let bad: Vec<String> = csrs
            .iter()
            .filter(|c| c.signer == SIGNER || c.signer.is_empty())
            .filter(|c| c.condition == "Pending" || c.condition.contains("Denied"))
            .map(describe)
            .collect();
        if !bad.is_empty() {
            return Err(fail("no Pending or Denied kubelet-serving CSR", bad.join("; "), APPROVE_FIX));
        }
        Ok(format!("{} kubelet-serving CSRs, none Pending or Denied (k8s-csr)", csrs.iter().filter(|c| c.signer == SIGNER).count()))
    })
}

const SELF_SIGNED_FIX: &str = "the kubelet serves a self-signed certificate (serverTLSBootstrap off): metrics-server and `kubectl logs` cannot verify it; set serverTLSBootstrap: true, restart the kubelet and approve its kubelet-serving CSR (guide: 启用TLSBootstrap)";

fn approved_issued(c: &CsrRow) -> bool {
    c.condition.contains("Approved") && c.condition.contains("Issued") && !c.condition.contains("Failed")
}

/// `tls.serving-certs`
pub fn serving_certs(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let single = j.ev.single_capture().is_some();
        let csr_fact = j.optional("k8s-csr", &Target::Cluster);
        let csrs = match csr_fact {
            Some(_) if single => read_csrs(j, APPROVE_FIX)?,
            Some(_) => {
                let json = j.ev.json("k8s-csr", &Target::Cluster).and_then(|(_, v)| v.ok());
                csr_rows(json, j.ev.stdout("k8s-csr", &Target::Cluster).unwrap_or("")).unwrap_or_default()
            }
            None => Vec::new(),
        };
        if single && csr_fact.is_some() {
            // One pasted CSR list: every kubelet that asked for a serving certificate got one.
            // A YAML fragment of conditions names no signer: judge it as the kubelet-serving CSR it is shown as.
            let unsigned = csrs.iter().all(|c| c.signer.is_empty());
            let serving: Vec<&CsrRow> = csrs.iter().filter(|c| c.signer == SIGNER || unsigned && c.condition.contains("Failed")).collect();
            let mut bad = Vec::new();
            let mut requestors: Vec<&str> = serving.iter().map(|c| c.requestor.as_str()).collect();
            requestors.dedup();
            for r in requestors {
                if !serving.iter().any(|c| c.requestor == r && approved_issued(c)) {
                    bad.extend(serving.iter().filter(|c| c.requestor == r).map(|c| describe(c)));
                }
            }
            if serving.is_empty() {
                bad.push("no kubelet-serving CSR listed".into());
            }
            if !bad.is_empty() {
                let fix = if bad.iter().any(|b| b.contains("Failed")) {
                    "the kubelet-serving signer refused the approved CSR (Approved,Failed; `kubectl get csr -o yaml` shows reason SignerValidationFailure): a kubelet-serving CSR must come from `system:node:<name>` with CN system:node:<name>, O system:nodes; let the kubelet request it (serverTLSBootstrap: true) and approve that CSR (guide: 启用TLSBootstrap)"
                } else {
                    APPROVE_FIX
                };
                return Err(fail("an approved, issued kubelet-serving CSR for every kubelet", bad.join("; "), fix));
            }
            return Ok(format!("{} kubelet-serving CSR(s), each kubelet's approved and issued (k8s-csr)", serving.len()));
        }
        j.per_node(|j, n, t| {
            let user = format!("system:node:{}", n.name);
            if csrs.iter().any(|c| c.signer == SIGNER && c.requestor == user && approved_issued(c)) {
                return Ok(());
            }
            // Approved CSRs are garbage-collected after an hour: the certificate itself is the proof.
            let ip = n.ip.to_string();
            match j.optional("kubelet-serving-cert", t) {
                Some(f) if f.output.success() => {
                    let text = j.ev.stdout("kubelet-serving-cert", t).unwrap_or(&f.output.stdout);
                    let c = parse_serving_cert(text).map_err(|e| j.unreadable("kubelet-serving-cert", t, &e))?;
                    if c.self_signed() {
                        return Err(fail(
                            "a serving certificate signed by the cluster CA (CN = kubernetes)",
                            format!(
                                "self-signed kubelet certificate: subject `{}`, issuer `{}`, IP SANs [{}]{}",
                                c.subject,
                                c.issuer,
                                c.ip_sans.join(", "),
                                c.self_signed_note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                            ),
                            SELF_SIGNED_FIX,
                        ));
                    }
                    let cluster_ca = c.issuer.replace(' ', "").ends_with("CN=kubernetes");
                    let ip_ok = if single { !c.ip_sans.is_empty() } else { c.ip_sans.contains(&ip) };
                    if cluster_ca && ip_ok {
                        return Ok(());
                    }
                    Err(fail(
                        format!("a cluster-signed serving certificate with IP SAN {}", if single { "of the node" } else { &ip }),
                        format!("issuer `{}`, IP SANs [{}]", c.issuer, c.ip_sans.join(", ")),
                        BOOTSTRAP_FIX,
                    ))
                }
                Some(f) => Err(fail(
                    format!("an approved kubelet-serving CSR for {user} or a serving certificate with IP SAN {ip}"),
                    format!("no approved CSR; {}", f.output.stderr.lines().next().unwrap_or("no kubelet-server-current.pem").trim()),
                    APPROVE_FIX,
                )),
                None if csr_fact.is_some() => {
                    Err(fail(format!("an approved kubelet-serving CSR for {user}"), "none (and no kubelet-serving-cert fact)", APPROVE_FIX))
                }
                None => Err(super::judge::Stop::Skip(j.ev.missing_reason("k8s-csr", &Target::Cluster))),
            }
        })?;
        Ok("every kubelet has a cluster-signed serving certificate (k8s-csr / kubelet-serving-cert)".into())
    })
}
