//! Provisioner tests over the fake shell (and the fake cluster waits).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::*;
use crate::config::{LabConfig, Profile};
use crate::provision::plan::{NEEDS_GUIDE_PROFILE, StepNodes};
use crate::provision::waits::{ClusterWait, FakeClusterWaits};
use crate::remote::fake::{FakeCall, FakeShell};

const TOKEN: &str = "k7x2qa.4bq9z0c1d2e3f4g5";
const HASH: &str = "0b8c2f0e9d6a4e1f7c3b5a29d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9";

fn guide_plan() -> Plan {
    Plan::from_config(&LabConfig { profile: Profile::Guide, ..LabConfig::default() }).unwrap()
}

/// `(step id, kind)` from the script header.
fn step_of(script: &str) -> Option<(String, String)> {
    let rest = &script[script.find("# kubelab step ")? + 15..];
    let (id, rest) = rest.split_once(" (")?;
    let (kind, _) = rest.split_once(')')?;
    Some((id.to_string(), kind.to_string()))
}

/// A fake node that is not in the wanted state until the step's action ran on it.
fn converging(latency: Duration) -> FakeShell {
    converging_with(latency, Arc::new(FakeClusterWaits::new()))
}

/// [`converging`], where `csr.approve` (no action script: its action is the client's approval)
/// is done once `waits` saw [`ClusterWait::ServingCsrsApproved`].
fn converging_with(latency: Duration, waits: Arc<FakeClusterWaits>) -> FakeShell {
    converging_until(latency, move || waits.calls().iter().any(|c| c.wait == ClusterWait::ServingCsrsApproved))
}

/// [`converging`], where `csr.approve` is done once `csrs_approved()`.
fn converging_until(latency: Duration, csrs_approved: impl Fn() -> bool + Send + Sync + 'static) -> FakeShell {
    let mut shell = FakeShell::new();
    shell.latency = latency;
    let done: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    shell.respond(move |node, script| {
        if script.contains("kubelab: join credentials") {
            return Some(ExecOutput::ok(format!("token={TOKEN}\nhash={HASH}\n")));
        }
        let (id, kind) = step_of(script)?;
        let mut done = done.lock().unwrap();
        Some(match kind.as_str() {
            "check" if done.contains(&(node.to_string(), id.clone())) => ExecOutput::ok(""),
            "check" if id == "csr.approve" && csrs_approved() => ExecOutput::ok(""),
            "check" => ExecOutput { stdout: format!("{id} not yet\n"), stderr: String::new(), exit_status: 1 },
            _ => {
                done.insert((node.to_string(), id));
                ExecOutput::ok("done\n")
            }
        })
    });
    shell
}

fn calls_of<'c>(calls: &'c [FakeCall], id: &str, kind: &str) -> Vec<&'c FakeCall> {
    calls.iter().filter(|c| step_of(&c.script) == Some((id.to_string(), kind.to_string()))).collect()
}

fn collect_events() -> (Arc<Mutex<Vec<ProvisionEvent>>>, impl Fn(ProvisionEvent) + Send + Sync) {
    let events: Arc<Mutex<Vec<ProvisionEvent>>> = Arc::default();
    let sink = {
        let events = events.clone();
        move |e: ProvisionEvent| events.lock().unwrap().push(e)
    };
    (events, sink)
}

