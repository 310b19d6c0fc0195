//! [`RunEvent`] / [`RunEventKind`]: THE interface between runners and reporters.
//!
//! Runners (the cucumber writer adapter, the provisioner, a replay of `events.jsonl`) emit
//! events; every report format is a sink that consumes them (see [`super::Reporter`]). The
//! types here are plain owned data with no dependency on the checks or evidence modules, so a
//! recorded event stream can be re-rendered by any later version of kubelab.
//!
//! Ordering contract (what sinks rely on):
//! `RunStarted`, then any number of `ProvisionStepFinished`, then per scenario
//! `ScenarioStarted` → `StepFinished`* → `ScenarioFinished`, with `FeatureFinished` after the
//! last scenario of a feature, and `RunFinished` last. A scenario that is skipped as a whole
//! may have no `StepFinished` at all; its `ScenarioFinished` carries the reason.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened during a run, with the wall-clock time it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// When the event was emitted (UTC, serialised as RFC 3339).
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: RunEventKind,
}

impl RunEvent {
    /// An event stamped with the current time.
    pub fn now(kind: RunEventKind) -> Self {
        RunEvent { at: Utc::now(), kind }
    }

    /// An event stamped with `at` (replays and tests).
    pub fn at(at: DateTime<Utc>, kind: RunEventKind) -> Self {
        RunEvent { at, kind }
    }
}

/// The kinds of [`RunEvent`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEventKind {
    /// The run began.
    RunStarted {
        /// Lab name from the config.
        lab: String,
        /// Profile name (`guide` or `offline`).
        profile: String,
        /// Where the evidence of this run comes from, e.g. `live over ssh` or
        /// `recorded bundle fixtures/bundles/healthy`.
        evidence_source: String,
        /// When the run started.
        #[serde(with = "rfc3339")]
        started_at: DateTime<Utc>,
        /// Evidence that could not be fetched or could not be read, one line each
        /// (`cannot read <probe> output on <node>: <line>`), so no report hides it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gaps: Vec<String>,
    },
    /// One provisioning step finished on one node (feeds the provisioning timeline).
    ProvisionStepFinished {
        /// Stable step id, e.g. `docker.install`.
        step_id: String,
        /// Node name.
        node: String,
        /// What the step did.
        status: ProvisionStatus,
        /// How long it took.
        duration: Duration,
        /// The tail of the step's log (already trimmed by the provisioner).
        log_excerpt: String,
    },
    /// A scenario began.
    ScenarioStarted {
        /// The feature it belongs to.
        feature: FeatureRef,
        /// The scenario.
        scenario: ScenarioRef,
        /// Tags as written, without `@` (e.g. `requires.live`).
        tags: Vec<String>,
    },
    /// A step of the current scenario finished (or was skipped).
    StepFinished {
        /// Gherkin keyword without trailing space (`Given`, `When`, `Then`, `And`, `But`).
        keyword: String,
        /// Step text.
        text: String,
        /// Line of the step in the feature file (0 when unknown).
        #[serde(default)]
        line: u32,
        /// Outcome.
        status: TestStatus,
        /// How long it took.
        duration: Duration,
        /// The check verdict behind the step, when the step judged evidence.
        verdict: Option<VerdictView>,
        /// What an action step (snapshot revert, fault inject/heal) did; no check is claimed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The current scenario finished.
    ScenarioFinished {
        /// Overall outcome (a scenario skipped as a whole carries its reason here).
        status: TestStatus,
    },
    /// The last scenario of a feature finished.
    FeatureFinished {
        /// The feature.
        feature: FeatureRef,
    },
    /// The run finished. Counts are scenarios, as the runner counted them.
    RunFinished {
        /// Scenarios passed.
        passed: u32,
        /// Scenarios failed.
        failed: u32,
        /// Scenarios skipped.
        skipped: u32,
        /// Wall time of the whole run.
        duration: Duration,
    },
}

/// Identifies a feature file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureRef {
    /// Feature name (the text after `Feature:`).
    pub name: String,
    /// Path of the feature file, relative to the repository root (e.g.
    /// `features/host/network.feature`).
    pub path: String,
    /// Line of the `Feature:` keyword (1 when unknown).
    #[serde(default = "one")]
    pub line: u32,
    /// Feature-level tags, without `@`.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn one() -> u32 {
    1
}

/// Identifies a scenario inside its feature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// Scenario name.
    pub name: String,
    /// Line of the `Scenario:` keyword.
    pub line: u32,
}

