//! [`RunRecord`]: the run as a tree (features → scenarios → steps, plus the provisioning
//! timeline), folded from [`RunEvent`]s. The file formats (JUnit, Cucumber JSON, HTML) are
//! rendered from it once the run has finished.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::ReportError;
use super::events::{FeatureRef, ProvisionStatus, RunEvent, RunEventKind, ScenarioRef, TestStatus, VerdictView};

/// Reason given to a scenario that never received its `ScenarioFinished`.
pub const UNFINISHED_REASON: &str = "the run ended before this scenario finished";

/// Header facts of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// Lab name.
    pub lab: String,
    /// Profile name.
    pub profile: String,
    /// Where the evidence came from.
    pub evidence_source: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Evidence that could not be fetched or read (see `RunStarted::gaps`).
    pub gaps: Vec<String>,
}

/// The runner's own totals from `RunFinished`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunnerTotals {
    /// Scenarios passed.
    pub passed: u32,
    /// Scenarios failed.
    pub failed: u32,
    /// Scenarios skipped.
    pub skipped: u32,
    /// Wall time.
    pub duration: Duration,
}

/// Scenario counts recomputed from the recorded scenarios.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Scenarios passed.
    pub passed: u32,
    /// Scenarios failed.
    pub failed: u32,
    /// Scenarios skipped.
    pub skipped: u32,
}

impl Counts {
    /// All scenarios.
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.skipped
    }

    fn add(&mut self, status: &TestStatus) {
        match status {
            TestStatus::Passed => self.passed += 1,
            TestStatus::Failed { .. } => self.failed += 1,
            TestStatus::Skipped { .. } => self.skipped += 1,
        }
    }
}

/// One provisioning step on one node.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionRecord {
    /// Step id.
    pub step_id: String,
    /// Node name.
    pub node: String,
    /// Outcome.
    pub status: ProvisionStatus,
    /// Duration.
    pub duration: Duration,
    /// Log tail.
    pub log_excerpt: String,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

/// One finished step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Keyword without trailing space.
    pub keyword: String,
    /// Step text.
    pub text: String,
    /// Line in the feature file (0 when unknown).
    pub line: u32,
    /// Outcome.
    pub status: TestStatus,
    /// Duration.
    pub duration: Duration,
    /// The verdict behind it.
    pub verdict: Option<VerdictView>,
    /// What an action step did.
    pub note: Option<String>,
}

/// One scenario and its steps.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRecord {
    /// Name and line.
    pub scenario: ScenarioRef,
    /// Tags without `@`.
    pub tags: Vec<String>,
    /// Finished steps, in order.
    pub steps: Vec<StepRecord>,
    /// Status from `ScenarioFinished` (None while running or if it never came).
    pub status: Option<TestStatus>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl ScenarioRecord {
    /// The status to report: the runner's, or skipped with [`UNFINISHED_REASON`].
    pub fn effective_status(&self) -> TestStatus {
        self.status.clone().unwrap_or_else(|| TestStatus::Skipped { reason: UNFINISHED_REASON.to_string() })
    }

    /// Wall time between start and finish; the sum of step durations when the run never
    /// finished the scenario or the clock went backwards.
    pub fn duration(&self) -> Duration {
        let steps: Duration = self.steps.iter().map(|s| s.duration).sum();
        match self.finished_at.map(|f| (f - self.started_at).to_std()) {
            Some(Ok(wall)) if wall >= steps => wall,
            _ => steps,
        }
    }
}

/// One feature and its scenarios.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureRecord {
    /// Name, path, line, tags.
    pub feature: FeatureRef,
    /// Scenarios in the order they ran.
    pub scenarios: Vec<ScenarioRecord>,
    /// When its first scenario started.
    pub started_at: DateTime<Utc>,
}

impl FeatureRecord {
    /// Scenario counts of this feature.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.scenarios {
            c.add(&s.effective_status());
        }
        c
    }

    /// Sum of scenario durations.
    pub fn duration(&self) -> Duration {
        self.scenarios.iter().map(ScenarioRecord::duration).sum()
    }
}

/// The whole run, folded from events. Build with [`RunRecord::apply`] or [`RunRecord::from_events`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRecord {
    /// From `RunStarted` (None if it never came).
    pub info: Option<RunInfo>,
    /// Provisioning timeline in arrival order.
    pub provisioning: Vec<ProvisionRecord>,
    /// Features in the order their first scenario started.
    pub features: Vec<FeatureRecord>,
    /// From `RunFinished` (None while running or if the run was cut short).
    pub runner_totals: Option<RunnerTotals>,
    /// Time of the last event seen.
    pub last_event_at: Option<DateTime<Utc>>,
    open: Option<(usize, usize)>,
}

