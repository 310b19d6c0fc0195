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
        Provisioner { shell, plan, filter: StepFilter::default(), log_dir: None, events: None }
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
        let out = self.exec(step.id, "action", node, &self.plan.script_for(node, &action), redactor).await?;
        if !out.success() {
            let mut message = format!("action exited with status {}", out.exit_status);
            if step.id == "kubeadm.join" && token_refused(&out.stderr) {
                message.push_str("; the join token was refused: the token expires after 24 h: run `kubeadm token create` on node0");
            }
            return Err(Failure { message: red(redactor, &message), stderr_tail: tail(&red(redactor, &out.stderr)) });
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
mod tests {
    use std::collections::{BTreeSet, HashSet};
    use std::sync::Arc;

    use super::*;
    use crate::config::{LabConfig, Profile};
    use crate::provision::plan::{NEEDS_GUIDE_PROFILE, StepNodes};
    use crate::remote::fake::{FakeCall, FakeShell};

    const TOKEN: &str = "k7x2qa.4bq9z0c1d2e3f4g5";
    const HASH: &str = "0b8c2f0e9d6a4e1f7c3b5a29d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9";

    fn guide_plan() -> Plan {
        Plan::from_config(&LabConfig { profile: Profile::Guide, ..LabConfig::default() }).unwrap()
    }

    /// `(step id, kind)` from the script header.
    fn step_of(script: &str) -> Option<(String, String)> {
        let rest = &script[script.find("# kubelab step ")? + 15..];
        let (id, rest) = rest.split_once(" (")?;
        let (kind, _) = rest.split_once(')')?;
        Some((id.to_string(), kind.to_string()))
    }

    /// A fake node that is not in the wanted state until the step's action ran on it.
    fn converging(latency: Duration) -> FakeShell {
        let mut shell = FakeShell::new();
        shell.latency = latency;
        let done: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
        shell.respond(move |node, script| {
            if script.contains("kubelab: join credentials") {
                return Some(ExecOutput::ok(format!("token={TOKEN}\nhash={HASH}\n")));
            }
            let (id, kind) = step_of(script)?;
            let mut done = done.lock().unwrap();
            Some(match kind.as_str() {
                "check" if done.contains(&(node.to_string(), id.clone())) => ExecOutput::ok(""),
                "check" => ExecOutput { stdout: format!("{id} not yet\n"), stderr: String::new(), exit_status: 1 },
                _ => {
                    done.insert((node.to_string(), id));
                    ExecOutput::ok("done\n")
                }
            })
        });
        shell
    }

    fn calls_of<'c>(calls: &'c [FakeCall], id: &str, kind: &str) -> Vec<&'c FakeCall> {
        calls.iter().filter(|c| step_of(&c.script) == Some((id.to_string(), kind.to_string()))).collect()
    }

    fn collect_events() -> (Arc<Mutex<Vec<ProvisionEvent>>>, impl Fn(ProvisionEvent) + Send + Sync) {
        let events: Arc<Mutex<Vec<ProvisionEvent>>> = Arc::default();
        let sink = {
            let events = events.clone();
            move |e: ProvisionEvent| events.lock().unwrap().push(e)
        };
        (events, sink)
    }

    #[tokio::test]
    async fn guide_plan_runs_in_order_concurrently_and_converges() {
        let plan = guide_plan();
        let shell = converging(Duration::from_millis(25));
        let logs = tempfile::tempdir().unwrap();
        let (events, sink) = collect_events();
        let report = Provisioner::new(&shell, &plan).log_dir(logs.path()).on_event(&sink).run().await.unwrap();
        let calls = shell.calls();

        // Step order = plan order minus the two offline-only steps.
        let mut order: Vec<String> = Vec::new();
        for c in &calls {
            if let Some((id, _)) = step_of(&c.script)
                && order.last() != Some(&id)
            {
                order.push(id);
            }
        }
        let expected: Vec<&str> = plan.steps.iter().filter(|s| s.skip.is_none()).map(|s| s.id).collect();
        assert_eq!(order, expected);
        assert_eq!(expected.len(), 24);

        // Nodes each step ran on.
        let all: BTreeSet<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        for step in plan.steps.iter().filter(|s| s.skip.is_none()) {
            let ran: BTreeSet<&str> = calls_of(&calls, step.id, "action").iter().map(|c| c.node.as_str()).collect();
            let want: BTreeSet<&str> = match step.nodes {
                StepNodes::All => all.clone(),
                StepNodes::ControlPlane => ["ICE-k8s-machines-node0"].into(),
                StepNodes::Workers => ["ICE-k8s-machines-node1", "ICE-k8s-machines-node2"].into(),
            };
            assert_eq!(ran, want, "{}", step.id);
            // Every (step, node): check, action, re-check.
            assert_eq!(calls_of(&calls, step.id, "check").len(), 2 * want.len(), "{}", step.id);
        }

        // All-node steps overlapped across the three nodes.
        for step in plan.steps.iter().filter(|s| s.skip.is_none() && s.nodes == StepNodes::All) {
            let actions = calls_of(&calls, step.id, "action");
            let last_start = actions.iter().map(|c| c.started).max().unwrap();
            let first_end = actions.iter().map(|c| c.finished).min().unwrap();
            assert!(last_start < first_end, "{}: actions on the 3 nodes did not overlap", step.id);
        }

        // Join only after init; credentials fetched once, on node0, between them.
        let init_end = calls_of(&calls, "kubeadm.init", "check").iter().map(|c| c.finished).max().unwrap();
        let creds: Vec<&FakeCall> = calls.iter().filter(|c| c.script.contains("kubelab: join credentials")).collect();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].node, "ICE-k8s-machines-node0");
        assert!(creds[0].started >= init_end);
        for j in calls_of(&calls, "kubeadm.join", "action") {
            assert!(j.started >= creds[0].finished);
            assert!(j.script.contains(&format!("--token '{TOKEN}' --discovery-token-ca-cert-hash 'sha256:{HASH}'")));
            assert!(!j.script.contains("@@"));
        }

        // Report and events agree; every (step, node) changed; skipped steps have their reason.
        assert_eq!(report.changed(), 3 * 11 + 2 + 12);
        assert_eq!(
            report.status("bgp.bird-mesh", "ICE-k8s-machines-node1"),
            Some(&StepStatus::Skipped { reason: "calico provides the BGP mesh in the guide profile".into() })
        );
        let events = events.lock().unwrap().clone();
        let finished = events.iter().filter(|e| matches!(e.kind, ProvisionEventKind::Finished { .. })).count();
        assert_eq!(finished, report.outcomes.len());
        let started = events.iter().filter(|e| e.kind == ProvisionEventKind::Started).count();
        assert_eq!(started, report.changed());

        // Logs: one per node, secrets never written.
        for n in &plan.nodes {
            let log = std::fs::read_to_string(log_path(logs.path(), &n.name)).unwrap();
            assert!(log.contains("step host.sysctl action: exit 0"), "{log}");
            assert!(!log.contains(TOKEN) && !log.contains(HASH));
        }

        // Second run: every check answers 0 → all unchanged, no action ran.
        let settled = FakeShell::new();
        let report = Provisioner::new(&settled, &plan).run().await.unwrap();
        assert!(report.outcomes.iter().all(|o| matches!(o.status, StepStatus::Unchanged | StepStatus::Skipped { .. })));
        assert_eq!(report.outcomes.iter().filter(|o| o.status == StepStatus::Unchanged).count(), 3 * 11 + 2 + 12);
        let calls = settled.calls();
        assert!(calls.iter().all(|c| c.script.contains(" (check)\n")), "an action ran on the second run");
        assert!(!calls.iter().any(|c| c.script.contains("join credentials")));
    }

    #[tokio::test]
    async fn offline_plan_skips_kubernetes_steps_and_never_runs_them() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let shell = converging(Duration::ZERO);
        let (events, sink) = collect_events();
        let report = Provisioner::new(&shell, &plan).on_event(&sink).run().await.unwrap();
        let kube: Vec<&Step> = plan.steps.iter().filter(|s| s.skip.as_deref() == Some(NEEDS_GUIDE_PROFILE)).collect();
        assert_eq!(kube.len(), 15);
        let calls = shell.calls();
        for s in &kube {
            assert!(!calls.iter().any(|c| step_of(&c.script).is_some_and(|(id, _)| id == s.id)), "{} ran", s.id);
            for o in report.outcomes.iter().filter(|o| o.step_id == s.id) {
                assert_eq!(o.status, StepStatus::Skipped { reason: NEEDS_GUIDE_PROFILE.into() });
            }
        }
        let events = events.lock().unwrap();
        assert!(!events.iter().any(|e| e.kind == ProvisionEventKind::Started && kube.iter().any(|s| s.id == e.step_id)));
        assert_eq!(report.status("bgp.bird-mesh", "ICE-k8s-machines-node2"), Some(&StepStatus::Changed));
        assert_eq!(report.status("net.ipip-tunnels", "ICE-k8s-machines-node0"), Some(&StepStatus::Changed));
        assert_eq!(report.changed(), 11 * 3);
    }

    #[tokio::test]
    async fn a_failed_step_stops_the_run_after_its_siblings_and_names_step_node_and_stderr() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let failing = FakeShell::new();
        let inner = converging(Duration::ZERO);
        failing.respond(move |node, script| {
            if node == "ICE-k8s-machines-node1" && script.contains("# kubelab step host.sysctl (action)") {
                return Some(ExecOutput::failed(
                    255,
                    "line 1\nsysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory\n",
                ));
            }
            let out = futures::executor::block_on(inner.run(node, script)).ok()?;
            Some(out)
        });
        let err = Provisioner::new(&failing, &plan).run().await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("step host.sysctl failed on ICE-k8s-machines-node1: action exited with status 255"), "{text}");
        assert!(text.contains("bridge-nf-call-iptables: No such file"), "{text}");
        let calls = failing.calls();
        // The siblings finished (re-checked), nothing later ran.
        assert_eq!(calls_of(&calls, "host.sysctl", "check").len(), 2 + 2 + 1);
        assert!(calls_of(&calls, "host.firewall-off", "check").is_empty());
    }

    #[tokio::test]
    async fn expired_join_token_fails_loudly_with_the_fix_and_no_secret_leaks() {
        let plan = guide_plan();
        let inner = converging(Duration::ZERO);
        let shell = FakeShell::new();
        shell.respond(move |node, script| {
            if script.contains("# kubelab step kubeadm.join (action)") {
                return Some(ExecOutput {
                    stdout: format!("[preflight] Running pre-flight checks\nkubeadm join 192.168.1.134:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{HASH}\n"),
                    stderr: format!(
                        "I0501 kubeadm join --token {TOKEN}\nerror execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"k7x2qa\"\n"
                    ),
                    exit_status: 1,
                });
            }
            futures::executor::block_on(inner.run(node, script)).ok()
        });
        let logs = tempfile::tempdir().unwrap();
        let (events, sink) = collect_events();
        let err = Provisioner::new(&shell, &plan).log_dir(logs.path()).on_event(&sink).run().await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("step kubeadm.join failed on ICE-k8s-machines-node1"), "{text}");
        assert!(text.contains("the token expires after 24 h: run `kubeadm token create` on node0"), "{text}");
        assert!(text.contains("could not find a JWS signature"), "{text}");
        assert!(!text.contains(TOKEN) && !text.contains(HASH), "{text}");
        let ev = format!("{:?}", events.lock().unwrap());
        assert!(!ev.contains(TOKEN) && !ev.contains(&HASH[..20]), "{ev}");
        for n in &plan.nodes {
            let log = std::fs::read_to_string(log_path(logs.path(), &n.name)).unwrap();
            assert!(!log.contains(TOKEN) && !log.contains(&HASH[..20]), "{log}");
            if n.name.ends_with("node2") {
                assert!(log.contains("--token [REDACTED] --discovery-token-ca-cert-hash sha256:[REDACTED]"), "{log}");
            }
        }
    }

    #[tokio::test]
    async fn kubeconfig_output_is_redacted_in_logs() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let shell = FakeShell::new();
        shell.on("*", "host.hosts-file (check)", ExecOutput::ok("apiVersion: v1\nusers:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0Eg\n    token: eyJhbGciOiJSUzI1NiJ9.x\n"));
        let logs = tempfile::tempdir().unwrap();
        let only = StepFilter { only: vec!["host.hosts-file".into()], ..Default::default() };
        let report = Provisioner::new(&shell, &plan).filter(only).log_dir(logs.path()).run().await.unwrap();
        assert_eq!(report.outcomes.iter().filter(|o| o.status == StepStatus::Unchanged).count(), 3);
        let log = std::fs::read_to_string(log_path(logs.path(), "ICE-k8s-machines-node0")).unwrap();
        assert!(log.contains("client-key-data: [REDACTED]") && log.contains("token: [REDACTED]"), "{log}");
        assert!(!log.contains("LS0tLS1") && !log.contains("eyJhbG"), "{log}");
        assert_eq!(shell.calls().len(), 3, "--only ran other steps");
    }
}
