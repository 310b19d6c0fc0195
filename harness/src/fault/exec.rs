//! [`FaultLab`]: injects and heals the faults of the table ([`super::SPECS`]) on a live lab,
//! through the lab's [`Hypervisor`] and a [`RemoteShell`]; active faults are kept in
//! `<lab_dir>/faults.json`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::spec::{Action, FaultKind, FaultSpec};
use crate::config::LabConfig;
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::{Hypervisor, xml};
use crate::lab::{Lab, LabState, NodeState, port};
use crate::provision::{Plan, Provisioner, StepFilter};
use crate::remote::{BoxFuture, ExecOutput, RemoteShell};
use crate::wait::{self, Attempt, WaitError};

/// An inject or heal step too involved for a table row: gets the fault lab, the kind and the
/// target node, returns what was done (for the report).
pub type ActionFn = for<'a> fn(&'a FaultLab<'a>, FaultKind, &'a NodeState) -> BoxFuture<'a, Result<String, LabError>>;

/// A fault that is in place (persisted in `<lab>/faults.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActiveFault {
    /// Kind.
    pub kind: FaultKind,
    /// Node it was injected on.
    pub node: String,
    /// What was done, for the report.
    pub detail: String,
}

/// Injects and heals faults on a live lab.
pub struct FaultLab<'a> {
    lab: &'a Lab,
    state: &'a LabState,
    shell: Arc<dyn RemoteShell>,
}

fn run_err(node: &str, what: &str, out: &ExecOutput) -> LabError {
    LabError::local(format!("{what} on {node}"), format!("exit {}: {}", out.exit_status, out.stderr.trim()))
}

impl<'a> FaultLab<'a> {
    /// A fault lab over a running lab.
    pub fn new(lab: &'a Lab, state: &'a LabState, shell: Arc<dyn RemoteShell>) -> Self {
        FaultLab { lab, state, shell }
    }

    pub(super) fn cfg(&self) -> &LabConfig {
        self.lab.config()
    }

