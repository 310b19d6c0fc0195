//! Steps of `features/faults.feature`: thin adapters over the run's fault driver — inject a
//! pitfall on the live lab, verify the checks its row names break with the fix it quotes
//! (fresh evidence, polled while the fault takes effect), heal it the guide's way, judge again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use kubelab::checks::Outcome;
use kubelab::fault::FaultKind;
use kubelab::runner::Settled;

use crate::conformance::world::LabWorld;

/// How long a fault (or its healing) may take to show, e.g. BGP hold timers.
const SETTLE: Duration = Duration::from_secs(240);
/// How often a settling check re-gathers.
const POLL: Duration = Duration::from_secs(3);

fn kind(w: &LabWorld, id: &str) -> FaultKind {
    let k = FaultKind::from_id(id).unwrap_or_else(|| panic!("unknown fault `{id}`"));
    assert_eq!(w.fault, Some(k), "step names fault `{id}` but the scenario's fault is {:?}", w.fault.map(|f| f.id()));
    k
}

fn list(s: &str) -> BTreeSet<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty() && *x != "nothing").map(str::to_string).collect()
}

/// The row's `breaks` / `keeps` columns must be what kubelab knows the fault to break / keep.
fn declared(w: &mut LabWorld, breaks: &str, keeps: &str) -> FaultKind {
    let k = w.fault.expect("a fault scenario");
    let (want_b, want_k) = (list(breaks), list(keeps));
    let (has_b, has_k): (BTreeSet<String>, BTreeSet<String>) =
        (k.checks().iter().map(|s| s.to_string()).collect(), k.still_passing().iter().map(|s| s.to_string()).collect());
    if want_b != has_b || want_k != has_k {
        let message = format!(
            "the row says {} breaks {want_b:?} and keeps {want_k:?} passing; kubelab's fault breaks {has_b:?} and keeps {has_k:?}: fix the Examples row",
            k.id()
        );
        w.record(kubelab::report::TestStatus::Failed { message: message.clone() }, Duration::ZERO, None, None);
        panic!("{message}");
    }
    k
}

async fn settle(w: &LabWorld, want_fail: &[&str], want_pass: &[&str]) -> Settled {
    w.run().settle(want_fail, want_pass, SETTLE, POLL).await.unwrap_or_else(|e| panic!("gather live evidence: {e}"))
}

/// Reports a settled step: the first verdict is the step's, every verdict is in its note.
fn report(w: &mut LabWorld, t: Instant, s: Settled, mut failures: Vec<String>) {
    failures.splice(0..0, s.failures.iter().cloned());
    let note = format!(
        "after {:.0} s: {}",
        s.elapsed.as_secs_f64(),
        s.verdicts.iter().map(|(id, v)| format!("{id}: {v}")).collect::<Vec<_>>().join(" | ")
    );
    let view = s.views.first().cloned();
    w.judged(t, view, note, failures);
}

async fn breaks(w: &mut LabWorld, breaks: String, keeps: String, fix: String) {
    let k = declared(w, &breaks, &keeps);
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let s = settle(w, k.checks(), k.still_passing()).await;
    let quoted = s.verdicts.iter().any(|(_, v)| matches!(&v.outcome, Outcome::Fail { remediation, .. } if remediation.contains(&fix)));
    let extra = if quoted || s.verdicts.is_empty() { vec![] } else { vec![format!("no diagnosis of {} quotes the fix `{fix}`", k.id())] };
    report(w, t, s, extra);
}

#[given(expr = "the lab is reset to the {string} snapshot")]
async fn reset(w: &mut LabWorld, name: String) {
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let run = w.run().clone();
    let r = run.faults().expect("live").revert(&name).await;
    w.acted(t, r);
}

#[when(expr = "the {string} fault is injected")]
async fn inject(w: &mut LabWorld, id: String) {
    let k = kind(w, &id);
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let run = w.run().clone();
    let r = run.inject(k).await.map(|d| format!("{d} (guide: {})", k.pitfall()));
    w.acted(t, r);
}

#[then(regex = r#"^it breaks ([\w.-]+(?:, [\w.-]+)*) with a fix that quotes "(.+)"$"#)]
async fn it_breaks(w: &mut LabWorld, checks: String, fix: String) {
    breaks(w, checks, String::new(), fix).await;
}

#[then(regex = r#"^it breaks ([\w.-]+(?:, [\w.-]+)*), keeps (nothing|[\w.-]+(?:, [\w.-]+)*) passing, with a fix that quotes "(.+)"$"#)]
async fn it_breaks_keeps(w: &mut LabWorld, checks: String, keeps: String, fix: String) {
    breaks(w, checks, keeps, fix).await;
}

#[when(expr = "the {string} fault is healed the guide's way")]
async fn heal(w: &mut LabWorld, id: String) {
    let k = kind(w, &id);
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let run = w.run().clone();
    let r = run.heal(k).await;
    w.acted(t, r);
}

#[then("those checks pass again")]
async fn pass_again(w: &mut LabWorld) {
    if w.skipped_here() {
        return;
    }
    let k = w.fault.expect("a fault scenario");
    let all: Vec<&str> = k.checks().iter().chain(k.still_passing()).copied().collect();
    let t = Instant::now();
    let s = settle(w, &[], &all).await;
    report(w, t, s, vec![]);
}

#[then("the BGP mesh is Established")]
async fn mesh_up(w: &mut LabWorld) {
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let s = settle(w, &[], &["calico.bgp-mesh", "calico.ipip-traffic"]).await;
    report(w, t, s, vec![]);
}

#[then("kubelab retries with backoff and diagnoses the node as unreachable")]
async fn unreachable(w: &mut LabWorld) {
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let run = w.run().clone();
    let driver = run.faults().expect("live");
    let nodes = driver.nodes();
    let node = nodes[FaultKind::LinkDown.default_node().min(nodes.len() - 1)].clone();
    let (note, failures) = match driver.wait_ssh(&node, Duration::from_secs(40)).await {
        Ok(d) => (
            format!("{node} answered ssh after {:.0} s", d.as_secs_f64()),
            vec![format!("{node} was expected to be unreachable with its link down")],
        ),
        Err(e) => (format!("diagnosed: {e} (guide pitfall 4: {})", FaultKind::LinkDown.pitfall()), vec![]),
    };
    w.judged(t, None, note, failures);
}

#[then("every node answers ssh again")]
async fn ssh_back(w: &mut LabWorld) {
    if w.skipped_here() {
        return;
    }
    let t = Instant::now();
    let s = settle(w, &[], &["identity.hostnames"]).await;
    report(w, t, s, vec![]);
}
