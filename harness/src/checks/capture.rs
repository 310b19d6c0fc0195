//! Judging ONE pasted capture (`kubelab explain`, the real-capture corpus tests): guess which
//! probe printed it, build evidence holding just that fact in [`SingleCapture`] mode (checks that
//! compare nodes judge what one capture can show), and run every check that reads the probe.
//! Main functions: [`guess_probe`], [`capture_evidence`], [`explain`].

use std::net::Ipv4Addr;

use super::{CHECKS, CheckSpec, Verdict};
use crate::config::{LabConfig, NodeConfig, Profile, Role};
use crate::evidence::{Evidence, EvidenceHeader, Fact, Origin, ProbeCatalog, SingleCapture, Target};
use crate::parsers::{OTHER_COMMAND, bare_command, clean_capture, probe_of_command, prompt_command};
use crate::remote::ExecOutput;

/// The node a pasted node-level capture is attributed to.
pub const CAPTURE_NODE: &str = "captured-node";

/// Explaining a capture failed before any check ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// No probe could be recognised from the text.
    #[error("cannot tell which probe printed this output; name it with --probe (ids: docs/evidence.md)")]
    UnknownProbe,
    /// `--probe` names no probe of the catalog.
    #[error("unknown probe `{0}`; see docs/evidence.md for the ids")]
    BadProbe(String),
}

/// What [`explain`] found.
#[derive(Debug)]
pub struct Explanation {
    /// The probe id (given or guessed).
    pub probe: &'static str,
    /// The probe was guessed from the text.
    pub guessed: bool,
    /// The capture as the checks read it (shell prompts and other commands' output removed).
    pub read: String,
    /// Every check reading this probe, with its verdict.
    pub verdicts: Vec<(&'static str, Verdict)>,
}

impl Explanation {
    /// No check failed.
    pub fn all_pass(&self) -> bool {
        !self.verdicts.iter().any(|(_, v)| v.is_fail())
    }
}

/// The checks that read `probe`.
pub fn checks_reading(probe: &str) -> Vec<&'static CheckSpec> {
    CHECKS.iter().filter(|c| c.probes.contains(&probe)).collect()
}

/// The probe id of the catalog, as a `'static` str.
fn catalog_id(probe: &str) -> Option<&'static str> {
    ProbeCatalog::standard().probes().iter().map(|p| p.id).find(|id| *id == probe)
}

/// Evidence holding `text` as `probe`'s output on one node (or the cluster for `k8s-*`), in
/// single-capture mode. `expected_nodes`: the cluster size when known.
pub fn capture_evidence(probe: &str, text: &str, expected_nodes: Option<usize>) -> Evidence {
    let cfg = LabConfig::default();
    let role = if probe == "kubeadm-join" { Role::Worker } else { Role::ControlPlane };
    let header = EvidenceHeader {
        lab: "capture".into(),
        profile: if probe == "bgp-birdc" { Profile::Offline } else { Profile::Guide },
        nodes: vec![NodeConfig { name: CAPTURE_NODE.into(), ip: Ipv4Addr::UNSPECIFIED, role }],
        source: "a pasted capture".into(),
        expect: crate::evidence::Expectations::from_config(&cfg),
        kubeconfig: cfg.kubeconfig.clone(),
    };
    let target = if probe.starts_with("k8s-") { Target::Cluster } else { Target::Node(CAPTURE_NODE.into()) };
    let mut ev = Evidence::new(header).into_single_capture(SingleCapture { expected_nodes });
    ev.insert(Fact {
        probe: probe.into(),
        target,
        command: probe_command(probe),
        output: ExecOutput::ok(text),
        fetched_at: String::new(),
        origin: Origin::Recorded { bundle: "pasted capture".into() },
    });
    ev
}

fn probe_command(probe: &str) -> String {
    let cfg = LabConfig::default();
    let so_far = Evidence::new(EvidenceHeader::from_config(&cfg, "catalog"));
    ProbeCatalog::standard()
        .probes()
        .iter()
        .find(|p| p.id == probe)
        .and_then(|p| p.script_for(&crate::evidence::ScriptContext { node: &cfg.nodes[0], so_far: &so_far }))
        .unwrap_or_else(|| probe.to_string())
}