    pub(super) fn lab(&self) -> &'a Lab {
        self.lab
    }

    pub(super) fn state(&self) -> &'a LabState {
        self.state
    }

    pub(super) fn shell(&self) -> &dyn RemoteShell {
        self.shell.as_ref()
    }

    fn faults_path(&self) -> PathBuf {
        self.cfg().lab_dir().join("faults.json")
    }

    /// Faults currently in place.
    pub fn active(&self) -> Vec<ActiveFault> {
        std::fs::read_to_string(self.faults_path()).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
    }

    fn save(&self, faults: &[ActiveFault]) -> Result<(), LabError> {
        std::fs::write(self.faults_path(), serde_json::to_string_pretty(faults).expect("serialisable"))
            .map_err(|e| LabError::local("write faults.json", e))
    }

    /// The node by name (or the kind's default node).
    pub fn node(&self, kind: FaultKind, name: Option<&str>) -> Result<&'a NodeState, LabError> {
        match name {
            Some(n) => {
                let cfg_node = self.cfg().node(n).ok_or_else(|| LabError::local("select node", format!("unknown node `{n}`")))?;
                self.state
                    .nodes
                    .iter()
                    .find(|s| s.name == cfg_node.name)
                    .ok_or_else(|| LabError::local("select node", format!("node `{n}` is not in the lab")))
            }
            None => Ok(&self.state.nodes[kind.default_node().min(self.state.nodes.len() - 1)]),
        }
    }

    /// Runs `script` on `node`; a non-zero exit is an error naming `what`.
    pub(super) async fn sh(&self, node: &str, what: &str, script: &str) -> Result<ExecOutput, LabError> {
        let out = self.shell.run(node, script).await?;
        if !out.success() {
            return Err(run_err(node, what, &out));
        }
        Ok(out)
    }

    /// Runs hypervisor calls on a blocking thread.
    pub(super) async fn hv<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Hypervisor) -> Result<T, HypervisorError> + Send + 'static,
    ) -> Result<T, LabError> {
        let hv = self.lab.hypervisor().clone();
        Ok(tokio::task::spawn_blocking(move || f(hv.as_ref())).await.expect("blocking task")?)
    }

    /// The nwfilter name of a security-group kind.
    pub fn filter_name(&self, kind: FaultKind) -> String {
        crate::lab::nwfilter_name(&self.cfg().name, kind.id())
    }

    /// The nwfilter of a security-group kind: drops traffic between the nodes only, so the
    /// hypervisor's SSH to the nodes is untouched.
    pub fn filter_xml(&self, kind: FaultKind) -> String {
        let ips: Vec<Ipv4Addr> = self.state.nodes.iter().map(|n| n.ip).collect();
        xml::security_group_xml(&self.filter_name(kind), &ips, kind == FaultKind::SecurityGroup)
    }

    async fn perform(&self, spec: &FaultSpec, action: Action, verb: &str, target: &'a NodeState) -> Result<String, LabError> {
        match action {
            Action::Guest { what, script, detail } => {
                self.sh(&target.name, what, script).await?;
                Ok(detail.to_string())
            }
            Action::Provision => {
                let plan = Plan::from_config(self.cfg()).map_err(|e| LabError::local("plan", e))?;
                let filter = StepFilter { only: spec.heal_steps.iter().map(|s| s.to_string()).collect(), from: None, until: None };
                Provisioner::new(self.shell.as_ref(), &plan)
                    .filter(filter)
                    .run()
                    .await
                    .map_err(|e| LabError::local("heal by provisioning", e))?;
                Ok(format!("re-applied the guide's step(s) {}", spec.heal_steps.join(", ")))
            }
            Action::Custom(f) => f(self, spec.kind, target).await,
            Action::Manual(what) => Err(LabError::local(format!("{verb} {}", spec.id), what)),
        }
    }

    /// Injects `kind` (on `node`, or the kind's default node).
    pub async fn inject(&self, kind: FaultKind, node: Option<&str>) -> Result<ActiveFault, LabError> {
        if let Some(why) = kind.live_skip(self.cfg().profile) {
            return Err(LabError::local(format!("inject {}", kind.id()), why));
        }
        let target = self.node(kind, node)?;
        let spec = kind.spec();
        let detail = self.perform(spec, spec.inject, "inject", target).await?;
        let fault = ActiveFault { kind, node: target.name.clone(), detail };
        let mut all = self.active();
        all.retain(|f| f.kind != kind);
        all.push(fault.clone());
        self.save(&all)?;
        Ok(fault)
    }

    /// Heals `kind` the way the guide says (re-applying the guide's provisioning step, removing
    /// the filter, rebooting the node, …) and forgets it.
    pub async fn heal(&self, kind: FaultKind, node: Option<&str>) -> Result<String, LabError> {
        let recorded = self.active().into_iter().find(|f| f.kind == kind);
        let target = match (node, &recorded) {
            (Some(n), _) => self.node(kind, Some(n))?,
            (None, Some(f)) => self.node(kind, Some(&f.node))?,
            (None, None) => self.node(kind, None)?,
        };
        let spec = kind.spec();
        let detail = self.perform(spec, spec.heal, "heal", target).await?;
        let mut all = self.active();
        all.retain(|f| f.kind != kind);
        self.save(&all)?;
        Ok(detail)
    }

    /// Re-binds `target`'s port to `ip` (live and config).
    pub(super) async fn rebind_port(&self, target: &NodeState, ip: Ipv4Addr) -> Result<(), LabError> {
        let (dom, mac, net) = (target.domain.clone(), target.mac.clone(), self.cfg().network_name());
        self.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &xml::Port::new(ip), true))).await
    }

    /// Waits until the console of `node` reports `want` and not `gone` on the lab NIC.
    pub(super) async fn wait_console(&self, node: &str, want: Ipv4Addr, gone: Ipv4Addr, budget: Duration) -> Result<String, LabError> {
        let log = self.lab.console_log(node);
        let log = &log;
        wait::until(Instant::now(), budget, Duration::from_secs(2), || async move {
            let text = std::fs::read(log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            match port::last_console_addrs(&text) {
                Some(block) if block.contains(&format!("inet {want}/")) && !block.contains(&format!("inet {gone}/")) => {
                    Attempt::<String, ()>::Done(block)
                }
                _ => Attempt::Retry(String::new()),
            }
        })
        .await
        .map_err(|_| {
            LabError::local(
                format!("move {node} to {want}"),
                format!("its serial console did not report {want} within {} s", budget.as_secs()),
            )
        })
    }

    /// Waits until `node` answers SSH again (reconnecting with backoff, 1 s doubling to 8 s).
    pub async fn wait_ssh(&self, node: &str, budget: Duration) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let shell = self.shell.as_ref();
        wait::until_backoff(t0, budget, Duration::from_secs(1), Duration::from_secs(8), || async move {
            match shell.run(node, "true").await {
                Ok(o) if o.success() => Attempt::Done(t0.elapsed()),
                Ok(o) => Attempt::Fatal(run_err(node, "probe", &o)),
                Err(e) => Attempt::Retry(e.to_string()),
            }
        })
        .await
        .map_err(|e| match e {
            WaitError::Fatal(e) => e,
            WaitError::TimedOut { last, .. } => LabError::SshNeverUp { node: node.into(), secs: budget.as_secs(), last },
        })
    }
}

/// The port as kubelab assigned it: the cloud's anti-spoofing filter bound to the node's address.
pub(super) fn assigned_port(n: &NodeState) -> xml::Port {
    xml::Port::new(n.ip)
}
