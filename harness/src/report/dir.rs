//! [`ReportDir`]: writes `events.jsonl` (one line per event, flushed as it arrives) and
//! rewrites `cucumber.json`, `junit.xml` and `report.html` (atomically: temporary file, then
//! rename) at scenario boundaries — at most once per [`REWRITE_EVERY`], since each rewrite renders
//! the whole run — and when the run finishes or is cut ([`Reporter::finish`]), so an interrupted
//! run leaves valid partial reports; also re-renders a directory from its `events.jsonl`.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::error::ReportError;
use super::events::{RunEvent, RunEventKind};
use super::imp::{EventLogSink, Format, Reporter, read_events};
use super::model::RunRecord;

/// The least time between two rewrites of the reports at scenario boundaries: a live scenario
/// takes seconds (every boundary is written), a re-judge of a bundle judges hundreds of
/// scenarios a second (rewriting after each would cost more than the run).
pub const REWRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// File name of the raw event log in a report directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// A report directory; as a [`Reporter`] it logs every event and rewrites the reports after
/// each scenario and at the end.
pub struct ReportDir {
    dir: PathBuf,
    log: EventLogSink<BufWriter<File>>,
    record: RunRecord,
    written: bool,
    last_rewrite: Option<std::time::Instant>,
    rewrite_every: std::time::Duration,
}

fn write_err(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Write { what: path.display().to_string(), source }
}

impl ReportDir {
    /// Creates `dir` (and parents) and starts `events.jsonl` in it (truncating an old one).
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self, ReportError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
        let path = dir.join(EVENTS_FILE);
        let file = File::create(&path).map_err(|e| write_err(&path, e))?;
        let log = EventLogSink::new(BufWriter::new(file), path.display().to_string());
        Ok(ReportDir { dir, log, record: RunRecord::default(), written: false, last_rewrite: None, rewrite_every: REWRITE_EVERY })
    }

    /// Rewrites the reports at scenario boundaries at most once per `every` (default
    /// [`REWRITE_EVERY`]; zero: at every boundary).
    pub fn rewrite_every(mut self, every: std::time::Duration) -> Self {
        self.rewrite_every = every;
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the three report files for `rec` into `dir`; returns their paths.
    pub fn write_reports(dir: &Path, rec: &RunRecord) -> Result<Vec<PathBuf>, ReportError> {
        Self::write_reports_to(dir, rec, true)
    }

    /// As [`ReportDir::write_reports`]; `durable` also syncs each file to disk before the
    /// rename (the final reports; the rewrites at scenario boundaries only need atomicity).
    fn write_reports_to(dir: &Path, rec: &RunRecord, durable: bool) -> Result<Vec<PathBuf>, ReportError> {
        let mut written = Vec::new();
        for format in Format::ALL {
            let path = dir.join(format.file_name());
            // Write to a temporary name first so a reader never sees half a report.
            let tmp = dir.join(format!(".{}.tmp", format.file_name()));
            let file = File::create(&tmp).map_err(|e| write_err(&tmp, e))?;
            let mut w = BufWriter::new(file);
            format.render(rec, &mut w).map_err(|e| write_err(&path, e))?;
            let file = w.into_inner().map_err(|e| write_err(&path, e.into_error()))?;
            if durable {
                file.sync_all().map_err(|e| write_err(&path, e))?;
            }
            fs::rename(&tmp, &path).map_err(|e| write_err(&path, e))?;
            written.push(path);
        }
        Ok(written)
    }

    /// Re-renders the reports of `dir` from its `events.jsonl`.
    pub fn rerender(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        let path = dir.join(EVENTS_FILE);
        let name = path.display().to_string();
        let file = File::open(&path).map_err(|source| ReportError::Read { path: name.clone(), source })?;
        let events: Vec<RunEvent> = read_events(BufReader::new(file), &name)?;
        let rec = RunRecord::from_events(&events)?;
        Self::write_reports(dir, &rec)
    }

    fn write_now(&mut self) -> Result<(), ReportError> {
        self.written = true;
        Self::write_reports(&self.dir, &self.record).map(|_| ())
    }
}

impl Reporter for ReportDir {
    fn handle(&mut self, ev: &RunEvent) -> Result<(), ReportError> {
        self.log.handle(ev)?;
        self.record.apply(ev)?;
        let boundary = matches!(ev.kind, RunEventKind::ScenarioFinished { .. } | RunEventKind::RunStarted { .. });
        if self.record.is_finished() {
            if !self.written {
                self.write_now()?;
            }
        } else if boundary && self.last_rewrite.is_none_or(|t| t.elapsed() >= self.rewrite_every) {
            Self::write_reports_to(&self.dir, &self.record, false)?;
            self.last_rewrite = Some(std::time::Instant::now());
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        if self.written { Ok(()) } else { self.write_now() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    #[test]
    fn writes_all_files_and_rerenders_identically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let mut rd = ReportDir::create(&dir).unwrap();
        for ev in sample_run() {
            rd.handle(&ev).unwrap();
        }
        rd.finish().unwrap();
        let read = |n: &str| fs::read_to_string(dir.join(n)).unwrap();
        let before: Vec<String> = Format::ALL.iter().map(|f| read(f.file_name())).collect();
        assert!(before.iter().all(|s| !s.is_empty()));
        assert_eq!(read(EVENTS_FILE).lines().count(), sample_run().len());
        for f in Format::ALL {
            fs::remove_file(dir.join(f.file_name())).unwrap();
        }
        ReportDir::rerender(&dir).unwrap();
        let after: Vec<String> = Format::ALL.iter().map(|f| read(f.file_name())).collect();
        assert_eq!(before, after);
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 4, "{leftovers:?}");
    }

    /// After each scenario the three reports on disk are complete documents of the run so far:
    /// cut the run after the first scenario and the JUnit parses, with that one test case.
    #[test]
    fn reports_are_rewritten_at_each_scenario_boundary() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let mut rd = ReportDir::create(&dir).unwrap().rewrite_every(std::time::Duration::ZERO);
        let events = sample_run();
        let first_end = events.iter().position(|e| matches!(e.kind, RunEventKind::ScenarioFinished { .. })).unwrap();
        for ev in &events[..=first_end] {
            rd.handle(ev).unwrap();
        }
        // No finish(): as if the process died here.
        drop(rd);
        let junit = fs::read_to_string(dir.join("junit.xml")).unwrap();
        let r = quick_junit::Report::deserialize_from_str(&junit).unwrap();
        assert_eq!(r.tests, 1, "{junit}");
        let cj: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("cucumber.json")).unwrap()).unwrap();
        assert_eq!(cj.as_array().unwrap().len(), 1);
        assert_eq!(fs::read_to_string(dir.join(EVENTS_FILE)).unwrap().lines().count(), first_end + 1);
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 4, "{leftovers:?}");
    }
}