#[tokio::test]
async fn guide_plan_runs_in_order_concurrently_and_converges() {
    let plan = guide_plan();
    let waits = Arc::new(FakeClusterWaits::new());
    let shell = converging_with(Duration::from_millis(25), waits.clone());
    let logs = tempfile::tempdir().unwrap();
    let (events, sink) = collect_events();
    let report = Provisioner::new(&shell, &plan).log_dir(logs.path()).on_event(&sink).cluster_waits(&*waits).run().await.unwrap();
    let calls = shell.calls();

    // Step order = plan order minus the two offline-only steps.
    let mut order: Vec<String> = Vec::new();
    for c in &calls {
        if let Some((id, _)) = step_of(&c.script)
            && order.last() != Some(&id)
        {
            order.push(id);
        }
    }
    let expected: Vec<&str> = plan.steps.iter().filter(|s| s.skip.is_none()).map(|s| s.id).collect();
    assert_eq!(order, expected);
    assert_eq!(expected.len(), 24);

    // Nodes each step ran on.
    let all: BTreeSet<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
    for step in plan.steps.iter().filter(|s| s.skip.is_none()) {
        let ran: BTreeSet<&str> = calls_of(&calls, step.id, "action").iter().map(|c| c.node.as_str()).collect();
        if step.action.is_empty() {
            // csr.approve: the approval goes through the kube client, no script is sent.
            assert!(ran.is_empty(), "{}", step.id);
            assert_eq!(calls_of(&calls, step.id, "check").len(), 2, "{}", step.id);
            continue;
        }
        let want: BTreeSet<&str> = match step.nodes {
            StepNodes::All => all.clone(),
            StepNodes::ControlPlane => ["ICE-k8s-machines-node0"].into(),
            StepNodes::Workers => ["ICE-k8s-machines-node1", "ICE-k8s-machines-node2"].into(),
        };
        assert_eq!(ran, want, "{}", step.id);
        // Every (step, node): check, action, re-check.
        assert_eq!(calls_of(&calls, step.id, "check").len(), 2 * want.len(), "{}", step.id);
    }

    // All-node steps overlapped across the three nodes.
    for step in plan.steps.iter().filter(|s| s.skip.is_none() && s.nodes == StepNodes::All) {
        let actions = calls_of(&calls, step.id, "action");
        let last_start = actions.iter().map(|c| c.started).max().unwrap();
        let first_end = actions.iter().map(|c| c.finished).min().unwrap();
        assert!(last_start < first_end, "{}: actions on the 3 nodes did not overlap", step.id);
    }

    // Join only after init; credentials fetched once, on node0, between them.
    let init_end = calls_of(&calls, "kubeadm.init", "check").iter().map(|c| c.finished).max().unwrap();
    let creds: Vec<&FakeCall> = calls.iter().filter(|c| c.script.contains("kubelab: join credentials")).collect();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].node, "ICE-k8s-machines-node0");
    assert!(creds[0].started >= init_end);
    for j in calls_of(&calls, "kubeadm.join", "action") {
        assert!(j.started >= creds[0].finished);
        assert!(j.script.contains(&format!("--token '{TOKEN}' --discovery-token-ca-cert-hash 'sha256:{HASH}'")));
        assert!(!j.script.contains("@@"));
    }

    // Report and events agree; every (step, node) changed; skipped steps have their reason.
    assert_eq!(report.changed(), 3 * 11 + 2 + 12);
    assert_eq!(
        report.status("bgp.bird-mesh", "ICE-k8s-machines-node1"),
        Some(&StepStatus::Skipped { reason: "calico provides the BGP mesh in the guide profile".into() })
    );
    let events = events.lock().unwrap().clone();
    let finished = events.iter().filter(|e| matches!(e.kind, ProvisionEventKind::Finished { .. })).count();
    assert_eq!(finished, report.outcomes.len());
    let started = events.iter().filter(|e| e.kind == ProvisionEventKind::Started).count();
    assert_eq!(started, report.changed());

    // Logs: one per node, secrets never written.
    for n in &plan.nodes {
        let log = std::fs::read_to_string(log_path(logs.path(), &n.name)).unwrap();
        assert!(log.contains("step host.sysctl action: exit 0"), "{log}");
        assert!(!log.contains(TOKEN) && !log.contains(HASH));
    }

    // The guide's waits went through the cluster client, once each, in plan order, for the
    // Kubernetes node names, each after its step's action and before its re-check.
    let w = waits.calls();
    let kinds: Vec<ClusterWait> = w.iter().map(|c| c.wait).collect();
    assert_eq!(
        kinds,
        [ClusterWait::NodesReady, ClusterWait::ServingCsrsApproved, ClusterWait::MetricsApiAvailable, ClusterWait::LoadBalancerIngress]
    );
    for c in &w {
        assert_eq!(c.nodes, ["ice-k8s-machines-node0", "ice-k8s-machines-node1", "ice-k8s-machines-node2"]);
    }
    for (c, id) in w.iter().zip(["calico.apply", "csr.approve", "metrics-server.apply", "metallb.pool"]) {
        let step = plan.step(id).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(step.wait.unwrap().timeout_secs), "{id}");
        let checks = calls_of(&calls, id, "check");
        assert!(checks[0].finished <= c.at && c.at <= checks[1].started, "{id}: the wait is not between check and re-check");
        if let Some(a) = calls_of(&calls, id, "action").first() {
            assert!(a.finished <= c.at, "{id}: waited before the action finished");
        }
    }
    let log = std::fs::read_to_string(log_path(logs.path(), "ICE-k8s-machines-node0")).unwrap();
    assert!(
        log.contains("step csr.approve wait (kube API) for a kubelet-serving CSR from every node, approved and issued: reached"),
        "{log}"
    );
    // No bash polling of the cluster is left in the scripts of these steps.
    for id in ["csr.approve", "metrics-server.apply"] {
        let s = plan.step(id).unwrap();
        assert!(!s.action.contains("sleep") && !s.action.contains("certificate approve"), "{id}: {}", s.action);
    }

    // Second run: every check answers 0 → all unchanged, no action ran, no wait.
    let settled = FakeShell::new();
    let idle = FakeClusterWaits::new();
    let report = Provisioner::new(&settled, &plan).cluster_waits(&idle).run().await.unwrap();
    assert!(idle.calls().is_empty());
    assert!(report.outcomes.iter().all(|o| matches!(o.status, StepStatus::Unchanged | StepStatus::Skipped { .. })));
    assert_eq!(report.outcomes.iter().filter(|o| o.status == StepStatus::Unchanged).count(), 3 * 11 + 2 + 12);
    let calls = settled.calls();
    assert!(calls.iter().all(|c| c.script.contains(" (check)\n")), "an action ran on the second run");
    assert!(!calls.iter().any(|c| c.script.contains("join credentials")));
}

