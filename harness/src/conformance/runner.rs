//! Runs the Gherkin features over one evidence set and feeds the report layer.
//!
//! Scenarios whose checks cannot be judged from the evidence (a `Skip` verdict, e.g. Kubernetes
//! facts in the offline profile) are **not run** by cucumber — nothing claims they passed — and
//! are reported as skipped with the reason. The others run through cucumber-rs, whose steps
//! re-judge the pure checks and fail with expected / found / remediation.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::features::{FeatureDir, RunError};
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{self, GherkinEnv};
use cucumber::tag::Ext as _;
use cucumber::{World as _, WriterExt as _, event, writer};
use futures::FutureExt as _;
use kubelab::checks::{self, Outcome, Verdict};
use kubelab::evidence::Evidence;
use kubelab::report::{
    FactView, FeatureRef, ReportDir, Reporter as _, RunEvent, RunEventKind, ScenarioRef, TerminalSink, TestStatus, VerdictView,
};

use super::world::{CONTEXT, LabWorld, RunContext, StepVerdict};

/// What to run and where to report.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Directory of `.feature` files; `None`: the ones embedded in the binary.
    pub features: Option<PathBuf>,
    /// Cucumber tag expression, e.g. `@host and not @k8s`.
    pub tags: Option<String>,
    /// Only scenarios whose name contains this.
    pub name: Option<String>,
    /// `name` must equal the scenario's name, not merely be contained in it.
    pub exact: bool,
    /// No terminal output (neither cucumber's nor the summary): reports only.
    pub quiet: bool,
    /// Where to write cucumber.json, junit.xml, report.html, events.jsonl.
    pub report_dir: Option<PathBuf>,
    /// Lab name (report header).
    pub lab: String,
    /// Profile (report header).
    pub profile: String,
}

/// Scenario counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passed.
    pub passed: u32,
    /// Failed.
    pub failed: u32,
    /// Skipped (with reasons in the reports).
    pub skipped: u32,
}

struct Planned {
    feature: FeatureRef,
    background: Option<gherkin::Background>,
    scenario: gherkin::Scenario,
    checks: Vec<String>,
    skip: Option<String>,
}

type Key = (String, u32);
/// What cucumber reported per scenario: its step events and its status.
type Results = BTreeMap<Key, (Vec<RunEventKind>, TestStatus)>;

/// Turns a verdict into the report's view, with the facts it read.
pub fn verdict_view(id: &str, v: &Verdict, ev: &Evidence, source: &str) -> VerdictView {
    let summary = checks::spec(id).map(|s| s.summary).unwrap_or("");
    let (outcome, expected, found, remediation) = match &v.outcome {
        Outcome::Pass { summary: s } => ("pass".to_string(), summary.to_string(), s.clone(), None),
        Outcome::Fail { expected, found, remediation } => ("fail".to_string(), expected.clone(), found.clone(), Some(remediation.clone())),
        Outcome::Skip { reason } => (format!("skip: {reason}"), summary.to_string(), "not judged".to_string(), None),
    };
    let facts = v
        .evidence
        .iter()
        .map(|r| {
            let fact = ev.fact(&r.probe, &r.target);
            let out = fact
                .map(|f| if f.output.stdout.is_empty() { f.output.stderr.clone() } else { f.output.stdout.clone() })
                .unwrap_or_default();
            FactView {
                node: r.target.to_string(),
                probe: r.probe.clone(),
                command: fact.map(|f| f.command.clone()).unwrap_or_default(),
                output_excerpt: out.chars().take(4000).collect(),
                origin: r.origin.clone(),
            }
        })
        .collect();
    VerdictView { check_id: id.into(), outcome, expected, found, remediation, evidence_source: source.into(), facts }
}

/// Parses a `--tags` expression.
pub fn parse_tags(expr: &str) -> Result<TagOperation, RunError> {
    expr.parse().map_err(|e| RunError::BadTags { expr: expr.to_string(), message: format!("{e}") })
}

