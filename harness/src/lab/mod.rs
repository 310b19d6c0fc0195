//! Lab lifecycle: clone → boot → wait for SSH, status, teardown. Main types: [`Lab`],
//! [`LabState`], [`LabEvent`].
//!
//! [`Lab`] reaches libvirt only through [`Hypervisor`] and the nodes only through the
//! [`RemoteShell`] its [`ShellOpener`] opens (russh by default, a fake in tests).

mod create;
pub mod host_storage;
pub mod outside;
pub mod port;
mod readiness;
#[cfg(test)]
mod remote_tests;
mod snapshots;
mod state;
mod status;
mod teardown;
#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use state::{Footprint, LabEvent, LabState, NodeState};
pub use status::{NodeStatus, identity_script, parse_identity};

use crate::config::LabConfig;
use crate::errors::LabError;
use crate::hypervisor::Hypervisor;
use crate::process::{CommandRunner, SystemRunner};
use crate::remote::RemoteShell;
use crate::remote::jump::JumpHost;
use crate::remote::russh_shell::{RusshShell, SshPolicy, SshTarget, parse_public_key};

/// A lab's state file in its state directory (`<state_dir>/<name>/lab.json`).
pub const STATE_FILE: &str = "lab.json";

/// The config a lab was made with, in its state directory (`<state_dir>/<name>/lab.toml`).
pub const CONFIG_FILE: &str = "lab.toml";

/// Opens the SSH seam to the nodes of a lab state (the nodes' addresses, user, key and pinned
/// host keys are in the state).
pub type ShellOpener = Arc<dyn Fn(&LabState) -> Result<Arc<dyn RemoteShell>, LabError> + Send + Sync>;

/// A lab bound to a hypervisor.
pub struct Lab {
    cfg: LabConfig,
    hv: Arc<dyn Hypervisor>,
    shells: ShellOpener,
    procs: Arc<dyn CommandRunner>,
    /// Whether the host offers KVM; `None`: ask it when needed ([`Lab::kvm_usable`]).
    kvm_present: Option<bool>,
    /// How the lab's outside (router, floating IPs, registry) is made; `None`: the lab has none.
    outside: Option<Arc<dyn CommandRunner>>,
}

type Emit<'a> = &'a (dyn Fn(LabEvent) + Send + Sync);

/// The real shell: russh to every node of `state`, host keys pinned, one connect attempt per
/// command (the callers wait and retry); through the libvirt host when the lab is on another one.
pub fn russh_shell(state: &LabState) -> Result<Arc<dyn RemoteShell>, LabError> {
    let targets = state
        .nodes
        .iter()
        .map(|n| {
            Ok(SshTarget {
                node: n.name.clone(),
                addr: std::net::SocketAddr::new(n.ip.into(), 22),
                user: state.user.clone(),
                host_key: parse_public_key(&n.host_key).map_err(|e| LabError::local("parse pinned host key", e))?,
            })
        })
        .collect::<Result<Vec<_>, LabError>>()?;
    let policy = SshPolicy { connect_timeout: Duration::from_secs(8), attempts: 1, ..SshPolicy::default() };
    let shell = RusshShell::new(targets, &state.key_path, policy)?;
    // A lab on a remote host: its guest network lives there, so every node is reached through
    // that host's sshd (the URI's own user, key and pinned host key).
    Ok(Arc::new(match JumpHost::from_libvirt_uri(&state.uri)? {
        Some(jump) => shell.through(jump)?,
        None => shell,
    }))
}

impl Lab {
    /// A lab for this config on this hypervisor, reaching its nodes over russh.
    pub fn new(cfg: LabConfig, hv: Arc<dyn Hypervisor>) -> Self {
        Lab {
            shells: Arc::new(russh_shell),
            procs: Arc::new(SystemRunner),
            kvm_present: None,
            outside: outside::wanted(&cfg, &hv.uri()).then(|| Arc::new(SystemRunner) as Arc<dyn CommandRunner>),
            cfg,
            hv,
        }
    }

    /// The same lab with its outside made through `runner` (a fake in tests), or without one.
    pub fn with_outside(self, runner: Option<Arc<dyn CommandRunner>>) -> Self {
        Lab { outside: runner, ..self }
    }

