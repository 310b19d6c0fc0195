//! Fake-tier tests of the runner: recorded bundles for evidence, [`FakeFaults`] for the lab.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::fake::{FakeFaults, bundle};
use super::*;
use crate::config::Profile;
use crate::fault::FaultKind;
use crate::report::{FeatureRef, ReportDir, ReportError, Reporter, RunEvent, RunEventKind, ScenarioRef, TestStatus};

/// Keeps every event it is handed, as it is handed.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<RunEvent>>>);

impl Reporter for Recorder {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.0.lock().unwrap().push(ev.clone());
        Ok(())
    }
}

impl Recorder {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn events(&self) -> Vec<RunEvent> {
        self.0.lock().unwrap().clone()
    }
}

fn header(profile: Profile) -> RunHeader {
    RunHeader { lab: "t".into(), profile, source: "recorded bundle guide-healthy".into() }
}

fn feature(n: &str) -> FeatureRef {
    FeatureRef { name: n.into(), path: format!("features/{n}.feature"), line: 1, tags: vec![] }
}

fn step(text: &str) -> StepRef {
    StepRef { keyword: "Then".into(), text: text.into(), line: 3 }
}

/// One scenario judging `check`; returns after it finished.
fn scenario(run: &Run, f: &str, name: &str, check: &str) {
    run.scenario_started(feature(f), ScenarioRef { name: name.into(), line: 2 }, vec![]).unwrap();
    let j = run.judge(check).expect("known check");
    let status = if j.verdict.is_pass() { TestStatus::Passed } else { TestStatus::Failed { message: j.verdict.to_string() } };
    run.step_finished(&step(check), status.clone(), Duration::ZERO, Some(j.view), None).unwrap();
    run.scenario_finished(status).unwrap();
}

/// Every event reaches the sinks when the run reports it (not assembled at the end), stamped
/// with the time it happened: a scenario that starts 40 ms after another says so.
#[test]
fn events_reach_the_sinks_as_they_happen_with_their_own_time() {
    let rec = Recorder::default();
    let run = Run::new(header(Profile::Guide), bundle("guide-healthy"), Box::new(rec.clone()));
    run.start(vec![]).unwrap();
    assert_eq!(rec.len(), 1, "RunStarted is out at once");
    scenario(&run, "host", "swap is off", "host.swap-off");
    assert_eq!(rec.len(), 4, "started, step, finished: each out when it happened");
    std::thread::sleep(Duration::from_millis(40));
    scenario(&run, "identity", "macs", "identity.unique-macs");
    let sum = run.finish().unwrap();
    assert_eq!(sum, Summary { passed: 2, failed: 0, skipped: 0 });
    let evs = rec.events();
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e.kind {
            RunEventKind::RunStarted { .. } => "run",
            RunEventKind::ScenarioStarted { .. } => "start",
            RunEventKind::StepFinished { .. } => "step",
            RunEventKind::ScenarioFinished { .. } => "end",
            RunEventKind::FeatureFinished { .. } => "feature",
            RunEventKind::RunFinished { .. } => "done",
            RunEventKind::ProvisionStepFinished { .. } => "provision",
        })
        .collect();
    assert_eq!(kinds, ["run", "start", "step", "end", "feature", "start", "step", "end", "feature", "done"]);
    assert!(evs.windows(2).all(|w| w[0].at <= w[1].at), "timestamps in order");
    let starts: Vec<_> = evs.iter().filter(|e| matches!(e.kind, RunEventKind::ScenarioStarted { .. })).map(|e| e.at).collect();
    let gap = (starts[1] - starts[0]).to_std().unwrap();
    assert!(gap >= Duration::from_millis(40), "the second scenario started {gap:?} after the first");
}

/// Offline profile, live lab: a Kubernetes check that cannot be judged says why.
#[test]
fn offline_live_k8s_skip_names_the_profile() {
    let run = Run::new(header(Profile::Offline), bundle("join-token-expired"), Box::new(Recorder::default()))
        .with_faults(Arc::new(FakeFaults::new(Profile::Offline, &["guide-healthy"])));
    let j = run.judge("cluster.nodes-ready").unwrap();
    assert!(j.verdict.to_string().contains("needs the guide profile (internet)"), "{}", j.verdict);
    let recorded = Run::new(header(Profile::Offline), bundle("join-token-expired"), Box::new(Recorder::default()));
    assert!(!recorded.judge("cluster.nodes-ready").unwrap().verdict.to_string().contains("needs the guide profile"));
}