fn plan(opts: &CheckOptions, features: &Path, ev: &Evidence, live: bool) -> Result<Vec<Planned>, RunError> {
    let tag_op: Option<TagOperation> = opts.tags.as_deref().map(parse_tags).transpose()?;
    let unknown = |at: String, what: &'static str, id: &str, known: Vec<&str>| RunError::UnknownId {
        at,
        what,
        id: id.to_string(),
        known: known.join(", "),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(features)
        .map_err(|e| RunError::Features { path: features.display().to_string(), message: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let feat = gherkin::Feature::parse_path(&f, GherkinEnv::default())
            .map_err(|e| RunError::Features { path: f.display().to_string(), message: format!("not valid Gherkin: {e}") })?;
        let fref = FeatureRef {
            name: feat.name.clone(),
            path: format!("features/{}", f.file_name().expect("file").to_string_lossy()),
            line: feat.position.line as u32,
            tags: feat.tags.clone(),
        };
        for sc in &feat.scenarios {
            let tags: Vec<&String> = feat.tags.iter().chain(sc.tags.iter()).collect();
            if let Some(op) = &tag_op
                && !op.eval(tags.iter().map(|t| t.as_str()))
            {
                continue;
            }
            if let Some(n) = &opts.name
                && !(if opts.exact { sc.name == *n } else { sc.name.contains(n.as_str()) })
            {
                continue;
            }
            let checks: Vec<String> = sc.tags.iter().filter_map(|t| t.strip_prefix("check:")).map(str::to_string).collect();
            let faults: Vec<&str> = sc.tags.iter().filter_map(|t| t.strip_prefix("fault:")).collect();
            if let Some(kind) = faults.first() {
                let k = kubelab::fault::FaultKind::from_id(kind).ok_or_else(|| {
                    unknown(
                        format!("{}:{}", fref.path, sc.position.line),
                        "fault",
                        kind,
                        kubelab::fault::ALL.iter().map(|k| k.id()).collect(),
                    )
                })?;
                let profile: kubelab::config::Profile = opts.profile.parse().map_err(|e: String| RunError::Other(anyhow::anyhow!(e)))?;
                let skip = if !live {
                    Some(format!(
                        "needs a live lab: `kubelab check --live` on a provisioned lab with a `provisioned` snapshot (this run judges {})",
                        ev.header.source
                    ))
                } else {
                    k.live_skip(profile).map(str::to_string)
                };
                out.push(Planned {
                    feature: fref.clone(),
                    background: feat.background.clone(),
                    scenario: sc.clone(),
                    checks: Vec::new(),
                    skip,
                });
                continue;
            }
            if checks.is_empty() {
                return Err(RunError::Features {
                    path: format!("{}:{}", fref.path, sc.position.line),
                    message: format!("scenario `{}` has no @check:<id> tag", sc.name),
                });
            }
            let mut reasons = Vec::new();
            let mut fails = false;
            for id in &checks {
                let v = checks::run(id, ev).map_err(|_| {
                    unknown(format!("{}:{}", fref.path, sc.position.line), "check", id, checks::CHECKS.iter().map(|c| c.id).collect())
                })?;
                match v.outcome {
                    Outcome::Skip { reason } => {
                        let k8s_offline_live =
                            opts.profile == "offline" && live && checks::spec(id).is_some_and(|c| c.tier == kubelab::evidence::Tier::K8s);
                        if k8s_offline_live {
                            reasons.push(format!(
                                "{id}: needs the guide profile (internet): Kubernetes is not installed in the offline profile ({reason})"
                            ));
                        } else {
                            reasons.push(format!("{id}: {reason}"));
                        }
                    }
                    Outcome::Fail { .. } => fails = true,
                    Outcome::Pass { .. } => {}
                }
            }
            // A check that fails is a diagnosis: the scenario runs (and fails) even when another
            // of its checks cannot be judged, e.g. no LoadBalancer IP means nothing to probe.
            let skip = (!reasons.is_empty() && !fails).then(|| reasons.join("; "));
            out.push(Planned { feature: fref.clone(), background: feat.background.clone(), scenario: sc.clone(), checks, skip });
        }
    }
    Ok(out)
}

fn step_events(
    background: Option<&gherkin::Background>,
    sc: &gherkin::Scenario,
    verdicts: &[StepVerdict],
    ctx: &RunContext,
    skipped_reason: Option<&str>,
) -> (Vec<RunEventKind>, TestStatus) {
    let mut evs = Vec::new();
    let mut status = TestStatus::Passed;
    let steps = background.map(|b| b.steps.as_slice()).unwrap_or_default().iter().chain(sc.steps.iter());
    for (i, st) in steps.enumerate() {
        let (s, verdict, dur) = match (verdicts.get(i), skipped_reason) {
            (_, Some(r)) => (TestStatus::Skipped { reason: r.to_string() }, None, Duration::ZERO),
            (Some(v), None) => {
                let view = verdict_view(&v.check_id, &v.verdict, &ctx.evidence, &ctx.source);
                let s = match (&v.verdict.outcome, v.step_passed) {
                    (_, Some(true)) => TestStatus::Passed,
                    (Outcome::Fail { expected, found, .. }, Some(false)) => {
                        TestStatus::Failed { message: format!("{}: expected {expected}; found {found}", v.check_id) }
                    }
                    (Outcome::Pass { summary }, Some(false)) => {
                        TestStatus::Failed { message: format!("{}: expected a failure, found a pass ({summary})", v.check_id) }
                    }
                    (Outcome::Skip { reason }, Some(false)) => {
                        TestStatus::Failed { message: format!("{}: could not be judged: {reason}", v.check_id) }
                    }
                    (Outcome::Pass { .. }, None) => TestStatus::Passed,
                    (Outcome::Fail { expected, found, .. }, None) => {
                        TestStatus::Failed { message: format!("{}: expected {expected}; found {found}", v.check_id) }
                    }
                    (Outcome::Skip { reason }, None) => TestStatus::Skipped { reason: reason.clone() },
                };
                (s, Some(view), v.duration)
            }
            (None, None) => (TestStatus::Skipped { reason: "not run: a previous step failed".into() }, None, Duration::ZERO),
        };
        if matches!(s, TestStatus::Failed { .. }) && matches!(status, TestStatus::Passed) {
            status = s.clone();
        }
        evs.push(RunEventKind::StepFinished {
            keyword: st.keyword.trim().to_string(),
            text: st.value.clone(),
            line: st.position.line as u32,
            status: s,
            duration: dur,
            verdict,
        });
    }
    if let Some(r) = skipped_reason {
        status = TestStatus::Skipped { reason: r.to_string() };
    }
    (evs, status)
}

/// Runs the selected scenarios over `ev` (gathered live or loaded from a bundle).
/// `extra` events (e.g. the provisioning timeline) go into the reports after `RunStarted`.
pub async fn run(
    ev: Evidence,
    source: String,
    opts: &CheckOptions,
    extra: Vec<RunEvent>,
    live: Option<super::world::LiveLab>,
) -> Result<Summary, RunError> {
    let t0 = Instant::now();
    let features = FeatureDir::resolve(opts.features.as_deref())?;
    let gaps = kubelab::checks::evidence_gaps(&ev);
    let planned = plan(opts, features.path(), &ev, live.is_some())?;
    let ctx = Arc::new(RunContext { evidence: ev, source: source.clone(), live });
    *CONTEXT.lock().expect("poisoned") = Some(ctx.clone());
    let to_run: Arc<HashSet<Key>> =
        Arc::new(planned.iter().filter(|p| p.skip.is_none()).map(|p| (p.feature.path.clone(), p.scenario.position.line as u32)).collect());
    let results: Arc<Mutex<Results>> = Default::default();
    if !to_run.is_empty() {
        let (res, ctx2, filter_set) = (results.clone(), ctx.clone(), to_run.clone());
        let base = features.path().to_path_buf();
        let key_of = |f: &gherkin::Feature, s: &gherkin::Scenario| -> Key {
            let file = f.path.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (format!("features/{file}"), s.position.line as u32)
        };
        let out: Box<dyn std::io::Write> = if opts.quiet { Box::new(std::io::sink()) } else { Box::new(std::io::stdout()) };
        let cuke = LabWorld::cucumber()
            .with_writer(writer::Basic::new(out, writer::Coloring::Auto, writer::Verbosity::Default).summarized())
            .with_default_cli()
            .max_concurrent_scenarios(1)
            .fail_on_skipped()
            .before(|_f, _r, sc, w| {
                w.allowed = sc.tags.iter().filter_map(|t| t.strip_prefix("check:")).map(str::to_string).collect();
                w.fault = sc.tags.iter().find_map(|t| t.strip_prefix("fault:")).and_then(kubelab::fault::FaultKind::from_id);
                async {}.boxed_local()
            })
            .after(move |f, _r, sc, finished, w| {
                let key = key_of(f, sc);
                let verdicts = w.map(|w| w.verdicts.clone()).unwrap_or_default();
                let (mut evs, mut status) = step_events(f.background.as_ref(), sc, &verdicts, &ctx2, None);
                if !matches!(finished, event::ScenarioFinished::StepPassed) && matches!(status, TestStatus::Passed) {
                    status = TestStatus::Failed { message: format!("cucumber: {finished:?}") };
                }
                evs.shrink_to_fit();
                res.lock().expect("poisoned").insert(key, (evs, status));
                async {}.boxed_local()
            });
        cuke.filter_run(base, move |f, _r, s| filter_set.contains(&key_of(f, s))).await;
    }
    // Assemble the event stream in feature order.
    let mut events = vec![RunEvent::now(RunEventKind::RunStarted {
        lab: opts.lab.clone(),
        profile: opts.profile.clone(),
        evidence_source: source.clone(),
        started_at: chrono::Utc::now(),
        gaps,
    })];
    events.extend(extra);
    let mut sum = Summary::default();
    let results = results.lock().expect("poisoned");
    let mut i = 0;
    while i < planned.len() {
        let feature = planned[i].feature.clone();
        while i < planned.len() && planned[i].feature == feature {
            let p = &planned[i];
            let key = (p.feature.path.clone(), p.scenario.position.line as u32);
            events.push(RunEvent::now(RunEventKind::ScenarioStarted {
                feature: feature.clone(),
                scenario: ScenarioRef { name: p.scenario.name.clone(), line: p.scenario.position.line as u32 },
                tags: p.feature.tags.iter().chain(p.scenario.tags.iter()).cloned().collect(),
            }));
            let (evs, status) = match (&p.skip, results.get(&key)) {
                (Some(reason), _) => step_events(p.background.as_ref(), &p.scenario, &[], &ctx, Some(reason)),
                (None, Some(r)) => r.clone(),
                (None, None) => (Vec::new(), TestStatus::Failed { message: "cucumber did not run this scenario".into() }),
            };
            match status {
                TestStatus::Passed => sum.passed += 1,
                TestStatus::Failed { .. } => sum.failed += 1,
                TestStatus::Skipped { .. } => sum.skipped += 1,
            }
            events.extend(evs.into_iter().map(RunEvent::now));
            events.push(RunEvent::now(RunEventKind::ScenarioFinished { status }));
            let _ = &p.checks;
            i += 1;
        }
        events.push(RunEvent::now(RunEventKind::FeatureFinished { feature }));
    }
    events.push(RunEvent::now(RunEventKind::RunFinished {
        passed: sum.passed,
        failed: sum.failed,
        skipped: sum.skipped,
        duration: t0.elapsed(),
    }));
    let mut term = TerminalSink::stdout();
    let mut dir = match &opts.report_dir {
        Some(d) => Some(ReportDir::create(d.clone())?),
        None => None,
    };
    for e in &events {
        if !opts.quiet {
            term.handle(e)?;
        }
        if let Some(d) = dir.as_mut() {
            d.handle(e)?;
        }
    }
    if let Some(mut d) = dir {
        d.finish()?;
    }
    Ok(sum)
}