/// Runs every check reading `probe` over the capture.
pub fn explain(text: &str, probe: Option<&str>, expected_nodes: Option<usize>) -> Result<Explanation, ExplainError> {
    let (probe, guessed) = match probe {
        Some(p) => (catalog_id(p).ok_or_else(|| ExplainError::BadProbe(p.into()))?, false),
        None => (guess_probe(text).ok_or(ExplainError::UnknownProbe)?, true),
    };
    let ev = capture_evidence(probe, text, expected_nodes);
    let verdicts = checks_reading(probe).into_iter().map(|c| (c.id, (c.judge)(&ev))).collect();
    Ok(Explanation { probe, guessed, read: clean_capture(probe, text).into_owned(), verdicts })
}

/// Guesses the probe that printed `text`: from a pasted prompt's command when there is one,
/// else from the output's own signature lines. `None` when nothing is recognised.
pub fn guess_probe(text: &str) -> Option<&'static str> {
    let unquoted: String = text.lines().map(|l| l.strip_prefix("> ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
    for l in unquoted.lines() {
        if let Some(cmd) = prompt_command(l)
            && let Some(p) = probe_of_command(cmd).filter(|p| *p != OTHER_COMMAND)
        {
            return Some(p);
        }
    }
    if let Some(p) = bare_command(&unquoted).and_then(probe_of_command).filter(|p| *p != OTHER_COMMAND) {
        return Some(p);
    }
    guess_from_content(&unquoted)
}

fn guess_from_content(t: &str) -> Option<&'static str> {
    let has = |w: &str| t.contains(w);
    let lower = t.to_ascii_lowercase();
    let first = t.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let words: Vec<&str> = t.split_whitespace().collect();
    Some(if has("Calico process is") || lower.contains("| peer address") || has("node-to-node mesh") || has("IPv4 BGP status") {
        "bgp-calicoctl"
    } else if (has("BIRD ") && has("ready."))
        || (lower.contains("name") && lower.contains("proto") && lower.contains(" bgp "))
        || t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 5 && f[1] == "BGP" && matches!(f[3], "up" | "start" | "down")
        })
        || has("BGP state:")
    {
        "bgp-birdc"
    } else if has("\"nftables\"") && has("kubelab_outside") {
        "floating-ips"
    } else if (has("docker pull") || has("kubelab-outside.txt")) && t.lines().any(|l| l.starts_with("exit ")) {
        "egress"
    } else if has("IP Virtual Server version") || has("Can't initialize ipvs") {
        "ipvsadm"
    } else if has("Cgroup Driver:") || has("Cannot connect to the Docker daemon") || (has("Server Version:") && has("Storage Driver:")) {
        "docker-info"
    } else if has("[preflight]")
        || has("[kubelet-check]")
        || has("error execution phase")
        || has("This node has joined the cluster")
        || has("[discovery]")
        || has("kubeadm join")
        || has("JWS signature")
    {
        "kubeadm-join"
    } else if has("KubeletConfiguration") {
        "kubelet-config"
    } else if has("KubeProxyConfiguration") {
        "k8s-kube-proxy-cm"
    } else if has("APIService") || has("v1beta1.metrics.k8s.io") || has("type: Available") && has("conditions:") {
        "k8s-apiservice-metrics"
    } else if has("NodeMetricsList")
        || has("\"NodeMetrics\"")
        || has("metrics not available yet")
        || has("heapster")
        || has("CPU(cores)")
        || has("Metrics API not available")
        || has("nodes.metrics.k8s.io")
        || has("Failed to scrape node")
        || has("unable to fully scrape metrics")
        || has("because it doesn't contain any IP SANs")
    {
        "k8s-node-metrics"
    } else if has("CertificateSigningRequest")
        || has("SIGNERNAME")
        || (has("REQUESTOR") && has("CONDITION"))
        || t.lines().any(|l| l.starts_with("csr-") && (l.contains("Pending") || l.contains("Approved")))
        || has("SignerValidationFailure")
    {
        "k8s-csr"
    } else if has("\"gitVersion\"") || has("Server Version: v") || has("Server Version: version.Info") {
        "k8s-version"
    } else if has("\"kind\": \"Node\"")
        || (has("STATUS") && has("VERSION") && (has("ROLES") || has("Ready") && has("AGE")) && !has("RESTARTS"))
    {
        "k8s-nodes"
    } else if has("\"kind\": \"Pod\"") || (has("READY") && has("STATUS") && has("RESTARTS")) {
        "k8s-pods-kube-system"
    } else if has("\"kind\": \"Service\"") || (has("CLUSTER-IP") && has("EXTERNAL-IP")) {
        "k8s-services"
    } else if has("Filename") && has("Priority") {
        "proc-swaps"
    } else if first.starts_with("NAME") && has("TYPE") && has("PRIO") {
        "swapon"
    } else if has("Module") && has("Used by") {
        "lsmod"
    } else if has("net.bridge.bridge-nf-call") || has("net.ipv4.ip_forward") {
        "sysctl-net"
    } else if has("Kernel IP routing table") || has(" proto bird") || has("  proto bird") {
        "ip-route"
    } else if has("link/ether") && !has("inet ") || has(": flags=") && has("ether ") && !has("tunl0") {
        "ip-link"
    } else if has("tunl0") && (has("ipip") || has("IPIP")) {
        "tunl0"
    } else if has("kube-ipvs0") {
        "kube-ipvs0"
    } else if has("link/ether") || has("link/loopback") {
        "ip-link"
    } else if first.starts_with("default via") || has(" proto kernel scope link") || has(" dev tunl0 proto bird") {
        "ip-route"
    } else if has(":6443") && (has("LISTEN") || has("(LISTEN)") || has("LISTENING")) {
        "listen-6443"
    } else if has("subject=") || has("Subject:") && has("Issuer:") || has("CONNECTED(") && has("depth=") {
        "kubelet-serving-cert"
    } else if has("SHA256:") && (has("(ED25519)") || has("(RSA)") || has("(ECDSA)") || has("Fingerprint:") || has("256 SHA256:")) {
        "ssh-hostkey"
    } else if has("<file system>")
        || t.lines().any(|l| l.split_whitespace().nth(2).is_some_and(|f| f == "swap" || f == "ext4" || f == "xfs"))
    {
        "fstab"
    } else if has("localhost") && t.lines().any(|l| l.trim_start().starts_with("127.0.0.1"))
        || t.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).all(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 2 && f[0].parse::<std::net::IpAddr>().is_ok() && !l.contains(" dev ")
        }) && !t.trim().is_empty()
    {
        "etc-hosts"
    } else if has("version.BuildInfo") || (first.starts_with("v3.") && first.contains("+g")) {
        "helm-version"
    } else if has("NetworkManager") || has("network-manager") {
        "network-manager"
    } else if words.len() == 1 && words[0].starts_with("v3.") || words.len() == 1 && words[0].starts_with("v2.") && words[0].contains("+g")
    {
        "helm-version"
    } else if words.len() == 1 && crate::parsers::PROXY_MODES.contains(&words[0]) {
        "proxy-mode"
    } else if words.len() == 1 && words[0].len() == 36 && words[0].matches('-').count() == 4 {
        "product-uuid"
    } else if words.len() == 1 && words[0].len() == 32 && words[0].chars().all(|c| c.is_ascii_hexdigit()) {
        "machine-id"
    } else if words.len() == 1 || has("Nmap scan report for") {
        "hostname"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_guesses_judges_and_refuses() {
        // tests/fixtures/real/bgp-calicoctl/calico-issue-1073-aws-start-connect.txt (body).
        let t = "[root@ose-master ~]# calicoctl node status\nCalico process is running.\n\nIPv4 BGP status\n+--------------+-------------------+-------+----------+---------+\n| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |  INFO   |\n+--------------+-------------------+-------+----------+---------+\n| 10.90.1.209  | node-to-node mesh | start | 04:27:50 | Connect |\n+--------------+-------------------+-------+----------+---------+\n";
        let x = explain(t, None, Some(2)).unwrap();
        assert_eq!((x.probe, x.guessed), ("bgp-calicoctl", true));
        assert!(!x.read.contains("calicoctl node status"));
        assert!(!x.all_pass());
        let (id, v) = &x.verdicts[0];
        assert_eq!(*id, "calico.bgp-mesh");
        assert!(v.to_string().contains("TCP 179"), "{v}");
        assert_eq!(explain("hello world foo\n", None, None).unwrap_err(), ExplainError::UnknownProbe);
        assert!(matches!(explain("x", Some("nope"), None), Err(ExplainError::BadProbe(_))));
        let ok = explain("$ curl -s 127.0.0.1:10249/proxyMode\nipvs", None, None).unwrap();
        assert_eq!(ok.probe, "proxy-mode");
        assert!(ok.all_pass());
    }
}