/// The settle loop re-gathers until the fault shows: two healthy answers, then the broken one.
#[tokio::test(start_paused = true)]
async fn settle_polls_fresh_evidence_until_the_fault_shows() {
    let fake = Arc::new(FakeFaults::new(Profile::Guide, &["guide-healthy", "guide-healthy", "bgp-peer-active"]));
    let run = Run::new(header(Profile::Guide), bundle("guide-healthy"), Box::new(Recorder::default())).with_faults(fake.clone());
    let s = run.settle(&["calico.bgp-mesh"], &[], Duration::from_secs(240), Duration::from_secs(3)).await.unwrap();
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(fake.calls().len(), 3, "{:?}", fake.calls());
    assert_eq!(s.elapsed, Duration::from_secs(6), "two polls of 3 s on the paused clock");
    assert!(s.views[0].evidence_source.starts_with("live, gathered for this step at "), "{}", s.views[0].evidence_source);
    // Never settling: the budget ends it, with what did not come out.
    let s = run.settle(&["host.swap-off"], &[], Duration::from_secs(30), Duration::from_secs(3)).await.unwrap();
    assert_eq!(s.failures.len(), 1, "{:?}", s.failures);
    assert!(s.failures[0].starts_with("host.swap-off: wanted fail"), "{:?}", s.failures);
}

fn read_partial(dir: &std::path::Path) -> (quick_junit::Report, Vec<RunEvent>) {
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&junit).unwrap_or_else(|e| panic!("{e}\n{junit}"));
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let events = text.lines().enumerate().map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1))).collect();
    (report, events)
}

/// Interrupted while a fault scenario waits for the fault to show: the fault is healed, the
/// open scenario is reported failed with the reason, and the reports on disk are valid
/// documents of the run so far (JUnit parsed by quick-junit, events.jsonl line by line).
#[tokio::test(start_paused = true)]
async fn interrupt_mid_fault_heals_it_and_leaves_valid_partial_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeFaults::new(Profile::Guide, &["guide-healthy"]));
    let run = Run::new(header(Profile::Guide), bundle("guide-healthy"), Box::new(ReportDir::create(tmp.path()).unwrap()))
        .with_faults(fake.clone());
    run.start(vec![]).unwrap();
    scenario(&run, "host", "swap is off", "host.swap-off");
    run.scenario_started(feature("faults"), ScenarioRef { name: "swap turned back on".into(), line: 9 }, vec![]).unwrap();
    run.inject(FaultKind::Swap).await.unwrap();
    // Healthy evidence forever: the swap fault never shows, the settle loop would poll for 240 s.
    let work = run.settle(&["host.swap-off"], &[], Duration::from_secs(240), Duration::from_secs(3));
    let cut = until_cancelled(&run, work, tokio::time::sleep(Duration::from_secs(10))).await.unwrap_err();
    assert_eq!(cut.healed.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [FaultKind::Swap]);
    assert!(cut.unhealed.is_empty());
    let calls = fake.calls();
    assert_eq!(calls.first().map(String::as_str), Some("inject swap"));
    assert_eq!(calls.last().map(String::as_str), Some("heal swap"), "{calls:?}");
    assert!(run.in_place().is_empty());
    assert_eq!(cut.summary, Summary { passed: 1, failed: 1, skipped: 0 });

    let (report, events) = read_partial(tmp.path());
    assert_eq!((report.tests, report.failures), (2, 1));
    let cut_case = report.test_suites.iter().flat_map(|s| &s.test_cases).find(|c| c.name.as_str() == "swap turned back on").unwrap();
    let quick_junit::TestCaseStatus::NonSuccess { message, .. } = &cut_case.status else { panic!("{:?}", cut_case.status) };
    let message = message.as_ref().map(|m| m.as_str().to_string()).unwrap_or_default();
    assert!(message.contains("interrupted") && message.contains("fault healed: swap"), "{message}");
    assert!(matches!(events.first().map(|e| &e.kind), Some(RunEventKind::RunStarted { .. })));
    assert!(matches!(events.last().map(|e| &e.kind), Some(RunEventKind::FeatureFinished { .. })), "closed, not finished");
    assert!(!events.iter().any(|e| matches!(e.kind, RunEventKind::RunFinished { .. })), "a cut run does not claim to have finished");
}

/// A fault that cannot be healed is named in the message, with the command that heals it.
#[tokio::test(start_paused = true)]
async fn an_unhealable_fault_is_named_with_the_fix() {
    let mut fake = FakeFaults::new(Profile::Guide, &["guide-healthy"]);
    fake.heal_fails = true;
    let run = Run::new(header(Profile::Guide), bundle("guide-healthy"), Box::new(Recorder::default())).with_faults(Arc::new(fake));
    run.start(vec![]).unwrap();
    run.scenario_started(feature("faults"), ScenarioRef { name: "br".into(), line: 9 }, vec![]).unwrap();
    run.inject(FaultKind::BrNetfilter).await.unwrap();
    let cut = until_cancelled(&run, std::future::pending::<()>(), tokio::time::sleep(Duration::from_secs(1))).await.unwrap_err();
    assert_eq!(cut.unhealed.len(), 1);
    let msg = cut.to_string();
    assert!(msg.contains("br-netfilter is STILL IN PLACE") && msg.contains("kubelab fault heal br-netfilter"), "{msg}");
}

/// A run that completes is not touched by the cancel future.
#[tokio::test]
async fn completed_work_is_returned() {
    let run = Run::new(header(Profile::Guide), bundle("guide-healthy"), Box::new(Recorder::default()));
    let r = until_cancelled(&run, async { 7 }, std::future::pending()).await;
    assert_eq!(r.unwrap(), 7);
}
