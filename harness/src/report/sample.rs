//! [`sample_run`]: a realistic, deterministic event stream (fixed clock) covering every event
//! kind and outcome: passes, a failure with live evidence, a step skipped after a failure, a
//! scenario skipped as a whole with its reason, and a provisioning timeline. Used by the
//! reporters' snapshot tests and the report-consumer integration test; it is sample *input*
//! for reporters, never presented as the result of a real run.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::events::{FactView, FeatureRef, ProvisionStatus, RunEvent, RunEventKind, ScenarioRef, TestStatus, VerdictView};

/// Evidence source named in the sample's `RunStarted`.
pub const SAMPLE_EVIDENCE: &str = "live over ssh (host level); recorded bundle fixtures/bundles/healthy-1.23.6 (cluster level)";

struct Clock {
    now: DateTime<Utc>,
    events: Vec<RunEvent>,
}

impl Clock {
    fn emit(&mut self, after: Duration, kind: RunEventKind) {
        self.now += chrono::Duration::from_std(after).unwrap_or_default();
        self.events.push(RunEvent::at(self.now, kind));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn step(keyword: &str, text: &str, line: u32, status: TestStatus, d: u64, verdict: Option<VerdictView>) -> RunEventKind {
    RunEventKind::StepFinished { keyword: keyword.into(), text: text.into(), line, status, duration: ms(d), verdict, note: None }
}

fn feature(name: &str, path: &str, tag: &str) -> FeatureRef {
    FeatureRef { name: name.into(), path: path.into(), line: 2, tags: vec![tag.into()] }
}

/// The sample run: 4 scenarios in 2 features (2 passed, 1 failed, 1 skipped) and 6
/// provisioning records on 3 nodes.
pub fn sample_run() -> Vec<RunEvent> {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).single().unwrap_or_default();
    let mut c = Clock { now: start, events: Vec::new() };
    c.emit(
        Duration::ZERO,
        RunEventKind::RunStarted {
            lab: "ice-k8s".into(),
            profile: "offline".into(),
            evidence_source: SAMPLE_EVIDENCE.into(),
            started_at: start,
            gaps: Vec::new(),
        },
    );
    let nodes = ["ICE-k8s-machines-node0", "ICE-k8s-machines-node1", "ICE-k8s-machines-node2"];
    for (node, status, d) in [
        (nodes[0], ProvisionStatus::Changed, 2_300),
        (nodes[1], ProvisionStatus::Changed, 2_100),
        (nodes[2], ProvisionStatus::Unchanged, 400),
    ] {
        c.emit(
            ms(d),
            RunEventKind::ProvisionStepFinished {
                step_id: "swap.disable".into(),
                node: node.into(),
                status,
                duration: ms(d),
                log_excerpt: "swapoff -a && sed -i '/ swap / s/^/#/' /etc/fstab".into(),
            },
        );
    }
    for (node, status, d, log) in [
        (nodes[0], ProvisionStatus::Changed, 41_000, "bird2 started; protocol mesh_192_168_1_135 up"),
        (nodes[1], ProvisionStatus::Failed, 30_000, "bird: Socket error: connect: Connection refused\nexit status 1"),
        (nodes[2], ProvisionStatus::Skipped { reason: "node1 failed this step; the mesh is set up in node order".into() }, 0, ""),
    ] {
        c.emit(
            ms(d),
            RunEventKind::ProvisionStepFinished {
                step_id: "calico.bgp-mesh".into(),
                node: node.into(),
                status,
                duration: ms(d),
                log_excerpt: log.into(),
            },
        );
    }

    // Feature 1: node identity, judged live.
    let identity = feature("Node identity of the cloned VMs", "features/host/node-identity.feature", "tier.host");
    c.emit(
        ms(50),
        RunEventKind::ScenarioStarted {
            feature: identity.clone(),
            scenario: ScenarioRef { name: "Every clone has its own MAC address and product_uuid".into(), line: 6 },
            tags: vec!["pitfall.cloned-identity".into()],
        },
    );
    c.emit(ms(10), step("Given", "the lab has 3 nodes", 7, TestStatus::Passed, 10, None));
    c.emit(ms(420), step("When", "I collect each node's MAC address and product_uuid", 8, TestStatus::Passed, 420, None));
    c.emit(
        ms(5),
        step(
            "Then",
            "no two nodes share a MAC address or product_uuid",
            9,
            TestStatus::Passed,
            5,
            Some(VerdictView {
                check_id: "host.identity.unique".into(),
                outcome: "pass".into(),
                expected: "3 distinct MAC addresses and 3 distinct product_uuids".into(),
                found: "3 distinct MAC addresses, 3 distinct product_uuids".into(),
                remediation: None,
                evidence_source: "live over ssh".into(),
                facts: nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| FactView {
                        node: (*n).into(),
                        probe: "product-uuid".into(),
                        command: "cat /sys/class/dmi/id/product_uuid".into(),
                        output_excerpt: format!("4c4c4544-0042-3510-8047-b4c04f5a3{i}32"),
                        origin: "live".into(),
                    })
                    .collect(),
            }),
        ),
    );
    c.emit(ms(1), RunEventKind::ScenarioFinished { status: TestStatus::Passed });
    c.emit(ms(1), RunEventKind::FeatureFinished { feature: identity });

