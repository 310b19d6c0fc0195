//! [`Provisioner`]: runs a [`Plan`] over a [`RemoteShell`]: steps in order, an all-node step on
//! its nodes concurrently, check → action → re-check per node, [`ProvisionEvent`]s out,
//! redacted per-node logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::OnceCell;

use crate::remote::{ExecOutput, RemoteShell};

use super::ProvisionError;
use super::plan::{Plan, PlanNode, Step, StepFilter};
use super::redact::Redactor;
use super::scripts::{CA_HASH_PLACEHOLDER, JOIN_TOKEN_PLACEHOLDER};
use super::waits::{ClusterWaits, StepWait};

/// How one (step, node) ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum StepStatus {
    /// The check failed, the action ran, the re-check passed.
    Changed,
    /// The check passed; no action ran.
    Unchanged,
    /// The action failed, or the re-check still failed, or the node could not be reached.
    Failed {
        /// What went wrong (redacted).
        message: String,
    },
    /// Nothing ran.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProvisionEventKind {
    /// The step's check is about to run on the node (not sent for skipped steps).
    Started,
    /// The step is done on the node.
    Finished {
        /// Outcome.
        status: StepStatus,
        /// Wall time of check + action + re-check.
        duration: Duration,
        /// A `note: ...` line the check printed (e.g. "ufw is not installed").
        note: Option<String>,
    },
}

/// One event of a provisioning run (the lead bridges these to the report layer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProvisionEvent {
    /// Step id.
    pub step_id: String,
    /// Node name.
    pub node: String,
    /// What happened.
    pub kind: ProvisionEventKind,
}

/// The result for one (step, node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    /// Step id.
    pub step_id: String,
    /// Node name.
    pub node: String,
    /// Outcome.
    pub status: StepStatus,
    /// Wall time.
    pub duration: Duration,
    /// `note:` line from the check, if any.
    pub note: Option<String>,
}

/// Every outcome of a successful run, in plan order (nodes in config order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProvisionReport {
    /// The outcomes.
    pub outcomes: Vec<StepOutcome>,
}

impl ProvisionReport {
    /// The outcome of `step` on `node`.
    pub fn status(&self, step: &str, node: &str) -> Option<&StepStatus> {
        self.outcomes.iter().find(|o| o.step_id == step && o.node == node).map(|o| &o.status)
    }
    /// Number of (step, node) pairs that changed.
    pub fn changed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.status == StepStatus::Changed).count()
    }
}

type EventSink<'a> = &'a (dyn Fn(ProvisionEvent) + Send + Sync);

/// Runs a plan. Build with [`Provisioner::new`], configure, then [`Provisioner::run`].
pub struct Provisioner<'a> {
    shell: &'a dyn RemoteShell,
    plan: &'a Plan,
    filter: StepFilter,
    log_dir: Option<PathBuf>,
    events: Option<EventSink<'a>>,
    waits: Option<&'a dyn ClusterWaits>,
}

/// Lines of stderr kept in a failure message.
const TAIL_LINES: usize = 15;

/// What a failed (step, node) leaves for the error.
struct Failure {
    message: String,
    stderr_tail: String,
}

struct JoinCredentials {
    token: String,
    hash: String,
}

impl<'a> Provisioner<'a> {
    /// A provisioner for `plan` over `shell`, every step selected, no log, no events.
    pub fn new(shell: &'a dyn RemoteShell, plan: &'a Plan) -> Self {
        Provisioner { shell, plan, filter: StepFilter::default(), log_dir: None, events: None, waits: None }
    }

    /// The Kubernetes API client the steps' cluster waits go through (nodes Ready, serving
    /// CSRs approved, metrics APIService Available, LoadBalancer ingress): normally
    /// [`crate::kube_api::KubeClusterWaits`]. Without it a step that has a wait fails saying so.
    pub fn cluster_waits(mut self, waits: &'a dyn ClusterWaits) -> Self {
        self.waits = Some(waits);
        self
    }