#[tokio::test]
async fn offline_plan_skips_kubernetes_steps_and_never_runs_them() {
    let plan = Plan::from_config(&LabConfig::default()).unwrap();
    let shell = converging(Duration::ZERO);
    let (events, sink) = collect_events();
    let report = Provisioner::new(&shell, &plan).on_event(&sink).run().await.unwrap();
    let kube: Vec<&Step> = plan.steps.iter().filter(|s| s.skip.as_deref() == Some(NEEDS_GUIDE_PROFILE)).collect();
    assert_eq!(kube.len(), 15);
    let calls = shell.calls();
    for s in &kube {
        assert!(!calls.iter().any(|c| step_of(&c.script).is_some_and(|(id, _)| id == s.id)), "{} ran", s.id);
        for o in report.outcomes.iter().filter(|o| o.step_id == s.id) {
            assert_eq!(o.status, StepStatus::Skipped { reason: NEEDS_GUIDE_PROFILE.into() });
        }
    }
    let events = events.lock().unwrap();
    assert!(!events.iter().any(|e| e.kind == ProvisionEventKind::Started && kube.iter().any(|s| s.id == e.step_id)));
    assert_eq!(report.status("bgp.bird-mesh", "ICE-k8s-machines-node2"), Some(&StepStatus::Changed));
    assert_eq!(report.status("net.ipip-tunnels", "ICE-k8s-machines-node0"), Some(&StepStatus::Changed));
    assert_eq!(report.changed(), 12 * 3);
}

#[tokio::test]
async fn a_failed_step_stops_the_run_after_its_siblings_and_names_step_node_and_stderr() {
    let plan = Plan::from_config(&LabConfig::default()).unwrap();
    let failing = FakeShell::new();
    let inner = converging(Duration::ZERO);
    failing.respond(move |node, script| {
        if node == "ICE-k8s-machines-node1" && script.contains("# kubelab step host.sysctl (action)") {
            return Some(ExecOutput::failed(
                255,
                "line 1\nsysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory\n",
            ));
        }
        let out = futures::executor::block_on(inner.run(node, script)).ok()?;
        Some(out)
    });
    let err = Provisioner::new(&failing, &plan).run().await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("step host.sysctl failed on ICE-k8s-machines-node1: action exited with status 255"), "{text}");
    assert!(text.contains("bridge-nf-call-iptables: No such file"), "{text}");
    let calls = failing.calls();
    // The siblings finished (re-checked), nothing later ran.
    assert_eq!(calls_of(&calls, "host.sysctl", "check").len(), 2 + 2 + 1);
    assert!(calls_of(&calls, "host.firewall-off", "check").is_empty());
}

