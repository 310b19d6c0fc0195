//! [`Run`]: the event stream of one run, emitted as it happens, and judging over its evidence.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::checks::{self, Outcome, Verdict};
use crate::config::Profile;
use crate::evidence::{Evidence, Tier};
use crate::fault::FaultKind;
use crate::report::{FactView, FeatureRef, Reporter, RunEvent, RunEventKind, ScenarioRef, TestStatus, VerdictView};

use super::RunnerError;
use super::faults::FaultDriver;

/// What the reports' header says of the run.
#[derive(Clone, Debug)]
pub struct RunHeader {
    /// Lab name.
    pub lab: String,
    /// Profile judged.
    pub profile: Profile,
    /// Where the evidence came from (for every verdict).
    pub source: String,
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

#[derive(Default)]
struct Progress {
    started: bool,
    feature: Option<FeatureRef>,
    scenario_open: bool,
    summary: Summary,
    closed: bool,
    injected: Vec<FaultKind>,
}

/// One run: the evidence it judges, the live lab's faults when it has one, and the sinks its
/// events go to as they happen. Shared by the scenario steps (`Arc<Run>`); scenarios run one at
/// a time.
pub struct Run {
    header: RunHeader,
    evidence: Evidence,
    faults: Option<Arc<dyn FaultDriver>>,
    sinks: Mutex<Box<dyn Reporter + Send>>,
    progress: Mutex<Progress>,
    t0: Instant,
}

/// A check judged by the run: its verdict and the report's view of it.
#[derive(Clone, Debug)]
pub struct Judged {
    /// The verdict.
    pub verdict: Verdict,
    /// What the reports show.
    pub view: VerdictView,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Run({}, {})", self.header.lab, self.header.source)
    }
}

impl Run {
    /// A run judging `evidence`, reporting to `sinks`.
    pub fn new(header: RunHeader, evidence: Evidence, sinks: Box<dyn Reporter + Send>) -> Self {
        Run { header, evidence, faults: None, sinks: Mutex::new(sinks), progress: Default::default(), t0: Instant::now() }
    }

    /// The live lab the fault scenarios act on.
    pub fn with_faults(mut self, driver: Arc<dyn FaultDriver>) -> Self {
        self.faults = Some(driver);
        self
    }

    /// The header.
    pub fn header(&self) -> &RunHeader {
        &self.header
    }

    /// The evidence judged by the check scenarios.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// The live lab's faults, `None` when the run judges recorded or inventory evidence.
    pub fn faults(&self) -> Option<&Arc<dyn FaultDriver>> {
        self.faults.as_ref()
    }

    fn emit(&self, kind: RunEventKind) -> Result<(), RunnerError> {
        let ev = RunEvent::now(kind);
        self.sinks.lock().expect("poisoned").handle(&ev)?;
        Ok(())
    }

    /// `RunStarted`, then `extra` (e.g. the provisioning timeline, with its own timestamps).
    pub fn start(&self, extra: Vec<RunEvent>) -> Result<(), RunnerError> {
        self.progress.lock().expect("poisoned").started = true;
        self.emit(RunEventKind::RunStarted {
            lab: self.header.lab.clone(),
            profile: self.header.profile.as_str().into(),
            evidence_source: self.header.source.clone(),
            started_at: chrono::Utc::now(),
            gaps: checks::evidence_gaps(&self.evidence),
        })?;
        let mut sinks = self.sinks.lock().expect("poisoned");
        for e in &extra {
            sinks.handle(e)?;
        }
        Ok(())
    }

    /// A scenario starts now (closing the previous feature when this one is another).
    pub fn scenario_started(&self, feature: FeatureRef, scenario: ScenarioRef, tags: Vec<String>) -> Result<(), RunnerError> {
        let prev = {
            let mut p = self.progress.lock().expect("poisoned");
            p.scenario_open = true;
            if p.feature.as_ref() == Some(&feature) { None } else { p.feature.replace(feature.clone()) }
        };
        if let Some(f) = prev {
            self.emit(RunEventKind::FeatureFinished { feature: f })?;
        }
        self.emit(RunEventKind::ScenarioStarted { feature, scenario, tags })
    }