    // Feature 2: calico networking, a live failure, a recorded pass, a whole-scenario skip.
    let calico = feature("Calico networking & BGP mesh", "features/network/calico.feature", "tier.network");
    c.emit(
        ms(30),
        RunEventKind::ScenarioStarted {
            feature: calico.clone(),
            scenario: ScenarioRef { name: "BGP sessions on TCP 179 are <Established> between all nodes".into(), line: 8 },
            tags: vec!["pitfall.security-group".into(), "requires.live".into()],
        },
    );
    c.emit(ms(12), step("Given", "calico-node runs on every node", 9, TestStatus::Passed, 12, None));
    let fail = "BGP peer 192.168.1.134 on ICE-k8s-machines-node2 is Active, not Established";
    c.emit(
        ms(1_800),
        step(
            "Then",
            "every node has an Established BGP session to every other node",
            10,
            TestStatus::Failed { message: fail.into() },
            1_800,
            Some(VerdictView {
                check_id: "net.calico.bgp-established".into(),
                outcome: "fail: 1 of 6 BGP sessions not Established".into(),
                expected: "6 BGP sessions (node-to-node mesh), all Established".into(),
                found: "5 Established; ICE-k8s-machines-node2 → 192.168.1.134 is Active (Socket: Connection refused)".into(),
                remediation: Some(
                    "allow TCP 179 (BGP) and IP protocol 4 (IPIP) between the nodes in the security group, \
                     then `systemctl restart bird` on the affected node"
                        .into(),
                ),
                evidence_source: "live over ssh".into(),
                facts: vec![
                    FactView {
                        node: nodes[2].into(),
                        probe: "bgp-peers".into(),
                        command: "birdc show protocols | grep -E 'BGP|Name'".into(),
                        output_excerpt: "Name       Proto      Table      State  Since         Info\n\
                             mesh_134   BGP        ---        start  08:01:02.113  Active        Socket: Connection refused\n\
                             mesh_135   BGP        ---        up     08:00:58.004  Established\n\
                             \u{1b}[0m<end of output & \"quoted\">"
                            .into(),
                        origin: "live".into(),
                    },
                    FactView {
                        node: nodes[0].into(),
                        probe: "bgp-peers".into(),
                        command: "birdc show protocols".into(),
                        output_excerpt: "mesh_135   BGP  ---  up  08:00:57  Established\nmesh_136   BGP  ---  up  08:00:57  Established"
                            .into(),
                        origin: "live".into(),
                    },
                ],
            }),
        ),
    );
    c.emit(
        ms(1),
        step(
            "And",
            "pods on different nodes can reach each other",
            11,
            TestStatus::Skipped { reason: "a previous step failed".into() },
            0,
            None,
        ),
    );
    c.emit(ms(1), RunEventKind::ScenarioFinished { status: TestStatus::Failed { message: fail.into() } });

    c.emit(
        ms(20),
        RunEventKind::ScenarioStarted {
            feature: calico.clone(),
            scenario: ScenarioRef { name: "kube-proxy runs in IPVS mode".into(), line: 14 },
            tags: vec![],
        },
    );
    c.emit(
        ms(3),
        step(
            "Then",
            "kube-proxy uses the ipvs proxier with strictARP",
            15,
            TestStatus::Passed,
            3,
            Some(VerdictView {
                check_id: "net.kube-proxy.ipvs".into(),
                outcome: "pass".into(),
                expected: "mode: ipvs and ipvs.strictARP: true in ConfigMap kube-system/kube-proxy".into(),
                found: "mode: \"ipvs\", strictARP: true".into(),
                remediation: None,
                evidence_source: "recorded bundle fixtures/bundles/healthy-1.23.6".into(),
                facts: vec![FactView {
                    node: nodes[0].into(),
                    probe: "kube-proxy-config".into(),
                    command: "kubectl -n kube-system get cm kube-proxy -o yaml".into(),
                    output_excerpt: "    ipvs:\n      strictARP: true\n    mode: \"ipvs\"".into(),
                    origin: "recorded bundle fixtures/bundles/healthy-1.23.6".into(),
                }],
            }),
        ),
    );
    c.emit(ms(1), RunEventKind::ScenarioFinished { status: TestStatus::Passed });

    c.emit(
        ms(20),
        RunEventKind::ScenarioStarted {
            feature: calico.clone(),
            scenario: ScenarioRef { name: "MetalLB assigns a LoadBalancer IP from the layer2 pool".into(), line: 18 },
            tags: vec!["requires.live-k8s".into()],
        },
    );
    c.emit(
        ms(1),
        RunEventKind::ScenarioFinished {
            status: TestStatus::Skipped {
                reason: "needs a live Kubernetes API (@requires.live-k8s); the offline profile has none and the \
                         recorded bundle holds no MetalLB Service"
                    .into(),
            },
        },
    );
    c.emit(ms(1), RunEventKind::FeatureFinished { feature: calico });
    let total = (c.now - start).to_std().unwrap_or_default();
    c.emit(ms(1), RunEventKind::RunFinished { passed: 2, failed: 1, skipped: 1, duration: total + ms(1) });
    c.events
}
