//! [`LabWorld`]: one scenario's state. Its [`Run`] is injected by the `before` hook (a closure
//! holding the run), so no global holds the run context; every step reports through it as it
//! finishes, and the `after` hook closes the scenario with the status its steps earned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cucumber::event::ScenarioFinished;
use cucumber::gherkin;
use kubelab::checks::Outcome;
use kubelab::fault::FaultKind;
use kubelab::report::{FeatureRef, ScenarioRef, TestStatus, VerdictView};
use kubelab::runner::{Run, StepRef};

/// The World of a scenario.
#[derive(Debug, Default, cucumber::World)]
pub struct LabWorld {
    run: Option<Arc<Run>>,
    /// Check ids allowed by the scenario's `@check:` tags.
    allowed: Vec<String>,
    /// The fault of a `@fault:<kind>` scenario.
    pub fault: Option<FaultKind>,
    steps: Vec<StepRef>,
    done: usize,
    failed: Option<String>,
    skips: Vec<String>,
    /// The scenario cannot run here (e.g. a fault scenario without a live lab): every step is
    /// reported skipped with this reason and does nothing.
    pub cannot_run: Option<String>,
}

/// The feature as the reports name it (`features/<file>`).
pub fn feature_ref(f: &gherkin::Feature) -> FeatureRef {
    let file = f.path.as_deref().and_then(std::path::Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    FeatureRef { name: f.name.clone(), path: format!("features/{file}"), line: f.position.line as u32, tags: f.tags.clone() }
}

/// The fault a scenario injects: its `@fault:<kind>` tag, or the `fault` column of its
/// Examples row (a Scenario Outline). `Some(Err(id))`: no such fault.
pub fn scenario_fault(sc: &gherkin::Scenario) -> Vec<Result<FaultKind, String>> {
    let by_id = |id: &str| FaultKind::from_id(id).ok_or_else(|| id.to_string());
    let mut out: Vec<_> = sc.tags.iter().filter_map(|t| t.strip_prefix("fault:")).map(by_id).collect();
    for ex in &sc.examples {
        let Some((head, rows)) = ex.table.as_ref().and_then(|t| t.rows.split_first()) else { continue };
        if let Some(col) = head.iter().position(|h| h == "fault") {
            out.extend(rows.iter().filter_map(|r| r.get(col)).map(|id| by_id(id)));
        }
    }
    out
}

fn step_ref(s: &gherkin::Step) -> StepRef {
    StepRef { keyword: s.keyword.trim().to_string(), text: s.value.clone(), line: s.position.line as u32 }
}

impl LabWorld {
    /// The run (injected before the first step).
    pub fn run(&self) -> &Arc<Run> {
        self.run.as_ref().expect("the before hook injects the run")
    }

    /// Called by the `before` hook: injects `run`, reads the scenario's tags and steps, and
    /// reports the scenario started.
    pub fn enter(&mut self, run: Arc<Run>, f: &gherkin::Feature, sc: &gherkin::Scenario) {
        self.allowed = sc.tags.iter().filter_map(|t| t.strip_prefix("check:")).map(str::to_string).collect();
        self.fault = scenario_fault(sc).into_iter().find_map(Result::ok);
        self.steps = f.background.iter().flat_map(|b| b.steps.iter()).chain(sc.steps.iter()).map(step_ref).collect();
        if let Some(k) = self.fault {
            self.cannot_run = match run.faults() {
                None => Some(format!(
                    "needs a live lab: `kubelab check` on a provisioned lab with a `provisioned` snapshot (this run judges {})",
                    run.header().source
                )),
                Some(d) => k.live_skip(d.profile()).map(str::to_string),
            };
        }
        let tags = f.tags.iter().chain(sc.tags.iter()).cloned().collect();
        let scenario = ScenarioRef { name: sc.name.clone(), line: sc.position.line as u32 };
        run.scenario_started(feature_ref(f), scenario, tags).unwrap_or_else(|e| panic!("report: {e}"));
        self.run = Some(run);
    }

    /// Reports the current step finished now.
    pub fn record(&mut self, status: TestStatus, duration: Duration, verdict: Option<VerdictView>, note: Option<String>) {
        let step = self.steps.get(self.done).cloned().unwrap_or(StepRef { keyword: "?".into(), text: "?".into(), line: 0 });
        self.done += 1;
        match &status {
            TestStatus::Failed { message } => {
                self.failed.get_or_insert_with(|| message.clone());
            }
            TestStatus::Skipped { reason } if !self.skips.contains(reason) => self.skips.push(reason.clone()),
            _ => {}
        }
        self.run().step_finished(&step, status, duration, verdict, note).unwrap_or_else(|e| panic!("report: {e}"));
    }

    /// Reports the step skipped when the scenario cannot run here; true when it was.
    pub fn skipped_here(&mut self) -> bool {
        let Some(r) = self.cannot_run.clone() else { return false };
        self.record(TestStatus::Skipped { reason: r }, Duration::ZERO, None, None);
        true
    }

    /// Judges check `id` over the run's evidence and reports the step: a Pass passes, a Skip
    /// is reported skipped with its reason (the scenario goes on: a later failure is still a
    /// diagnosis), a Fail fails the step with expected / found / remediation.
    pub fn judge(&mut self, id: &str) {
        if self.skipped_here() {
            return;
        }
        assert!(
            self.allowed.iter().any(|a| a == id),
            "step judges `{id}` but the scenario's @check tags are {:?}: fix the feature file",
            self.allowed
        );
        let t = Instant::now();
        let j = self.run().judge(id).unwrap_or_else(|| panic!("unknown check `{id}`"));
        let source = self.run().header().source.clone();
        match j.verdict.outcome {
            Outcome::Pass { .. } => self.record(TestStatus::Passed, t.elapsed(), Some(j.view), None),
            Outcome::Skip { reason } => {
                self.record(TestStatus::Skipped { reason: format!("{id}: {reason}") }, t.elapsed(), Some(j.view), None)
            }
            Outcome::Fail { expected, found, remediation } => {
                let message = format!("{id}: expected {expected}; found {found}");
                self.record(TestStatus::Failed { message }, t.elapsed(), Some(j.view), None);
                panic!("{id} failed ({source})\n  expected: {expected}\n  found:    {found}\n  fix:      {remediation}")
            }
        }
    }

    /// Reports an action step (revert, inject, heal) with what it did; an error fails it.
    pub fn acted(&mut self, t: Instant, r: Result<String, kubelab::runner::RunnerError>) {
        match r {
            Ok(did) => self.record(TestStatus::Passed, t.elapsed(), None, Some(did)),
            Err(e) => {
                let message = e.to_string();
                self.record(TestStatus::Failed { message: message.clone() }, t.elapsed(), None, None);
                panic!("{message}");
            }
        }
    }

    /// Reports a step that judged checks over fresh evidence: `failures` empty passes it.
    pub fn judged(&mut self, t: Instant, view: Option<VerdictView>, note: String, failures: Vec<String>) {
        if failures.is_empty() {
            self.record(TestStatus::Passed, t.elapsed(), view, Some(note));
        } else {
            let message = failures.join("; ");
            self.record(TestStatus::Failed { message: message.clone() }, t.elapsed(), view, Some(note));
            panic!("{message}");
        }
    }

    /// Called by the `after` hook: reports the step cucumber failed or could not match (when
    /// the step itself could not), the steps that did not run, and the scenario's status.
    pub fn leave(&mut self, finished: &ScenarioFinished) {
        match finished {
            ScenarioFinished::StepFailed(_, _, err) if self.failed.is_none() => {
                self.record(TestStatus::Failed { message: format!("step failed: {err}") }, Duration::ZERO, None, None);
            }
            // `fail_on_skipped`: a step no definition matches fails the scenario.
            ScenarioFinished::StepSkipped => {
                let text = self.steps.get(self.done).map(|s| s.text.clone()).unwrap_or_default();
                self.record(
                    TestStatus::Failed { message: format!("no step definition matches `{text}`: add one or fix the feature file") },
                    Duration::ZERO,
                    None,
                    None,
                );
            }
            ScenarioFinished::BeforeHookFailed(info) => {
                self.failed.get_or_insert_with(|| format!("before hook failed: {info:?}"));
            }
            _ => {}
        }
        if self.failed.is_none() && self.done < self.steps.len() && matches!(finished, ScenarioFinished::StepPassed) {
            self.failed = Some(format!("step `{}` passed without reporting: a step adapter bug", self.steps[self.done].text));
        }
        while self.done < self.steps.len() {
            self.record(TestStatus::Skipped { reason: "not run: a previous step failed".into() }, Duration::ZERO, None, None);
        }
        let status = match (&self.failed, &self.cannot_run) {
            (Some(m), _) => TestStatus::Failed { message: m.clone() },
            (None, Some(r)) => TestStatus::Skipped { reason: r.clone() },
            (None, None) if !self.skips.is_empty() => TestStatus::Skipped { reason: self.skips.join("; ") },
            _ => TestStatus::Passed,
        };
        self.run().scenario_finished(status).unwrap_or_else(|e| panic!("report: {e}"));
    }
}
