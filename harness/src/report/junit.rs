//! JUnit XML rendering ([`render`]): one `<testsuite>` per feature, one `<testcase>` per
//! scenario, in the dialect GitLab and Jenkins read (`classname`, per-case `time`, suite
//! `timestamp`, `<failure>`, `<skipped>`, `<system-out>`). Written by hand; see
//! [`super::escape`].

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use super::escape::{xml_attr as a, xml_text as t};
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

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Renders the run as a JUnit XML document.
pub fn render(rec: &RunRecord, out: &mut dyn io::Write) -> io::Result<()> {
    out.write_all(to_string(rec).as_bytes())
}

/// Renders the run as a JUnit XML string.
pub fn to_string(rec: &RunRecord) -> String {
    let mut x = String::new();
    let c = rec.counts();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="{}" tests="{}" failures="{}" errors="0" skipped="{}" time="{}">"#,
        a(&format!("kubelab {}", rec.lab())),
        c.total(),
        c.failed,
        c.skipped,
        secs(rec.duration())
    );
    for f in &rec.features {
        let fc = f.counts();
        let _ = writeln!(
            x,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="{}" time="{}" timestamp="{}" hostname="kubelab" file="{}">"#,
            a(&f.feature.name),
            fc.total(),
            fc.failed,
            fc.skipped,
            secs(f.duration()),
            f.started_at.format("%Y-%m-%dT%H:%M:%S"),
            a(&f.feature.path)
        );
        if let Some(info) = &rec.info {
            x.push_str("    <properties>\n");
            for (k, v) in [("lab", &info.lab), ("profile", &info.profile), ("evidence_source", &info.evidence_source)] {
                let _ = writeln!(x, r#"      <property name="{k}" value="{}"/>"#, a(v));
            }
            x.push_str("    </properties>\n");
        }
        let class = classname(&f.feature.path);
        for s in &f.scenarios {
            testcase(&mut x, &class, &f.feature.path, s);
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn testcase(x: &mut String, class: &str, file: &str, s: &ScenarioRecord) {
    let _ = writeln!(
        x,
        r#"    <testcase classname="{}" name="{}" time="{}" file="{}" line="{}">"#,
        a(class),
        a(&s.scenario.name),
        secs(s.duration()),
        a(file),
        s.scenario.line
    );
    match s.effective_status() {
        TestStatus::Passed => {}
        TestStatus::Failed { message } => {
            let failing = s.steps.iter().find(|st| matches!(st.status, TestStatus::Failed { .. }));
            let kind =
                failing.and_then(|st| st.verdict.as_ref()).map_or_else(|| "step failed".to_string(), |v| format!("check {}", v.check_id));
            let _ = writeln!(x, r#"      <failure message="{}" type="{}">"#, a(&message), a(&kind));
            x.push_str(&t(&failure_body(&message, failing)));
            x.push_str("      </failure>\n");
        }
        TestStatus::Skipped { reason } => {
            let _ = writeln!(x, r#"      <skipped message="{}"/>"#, a(&reason));
        }
    }
    let _ = writeln!(x, "      <system-out>{}</system-out>", t(&evidence_summary(s)));
    x.push_str("    </testcase>\n");
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
    use crate::report::escape::check_well_formed;
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
        assert_eq!(check_well_formed(&xml), Ok("testsuites".into()));
        assert!(xml.contains(r#"tests="4" failures="1" errors="0" skipped="1""#), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<skipped ").count(), 1);
        // The escape sequence and markup in the evidence survive as visible text.
        assert!(xml.contains("\\x1b[0m&lt;end of output &amp; \"quoted\"&gt;"));
    }

    #[test]
    fn classname_follows_the_feature_path() {
        assert_eq!(classname("features/host/node-identity.feature"), "host.node-identity");
        assert_eq!(classname("./features/a.feature"), "a");
        assert_eq!(classname("other/x.feature"), "other.x");
    }
}