    /// A step finished now.
    pub fn step_finished(
        &self,
        step: &StepRef,
        status: TestStatus,
        duration: std::time::Duration,
        verdict: Option<VerdictView>,
        note: Option<String>,
    ) -> Result<(), RunnerError> {
        self.emit(RunEventKind::StepFinished {
            keyword: step.keyword.clone(),
            text: step.text.clone(),
            line: step.line,
            status,
            duration,
            verdict,
            note,
        })
    }

    /// The open scenario finished now with `status`; the reports on disk are rewritten.
    pub fn scenario_finished(&self, status: TestStatus) -> Result<(), RunnerError> {
        {
            let mut p = self.progress.lock().expect("poisoned");
            p.scenario_open = false;
            match status {
                TestStatus::Passed => p.summary.passed += 1,
                TestStatus::Failed { .. } => p.summary.failed += 1,
                TestStatus::Skipped { .. } => p.summary.skipped += 1,
            }
        }
        self.emit(RunEventKind::ScenarioFinished { status })
    }

    /// The run finished: closes the last feature, `RunFinished`, and the sinks.
    pub fn finish(&self) -> Result<Summary, RunnerError> {
        let (feature, summary) = {
            let mut p = self.progress.lock().expect("poisoned");
            p.closed = true;
            (p.feature.take(), p.summary)
        };
        if let Some(f) = feature {
            self.emit(RunEventKind::FeatureFinished { feature: f })?;
        }
        self.emit(RunEventKind::RunFinished {
            passed: summary.passed,
            failed: summary.failed,
            skipped: summary.skipped,
            duration: self.t0.elapsed(),
        })?;
        self.sinks.lock().expect("poisoned").finish()?;
        Ok(summary)
    }

    /// The run was cut short (`why`): the open scenario fails with `why`, the feature closes,
    /// and the sinks render what they have. No `RunFinished`: the reports show a cut run.
    pub fn close_interrupted(&self, why: &str) -> Result<Summary, RunnerError> {
        let (open, feature) = {
            let mut p = self.progress.lock().expect("poisoned");
            if p.closed {
                return Ok(p.summary);
            }
            p.closed = true;
            (p.scenario_open, p.feature.take())
        };
        if open {
            self.scenario_finished(TestStatus::Failed { message: why.to_string() })?;
        }
        if let Some(f) = feature {
            self.emit(RunEventKind::FeatureFinished { feature: f })?;
        }
        self.sinks.lock().expect("poisoned").finish()?;
        Ok(self.progress.lock().expect("poisoned").summary)
    }

    /// Judges check `id` over the run's evidence. A Skip of a Kubernetes check in the offline
    /// profile on a live lab says why (Kubernetes is not installed there). `None`: no such check.
    pub fn judge(&self, id: &str) -> Option<Judged> {
        self.judge_over(id, &self.evidence, &self.header.source)
    }

    /// Judges check `id` over `ev`, evidence from `source` (fresh evidence of a fault scenario).
    pub fn judge_over(&self, id: &str, ev: &Evidence, source: &str) -> Option<Judged> {
        let mut verdict = checks::run(id, ev).ok()?;
        if let Outcome::Skip { reason } = &mut verdict.outcome
            && self.header.profile == Profile::Offline
            && self.faults.is_some()
            && checks::spec(id).is_some_and(|c| c.tier == Tier::K8s)
        {
            *reason = format!("needs the guide profile (internet): Kubernetes is not installed in the offline profile ({reason})");
        }
        let view = verdict_view(id, &verdict, ev, source);
        Some(Judged { verdict, view })
    }

    /// Records that `kind` is in place (healed by [`Run::heal_injected`] if the run is cut).
    pub(super) fn injected(&self, kind: FaultKind) {
        self.progress.lock().expect("poisoned").injected.push(kind);
    }

    /// Records that `kind` was healed.
    pub(super) fn healed(&self, kind: FaultKind) {
        self.progress.lock().expect("poisoned").injected.retain(|k| *k != kind);
    }

    /// The faults this run injected and has not healed.
    pub fn in_place(&self) -> Vec<FaultKind> {
        self.progress.lock().expect("poisoned").injected.clone()
    }
}

/// Keyword, text and line of a Gherkin step, as the reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRef {
    /// `Given`, `When`, `Then`, …
    pub keyword: String,
    /// The step's text.
    pub text: String,
    /// Line in the feature file.
    pub line: u32,
}

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
