//! Runs the selected scenarios of the feature files through cucumber, for real: each step
//! judges its check (or acts on the live lab) when it executes and reports through the
//! [`Run`], which emits the events to the report sinks as they happen.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::features::{FeatureDir, RunError};
use super::world::LabWorld;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{self, GherkinEnv};
use cucumber::tag::Ext as _;
use cucumber::{World as _, WriterExt as _, writer};
use futures::FutureExt as _;
use kubelab::checks;
use kubelab::evidence::Evidence;
use kubelab::report::{Fanout, ReportDir, RunEvent, TerminalSink};
use kubelab::runner::{Run, RunHeader, Summary, until_cancelled};

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Directory of `.feature` files; `None`: the ones embedded in the binary.
    pub features: Option<PathBuf>,
    /// Cucumber tag expression, e.g. `@host and not @k8s`.
    pub tags: Option<String>,
    /// Only scenarios whose name contains this.
    pub name: Option<String>,
    /// `name` must equal the scenario's name, not merely be contained in it.
    pub exact: bool,
}

/// Parses a `--tags` expression.
pub fn parse_tags(expr: &str) -> Result<TagOperation, RunError> {
    expr.parse().map_err(|e| RunError::BadTags { expr: expr.to_string(), message: format!("{e}") })
}

#[derive(Clone)]
struct Selection {
    tags: Option<TagOperation>,
    name: Option<String>,
    exact: bool,
}

impl Selection {
    fn admits(&self, f: &gherkin::Feature, sc: &gherkin::Scenario) -> bool {
        let tags: Vec<&str> = f.tags.iter().chain(sc.tags.iter()).map(String::as_str).collect();
        self.tags.as_ref().is_none_or(|op| op.eval(tags.iter().copied()))
            && self.name.as_ref().is_none_or(|n| if self.exact { sc.name == *n } else { sc.name.contains(n.as_str()) })
    }
}

/// Refuses feature files that name checks or faults kubelab does not have, or scenarios with
/// neither tag; returns how many scenarios the selection admits.
fn validate(dir: &Path, sel: &Selection) -> Result<usize, RunError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RunError::Features { path: dir.display().to_string(), message: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    let mut admitted = 0;
    for f in files {
        let feat = gherkin::Feature::parse_path(&f, GherkinEnv::default())
            .map_err(|e| RunError::Features { path: f.display().to_string(), message: format!("not valid Gherkin: {e}") })?;
        // As cucumber runs them: a Scenario Outline is one scenario per Examples row.
        let feat = cucumber::feature::Ext::expand_examples(feat)
            .map_err(|e| RunError::Features { path: f.display().to_string(), message: format!("Scenario Outline: {e}") })?;
        let path = format!("features/{}", f.file_name().expect("file").to_string_lossy());
        for sc in &feat.scenarios {
            let at = format!("{path}:{}", sc.position.line);
            let unknown = |what: &'static str, id: &str, known: Vec<&str>| RunError::UnknownId {
                at: at.clone(),
                what,
                id: id.to_string(),
                known: known.join(", "),
            };
            let checks: Vec<&str> = sc.tags.iter().filter_map(|t| t.strip_prefix("check:")).collect();
            let faults = super::world::scenario_fault(sc);
            for id in &checks {
                if checks::spec(id).is_none() {
                    return Err(unknown("check", id, checks::CHECKS.iter().map(|c| c.id).collect()));
                }
            }
            if let Some(Err(id)) = faults.iter().find(|f| f.is_err()) {
                return Err(unknown("fault", id, kubelab::fault::ALL.iter().map(|k| k.id()).collect()));
            }
            if checks.is_empty() && faults.is_empty() {
                return Err(RunError::Features {
                    path: at,
                    message: format!("scenario `{}` has no @check:<id> tag (nor a fault to inject)", sc.name),
                });
            }
            admitted += usize::from(sel.admits(&feat, sc));
        }
    }
    Ok(admitted)
}

/// Runs the selected scenarios: `RunStarted` (then `extra`, e.g. the provisioning timeline),
/// each scenario as cucumber executes it, `RunFinished`. When `cancel` completes first, the
/// run's faults are healed and the reports closed ([`RunError::Interrupted`]).
pub async fn run(run: Arc<Run>, opts: &CheckOptions, extra: Vec<RunEvent>, cancel: impl Future<Output = ()>) -> Result<Summary, RunError> {
    let features = FeatureDir::resolve(opts.features.as_deref())?;
    let sel = Selection { tags: opts.tags.as_deref().map(parse_tags).transpose()?, name: opts.name.clone(), exact: opts.exact };
    let admitted = validate(features.path(), &sel)?;
    run.start(extra).map_err(|e| RunError::Other(e.into()))?;
    if admitted > 0 {
        let (r1, r2) = (run.clone(), run.clone());
        let cuke = LabWorld::cucumber()
            // The reports and the terminal are fed by the run's sinks; cucumber's own writer
            // only has to say whether the execution failed (skipped steps count as failures).
            .with_writer(writer::Basic::new(std::io::sink(), writer::Coloring::Never, writer::Verbosity::Default).summarized())
            .with_default_cli()
            .max_concurrent_scenarios(1)
            .fail_on_skipped()
            .before(move |f, _r, sc, w| {
                w.enter(r1.clone(), f, sc);
                async {}.boxed_local()
            })
            .after(move |_f, _r, _sc, finished, w| {
                if let Some(w) = w {
                    w.leave(finished);
                } else {
                    let _ = r2.scenario_finished(kubelab::report::TestStatus::Failed { message: format!("cucumber: {finished:?}") });
                }
                async {}.boxed_local()
            });
        let sel2 = sel.clone();
        let work = cuke.filter_run(features.path().to_path_buf(), move |f, _r, s| sel2.admits(f, s));
        if let Err(i) = until_cancelled(&run, work, cancel).await {
            return Err(RunError::Interrupted(i.to_string()));
        }
    }
    run.finish().map_err(|e| RunError::Other(e.into()))
}

/// A run over `evidence` reporting to the terminal (unless `quiet`) and to `report_dir`
/// (events.jsonl, junit.xml, cucumber.json, report.html), each as events happen.
pub fn new_run(header: RunHeader, evidence: Evidence, report_dir: Option<&Path>, quiet: bool) -> Result<Run, RunError> {
    let mut sinks = Fanout::new();
    if !quiet {
        sinks.push(TerminalSink::stdout());
    }
    if let Some(d) = report_dir {
        sinks.push(ReportDir::create(d)?);
    }
    Ok(Run::new(header, evidence, Box::new(sinks)))
}

/// Judges `evidence` (a recorded bundle) with the scenarios `opts` selects: no live lab, no
/// interruption handling (the caller's process exits on a signal).
pub async fn judge_recorded(
    header: RunHeader,
    evidence: Evidence,
    opts: &CheckOptions,
    report_dir: Option<&Path>,
    quiet: bool,
) -> Result<Summary, RunError> {
    let r = Arc::new(new_run(header, evidence, report_dir, quiet)?);
    run(r, opts, Vec::new(), std::future::pending()).await
}
