//! [`LabWorld`]: per-scenario state — the shared run context and the verdicts of its steps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubelab::checks::{self, Outcome, Verdict};
use kubelab::evidence::Evidence;

/// Shared, read-only context of one conformance run.
pub struct RunContext {
    /// The evidence judged.
    pub evidence: Evidence,
    /// Where it came from (for every verdict).
    pub source: String,
    /// The running lab, when the run is live (fault scenarios need it).
    pub live: Option<LiveLab>,
}

/// A running lab the fault scenarios act on.
pub struct LiveLab {
    /// The lab.
    pub lab: kubelab::lab::Lab,
    /// Its recorded state.
    pub state: kubelab::lab::LabState,
    /// SSH to its nodes.
    pub shell: Arc<dyn kubelab::remote::RemoteShell>,
}

/// The context of the run in progress (cucumber builds Worlds without arguments).
pub static CONTEXT: Mutex<Option<Arc<RunContext>>> = Mutex::new(None);

/// One step's verdict.
#[derive(Clone, Debug)]
pub struct StepVerdict {
    /// Check judged (or the action taken, for fault steps).
    pub check_id: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Time taken.
    pub duration: Duration,
    /// The step's own outcome when it differs from the verdict's (a fault step passes when the
    /// check it expects to fail fails). `None`: the verdict decides.
    pub step_passed: Option<bool>,
}

/// The World of a scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct LabWorld {
    ctx: Arc<RunContext>,
    /// Check ids allowed by the scenario's `@check:` tags (set by the before hook).
    pub allowed: Vec<String>,
    /// Verdicts in step order.
    pub verdicts: Vec<StepVerdict>,
    /// Fault injected in this scenario.
    pub fault: Option<kubelab::fault::FaultKind>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunContext({})", self.source)
    }
}

impl LabWorld {
    /// The run context.
    pub fn ctx(&self) -> &Arc<RunContext> {
        &self.ctx
    }

    fn new() -> Self {
        let ctx = CONTEXT.lock().expect("poisoned").clone().expect("conformance context set before the run");
        LabWorld { ctx, allowed: Vec::new(), verdicts: Vec::new(), fault: None }
    }

    /// Judges check `id`; a failure panics with expected / found / remediation (cucumber marks
    /// the step failed). Skips never reach here: such scenarios are not run (see the runner).
    pub fn judge(&mut self, id: &str) {
        assert!(
            self.allowed.iter().any(|a| a == id),
            "step judges `{id}` but the scenario's @check tags are {:?}: fix the feature file",
            self.allowed
        );
        let t = Instant::now();
        let verdict = checks::run(id, &self.ctx.evidence).unwrap_or_else(|e| panic!("{e}"));
        self.verdicts.push(StepVerdict { check_id: id.into(), verdict: verdict.clone(), duration: t.elapsed(), step_passed: None });
        match verdict.outcome {
            Outcome::Pass { .. } => {}
            Outcome::Fail { expected, found, remediation } => {
                panic!("{id} failed ({})\n  expected: {expected}\n  found:    {found}\n  fix:      {remediation}", self.ctx.source)
            }
            Outcome::Skip { reason } => panic!("{id} could not be judged: {reason}"),
        }
    }
}
