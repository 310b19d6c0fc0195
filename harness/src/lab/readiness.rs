//! Bringing a lab up and back: `up` (with the KVM → TCG fallback and rollback on failure or
//! interrupt), waiting for boot progress and SSH, and rebooting nodes from inside.

use std::time::Duration;

use tokio::time::Instant;

use super::{Emit, Lab, LabEvent, LabState, settle_blocking};
use crate::config::Accel;
use crate::errors::{HypervisorError, LabError, RemoteError};
use crate::remote::RemoteShell;
use crate::wait::{self, Attempt, WaitError};

impl Lab {
    /// Waits until each node printed to its console (boot progress) within `progress` and
    /// answers SSH within `ssh_budget`. Nodes are waited for concurrently.
    pub async fn wait_ready(
        &self,
        state: &LabState,
        progress: Duration,
        ssh_budget: Duration,
        emit: Emit<'_>,
    ) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let shell = self.shell(state)?;
        let waits = state.nodes.iter().map(|n| {
            let shell = shell.as_ref();
            async move {
                let start = t0;
                let (log, domain) = (&self.console_log(&n.name), &n.domain);
                wait::until(start, progress, Duration::from_millis(500), || async move {
                    match self.console_output(log, domain).await {
                        Ok(0) => Attempt::<(), ()>::Retry("nothing on the serial console yet".into()),
                        Ok(_) => Attempt::Done(()),
                        Err(e) => Attempt::Retry(format!("console: {e}")),
                    }
                })
                .await
                .map_err(|_| LabError::NoBootProgress {
                    node: n.name.clone(),
                    secs: progress.as_secs(),
                    accel: state.domain_type.clone(),
                    hint: if state.domain_type == "kvm" {
                        "; nested KVM hangs silently on some hosts: set accel = \"tcg\" (or \"auto\")".into()
                    } else {
                        String::new()
                    },
                })?;
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "console".into(),
                    message: "boot progress on the serial console".into(),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                let node = n.name.as_str();
                wait::until(start, ssh_budget, Duration::from_secs(2), || async move {
                    match shell.run(node, "true").await {
                        Ok(_) => Attempt::Done(()),
                        Err(e @ (RemoteError::HostKeyMismatch { .. } | RemoteError::Auth { .. })) => Attempt::Fatal(e),
                        Err(e) => Attempt::Retry(e.to_string()),
                    }
                })
                .await
                .map_err(|e| match e {
                    WaitError::Fatal(e) => LabError::Remote(e),
                    WaitError::TimedOut { last, .. } => LabError::SshNeverUp { node: n.name.clone(), secs: ssh_budget.as_secs(), last },
                })?;
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "ssh".into(),
                    message: "ssh answers with the pinned host key".into(),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                // sshd accepts logins before cloud-init has finished writing /etc/hosts and
                // resetting the machine-id: wait for it (bounded by the same budget).
                let left = ssh_budget.saturating_sub(t0.elapsed()).as_secs().max(30);
                // One cloud-init process (each costs seconds of Python start under TCG): `--wait`
                // polls inside and prints the final `status: …` line after its progress dots.
                let ci = shell.run(&n.name, &format!("timeout {left} cloud-init status --wait 2>&1")).await?;
                let status = ci.stdout.trim().lines().last().unwrap_or_default().trim_start_matches('.');
                if !status.contains("done") {
                    tracing::warn!(node = %n.name, status = %status, "cloud-init did not finish cleanly");
                }
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "ready".into(),
                    message: format!("ssh answers with the pinned host key; {status}"),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                Ok::<(), LabError>(())
            }
        });
        for r in futures::future::join_all(waits).await {
            r?;
        }
        Ok(t0.elapsed())
    }

    /// Bytes a node's serial console has printed in this boot: the size of the log file libvirt
    /// writes here for a local host; for a remote host, what its console stream carried since
    /// kubelab first asked (the log file is on that host).
    async fn console_output(&self, log: &std::path::Path, domain: &str) -> Result<u64, HypervisorError> {
        if self.on_remote_host() {
            let (hv, d) = (self.hv.clone(), domain.to_string());
            super::blocking(move || hv.console_bytes(&d)).await
        } else {
            Ok(std::fs::metadata(log).map(|m| m.len()).unwrap_or(0))
        }
    }

    /// `kubelab up`: preflight, create, boot, wait for SSH. With `accel = auto` a KVM guest
    /// that shows no boot progress makes the lab fall back to TCG. On any failure after
    /// preflight everything created is removed again.
    pub async fn up(&self, emit: Emit<'_>) -> Result<LabState, LabError> {
        let base = self.preflight()?;
        let kvm_usable = self.kvm_usable().await;
        let first = match self.cfg.accel {
            Accel::Tcg => "qemu",
            Accel::Kvm => "kvm",
            Accel::Auto if kvm_usable => "kvm",
            Accel::Auto => "qemu",
        };
        let progress = Duration::from_secs(self.cfg.boot_progress_secs);
        // Under `auto` the first KVM boot is a probe: a working KVM guest prints its first
        // kernel line within a second or two, a hung nested KVM prints nothing at all.
        let first_progress = match self.cfg.accel {
            Accel::Auto if first == "kvm" => self.cfg.kvm_probe(),
            _ => progress,
        };
        let budget = Duration::from_secs(self.cfg.boot_timeout_secs);
        let result = async {
            let state = self.create(&base, first, emit).await?;
            let attempt = async {
                self.start_all(&state, emit, Instant::now()).await?;
                self.wait_ready(&state, first_progress, budget, emit).await
            }
            .await;
            let fallback = match &attempt {
                Ok(_) => None,
                Err(LabError::NoBootProgress { node, secs, .. }) => Some(format!("{node}: no boot progress under kvm after {secs} s")),
                Err(LabError::Hypervisor(HypervisorError::Call { op, source })) if op.starts_with("start domain") => {
                    Some(format!("{op} under kvm failed: {}", first_line(source)))
                }
                Err(_) => None,
            };
            match (attempt, fallback) {
                (Ok(_), _) => Ok(state),
                (Err(_), Some(why)) if self.cfg.accel == Accel::Auto && first == "kvm" => {
                    emit(LabEvent {
                        node: "lab".into(),
                        phase: "fallback".into(),
                        message: format!("{why}; accel = auto falls back to tcg"),
                        elapsed: 0.0,
                    });
                    self.retype(&state, "qemu").await?;
                    let state = LabState { domain_type: "qemu".into(), ..state };
                    self.save_state(&state)?;
                    self.start_all(&state, emit, Instant::now()).await?;
                    self.wait_ready(&state, progress, budget, emit).await?;
                    Ok(state)
                }
                (Err(LabError::Hypervisor(HypervisorError::Call { op, source })), _) if first == "kvm" => Err(LabError::NoBootProgress {
                    node: op.trim_start_matches("start domain ").to_string(),
                    secs: 0,
                    accel: "kvm".into(),
                    hint: format!(
                        ": QEMU refused to start ({}); nested KVM is unusable on some hosts: set accel = \"tcg\" (or \"auto\")",
                        first_line(&source)
                    ),
                }),
                (Err(e), _) => Err(e),
            }
        }
        .await;
        if result.is_err() {
            let _ = self.down(false).await;
        }
        result
    }

    /// [`Lab::up`] that stops when `cancel` completes (SIGINT, SIGTERM): what it had created is
    /// removed, as after a failure, and the result is [`LabError::Interrupted`].
    pub async fn up_or_cancel(&self, emit: Emit<'_>, cancel: impl std::future::Future<Output = ()>) -> Result<LabState, LabError> {
        tokio::select! {
            r = self.up(emit) => r,
            () = cancel => {
                emit(LabEvent { node: "lab".into(), phase: "interrupt".into(), message: "interrupted: removing what `up` created".into(), elapsed: 0.0 });
                settle_blocking(Duration::from_secs(60)).await;
                let removed = self.down(false).await.and_then(|_| self.footprint());
                Err(LabError::Interrupted(match removed {
                    Ok(left) if left.is_empty() => format!("`up` of lab `{}` stopped; everything it had created was removed", self.cfg.name),
                    Ok(left) => format!("`up` of lab `{}` stopped; left behind: {left:?}: run `kubelab down`", self.cfg.name),
                    Err(e) => format!("`up` of lab `{}` stopped; removing what it created failed ({e}): run `kubelab down`", self.cfg.name),
                }))
            }
        }
    }

    /// Reboots nodes from inside the guest (`systemctl reboot`, as an operator would) and waits
    /// until each is back with a new boot id. Returns the time until all are back.
    pub async fn reboot(&self, shell: &dyn RemoteShell, nodes: &[String], budget: Duration) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let boot_id = "cat /proc/sys/kernel/random/boot_id";
        let waits = nodes.iter().map(|name| async move {
            let before = shell.run(name, boot_id).await?.stdout;
            shell.run(name, "systemd-run --on-active=1 --quiet systemctl reboot").await?;
            shell.forget(name).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let before = &before;
            wait::until(t0, budget, Duration::from_secs(3), || async move {
                match shell.run(name, boot_id).await {
                    Ok(o) if o.success() && o.stdout != *before => Attempt::<(), ()>::Done(()),
                    seen => {
                        shell.forget(name).await;
                        Attempt::Retry(match seen {
                            Ok(_) => "the old boot id".into(),
                            Err(e) => e.to_string(),
                        })
                    }
                }
            })
            .await
            .map_err(|e| {
                let last = match e {
                    WaitError::TimedOut { last, .. } => last,
                    WaitError::Fatal(()) => String::new(),
                };
                LabError::SshNeverUp { node: name.clone(), secs: budget.as_secs(), last: format!("no new boot id after reboot ({last})") }
            })
        });
        for r in futures::future::join_all(waits).await {
            r?;
        }
        Ok(t0.elapsed())
    }
}

/// The first line of a libvirt call's cause (QEMU's start errors run over several lines).
fn first_line(source: &crate::errors::BoxError) -> String {
    source.to_string().lines().next().unwrap_or_default().to_string()
}
