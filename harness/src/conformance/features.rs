//! The feature files kubelab judges with: embedded in the binary at build time (so an installed
//! `kubelab` works from any directory), or a directory given with `--features DIR`.

use std::path::{Path, PathBuf};

/// `features/*.feature` as they were when this binary was built (file name, text).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("addons.feature", include_str!("../../../features/addons.feature")),
    ("calico.feature", include_str!("../../../features/calico.feature")),
    ("cluster.feature", include_str!("../../../features/cluster.feature")),
    ("faults.feature", include_str!("../../../features/faults.feature")),
    ("host.feature", include_str!("../../../features/host.feature")),
    ("identity.feature", include_str!("../../../features/identity.feature")),
    ("ipvs.feature", include_str!("../../../features/ipvs.feature")),
    ("outside.feature", include_str!("../../../features/outside.feature")),
    ("tls.feature", include_str!("../../../features/tls.feature")),
];

/// A user-caused error of a check run; each maps to its own exit code at the CLI.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--tags` does not parse as a Cucumber tag expression.
    #[error("bad --tags expression `{expr}`: {message}; write e.g. `@host and not @k8s`")]
    BadTags {
        /// The expression as given.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// A scenario names a check or fault kubelab does not have.
    #[error("{at}: unknown {what} `{id}`; known: {known}")]
    UnknownId {
        /// `file:line` of the scenario.
        at: String,
        /// `check` or `fault`.
        what: &'static str,
        /// The id as written.
        id: String,
        /// The ids that exist.
        known: String,
    },
    /// The feature directory is missing, unreadable, empty, or a file does not parse.
    #[error("features {path}: {message}")]
    Features {
        /// Directory or file.
        path: String,
        /// What is wrong, with the fix.
        message: String,
    },
    /// The reports could not be written.
    #[error(transparent)]
    Report(#[from] kubelab::report::ReportError),
    /// SIGINT/SIGTERM during the run: what was healed and closed.
    #[error("{0}")]
    Interrupted(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Where the feature files of a run are read from: a directory the user named, or the embedded
/// set written to a private temporary directory for the run (removed when this is dropped).
pub struct FeatureDir {
    path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl FeatureDir {
    /// `dir` when given (it must hold at least one `.feature` file), else the embedded features.
    pub fn resolve(dir: Option<&Path>) -> Result<Self, RunError> {
        if let Some(d) = dir {
            let bad = |message: String| RunError::Features { path: d.display().to_string(), message };
            let n = std::fs::read_dir(d)
                .map_err(|e| bad(format!("{e}; pass a directory of .feature files, or drop --features to use the built-in ones")))?
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "feature"))
                .count();
            if n == 0 {
                return Err(bad("holds no .feature file; drop --features to use the built-in ones".into()));
            }
            return Ok(FeatureDir { path: d.to_path_buf(), _tmp: None });
        }
        let tmp = tempfile::Builder::new().prefix("kubelab-features-").tempdir().map_err(|e| RunError::Other(e.into()))?;
        for (name, text) in EMBEDDED {
            std::fs::write(tmp.path().join(name), text).map_err(|e| RunError::Other(e.into()))?;
        }
        Ok(FeatureDir { path: tmp.path().to_path_buf(), _tmp: Some(tmp) })
    }

    /// The directory to read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    // Unused where tests/features.rs includes this module (harness = false drops #[test] fns).
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn embedded_set_is_the_features_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "feature"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        on_disk.sort();
        let embedded: Vec<(String, String)> = EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(embedded, on_disk, "add every features/*.feature to EMBEDDED");
    }

    #[test]
    fn embedded_features_are_written_for_the_run_and_removed_after() {
        let fd = FeatureDir::resolve(None).unwrap();
        let p = fd.path().to_path_buf();
        assert_eq!(std::fs::read_dir(&p).unwrap().count(), EMBEDDED.len());
        drop(fd);
        assert!(!p.exists());
    }

    #[test]
    fn a_features_dir_must_hold_features() {
        let d = tempfile::tempdir().unwrap();
        let e = FeatureDir::resolve(Some(d.path())).err().unwrap().to_string();
        assert!(e.contains("holds no .feature file"), "{e}");
        let e = FeatureDir::resolve(Some(&d.path().join("nope"))).err().unwrap().to_string();
        assert!(e.contains("No such file") && e.contains("drop --features"), "{e}");
    }
}