#[tokio::test]
async fn expired_join_token_fails_loudly_with_the_fix_and_no_secret_leaks() {
    let plan = guide_plan();
    let inner = converging(Duration::ZERO);
    let shell = FakeShell::new();
    shell.respond(move |node, script| {
        if script.contains("# kubelab step kubeadm.join (action)") {
            return Some(ExecOutput {
                stdout: format!("[preflight] Running pre-flight checks\nkubeadm join 192.168.1.134:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{HASH}\n"),
                stderr: format!(
                    "I0501 kubeadm join --token {TOKEN}\nerror execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"k7x2qa\"\n"
                ),
                exit_status: 1,
            });
        }
        futures::executor::block_on(inner.run(node, script)).ok()
    });
    let logs = tempfile::tempdir().unwrap();
    let (events, sink) = collect_events();
    let err = Provisioner::new(&shell, &plan).log_dir(logs.path()).on_event(&sink).run().await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("step kubeadm.join failed on ICE-k8s-machines-node1"), "{text}");
    assert!(text.contains("the token expires after 24 h: run `kubeadm token create` on node0"), "{text}");
    assert!(text.contains("could not find a JWS signature"), "{text}");
    assert!(!text.contains(TOKEN) && !text.contains(HASH), "{text}");
    let ev = format!("{:?}", events.lock().unwrap());
    assert!(!ev.contains(TOKEN) && !ev.contains(&HASH[..20]), "{ev}");
    for n in &plan.nodes {
        let log = std::fs::read_to_string(log_path(logs.path(), &n.name)).unwrap();
        assert!(!log.contains(TOKEN) && !log.contains(&HASH[..20]), "{log}");
        if n.name.ends_with("node2") {
            assert!(log.contains("--token [REDACTED] --discovery-token-ca-cert-hash sha256:[REDACTED]"), "{log}");
        }
    }
}

#[tokio::test]
async fn kubeconfig_output_is_redacted_in_logs() {
    let plan = Plan::from_config(&LabConfig::default()).unwrap();
    let shell = FakeShell::new();
    shell.on("*", "host.hosts-file (check)", ExecOutput::ok("apiVersion: v1\nusers:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0Eg\n    token: eyJhbGciOiJSUzI1NiJ9.x\n"));
    let logs = tempfile::tempdir().unwrap();
    let only = StepFilter { only: vec!["host.hosts-file".into()], ..Default::default() };
    let report = Provisioner::new(&shell, &plan).filter(only).log_dir(logs.path()).run().await.unwrap();
    assert_eq!(report.outcomes.iter().filter(|o| o.status == StepStatus::Unchanged).count(), 3);
    let log = std::fs::read_to_string(log_path(logs.path(), "ICE-k8s-machines-node0")).unwrap();
    assert!(log.contains("client-key-data: [REDACTED]") && log.contains("token: [REDACTED]"), "{log}");
    assert!(!log.contains("LS0tLS1") && !log.contains("eyJhbG"), "{log}");
    assert_eq!(shell.calls().len(), 3, "--only ran other steps");
}

#[tokio::test]
async fn a_cluster_wait_that_times_out_fails_its_step_naming_what_was_awaited_and_last_seen() {
    let plan = guide_plan();
    let waits = Arc::new(FakeClusterWaits::new());
    waits.time_out(
        ClusterWait::MetricsApiAvailable,
        "Available=False (MissingEndpoints: endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\")",
    );
    let shell = converging_with(Duration::ZERO, waits.clone());
    let err = Provisioner::new(&shell, &plan).cluster_waits(&*waits).run().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("step metrics-server.apply failed on ICE-k8s-machines-node0: timed out after 180 s waiting for APIService v1beta1.metrics.k8s.io Available; last seen: Available=False (MissingEndpoints"),
        "{text}"
    );
    // Its re-check and every later step did not run.
    let calls = shell.calls();
    assert_eq!(calls_of(&calls, "metrics-server.apply", "check").len(), 1);
    assert!(calls_of(&calls, "helm.install", "check").is_empty());
}

#[tokio::test]
async fn a_step_with_a_wait_and_no_cluster_client_fails_saying_so() {
    let plan = guide_plan();
    let shell = converging(Duration::ZERO);
    let err = Provisioner::new(&shell, &plan).run().await.unwrap_err();
    assert_eq!(
        err.to_string().lines().next().unwrap(),
        "step calico.apply failed on ICE-k8s-machines-node0: step calico.apply waits for every node Ready through the Kubernetes API, but this run has no cluster client"
    );
}

