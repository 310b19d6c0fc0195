//! Faults on a live lab, through the narrow seam [`FaultDriver`] ([`LabFaults`] over
//! `fault::FaultLab`; a recording fake in the tests), and what the run does with them:
//! inject (remembered, so an interrupted run heals it), settle (poll fresh evidence until the
//! checks a fault breaks fail and the others pass), heal.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::{BoxFuture, LocalBoxFuture};

use crate::checks::{Outcome, Verdict};
use crate::config::Profile;
use crate::evidence::{Evidence, Probe};
use crate::fault::{FaultKind, FaultLab};
use crate::lab::{Lab, LabState};
use crate::remote::RemoteShell;

use super::RunnerError;
use super::gather::{ClusterTransport, gather_live, probes_of};
use super::run::Run;

/// The live lab as fault scenarios act on it.
pub trait FaultDriver: Send + Sync {
    /// The lab's profile.
    fn profile(&self) -> Profile;
    /// The lab's node names, in config order.
    fn nodes(&self) -> Vec<String>;
    /// Reverts every node to snapshot `name` and waits until each answers SSH; a summary.
    fn revert<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, RunnerError>>;
    /// Injects `kind`; what was done, on which node.
    fn inject(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>>;
    /// Heals `kind` the guide's way; what was done.
    fn heal(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>>;
    /// Fresh evidence for the probes `checks` read (the live run's profile rule applies). Not
    /// `Send`: `evidence::gather` holds its probe filter across awaits.
    fn gather<'a>(&'a self, checks: &'a [&'a str]) -> LocalBoxFuture<'a, Result<Evidence, RunnerError>>;
    /// Waits up to `budget` for `node` to answer SSH; how long it took.
    fn wait_ssh<'a>(&'a self, node: &'a str, budget: Duration) -> BoxFuture<'a, Result<Duration, RunnerError>>;
}

/// The real driver: a running lab, its state and SSH to its nodes.
pub struct LabFaults {
    lab: Lab,
    state: LabState,
    shell: Arc<dyn RemoteShell>,
}

impl LabFaults {
    /// Faults on `lab` (in `state`), over `shell`.
    pub fn new(lab: Lab, state: LabState, shell: Arc<dyn RemoteShell>) -> Self {
        LabFaults { lab, state, shell }
    }

    fn fault_lab(&self) -> FaultLab<'_> {
        FaultLab::new(&self.lab, &self.state, self.shell.clone())
    }
}

impl FaultDriver for LabFaults {
    fn profile(&self) -> Profile {
        self.lab.config().profile
    }

    fn nodes(&self) -> Vec<String> {
        self.state.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn revert<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, RunnerError>> {
        Box::pin(async move {
            let t = self.lab.snapshot_revert(&self.state, name).await?;
            let fl = self.fault_lab();
            for n in &self.state.nodes {
                self.shell.forget(&n.name).await;
                fl.wait_ssh(&n.name, Duration::from_secs(120)).await?;
            }
            Ok(format!("{} nodes reverted to `{name}` in {:.1} s and answer ssh", self.state.nodes.len(), t.as_secs_f64()))
        })
    }

    fn inject(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>> {
        Box::pin(async move {
            let f = self.fault_lab().inject(kind, None).await?;
            Ok(format!("on {}: {}", f.node, f.detail))
        })
    }

    fn heal(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>> {
        Box::pin(async move { Ok(self.fault_lab().heal(kind, None).await?) })
    }

    fn gather<'a>(&'a self, checks: &'a [&'a str]) -> LocalBoxFuture<'a, Result<Evidence, RunnerError>> {
        Box::pin(async move {
            let probes = probes_of(checks);
            let select = move |p: &Probe| probes.contains(p.id);
            let shell: Arc<dyn crate::remote::RemoteShell> = self.shell.clone();
            gather_live(shell, self.lab.config(), ClusterTransport::Kubectl, &select, Some((&self.lab, &self.state)), None).await
        })
    }

    fn wait_ssh<'a>(&'a self, node: &'a str, budget: Duration) -> BoxFuture<'a, Result<Duration, RunnerError>> {
        Box::pin(async move { Ok(self.fault_lab().wait_ssh(node, budget).await?) })
    }
}

/// The end of a settle loop.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The last verdict of each check, in the order asked.
    pub verdicts: Vec<(String, Verdict)>,
    /// The reports' view of each (with the facts read).
    pub views: Vec<crate::report::VerdictView>,
    /// How long it took.
    pub elapsed: Duration,
    /// What did not come out as wanted (empty: settled).
    pub failures: Vec<String>,
}

impl Run {
    fn driver(&self) -> &Arc<dyn FaultDriver> {
        self.faults().expect("fault steps run only on a live lab (the steps skip otherwise)")
    }

    /// Injects `kind` and remembers it until it is healed.
    pub async fn inject(&self, kind: FaultKind) -> Result<String, RunnerError> {
        // Remembered first: a cut in the middle of the injection still heals it.
        self.injected(kind);
        self.driver().inject(kind).await
    }

    /// Heals `kind` the guide's way.
    pub async fn heal(&self, kind: FaultKind) -> Result<String, RunnerError> {
        let d = self.driver().heal(kind).await?;
        self.healed(kind);
        Ok(d)
    }

    /// Heals what this run injected and did not heal (after an interrupt): per fault, what was
    /// done or why it could not be.
    pub async fn heal_injected(&self) -> Vec<(FaultKind, Result<String, String>)> {
        let mut out = Vec::new();
        for kind in self.in_place() {
            let r = self.heal(kind).await.map_err(|e| e.to_string());
            out.push((kind, r));
        }
        out
    }

    /// Polls fresh evidence every `poll` until every check in `want_fail` fails with a
    /// remediation and every one in `want_pass` passes, or `budget` is spent.
    pub async fn settle(&self, want_fail: &[&str], want_pass: &[&str], budget: Duration, poll: Duration) -> Result<Settled, RunnerError> {
        let t0 = Instant::now();
        let all: Vec<&str> = want_fail.iter().chain(want_pass).copied().collect();
        let ok = |id: &str, v: &Verdict| {
            if want_fail.contains(&id) {
                matches!(&v.outcome, Outcome::Fail { remediation, .. } if !remediation.is_empty())
            } else {
                v.is_pass()
            }
        };
        loop {
            let ev = self.driver().gather(&all).await?;
            let source = format!("live, gathered for this step at {} ({})", chrono::Utc::now().format("%H:%M:%S"), ev.header.source);
            let judged: Vec<_> = all.iter().map(|id| self.judge_over(id, &ev, &source).expect("known check")).collect();
            let views = judged.iter().map(|j| j.view.clone()).collect();
            let verdicts: Vec<(String, Verdict)> = all.iter().zip(judged).map(|(id, j)| (id.to_string(), j.verdict)).collect();
            let failures: Vec<String> = verdicts
                .iter()
                .filter(|(id, v)| !ok(id, v))
                .map(|(id, v)| {
                    format!("{id}: wanted {}, got {v}", if want_fail.contains(&id.as_str()) { "fail with a remediation" } else { "pass" })
                })
                .collect();
            if failures.is_empty() || t0.elapsed() >= budget {
                return Ok(Settled { verdicts, views, elapsed: t0.elapsed(), failures });
            }
            tokio::time::sleep(poll).await;
        }
    }
}