    /// Selects steps (`--only`, `--from`, `--until`).
    pub fn filter(mut self, filter: StepFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Writes `<dir>/<node>.log` (stdout and stderr of every check and action, redacted).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Receives every event (redacted), in the order they happen.
    pub fn on_event(mut self, sink: EventSink<'a>) -> Self {
        self.events = Some(sink);
        self
    }

    fn emit(&self, step: &str, node: &str, kind: ProvisionEventKind) {
        if let Some(sink) = self.events {
            sink(ProvisionEvent { step_id: step.to_string(), node: node.to_string(), kind });
        }
    }

    /// Runs the selected steps in order. Stops at the first step that failed on any node (after
    /// its concurrent siblings finished) with [`ProvisionError::StepFailed`].
    pub async fn run(&self) -> Result<ProvisionReport, ProvisionError> {
        let selection = self.filter.resolve(self.plan)?;
        if let Some(dir) = &self.log_dir {
            std::fs::create_dir_all(dir).map_err(|e| ProvisionError::Log { path: dir.display().to_string(), message: e.to_string() })?;
        }
        let redactor = Mutex::new(Redactor::new());
        let credentials: OnceCell<JoinCredentials> = OnceCell::new();
        let mut report = ProvisionReport::default();
        for (step, unselected) in self.plan.steps.iter().zip(selection) {
            let targets = self.plan.targets(step);
            let reason = step
                .skip
                .clone()
                .or(unselected)
                .or_else(|| targets.is_empty().then(|| format!("no {:?} nodes in this lab", step.nodes).to_lowercase()));
            if let Some(reason) = reason {
                let nodes: Vec<String> = if targets.is_empty() {
                    vec![self.plan.control_plane().name.clone()]
                } else {
                    targets.iter().map(|n| n.name.clone()).collect()
                };
                for node in nodes {
                    let status = StepStatus::Skipped { reason: reason.clone() };
                    self.emit(
                        step.id,
                        &node,
                        ProvisionEventKind::Finished { status: status.clone(), duration: Duration::ZERO, note: None },
                    );
                    report.outcomes.push(StepOutcome { step_id: step.id.into(), node, status, duration: Duration::ZERO, note: None });
                }
                continue;
            }
            let results = futures::future::join_all(targets.iter().map(|node| self.run_on(step, node, &redactor, &credentials))).await;
            let mut first_failure = None;
            for (node, (outcome, failure)) in targets.iter().zip(results) {
                report.outcomes.push(outcome);
                if let (Some(f), None) = (failure, &first_failure) {
                    first_failure = Some((node.name.clone(), f));
                }
            }
            if let Some((node, f)) = first_failure {
                return Err(ProvisionError::StepFailed { step: step.id.to_string(), node, message: f.message, stderr_tail: f.stderr_tail });
            }
        }
        Ok(report)
    }

    /// check → (action → re-check) on one node.
    async fn run_on(
        &self,
        step: &Step,
        node: &PlanNode,
        redactor: &Mutex<Redactor>,
        credentials: &OnceCell<JoinCredentials>,
    ) -> (StepOutcome, Option<Failure>) {
        let started = Instant::now();
        self.emit(step.id, &node.name, ProvisionEventKind::Started);
        let result = self.converge(step, node, redactor, credentials).await;
        let duration = started.elapsed();
        let (status, note, failure) = match result {
            Ok((changed, note)) => (if changed { StepStatus::Changed } else { StepStatus::Unchanged }, note, None),
            Err(f) => (StepStatus::Failed { message: f.message.clone() }, None, Some(f)),
        };
        self.emit(step.id, &node.name, ProvisionEventKind::Finished { status: status.clone(), duration, note: note.clone() });
        (StepOutcome { step_id: step.id.into(), node: node.name.clone(), status, duration, note }, failure)
    }

    /// `Ok((changed, note))` or the failure.
    async fn converge(
        &self,
        step: &Step,
        node: &PlanNode,
        redactor: &Mutex<Redactor>,
        credentials: &OnceCell<JoinCredentials>,
    ) -> Result<(bool, Option<String>), Failure> {
        let check_script = self.plan.script_for(node, &step.check);
        let check = self.exec(step.id, "check", node, &check_script, redactor).await?;
        if check.success() {
            return Ok((false, note_of(&check.stdout, redactor)));
        }
        let mut action = step.action.clone();
        if step.needs_join_credentials {
            let creds = credentials
                .get_or_try_init(|| self.join_credentials(redactor))
                .await
                .map_err(|message| Failure { message, stderr_tail: String::new() })?;
            action = action.replace(JOIN_TOKEN_PLACEHOLDER, &creds.token).replace(CA_HASH_PLACEHOLDER, &creds.hash);
        }
        let out = if action.is_empty() {
            ExecOutput::ok("")
        } else {
            self.exec(step.id, "action", node, &self.plan.script_for(node, &action), redactor).await?
        };
        if !out.success() {
            let mut message = format!("action exited with status {}", out.exit_status);
            if step.id == "kubeadm.join" && token_refused(&out.stderr) {
                message.push_str("; the join token was refused: the token expires after 24 h: run `kubeadm token create` on node0");
            }
            return Err(Failure { message: red(redactor, &message), stderr_tail: tail(&red(redactor, &out.stderr)) });
        }
        if let Some(w) = &step.wait {
            self.cluster_wait(step.id, node, w, redactor).await?;
        }
        let recheck = self.exec(step.id, "re-check", node, &check_script, redactor).await?;
        if !recheck.success() {
            let why = last_line(&recheck.stdout).unwrap_or("no output");
            return Err(Failure {
                message: red(redactor, &format!("the action succeeded but the check still fails: {why}")),
                stderr_tail: tail(&red(redactor, &format!("{}{}", out.stderr, recheck.stderr))),
            });
        }
        Ok((true, note_of(&recheck.stdout, redactor)))
    }

    /// Waits for the step's cluster milestone through [`ClusterWaits`]; logs what was seen.
    async fn cluster_wait(&self, step: &str, node: &PlanNode, w: &StepWait, redactor: &Mutex<Redactor>) -> Result<(), Failure> {
        let Some(waits) = self.waits else {
            return Err(Failure {
                message: format!(
                    "step {step} waits for {} through the Kubernetes API, but this run has no cluster client",
                    w.wait.describe()
                ),
                stderr_tail: String::new(),
            });
        };
        // Kubernetes node names are the lowercased hostnames.
        let names: Vec<String> = self.plan.nodes.iter().map(|n| n.name.to_ascii_lowercase()).collect();
        let t = Instant::now();
        let res = waits.wait(w.wait, &names, Duration::from_secs(w.timeout_secs)).await;
        let title = format!(
            "step {step} wait (kube API) for {}: {} in {} ms",
            w.wait.describe(),
            if res.is_ok() { "reached" } else { "failed" },
            t.elapsed().as_millis()
        );
        match res {
            Ok(seen) => self.log(&node.name, &title, &ExecOutput::ok(format!("{seen}\n")), redactor),
            Err(e) => {
                let message = red(redactor, &crate::errors::error_chain(&e));
                self.log(&node.name, &title, &ExecOutput::failed(e.exit_code() as u32, format!("{message}\n")), redactor)?;
                Err(Failure { message, stderr_tail: String::new() })
            }
        }
    }

    /// Runs a script, logs its output; a transport error becomes a failure.
    async fn exec(&self, step: &str, kind: &str, node: &PlanNode, script: &str, redactor: &Mutex<Redactor>) -> Result<ExecOutput, Failure> {
        let t = Instant::now();
        let result = self.shell.run(&node.name, script).await;
        let elapsed = t.elapsed();
        match result {
            Ok(out) => {
                self.log(
                    &node.name,
                    &format!("step {step} {kind}: exit {} in {} ms", out.exit_status, elapsed.as_millis()),
                    &out,
                    redactor,
                )?;
                Ok(out)
            }
            Err(e) => {
                let message = red(redactor, &format!("{kind} could not run: {e}"));
                self.log(&node.name, &format!("step {step} {kind}: {message}"), &ExecOutput::default(), redactor)?;
                Err(Failure { message, stderr_tail: String::new() })
            }
        }
    }

    /// Token and CA hash from the control plane; both become learned secrets.
    async fn join_credentials(&self, redactor: &Mutex<Redactor>) -> Result<JoinCredentials, String> {
        let cp = self.plan.control_plane();
        let out = self
            .shell
            .run(&cp.name, &self.plan.script_for(cp, &self.plan.join_credentials_script))
            .await
            .map_err(|e| red(redactor, &format!("{e}")))?;
        let field = |k: &str| out.stdout.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string()).unwrap_or_default();
        let (token, hash) = (field("token="), field("hash="));
        let token_ok = token.len() == 23
            && token.as_bytes()[6] == b'.'
            && token.bytes().enumerate().all(|(i, b)| i == 6 || b.is_ascii_lowercase() || b.is_ascii_digit());
        let hash_ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        {
            let mut r = redactor.lock().expect("redactor lock");
            r.add_secret(token.clone());
            r.add_secret(hash.clone());
        }
        let summary = format!(
            "join credentials from {}: exit {}, token {}, CA hash {}",
            cp.name,
            out.exit_status,
            if token_ok { "obtained" } else { "missing" },
            if hash_ok { "obtained" } else { "missing" }
        );
        let redacted_out = ExecOutput { stdout: String::new(), ..out.clone() };
        self.log(&cp.name, &summary, &redacted_out, redactor).map_err(|f| f.message)?;
        if !out.success() || !token_ok || !hash_ok {
            let err = ProvisionError::JoinCredentials {
                node: cp.name.clone(),
                message: format!("{summary}; {}", tail(&red(redactor, &out.stderr))),
            };
            return Err(err.to_string());
        }
        Ok(JoinCredentials { token, hash })
    }

