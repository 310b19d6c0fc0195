//! Steps of `features/faults.feature`: inject a pitfall on the live lab, judge the checks it
//! must break (with fresh evidence, polling while the fault takes effect), heal it the guide's
//! way, and judge again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use kubelab::checks::{self, Outcome, Verdict};
use kubelab::evidence::{LiveEvidence, Probe, ProbeCatalog, gather};
use kubelab::fault::{FaultKind, FaultLab};

use crate::conformance::world::{LabWorld, StepVerdict};

/// How long a fault (or its healing) may take to show, e.g. BGP hold timers.
const SETTLE: Duration = Duration::from_secs(240);

fn live(w: &LabWorld) -> &crate::conformance::world::LiveLab {
    w.ctx().live.as_ref().expect("fault scenarios run only on a live lab (the runner skips them otherwise)")
}

fn kind(w: &LabWorld, id: &str) -> FaultKind {
    let k = FaultKind::from_id(id).unwrap_or_else(|| panic!("unknown fault `{id}`"));
    assert_eq!(w.fault, Some(k), "step names fault `{id}` but the scenario is tagged {:?}", w.fault.map(|f| f.id()));
    k
}

/// Gathers the probes `ids` read, live, and judges them.
async fn judge_live(w: &LabWorld, ids: &[&str]) -> Vec<(String, Verdict)> {
    let l = live(w);
    let probes: HashSet<&str> = ids.iter().filter_map(|id| checks::spec(id)).flat_map(|s| s.probes.iter().copied()).collect();
    let src = LiveEvidence::new(l.shell.clone(), l.lab.config().clone(), "ssh");
    let select = |p: &Probe| probes.contains(p.id);
    let mut ev = gather(&src, &ProbeCatalog::standard(), &select, None).await.expect("gather live evidence");
    if probes.contains("port-filter") || probes.contains("ip-addr") {
        for f in kubelab::lab::port::port_facts(&l.lab, &l.state, &ev).await.expect("read the ports from libvirt") {
            ev.insert(f);
        }
    }
    ids.iter().map(|id| (id.to_string(), checks::run(id, &ev).expect("known check"))).collect()
}

