//! The [`Reporter`] trait and the generic sinks: [`RenderSink`] (collects the run, writes one
//! [`Format`] when it finishes), [`EventLogSink`] (`events.jsonl`, one event per line) and
//! [`Fanout`] (sends every event to several reporters).

use std::io::{BufRead, Write};

use super::error::ReportError;
use super::events::{RunEvent, RunEventKind};
use super::model::RunRecord;
use super::{cucumber_json, html, junit};

/// Consumes run events. Sinks write to an injectable [`std::io::Write`].
pub trait Reporter {
    /// Takes one event, in run order.
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError>;

    /// Called once after the last event, also when the run was cut short (no `RunFinished`);
    /// sinks that render at the end render what they have.
    fn finish(&mut self) -> Result<(), ReportError> {
        Ok(())
    }
}

impl<R: Reporter + ?Sized> Reporter for Box<R> {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        (**self).handle(ev)
    }
    fn finish(&mut self) -> Result<(), ReportError> {
        (**self).finish()
    }
}

/// A report file format rendered from the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JUnit XML (`junit.xml`).
    Junit,
    /// Cucumber JSON (`cucumber.json`).
    CucumberJson,
    /// Self-contained HTML (`report.html`).
    Html,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 3] = [Format::CucumberJson, Format::Junit, Format::Html];

    /// File name used in a report directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Junit => "junit.xml",
            Format::CucumberJson => "cucumber.json",
            Format::Html => "report.html",
        }
    }

    /// Renders `rec` in this format.
    pub fn render(self, rec: &RunRecord, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Format::Junit => junit::render(rec, out),
            Format::CucumberJson => cucumber_json::render(rec, out),
            Format::Html => html::render(rec, out),
        }
    }
}

/// Collects events and renders one [`Format`] into its writer at `RunFinished` (or at
/// [`Reporter::finish`] when the run was cut short).
pub struct RenderSink<W: Write> {
    format: Format,
    out: W,
    name: String,
    record: RunRecord,
    rendered: bool,
}

impl<W: Write> RenderSink<W> {
    /// A sink rendering `format` into `out`; `name` names the target in errors.
    pub fn new(format: Format, out: W, name: impl Into<String>) -> Self {
        RenderSink { format, out, name: name.into(), record: RunRecord::default(), rendered: false }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn render(&mut self) -> Result<(), ReportError> {
        self.rendered = true;
        self.format
            .render(&self.record, &mut self.out)
            .and_then(|()| self.out.flush())
            .map_err(|source| ReportError::Write { what: self.name.clone(), source })
    }
}

impl<W: Write> Reporter for RenderSink<W> {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.record.apply(ev)?;
        if matches!(ev.kind, RunEventKind::RunFinished { .. }) && !self.rendered {
            self.render()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        if self.rendered { Ok(()) } else { self.render() }
    }
}

/// Writes every event as one JSON line, flushed at once, so a crash still leaves the log of
/// what happened and reports can be re-rendered from it ([`read_events`]).
pub struct EventLogSink<W: Write> {
    out: W,
    name: String,
}

impl<W: Write> EventLogSink<W> {
    /// Logs into `out`; `name` names the target in errors.
    pub fn new(out: W, name: impl Into<String>) -> Self {
        EventLogSink { out, name: name.into() }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Reporter for EventLogSink<W> {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        let mut line =
            serde_json::to_vec(ev).map_err(|e| ReportError::Write { what: self.name.clone(), source: std::io::Error::other(e) })?;
        line.push(b'\n');
        self.out.write_all(&line).and_then(|()| self.out.flush()).map_err(|source| ReportError::Write { what: self.name.clone(), source })
    }
}

/// Reads an event log written by [`EventLogSink`]; `path` names it in errors. Blank lines are
/// ignored.
pub fn read_events(input: impl BufRead, path: &str) -> Result<Vec<RunEvent>, ReportError> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|source| ReportError::Read { path: path.into(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let ev = serde_json::from_str(&line).map_err(|source| ReportError::Decode { path: path.into(), line: i + 1, source })?;
        events.push(ev);
    }
    Ok(events)
}

/// Sends every event to each reporter in turn; the first error stops the event there.
#[derive(Default)]
pub struct Fanout {
    sinks: Vec<Box<dyn Reporter + Send>>,
}

impl Fanout {
    /// No reporters yet.
    pub fn new() -> Self {
        Fanout::default()
    }

    /// Adds a reporter.
    pub fn push(&mut self, sink: impl Reporter + Send + 'static) -> &mut Self {
        self.sinks.push(Box::new(sink));
        self
    }
}

impl Reporter for Fanout {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.sinks.iter_mut().try_for_each(|s| s.handle(ev))
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        // Finish every sink even if one fails, then report the first failure.
        let mut first = None;
        for s in &mut self.sinks {
            if let Err(e) = s.finish() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    #[test]
    fn event_log_round_trips() {
        let events = sample_run();
        let mut log = EventLogSink::new(Vec::new(), "mem");
        for ev in &events {
            log.handle(ev).unwrap();
        }
        let bytes = log.into_inner();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), events.len());
        let back = read_events(&bytes[..], "mem").unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn bad_event_line_names_the_line() {
        let input = b"\n{\"at\":\"2026-01-01T00:00:00Z\",\"kind\":{\"type\":\"nope\"}}\n";
        let err = read_events(&input[..], "x.jsonl").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn render_sink_renders_once_at_run_finished() {
        let mut sink = RenderSink::new(Format::Junit, Vec::new(), "mem");
        let events = sample_run();
        for ev in &events[..events.len() - 1] {
            sink.handle(ev).unwrap();
        }
        sink.handle(events.last().unwrap()).unwrap();
        sink.finish().unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(out.matches("<testsuites").count(), 1);
    }

    #[test]
    fn render_sink_renders_a_cut_run_at_finish() {
        let mut sink = RenderSink::new(Format::Junit, Vec::new(), "mem");
        let events = sample_run();
        for ev in &events[..events.len() - 3] {
            sink.handle(ev).unwrap();
        }
        sink.finish().unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert!(out.contains(crate::report::model::UNFINISHED_REASON), "{out}");
    }
}