/// The guide plan with the kube-backed waits, over an in-process API server (kube_api's test
/// server: the same `kube::Client` stack the tunnel feeds): every wait is a watch/list the server
/// saw, the CSR approval a PUT to the `approval` subresource.
#[tokio::test]
async fn guide_plan_waits_go_through_the_kube_client() {
    use crate::kube_api::KubeClusterWaits;
    use crate::kube_api::tests::{csr_json, full, list, node_json, open_stream, server, within};
    let names = ["ice-k8s-machines-node0", "ice-k8s-machines-node1", "ice-k8s-machines-node2"];
    let approved: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let a2 = approved.clone();
    let (api, seen) = server(move |m, u| {
        let csr = |i: usize, n: &str| {
            let state = if a2.lock().unwrap().contains(&format!("csr-{i}")) { "issued" } else { "pending" };
            csr_json(&format!("csr-{i}"), n, state)
        };
        if m == "GET" && u.contains("watch=true") {
            return Some((200, open_stream(None)));
        }
        if m == "GET" && u.starts_with("/api/v1/nodes?") {
            let items: Vec<String> = names.iter().filter(|n| u.contains(&format!("%3D{n}"))).map(|n| node_json(n, true)).collect();
            return Some((200, full(list("NodeList", "v1", &items.iter().map(String::as_str).collect::<Vec<_>>()))));
        }
        if m == "GET" && u.starts_with("/apis/certificates.k8s.io/v1/certificatesigningrequests?") {
            let items: Vec<String> = names.iter().enumerate().map(|(i, n)| csr(i, n)).collect();
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            return Some((200, full(list("CertificateSigningRequestList", "certificates.k8s.io/v1", &refs))));
        }
        if let Some(rest) = u.strip_prefix("/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-") {
            let i: usize = rest[..1].parse().ok()?;
            if m == "PUT" && rest.ends_with("/approval?") {
                a2.lock().unwrap().insert(format!("csr-{i}"));
            }
            return Some((200, full(csr(i, names[i]))));
        }
        if m == "GET" && u.starts_with("/apis/apiregistration.k8s.io/v1/apiservices?") {
            let a = r#"{"metadata":{"name":"v1beta1.metrics.k8s.io","resourceVersion":"9"},"spec":{"group":"metrics.k8s.io","version":"v1beta1","groupPriorityMinimum":100,"versionPriority":100,"service":{"name":"metrics-server","namespace":"kube-system"}},"status":{"conditions":[{"type":"Available","status":"True","reason":"Passed","message":"all checks passed"}]}}"#;
            return Some((200, full(list("APIServiceList", "apiregistration.k8s.io/v1", &[a]))));
        }
        let lb = r#"{"metadata":{"name":"nginx","namespace":"default","resourceVersion":"4"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.1.200"}]}}}"#;
        let kubernetes = r#"{"metadata":{"name":"kubernetes","namespace":"default","resourceVersion":"2"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.1","ports":[{"port":443}]}}"#;
        if m == "GET" && u == "/api/v1/services?" {
            return Some((200, full(list("ServiceList", "v1", &[kubernetes, lb]))));
        }
        if m == "GET" && u.starts_with("/api/v1/namespaces/default/services?") && u.contains("%3Dnginx") {
            return Some((200, full(list("ServiceList", "v1", &[lb]))));
        }
        None
    });
    let waits = KubeClusterWaits::with_api(api);
    let plan = guide_plan();
    let a3 = approved.clone();
    let shell = converging_until(Duration::ZERO, move || a3.lock().unwrap().len() == 3);
    let logs = tempfile::tempdir().unwrap();
    let report = within(Provisioner::new(&shell, &plan).cluster_waits(&waits).log_dir(logs.path()).run()).await.unwrap();
    assert_eq!(report.status("csr.approve", "ICE-k8s-machines-node0"), Some(&StepStatus::Changed));
    assert_eq!(report.status("metallb.pool", "ICE-k8s-machines-node0"), Some(&StepStatus::Changed));
    let seen: Vec<String> = seen.lock().unwrap().iter().map(|(m, u, _)| format!("{m} {u}")).collect();
    for n in names {
        assert!(seen.iter().any(|r| r.starts_with("GET /api/v1/nodes?") && r.contains(&format!("metadata.name%3D{n}"))), "{n}: {seen:#?}");
    }
    let puts: Vec<&String> = seen.iter().filter(|r| r.starts_with("PUT ")).collect();
    assert_eq!(
        puts,
        [0, 1, 2]
            .map(|i| format!("PUT /apis/certificates.k8s.io/v1/certificatesigningrequests/csr-{i}/approval?"))
            .iter()
            .collect::<Vec<_>>()
    );
    assert!(seen.iter().any(|r| r.starts_with("GET /apis/apiregistration.k8s.io/v1/apiservices?")), "{seen:#?}");
    assert!(seen.iter().any(|r| r == "GET /api/v1/services?"), "{seen:#?}");
    assert!(seen.iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/services?")), "{seen:#?}");
    // Nothing polled the cluster over SSH: no kubectl call beyond the steps' own scripts.
    assert!(!shell.calls().iter().any(|c| c.script.contains("kubectl certificate approve")));
    let log = std::fs::read_to_string(log_path(logs.path(), "ICE-k8s-machines-node0")).unwrap();
    assert!(log.contains("approved csr-0, csr-1, csr-2, via the approval subresource"), "{log}");
    assert!(log.contains("default/nginx ingress 192.168.1.200"), "{log}");
}
