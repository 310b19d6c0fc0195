//! JUnit XML rendering ([`render`]) with `quick-junit`: one `<testsuite>` per feature, one
//! `<testcase>` per scenario, in the dialect GitLab and Jenkins read (`classname`, per-case
//! `time` and `timestamp`, suite `timestamp`, `<failure>`, `<skipped>`, `<system-out>`).

use std::fmt::Write as _;
use std::io;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::events::TestStatus;
use super::model::{RunRecord, ScenarioRecord, StepRecord};

/// JUnit `classname` of a feature file: its path below `features/`, without extension, with
/// dots for slashes (`features/host/node-identity.feature` → `host.node-identity`), so CI
/// groups test cases by tier directory and file.
pub fn classname(path: &str) -> String {
    let p = path.strip_prefix("./").unwrap_or(path);
    let p = p.strip_prefix("features/").unwrap_or(p);
    let p = p.strip_suffix(".feature").unwrap_or(p);
    p.replace(['/', '\\'], ".")
}

/// Renders the run as a JUnit XML document.
pub fn render(rec: &RunRecord, out: &mut dyn io::Write) -> io::Result<()> {
    report(rec).serialize(out).map_err(io::Error::other)
}

/// Renders the run as a JUnit XML string.
pub fn to_string(rec: &RunRecord) -> String {
    report(rec).to_string().expect("a JUnit report serialises to a String")
}

/// The run as a `quick-junit` report.
pub fn report(rec: &RunRecord) -> Report {
    let mut r = Report::new(format!("kubelab {}", rec.lab()));
    r.set_time(rec.duration());
    if let Some(info) = &rec.info {
        r.set_timestamp(info.started_at.fixed_offset());
    }
    for f in &rec.features {
        let mut suite = TestSuite::new(f.feature.name.clone());
        suite.set_time(f.duration()).set_timestamp(f.started_at.fixed_offset());
        suite.extra.insert("hostname".into(), "kubelab".into());
        suite.extra.insert("file".into(), f.feature.path.clone().into());
        if let Some(info) = &rec.info {
            for (k, v) in [("lab", &info.lab), ("profile", &info.profile), ("evidence_source", &info.evidence_source)] {
                suite.add_property(Property::new(k, v.clone()));
            }
        }
        let class = classname(&f.feature.path);
        for s in &f.scenarios {
            suite.add_test_case(testcase(&class, &f.feature.path, s));
        }
        r.add_test_suite(suite);
    }
    r
}

fn testcase(class: &str, file: &str, s: &ScenarioRecord) -> TestCase {
    let status = match s.effective_status() {
        TestStatus::Passed => TestCaseStatus::success(),
        TestStatus::Failed { message } => {
            let failing = s.steps.iter().find(|st| matches!(st.status, TestStatus::Failed { .. }));
            let kind =
                failing.and_then(|st| st.verdict.as_ref()).map_or_else(|| "step failed".to_string(), |v| format!("check {}", v.check_id));
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(message.clone()).set_type(kind).set_description(failure_body(&message, failing));
            st
        }
        TestStatus::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason);
            st
        }
    };
    let mut tc = TestCase::new(s.scenario.name.clone(), status);
    tc.set_classname(class.to_string()).set_time(s.duration()).set_timestamp(s.started_at.fixed_offset());
    tc.set_system_out(evidence_summary(s));
    tc.extra.insert("file".into(), file.to_string().into());
    tc.extra.insert("line".into(), s.scenario.line.to_string().into());
    tc
}

fn failure_body(message: &str, failing: Option<&StepRecord>) -> String {
    let mut b = format!("{message}\n");
    if let Some(st) = failing {
        let _ = writeln!(b, "step: {} {}", st.keyword, st.text);
        if let Some(v) = &st.verdict {
            let _ = writeln!(b, "check: {} ({})", v.check_id, v.outcome);
            let _ = writeln!(b, "expected: {}", v.expected);
            let _ = writeln!(b, "found: {}", v.found);
            if let Some(r) = &v.remediation {
                let _ = writeln!(b, "remediation: {r}");
            }
            let _ = writeln!(b, "evidence: {}", v.evidence_source);
            for fact in &v.facts {
                let _ = writeln!(b, "--- {} / {} ({})\n$ {}", fact.node, fact.probe, fact.origin, fact.command);
                let _ = writeln!(b, "{}", fact.output_excerpt);
            }
        }
    }
    b
}

/// Plain-text summary of a scenario's steps and where each verdict's evidence came from.
pub fn evidence_summary(s: &ScenarioRecord) -> String {
    let mut b = String::new();
    if s.steps.is_empty() {
        let _ = writeln!(b, "no step ran: {}", s.effective_status().detail().unwrap_or("no steps"));
    }
    for st in &s.steps {
        let _ = write!(b, "[{}] {} {}", st.status.word(), st.keyword, st.text);
        match st.status.detail() {
            Some(d) => {
                let _ = writeln!(b, " ({d})");
            }
            None => b.push('\n'),
        }
        if let Some(n) = &st.note {
            let _ = writeln!(b, "    did: {n}");
        }
        if let Some(v) = &st.verdict {
            let _ = writeln!(b, "    check {}: {} [evidence: {}]", v.check_id, v.outcome, v.evidence_source);
            for fact in &v.facts {
                let _ = writeln!(b, "    - {} {}: $ {} ({})", fact.node, fact.probe, fact.command, fact.origin);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    fn sample_xml() -> String {
        to_string(&RunRecord::from_events(&sample_run()).unwrap())
    }

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(sample_xml());
    }

    #[test]
    fn junit_is_well_formed_and_counts_match() {
        let xml = sample_xml();
        let back = Report::deserialize_from_str(&xml).expect("quick-junit reads what it wrote");
        assert_eq!((back.tests, back.failures, back.errors, back.skipped), (4, 1, 0, 1), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<skipped ").count(), 1);
        // Markup in the evidence survives as text; quick-junit drops the terminal escape codes.
        assert!(xml.contains("&lt;end of output &amp;"), "{xml}");
        assert!(!xml.contains('\u{1b}'), "{xml}");
    }

    #[test]
    fn classname_follows_the_feature_path() {
        assert_eq!(classname("features/host/node-identity.feature"), "host.node-identity");
        assert_eq!(classname("./features/a.feature"), "a");
        assert_eq!(classname("other/x.feature"), "other.x");
    }
}