/// Outcome of a step or a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TestStatus {
    /// It ran and held.
    Passed,
    /// It ran and did not hold (or could not run because something broke).
    Failed {
        /// Why, in one or a few lines.
        message: String,
    },
    /// It did not run; the reason says why (never silently).
    Skipped {
        /// Why it did not run, e.g. `needs a live cluster; offline profile judges recorded evidence`.
        reason: String,
    },
}

impl TestStatus {
    /// Lowercase word for the status: `passed`, `failed` or `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            TestStatus::Passed => "passed",
            TestStatus::Failed { .. } => "failed",
            TestStatus::Skipped { .. } => "skipped",
        }
    }

    /// The failure message or skip reason, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            TestStatus::Passed => None,
            TestStatus::Failed { message } => Some(message),
            TestStatus::Skipped { reason } => Some(reason),
        }
    }
}

/// Outcome of one provisioning step on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProvisionStatus {
    /// The step changed the node.
    Changed,
    /// The node was already in the wanted state.
    Unchanged,
    /// The step failed (details in the log excerpt).
    Failed,
    /// The step did not run.
    Skipped {
        /// Why it did not run.
        reason: String,
    },
}

impl ProvisionStatus {
    /// Lowercase word for the status.
    pub fn word(&self) -> &'static str {
        match self {
            ProvisionStatus::Changed => "changed",
            ProvisionStatus::Unchanged => "unchanged",
            ProvisionStatus::Failed => "failed",
            ProvisionStatus::Skipped { .. } => "skipped",
        }
    }
}

/// A check verdict as the reports show it (the lead converts `checks::Verdict` into this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictView {
    /// Stable check id, e.g. `net.calico.bgp-established`.
    pub check_id: String,
    /// One-line outcome, e.g. `pass`, `fail: 1 of 2 BGP peers down`.
    pub outcome: String,
    /// What the guide expects.
    pub expected: String,
    /// What the evidence showed.
    pub found: String,
    /// What to do about a failure (None for passes).
    pub remediation: Option<String>,
    /// Where the evidence came from, e.g. `live over ssh` or `recorded bundle <path>`.
    pub evidence_source: String,
    /// The individual facts the verdict was judged from.
    pub facts: Vec<FactView>,
}

/// One observed fact behind a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactView {
    /// Node the fact was observed on.
    pub node: String,
    /// Probe name, e.g. `bgp-peers`.
    pub probe: String,
    /// Command that produced the output.
    pub command: String,
    /// Excerpt of the command output.
    pub output_excerpt: String,
    /// Origin of this fact, e.g. `live` or `recorded bundle <path>`.
    pub origin: String,
}

/// Serde helper: `DateTime<Utc>` as an RFC 3339 string (chrono's `serde` feature is not enabled
/// in the workspace, and the string form keeps `events.jsonl` readable).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn events_round_trip_through_json() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let events = vec![
            RunEvent::at(
                at,
                RunEventKind::RunStarted {
                    lab: "ice".into(),
                    profile: "offline".into(),
                    evidence_source: "recorded bundle b/healthy".into(),
                    started_at: at,
                    gaps: Vec::new(),
                },
            ),
            RunEvent::at(
                at,
                RunEventKind::StepFinished {
                    keyword: "Then".into(),
                    text: "BGP is up".into(),
                    line: 7,
                    status: TestStatus::Failed { message: "peer down".into() },
                    duration: Duration::from_millis(1500),
                    note: None,
                    verdict: Some(VerdictView {
                        check_id: "net.bgp".into(),
                        outcome: "fail".into(),
                        expected: "2 peers".into(),
                        found: "1 peer".into(),
                        remediation: Some("open TCP 179".into()),
                        evidence_source: "live over ssh".into(),
                        facts: vec![],
                    }),
                },
            ),
            RunEvent::at(at, RunEventKind::ScenarioFinished { status: TestStatus::Skipped { reason: "r".into() } }),
        ];
        for ev in events {
            let json = serde_json::to_string(&ev).unwrap();
            let back: RunEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(back, ev, "{json}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_strings() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let ev = RunEvent::at(at, RunEventKind::ScenarioFinished { status: TestStatus::Passed });
        let v: serde_json::Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["at"], "2026-01-02T03:04:05.000Z");
        assert_eq!(v["kind"]["type"], "scenario_finished");
        assert_eq!(v["kind"]["status"]["status"], "passed");
    }
}
