//! `kubeadm join` output (kubeadm 1.6–1.30 wordings): success, fatal preflight errors (the
//! `[ERROR X]: detail` layout of 1.9+ and the untagged one before), discovery failures (bootstrap
//! token unknown/expired, CA pin mismatch, API server unreachable), an existing Node of the same
//! name, and any other `error execution phase`. Lines are matched anywhere in a line, so a log
//! prefix (`[2021-05-08 12:20:58] `, terraform's `module... (local-exec): `, an installer's
//! wrapper, markdown backticks) does not hide them. Main function: [`parse_kubeadm_join`].

/// A fatal preflight check: `[ERROR Swap]: running with swap on is not supported...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightError {
    /// The check name (`Swap`, `Port-10250`, `FileAvailable--etc-kubernetes-pki-ca.crt`); for
    /// the untagged pre-1.9 layout, derived from the detail (`FileContent--proc-sys-net-bridge-bridge-nf-call-iptables`).
    pub check: String,
    /// The detail after the colon, verbatim.
    pub detail: String,
}

/// Why `kubeadm join` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinFailure {
    /// Fatal preflight checks, in the order printed.
    Preflight(Vec<PreflightError>),
    /// The bootstrap token is unknown to the cluster or expired: 1.19+ `could not find a JWS
    /// signature in the cluster-info ConfigMap for token ID "x"`, before `token id "x" is invalid
    /// for this cluster or it has expired`.
    Token {
        /// Token id, when printed.
        token: Option<String>,
        /// The line saying so.
        line: String,
    },
    /// The cluster CA does not match `--discovery-token-ca-cert-hash` (`none of the public keys
    /// "sha256:..." are pinned`).
    CaHash {
        /// The line saying so.
        line: String,
    },
    /// Discovery could not reach the API server (connection refused, timeouts, no route).
    Unreachable {
        /// `host:port` from the URL or `dial tcp` in the line, when present.
        endpoint: Option<String>,
        /// The line saying so.
        line: String,
    },
    /// A Node with this name already exists in the cluster.
    NodeExists {
        /// The node name, when printed.
        name: Option<String>,
        /// The line saying so.
        line: String,
    },
    /// Another `error execution phase <phase>: ...`.
    Phase {
        /// `preflight`, `kubelet-start`, ...
        phase: String,
        /// The line.
        line: String,
    },
    /// The kubelet never became healthy (`[kubelet-check] It seems like the kubelet isn't
    /// running or healthy.`), with the phase error that followed, if any.
    KubeletUnhealthy {
        /// The kubelet-check line, then the phase error line(s).
        line: String,
    },
    /// An error line kubelab has no specific diagnosis for.
    Other {
        /// The line.
        line: String,
    },
}

/// What a `kubeadm join` output shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeadmJoin {
    /// `This node has joined the cluster` was printed.
    pub joined: bool,
    /// The failure, when one is printed.
    pub failure: Option<JoinFailure>,
    /// The last non-empty line (for messages when neither is found).
    pub last_line: String,
}

fn quoted_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(marker)?;
    let rest = rest.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(v, _)| v)
}

/// The text of `line` from `marker` on (drops log prefixes), trimmed.
fn from<'a>(line: &'a str, marker: &str) -> &'a str {
    line.find(marker).map_or(line, |i| &line[i..]).trim().trim_end_matches('`')
}

fn endpoint(line: &str) -> Option<String> {
    if let Some((_, r)) = line.split_once("dial tcp ") {
        return r.split(':').take(2).collect::<Vec<_>>().join(":").split_whitespace().next().map(String::from);
    }
    let (_, r) = line.split_once("https://")?;
    r.split('/').next().map(String::from)
}

const UNREACHABLE: [&str; 9] = [
    "connection refused",
    "Client.Timeout exceeded",
    "context deadline exceeded",
    "i/o timeout",
    "no route to host",
    "network is unreachable",
    "connection timed out",
    "request canceled while waiting for connection",
    "TLS handshake timeout",
];

/// The check name kubeadm 1.9+ gives an untagged (older) preflight detail.
fn untagged_check(detail: &str) -> String {
    if let Some(p) = detail.split_whitespace().find(|w| w.starts_with("/proc/sys/")) {
        return format!("FileContent-{}", p.replace('/', "-"));
    }
    if detail.contains("swap") {
        return "Swap".into();
    }
    if let Some(port) = detail.strip_prefix("Port ").and_then(|r| r.split_whitespace().next()) {
        return format!("Port-{port}");
    }
    if let Some(p) = detail.split_whitespace().find(|w| w.starts_with("/etc/")) {
        return format!("FileAvailable-{}", p.replace('/', "-"));
    }
    detail.split_whitespace().next().unwrap_or("preflight").to_string()
}

