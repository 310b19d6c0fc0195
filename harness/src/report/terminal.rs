//! [`TerminalSink`]: a compact human summary while the run goes: one line per scenario,
//! failures with expected / found / remediation / evidence, skips with their reason, failed or
//! skipped provisioning steps, and a closing totals line. Colour only when asked for (by
//! default: when the output is a terminal).

use std::io::{self, IsTerminal, Write};

use super::error::ReportError;
use super::events::{ProvisionStatus, RunEvent, RunEventKind, TestStatus};
use super::imp::Reporter;
use super::model::{RunRecord, ScenarioRecord};

/// Streams a human-readable summary to a writer.
pub struct TerminalSink<W: Write> {
    out: W,
    color: bool,
    record: RunRecord,
}

impl TerminalSink<io::Stdout> {
    /// Writes to stdout, coloured only when stdout is a terminal.
    pub fn stdout() -> Self {
        let color = io::stdout().is_terminal();
        TerminalSink::new(io::stdout(), color)
    }
}

impl<W: Write> TerminalSink<W> {
    /// Writes to `out`; `color` turns ANSI colours on.
    pub fn new(out: W, color: bool) -> Self {
        TerminalSink { out, color, record: RunRecord::default() }
    }

    /// Gives the writer back (tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    fn label(&self, status: &TestStatus) -> String {
        match status {
            TestStatus::Passed => self.paint("32", "PASS"),
            TestStatus::Failed { .. } => self.paint("1;31", "FAIL"),
            TestStatus::Skipped { .. } => self.paint("33", "SKIP"),
        }
    }

    fn scenario_lines(&self, feature: &str, s: &ScenarioRecord) -> String {
        let status = s.effective_status();
        let mut t = format!("{} {} › {} ({:.1}s)\n", self.label(&status), feature, s.scenario.name, s.duration().as_secs_f64());
        match &status {
            TestStatus::Passed => {}
            TestStatus::Skipped { reason } => t.push_str(&format!("     reason: {reason}\n")),
            TestStatus::Failed { message } => {
                t.push_str(&format!("     {message}\n"));
                for st in s.steps.iter().filter(|st| matches!(st.status, TestStatus::Failed { .. })) {
                    t.push_str(&format!("     step: {} {}\n", st.keyword, st.text));
                    if let Some(v) = &st.verdict {
                        t.push_str(&format!("     check:       {} ({})\n", v.check_id, v.outcome));
                        t.push_str(&format!("     expected:    {}\n", v.expected));
                        t.push_str(&format!("     found:       {}\n", self.paint("31", &v.found)));
                        if let Some(r) = &v.remediation {
                            t.push_str(&format!("     remediation: {r}\n"));
                        }
                        t.push_str(&format!("     evidence:    {}\n", v.evidence_source));
                    }
                }
            }
        }
        t
    }

    fn write(&mut self, text: &str) -> Result<(), ReportError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|source| ReportError::Write { what: "terminal summary".into(), source })
    }
}

impl<W: Write> Reporter for TerminalSink<W> {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.record.apply(ev)?;
        let text = match &ev.kind {
            RunEventKind::RunStarted { lab, profile, evidence_source, gaps, .. } => {
                let mut t = format!("kubelab run of lab {lab} (profile {profile}); evidence: {evidence_source}\n");
                for g in gaps {
                    t.push_str(&format!("  gap: {g}\n"));
                }
                t
            }
            RunEventKind::ProvisionStepFinished { step_id, node, status, log_excerpt, .. } => match status {
                ProvisionStatus::Failed => {
                    let mut t = format!("{} provisioning {step_id} on {node}\n", self.paint("1;31", "FAIL"));
                    // The tail of the log is where the cause usually is.
                    let lines: Vec<&str> = log_excerpt.lines().filter(|l| !l.trim().is_empty()).collect();
                    for l in &lines[lines.len().saturating_sub(5)..] {
                        t.push_str(&format!("     | {l}\n"));
                    }
                    t
                }
                ProvisionStatus::Skipped { reason } => {
                    format!("{} provisioning {step_id} on {node}: {reason}\n", self.paint("33", "SKIP"))
                }
                ProvisionStatus::Changed | ProvisionStatus::Unchanged => String::new(),
            },
            RunEventKind::ScenarioFinished { .. } => {
                // The record just closed this scenario: it is the newest one with a status.
                let last = self
                    .record
                    .features
                    .iter()
                    .flat_map(|f| f.scenarios.iter().map(move |s| (f, s)))
                    .filter(|(_, s)| s.finished_at.is_some())
                    .max_by_key(|(_, s)| s.finished_at);
                match last {
                    Some((f, s)) => self.scenario_lines(&f.feature.name, s),
                    None => String::new(),
                }
            }
            RunEventKind::RunFinished { .. } => self.totals_line(),
            RunEventKind::ScenarioStarted { .. } | RunEventKind::StepFinished { .. } | RunEventKind::FeatureFinished { .. } => {
                String::new()
            }
        };
        if text.is_empty() { Ok(()) } else { self.write(&text) }
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        if self.record.is_finished() {
            return Ok(());
        }
        let line = format!("run did not finish; {}", self.totals_line());
        self.write(&line)
    }
}

impl<W: Write> TerminalSink<W> {
    fn totals_line(&self) -> String {
        let c = self.record.counts();
        // Deliberately not the bare "N passed, N failed" shape test runners print.
        format!(
            "run finished: {} scenarios — {} passed, {} failed, {} skipped in {:.1}s\n",
            c.total(),
            c.passed,
            c.failed,
            c.skipped,
            self.record.duration().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    fn render(color: bool) -> String {
        let mut sink = TerminalSink::new(Vec::new(), color);
        for ev in sample_run() {
            sink.handle(&ev).unwrap();
        }
        sink.finish().unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    #[test]
    fn terminal_snapshot() {
        insta::assert_snapshot!(render(false));
    }

    #[test]
    fn no_colour_unless_asked() {
        assert!(!render(false).contains('\x1b'));
        assert!(render(true).contains("\x1b[1;31mFAIL\x1b[0m"));
    }

    #[test]
    fn one_line_per_scenario_and_failure_details() {
        let t = render(false);
        let heads = t.lines().filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL ") || l.starts_with("SKIP ")).count();
        // 4 scenarios + 1 failed and 1 skipped provisioning line.
        assert_eq!(heads, 6, "{t}");
        assert!(t.contains("remediation: allow TCP 179"));
        assert!(t.contains("reason: needs a live Kubernetes API"));
        assert!(t.ends_with("4 scenarios — 2 passed, 1 failed, 1 skipped in 78.2s\n"), "{t}");
    }
}
