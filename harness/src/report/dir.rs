//! [`ReportDir`]: writes `events.jsonl` (as events arrive) and, when the run finishes,
//! `cucumber.json`, `junit.xml` and `report.html` into one directory; also re-renders a
//! directory from its `events.jsonl`.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::error::ReportError;
use super::events::RunEvent;
use super::imp::{EventLogSink, Format, Reporter, read_events};
use super::model::RunRecord;

/// File name of the raw event log in a report directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// A report directory; as a [`Reporter`] it logs events and writes the reports at the end.
pub struct ReportDir {
    dir: PathBuf,
    log: EventLogSink<BufWriter<File>>,
    record: RunRecord,
    written: bool,
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
        Ok(ReportDir { dir, log, record: RunRecord::default(), written: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the three report files for `rec` into `dir`; returns their paths.
    pub fn write_reports(dir: &Path, rec: &RunRecord) -> Result<Vec<PathBuf>, ReportError> {
        let mut written = Vec::new();
        for format in Format::ALL {
            let path = dir.join(format.file_name());
            // Write to a temporary name first so a reader never sees half a report.
            let tmp = dir.join(format!(".{}.tmp", format.file_name()));
            let file = File::create(&tmp).map_err(|e| write_err(&tmp, e))?;
            let mut w = BufWriter::new(file);
            format.render(rec, &mut w).map_err(|e| write_err(&path, e))?;
            w.into_inner().map_err(|e| write_err(&path, e.into_error()))?.sync_all().map_err(|e| write_err(&path, e))?;
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
        if self.record.is_finished() && !self.written {
            self.write_now()?;
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
}