/// Reads a `kubeadm join` output (stdout and stderr together).
pub fn parse_kubeadm_join(text: &str) -> KubeadmJoin {
    let lines: Vec<&str> = text.lines().collect();
    let joined = lines.iter().any(|l| l.contains("This node has joined the cluster"));
    let last_line = lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("").to_string();
    let mut preflight = Vec::new();
    let mut in_untagged = false;
    let mut token = None;
    let mut ca = None;
    let mut unreachable = None;
    let mut exists = None;
    let mut phase = None;
    let mut other = None;
    let mut kubelet_check: Option<String> = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if let Some(pos) = t.find("[ERROR ") {
            let rest = &t[pos + 7..];
            if let Some((check, detail)) = rest.split_once(']') {
                let mut detail = detail.trim_start_matches(':').trim().trim_end_matches('`').to_string();
                // A detail continued on the next line (`, error: exit status 1`).
                if let Some(next) = lines.get(i + 1).map(|n| n.trim())
                    && next.starts_with(", ")
                {
                    detail.push_str(next);
                }
                preflight.push(PreflightError { check: check.trim().to_string(), detail });
            }
            continue;
        }
        if t.ends_with("Some fatal errors occurred:") {
            in_untagged = true;
            continue;
        }
        if in_untagged {
            if t.starts_with("[preflight]") || t.contains("error execution phase") || t.is_empty() {
                in_untagged = false;
            } else if !t.starts_with("[ERROR") && (l.starts_with('\t') || l.starts_with("  ")) {
                preflight.push(PreflightError { check: untagged_check(t), detail: t.to_string() });
                continue;
            }
        }
        if t.contains("could not find a JWS signature") || t.contains("is invalid for this cluster or it has expired") {
            if token.is_none() || t.contains("error execution phase") {
                let id = quoted_after(t, "token ID").or_else(|| quoted_after(t, "token id"));
                let marker = if t.contains("error execution phase") {
                    "error execution phase"
                } else if t.contains("could not find") {
                    "could not find"
                } else {
                    t.split_whitespace().next().unwrap_or("")
                };
                token = Some(JoinFailure::Token { token: id.map(String::from), line: from(t, marker).to_string() });
            }
            continue;
        }
        if t.contains("are pinned") || t.contains("cluster CA found in cluster-info ConfigMap is invalid") {
            ca = Some(JoinFailure::CaHash {
                line: from(t, if t.contains("error execution phase") { "error execution phase" } else { "cluster CA" }).to_string(),
            });
            continue;
        }
        if t.contains("already exists in the cluster") && t.contains("Node") {
            exists = Some(JoinFailure::NodeExists {
                name: quoted_after(t, "with name").map(String::from),
                line: from(t, if t.contains("error execution phase") { "error execution phase" } else { "a Node with name" }).to_string(),
            });
            continue;
        }
        let discovery = t.contains("couldn't validate the identity of the API Server")
            || t.contains("cluster-info")
            || t.contains("[discovery]")
            || t.contains("error execution phase preflight");
        if discovery && UNREACHABLE.iter().any(|u| t.contains(u)) {
            if unreachable.is_none() || t.contains("error execution phase") {
                unreachable = Some(JoinFailure::Unreachable {
                    endpoint: endpoint(t),
                    line: from(
                        t,
                        if t.contains("error execution phase") {
                            "error execution phase"
                        } else {
                            t.split_whitespace().next().unwrap_or("")
                        },
                    )
                    .to_string(),
                });
            }
            continue;
        }
        if kubelet_check.is_none() && t.contains("the kubelet isn't running or healthy") {
            kubelet_check = Some(from(t, "[kubelet-check]").to_string());
            continue;
        }
        if let Some(pos) = t.find("error execution phase ") {
            let rest = &t[pos + "error execution phase ".len()..];
            let name = rest.split(':').next().unwrap_or(rest).trim();
            if !rest.contains("Some fatal errors occurred") {
                let mut line = t[pos..].trim_end_matches('`').to_string();
                // `error execution phase kubelet-start` alone: at --v=5 the cause is printed just
                // before it (pkg/errors `%+v`: message, stack, wrapping message); else on the next line.
                let frame = |l: &&str| {
                    l.contains(".go:")
                        || l.starts_with("k8s.io/")
                        || l.starts_with("runtime.")
                        || l.starts_with("main.")
                        || l.starts_with('/')
                };
                if !rest.contains(": ")
                    && let Some(cause) = lines[..i]
                        .iter()
                        .rev()
                        .map(|l| l.trim())
                        .find(|l| !l.is_empty())
                        .filter(|l| !frame(l) && !l.starts_with('['))
                        .or_else(|| lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty() && !frame(l)))
                {
                    line.push_str(": ");
                    line.push_str(cause);
                }
                phase = Some(JoinFailure::Phase { phase: name.to_string(), line });
            }
            continue;
        }
        if other.is_none() && (t.starts_with("error:") || t.starts_with("[ERROR") || t.contains("fatal error") || t.starts_with("Error:")) {
            other = Some(JoinFailure::Other { line: t.to_string() });
        }
    }
    let kubelet = kubelet_check.map(|k| {
        let then = match &phase {
            Some(JoinFailure::Phase { line, .. }) => format!(" then {line}"),
            _ => String::new(),
        };
        JoinFailure::KubeletUnhealthy { line: format!("{k}{then}") }
    });
    let failure = exists
        .or(if preflight.is_empty() { None } else { Some(JoinFailure::Preflight(preflight)) })
        .or(token)
        .or(ca)
        .or(unreachable)
        .or(kubelet)
        .or(phase)
        .or(other);
    KubeadmJoin { joined: joined && failure.is_none(), failure, last_line }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Wordings from tests/fixtures/real/kubeadm-join/ (issue numbers in the file names).
    #[test]
    fn failures_by_kind() {
        let jws = "[preflight] Running pre-flight checks\nerror execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"uyw7tp\"\n";
        assert!(matches!(parse_kubeadm_join(jws).failure, Some(JoinFailure::Token { token: Some(t), .. }) if t == "uyw7tp"));
        let old =
            "[discovery] Failed to connect to API Server \"m:6443\": token id \"dwjwgo\" is invalid for this cluster or it has expired.";
        assert!(matches!(parse_kubeadm_join(old).failure, Some(JoinFailure::Token { .. })));
        let ca = "[2021-05-08 12:20:58] error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"sha256:11\" are pinned\n";
        match parse_kubeadm_join(ca).failure {
            Some(JoinFailure::CaHash { line }) => assert!(line.starts_with("error execution phase")),
            other => panic!("{other:?}"),
        }
        let refused = "error execution phase preflight: couldn't validate the identity of the API Server: Get \"https://10.0.2.15:6443/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": dial tcp 10.0.2.15:6443: connect: connection refused\n";
        assert!(
            matches!(parse_kubeadm_join(refused).failure, Some(JoinFailure::Unreachable { endpoint: Some(e), .. }) if e == "10.0.2.15:6443")
        );
        let pre = "error execution phase preflight: [preflight] Some fatal errors occurred:\n\t[ERROR Swap]: running with swap on is not supported. Please disable swap\n\t[ERROR Port-10250]: Port 10250 is in use\n";
        match parse_kubeadm_join(pre).failure {
            Some(JoinFailure::Preflight(e)) => {
                assert_eq!(e.iter().map(|e| e.check.as_str()).collect::<Vec<_>>(), vec!["Swap", "Port-10250"])
            }
            other => panic!("{other:?}"),
        }
        let untagged = "[preflight] Some fatal errors occurred:\n\t/proc/sys/net/bridge/bridge-nf-call-iptables contents are not set to 1\n[preflight] If you know what you are doing\n";
        match parse_kubeadm_join(untagged).failure {
            Some(JoinFailure::Preflight(e)) => assert!(e[0].check.contains("bridge-nf-call-iptables")),
            other => panic!("{other:?}"),
        }
        let exists = "a Node with name \"m02\" and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node";
        assert!(matches!(parse_kubeadm_join(exists).failure, Some(JoinFailure::NodeExists { name: Some(n), .. }) if n == "m02"));
        let ok = "module.w[0] (local-exec): This node has joined the cluster:\n";
        let r = parse_kubeadm_join(ok);
        assert!(r.joined && r.failure.is_none());
        assert!(!parse_kubeadm_join("[preflight] Running pre-flight checks\n").joined);
    }
}