/// Polls until every check in `want_fail` fails and every one in `want_pass` passes.
async fn settle(w: &mut LabWorld, want_fail: &[&str], want_pass: &[&str], label: &str) {
    let t0 = Instant::now();
    let all: Vec<&str> = want_fail.iter().chain(want_pass).copied().collect();
    let mut last;
    loop {
        last = judge_live(w, &all).await;
        let ok = last.iter().all(|(id, v)| if want_fail.contains(&id.as_str()) { v.is_fail() } else { v.is_pass() });
        if ok || t0.elapsed() > SETTLE {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let d = t0.elapsed();
    let mut failures = Vec::new();
    for (id, v) in &last {
        let expect_fail = want_fail.contains(&id.as_str());
        let ok = if expect_fail { matches!(&v.outcome, Outcome::Fail { remediation, .. } if !remediation.is_empty()) } else { v.is_pass() };
        if !ok {
            failures.push(format!("{id}: wanted {} ({label}), got {v}", if expect_fail { "fail with a remediation" } else { "pass" }));
        }
        w.verdicts.push(StepVerdict { check_id: id.clone(), verdict: v.clone(), duration: d, step_passed: Some(ok) });
    }
    // One step, one verdict row in the reports: keep the first, fold the others into it.
    let n = last.len();
    if n > 1 {
        let first = w.verdicts.len() - n;
        let rest: Vec<StepVerdict> = w.verdicts.drain(first + 1..).collect();
        let head = &mut w.verdicts[first];
        head.step_passed = Some(head.step_passed.unwrap_or(true) && rest.iter().all(|r| r.step_passed.unwrap_or(true)));
        head.verdict.evidence.extend(rest.iter().flat_map(|r| r.verdict.evidence.clone()));
        if let Outcome::Fail { found, .. } | Outcome::Pass { summary: found } = &mut head.verdict.outcome {
            for r in &rest {
                found.push_str(&format!(" | {}: {}", r.check_id, r.verdict));
            }
        }
    }
    assert!(failures.is_empty(), "after {:.0} s: {}", d.as_secs_f64(), failures.join("\n"));
}

fn note(w: &mut LabWorld, what: &str, detail: String, d: Duration) {
    w.verdicts.push(StepVerdict {
        check_id: what.into(),
        verdict: Verdict { outcome: Outcome::Pass { summary: detail }, evidence: Vec::new() },
        duration: d,
        step_passed: Some(true),
    });
}

#[given(expr = "the lab is reset to the {string} snapshot")]
async fn reset(w: &mut LabWorld, name: String) {
    let t = Instant::now();
    let l = live(w);
    l.lab.snapshot_revert(&l.state, &name).await.unwrap_or_else(|e| panic!("{e}"));
    let fl = FaultLab::new(&l.lab, &l.state, l.shell.clone());
    for n in &l.state.nodes {
        l.shell.forget(&n.name).await;
        fl.wait_ssh(&n.name, Duration::from_secs(120)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    note(w, "snapshot.revert", format!("{} nodes reverted to `{name}`", l.state.nodes.len()), t.elapsed());
}

#[when(expr = "the {string} fault is injected")]
async fn inject(w: &mut LabWorld, id: String) {
    let k = kind(w, &id);
    let t = Instant::now();
    let l = live(w);
    let fl = FaultLab::new(&l.lab, &l.state, l.shell.clone());
    let f = fl.inject(k, None).await.unwrap_or_else(|e| panic!("inject {id}: {e}"));
    note(w, &format!("fault.inject {id}"), format!("on {}: {} (guide: {})", f.node, f.detail, k.pitfall()), t.elapsed());
}

#[then("the checks it breaks fail with the guide's remediation")]
async fn breaks(w: &mut LabWorld) {
    let k = w.fault.expect("tagged @fault:<kind>");
    settle(w, k.checks(), k.still_passing(), "while the fault is in place").await;
}

#[when(expr = "the {string} fault is healed the guide's way")]
async fn heal(w: &mut LabWorld, id: String) {
    let k = kind(w, &id);
    let t = Instant::now();
    let l = live(w);
    let fl = FaultLab::new(&l.lab, &l.state, l.shell.clone());
    let d = fl.heal(k, None).await.unwrap_or_else(|e| panic!("heal {id}: {e}"));
    note(w, &format!("fault.heal {id}"), d, t.elapsed());
}

#[then("those checks pass again")]
async fn pass_again(w: &mut LabWorld) {
    let k = w.fault.expect("tagged @fault:<kind>");
    let all: Vec<&str> = k.checks().iter().chain(k.still_passing()).copied().collect();
    settle(w, &[], &all, "after healing").await;
}

#[then("the BGP mesh is Established")]
async fn mesh_up(w: &mut LabWorld) {
    settle(w, &[], &["calico.bgp-mesh", "calico.ipip-traffic"], "before the fault").await;
}

#[then("kubelab retries with backoff and diagnoses the node as unreachable")]
async fn unreachable(w: &mut LabWorld) {
    let t = Instant::now();
    let l = live(w);
    let fl = FaultLab::new(&l.lab, &l.state, l.shell.clone());
    let node = l.state.nodes[FaultKind::LinkDown.default_node().min(l.state.nodes.len() - 1)].name.clone();
    let res = fl.wait_ssh(&node, Duration::from_secs(40)).await;
    let (found, ok) = match res {
        Ok(d) => (format!("{node} answered ssh after {:.0} s", d.as_secs_f64()), false),
        Err(e) => (format!("{e}"), true),
    };
    w.verdicts.push(StepVerdict {
        check_id: "ssh.reachable".into(),
        verdict: Verdict {
            outcome: Outcome::Fail {
                expected: format!("{node} answers ssh"),
                found,
                remediation: "the cloud cut the VM's network (guide pitfall 4: JCloud会莫名其妙阻止虚拟机联网，导致SSH挂掉): reboot the VM"
                    .into(),
            },
            evidence: Vec::new(),
        },
        duration: t.elapsed(),
        step_passed: Some(ok),
    });
    assert!(ok, "{node} was expected to be unreachable with its link down");
}

#[then("every node answers ssh again")]
async fn ssh_back(w: &mut LabWorld) {
    settle(w, &[], &["identity.hostnames"], "after the reboot").await;
}