    /// The lab's outside (offline profile on a local libvirt), if it has one.
    pub fn outside(&self) -> Option<outside::Outside<'_>> {
        self.outside.as_deref().map(|r| outside::Outside::new(&self.cfg, r))
    }

    /// The same lab starting external tools (xorriso) through `procs`.
    pub fn with_processes(self, procs: Arc<dyn CommandRunner>) -> Self {
        Lab { procs, ..self }
    }

    /// The same lab reaching its nodes through `shells` (tests pass a fake).
    pub fn with_shells(self, shells: ShellOpener) -> Self {
        Lab { shells, ..self }
    }

    /// The same lab, told whether the host has `/dev/kvm` (decides `accel = auto`'s first try).
    pub fn with_kvm_present(self, kvm_present: bool) -> Self {
        Lab { kvm_present: Some(kvm_present), ..self }
    }

    /// Whether the lab's host offers KVM (decides `accel = auto`'s first try): this machine's
    /// `/dev/kvm` for a local libvirt, the host's capabilities for a remote one (unknown = no).
    pub async fn kvm_usable(&self) -> bool {
        match self.kvm_present {
            Some(k) => k,
            None if self.on_remote_host() => {
                let hv = self.hv.clone();
                blocking(move || hv.kvm_available()).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the host's capabilities; assuming no KVM");
                    false
                })
            }
            None => std::path::Path::new("/dev/kvm").exists(),
        }
    }

    /// The config.
    pub fn config(&self) -> &LabConfig {
        &self.cfg
    }

    /// The hypervisor.
    pub fn hypervisor(&self) -> &Arc<dyn Hypervisor> {
        &self.hv
    }

    /// A shell to the nodes of a lab, with their pinned host keys.
    pub fn shell(&self, state: &LabState) -> Result<Arc<dyn RemoteShell>, LabError> {
        (self.shells)(state)
    }

    /// Every name this lab gives a libvirt resource: its domains, its network and its nwfilters.
    fn own_names(&self) -> Vec<String> {
        let c = &self.cfg;
        let mut v: Vec<String> = c.nodes.iter().map(|n| c.domain_name(n)).collect();
        v.push(c.network_name());
        v.extend(NWFILTER_KINDS.iter().map(|k| nwfilter_name(&c.name, k)));
        v
    }

    fn pool_name(&self) -> String {
        format!("{}-pool", self.cfg.name)
    }

    fn pool_dir(&self) -> PathBuf {
        self.cfg.lab_dir().join("pool")
    }

    fn state_path(&self) -> PathBuf {
        self.cfg.lab_dir().join(STATE_FILE)
    }

    /// Console log of a node on a local host (boot-progress detection).
    pub fn console_log(&self, node: &str) -> PathBuf {
        self.cfg.lab_dir().join("console").join(format!("{node}.log"))
    }
}

/// libvirt calls in flight on blocking threads. Dropping the future that awaits one does not stop
/// it: an interrupted `up` waits for them to return before it removes what they created.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs a (blocking) hypervisor call on a blocking thread, counted in [`IN_FLIGHT`].
fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl std::future::Future<Output = T> {
    use std::sync::atomic::Ordering;
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let task = tokio::task::spawn_blocking(move || {
        let out = f();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        out
    });
    async move { task.await.expect("blocking task panicked") }
}

/// Waits (up to `limit`) until no libvirt call started by this process is still running.
async fn settle_blocking(limit: Duration) {
    let idle = || IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) == 0;
    let _ = crate::wait::until(tokio::time::Instant::now(), limit, Duration::from_millis(20), || {
        std::future::ready(if idle() {
            crate::wait::Attempt::<(), ()>::Done(())
        } else {
            crate::wait::Attempt::Retry("libvirt calls in flight".into())
        })
    })
    .await;
}

/// The nwfilters a lab defines besides the ports' anti-spoofing one (the security-group
/// pitfalls, named `<lab>-<kind>`): libvirt keeps no metadata for a filter, so its name is the
/// only thing that says whose it is.
pub const NWFILTER_KINDS: [&str; 2] = ["security-group", "security-group-ipip"];

/// The name of a lab's nwfilter of `kind` (one of [`NWFILTER_KINDS`]).
pub fn nwfilter_name(lab: &str, kind: &str) -> String {
    format!("{lab}-{kind}")
}

/// Whether a resource belongs to `lab`: its kubelab metadata tag when it has one (so the lab
/// `alice` never takes `alice-2`'s domains, whose names share its prefix), else (untagged kinds,
/// leftovers) only one of the exact `names` this lab gives its resources.
fn owned_by(lab: &str, names: &[String], tag: &Option<String>, name: &str) -> bool {
    match tag {
        Some(t) => t == lab,
        None => names.iter().any(|n| n == name),
    }
}