impl RunRecord {
    /// Folds a whole event stream.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Result<Self, ReportError> {
        let mut r = RunRecord::default();
        for ev in events {
            r.apply(ev)?;
        }
        Ok(r)
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.last_event_at = Some(ev.at);
        match &ev.kind {
            RunEventKind::RunStarted { lab, profile, evidence_source, started_at, gaps } => {
                self.info = Some(RunInfo {
                    lab: lab.clone(),
                    profile: profile.clone(),
                    evidence_source: evidence_source.clone(),
                    started_at: *started_at,
                    gaps: gaps.clone(),
                });
            }
            RunEventKind::ProvisionStepFinished { step_id, node, status, duration, log_excerpt } => {
                self.provisioning.push(ProvisionRecord {
                    step_id: step_id.clone(),
                    node: node.clone(),
                    status: status.clone(),
                    duration: *duration,
                    log_excerpt: log_excerpt.clone(),
                    finished_at: ev.at,
                });
            }
            RunEventKind::ScenarioStarted { feature, scenario, tags } => {
                if let Some((f, s)) = self.open {
                    let open = &self.features[f].scenarios[s].scenario.name;
                    return Err(out_of_order(format!("scenario `{}` started while scenario `{open}` was still running", scenario.name)));
                }
                let f = match self.features.iter().position(|r| r.feature.path == feature.path) {
                    Some(i) => i,
                    None => {
                        self.features.push(FeatureRecord { feature: feature.clone(), scenarios: Vec::new(), started_at: ev.at });
                        self.features.len() - 1
                    }
                };
                let scenarios = &mut self.features[f].scenarios;
                scenarios.push(ScenarioRecord {
                    scenario: scenario.clone(),
                    tags: tags.clone(),
                    steps: Vec::new(),
                    status: None,
                    started_at: ev.at,
                    finished_at: None,
                });
                self.open = Some((f, scenarios.len() - 1));
            }
            RunEventKind::StepFinished { keyword, text, line, status, duration, verdict, note } => {
                let (f, s) = self.open.ok_or_else(|| out_of_order(format!("step `{keyword} {text}` finished outside a scenario")))?;
                self.features[f].scenarios[s].steps.push(StepRecord {
                    keyword: keyword.clone(),
                    text: text.clone(),
                    line: *line,
                    status: status.clone(),
                    duration: *duration,
                    verdict: verdict.clone(),
                    note: note.clone(),
                });
            }
            RunEventKind::ScenarioFinished { status } => {
                let (f, s) = self.open.take().ok_or_else(|| out_of_order("scenario finished but none was running".into()))?;
                let rec = &mut self.features[f].scenarios[s];
                rec.status = Some(status.clone());
                rec.finished_at = Some(ev.at);
            }
            RunEventKind::FeatureFinished { feature } => {
                if let Some((f, _)) = self.open
                    && self.features[f].feature.path == feature.path
                {
                    return Err(out_of_order(format!("feature `{}` finished while one of its scenarios was running", feature.name)));
                }
            }
            RunEventKind::RunFinished { passed, failed, skipped, duration } => {
                self.open = None;
                self.runner_totals = Some(RunnerTotals { passed: *passed, failed: *failed, skipped: *skipped, duration: *duration });
            }
        }
        Ok(())
    }

    /// Scenario counts recomputed from the recorded scenarios.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.features {
            for s in &f.scenarios {
                c.add(&s.effective_status());
            }
        }
        c
    }

    /// Wall time of the run: the runner's figure, else first to last event.
    pub fn duration(&self) -> Duration {
        if let Some(t) = &self.runner_totals {
            return t.duration;
        }
        match (&self.info, self.last_event_at) {
            (Some(i), Some(last)) => (last - i.started_at).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }

    /// True once `RunFinished` was seen.
    pub fn is_finished(&self) -> bool {
        self.runner_totals.is_some()
    }

    /// Lab name, or `unknown lab` when `RunStarted` never came.
    pub fn lab(&self) -> &str {
        self.info.as_ref().map_or("unknown lab", |i| i.lab.as_str())
    }
}

fn out_of_order(message: String) -> ReportError {
    ReportError::OutOfOrder { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn folds_the_sample_run_into_features_and_counts() {
        let events = sample::sample_run();
        let rec = RunRecord::from_events(&events).unwrap();
        assert_eq!(rec.features.len(), 2);
        assert_eq!(rec.provisioning.len(), 6);
        let c = rec.counts();
        let t = rec.runner_totals.clone().unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (t.passed, t.failed, t.skipped));
        assert_eq!(c.total(), 4);
        assert_eq!(rec.features[0].scenarios[0].steps.len(), 3);
    }

    #[test]
    fn step_outside_scenario_is_an_error() {
        let events = sample::sample_run();
        let step = events.iter().find(|e| matches!(e.kind, RunEventKind::StepFinished { .. })).unwrap();
        let err = RunRecord::default().apply(step).unwrap_err();
        assert!(err.to_string().contains("outside a scenario"), "{err}");
    }

    #[test]
    fn unfinished_scenario_is_reported_skipped_with_reason() {
        let events = sample::sample_run();
        // Cut the stream right after the first ScenarioStarted.
        let cut = events.iter().position(|e| matches!(e.kind, RunEventKind::ScenarioStarted { .. })).unwrap();
        let rec = RunRecord::from_events(&events[..=cut]).unwrap();
        assert!(!rec.is_finished());
        let c = rec.counts();
        assert_eq!((c.passed, c.failed, c.skipped), (0, 0, 1));
        assert_eq!(rec.features[0].scenarios[0].effective_status(), TestStatus::Skipped { reason: UNFINISHED_REASON.into() });
    }

    #[test]
    fn scenario_duration_is_wall_time_not_less_than_steps() {
        let rec = RunRecord::from_events(&sample::sample_run()).unwrap();
        for f in &rec.features {
            for s in &f.scenarios {
                let steps: Duration = s.steps.iter().map(|x| x.duration).sum();
                assert!(s.duration() >= steps);
            }
        }
    }
}
