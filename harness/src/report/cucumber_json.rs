//! Cucumber JSON rendering ([`render`]): the de-facto standard array-of-features format read
//! by cucumber-html-reporter, multiple-cucumber-html-reporter, Jenkins' cucumber plugin and
//! friends. Each step's verdict goes into the step's `output` lines. A scenario whose overall
//! status is not explained by its steps (e.g. skipped as a whole, with no step run) gets a
//! hidden `Before` hook step carrying that status and its reason, the way cucumber-js reports
//! hook outcomes, so consumers count it without a step being invented.

use std::io;

use serde::Serialize;

use super::events::TestStatus;
use super::model::{FeatureRecord, RunRecord, ScenarioRecord, StepRecord};

#[derive(Serialize)]
struct Feature {
    uri: String,
    id: String,
    keyword: &'static str,
    name: String,
    description: String,
    line: u32,
    tags: Vec<Tag>,
    elements: Vec<Element>,
}

#[derive(Serialize)]
struct Tag {
    name: String,
    line: u32,
}

#[derive(Serialize)]
struct Element {
    id: String,
    keyword: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    description: String,
    line: u32,
    tags: Vec<Tag>,
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct Step {
    keyword: String,
    name: String,
    line: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    hidden: bool,
    result: StepResult,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    output: Vec<String>,
}

#[derive(Serialize)]
struct StepResult {
    status: &'static str,
    duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
}

/// Lowercase, `-` separated id fragment as cucumber-js builds them.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn tags(names: &[String], line: u32) -> Vec<Tag> {
    names.iter().map(|n| Tag { name: format!("@{n}"), line }).collect()
}

fn result(status: &TestStatus, duration: std::time::Duration) -> StepResult {
    StepResult {
        status: status.word(),
        duration: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
        error_message: match status {
            TestStatus::Failed { message } => Some(message.clone()),
            _ => None,
        },
    }
}

fn step_output(st: &StepRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let TestStatus::Skipped { reason } = &st.status {
        out.push(format!("skipped: {reason}"));
    }
    if let Some(n) = &st.note {
        out.push(format!("did: {n}"));
    }
    if let Some(v) = &st.verdict {
        out.push(format!("check {}: {}", v.check_id, v.outcome));
        out.push(format!("expected: {}", v.expected));
        out.push(format!("found: {}", v.found));
        if let Some(r) = &v.remediation {
            out.push(format!("remediation: {r}"));
        }
        out.push(format!("evidence: {}", v.evidence_source));
        for f in &v.facts {
            out.push(format!("{} / {} ({}): $ {}\n{}", f.node, f.probe, f.origin, f.command, f.output_excerpt));
        }
    }
    out
}

/// The status consumers derive from the steps alone (failed > skipped > passed; none if no steps).
fn derived(steps: &[StepRecord]) -> Option<&'static str> {
    let has = |w: &str| steps.iter().any(|s| s.status.word() == w);
    ["failed", "skipped", "passed"].into_iter().find(|w| has(w))
}

fn element(feature_id: &str, s: &ScenarioRecord, used: &mut Vec<String>) -> Element {
    let mut id = format!("{feature_id};{}", slug(&s.scenario.name));
    if used.contains(&id) {
        id = format!("{id};{}", s.scenario.line);
    }
    used.push(id.clone());
    let status = s.effective_status();
    let mut steps = Vec::new();
    if derived(&s.steps) != Some(status.word()) {
        steps.push(Step {
            keyword: "Before".into(),
            name: String::new(),
            line: s.scenario.line,
            hidden: true,
            result: result(&status, std::time::Duration::ZERO),
            output: status.detail().map(|d| vec![format!("scenario {}: {d}", status.word())]).unwrap_or_default(),
        });
    }
    steps.extend(s.steps.iter().map(|st| Step {
        keyword: format!("{} ", st.keyword),
        name: st.text.clone(),
        line: st.line,
        hidden: false,
        result: result(&st.status, st.duration),
        output: step_output(st),
    }));
    Element {
        id,
        keyword: "Scenario",
        kind: "scenario",
        name: s.scenario.name.clone(),
        description: String::new(),
        line: s.scenario.line,
        tags: tags(&s.tags, s.scenario.line.saturating_sub(1)),
        steps,
    }
}

fn feature(f: &FeatureRecord) -> Feature {
    let id = slug(&f.feature.name);
    let mut used = Vec::new();
    Feature {
        uri: f.feature.path.clone(),
        id: id.clone(),
        keyword: "Feature",
        name: f.feature.name.clone(),
        description: String::new(),
        line: f.feature.line,
        tags: tags(&f.feature.tags, f.feature.line.saturating_sub(1)),
        elements: f.scenarios.iter().map(|s| element(&id, s, &mut used)).collect(),
    }
}

/// Renders the run as a Cucumber JSON value.
pub fn to_value(rec: &RunRecord) -> serde_json::Value {
    let features: Vec<Feature> = rec.features.iter().map(feature).collect();
    serde_json::to_value(features).unwrap_or(serde_json::Value::Null)
}

/// Renders the run as pretty-printed Cucumber JSON.
pub fn render(rec: &RunRecord, out: &mut dyn io::Write) -> io::Result<()> {
    let features: Vec<Feature> = rec.features.iter().map(feature).collect();
    serde_json::to_writer_pretty(&mut *out, &features)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    fn sample() -> serde_json::Value {
        to_value(&RunRecord::from_events(&sample_run()).unwrap())
    }

    #[test]
    fn cucumber_json_snapshot() {
        insta::assert_snapshot!(serde_json::to_string_pretty(&sample()).unwrap());
    }

    #[test]
    fn scenario_statuses_derived_from_steps_match_the_record() {
        let rec = RunRecord::from_events(&sample_run()).unwrap();
        let v = to_value(&rec);
        let mut derived_counts = (0, 0, 0);
        for f in v.as_array().unwrap() {
            for e in f["elements"].as_array().unwrap() {
                let st: Vec<&str> = e["steps"].as_array().unwrap().iter().map(|s| s["result"]["status"].as_str().unwrap()).collect();
                if st.contains(&"failed") {
                    derived_counts.1 += 1
                } else if st.contains(&"skipped") {
                    derived_counts.2 += 1
                } else if st.contains(&"passed") {
                    derived_counts.0 += 1
                }
            }
        }
        let c = rec.counts();
        assert_eq!(derived_counts, (c.passed, c.failed, c.skipped));
    }

    #[test]
    fn steps_carry_keyword_space_nanoseconds_and_verdict_output() {
        let v = sample();
        let step = &v[1]["elements"][0]["steps"][1];
        assert_eq!(step["keyword"], "Then ");
        assert_eq!(step["result"]["status"], "failed");
        assert_eq!(step["result"]["duration"], 1_800_000_000u64);
        let out: Vec<&str> = step["output"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(out.iter().any(|l| l.starts_with("remediation: allow TCP 179")), "{out:?}");
        assert!(out.iter().any(|l| l == &"evidence: live over ssh"), "{out:?}");
        // Whole-scenario skip: one hidden hook with the reason, no invented step text.
        let skipped = &v[1]["elements"][2]["steps"];
        assert_eq!(skipped.as_array().unwrap().len(), 1);
        assert_eq!(skipped[0]["hidden"], true);
        assert!(skipped[0]["output"][0].as_str().unwrap().contains("needs a live Kubernetes API"));
    }

    #[test]
    fn slugs_are_cucumber_style() {
        assert_eq!(slug("Calico networking & BGP mesh"), "calico-networking-bgp-mesh");
    }
}