    fn log(&self, node: &str, title: &str, out: &ExecOutput, redactor: &Mutex<Redactor>) -> Result<(), Failure> {
        let Some(dir) = &self.log_dir else { return Ok(()) };
        let path = log_path(dir, node);
        let text = format!(
            "=== {} {title}\n--- stdout\n{}--- stderr\n{}",
            chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
            ensure_nl(&red(redactor, &out.stdout)),
            ensure_nl(&red(redactor, &out.stderr)),
        );
        std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| f.write_all(text.as_bytes())).map_err(|e| {
            Failure {
                message: ProvisionError::Log { path: path.display().to_string(), message: e.to_string() }.to_string(),
                stderr_tail: String::new(),
            }
        })
    }
}

/// `<dir>/<node>.log`.
pub fn log_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("{node}.log"))
}

fn red(redactor: &Mutex<Redactor>, s: &str) -> String {
    redactor.lock().expect("redactor lock").redact(s)
}

fn ensure_nl(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') { s.to_string() } else { format!("{s}\n") }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().rev().find(|l| !l.trim().is_empty())
}

fn note_of(stdout: &str, redactor: &Mutex<Redactor>) -> Option<String> {
    stdout.lines().rev().find_map(|l| l.strip_prefix("note: ")).map(|n| red(redactor, n))
}

fn token_refused(stderr: &str) -> bool {
    ["could not find a JWS signature", "or it has expired", "is invalid for this cluster", "Unauthorized"]
        .iter()
        .any(|p| stderr.contains(p))
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
