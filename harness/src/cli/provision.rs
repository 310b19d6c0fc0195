//! `kubelab provision` and the bridge from provisioning events to the report timeline.

use std::time::Instant;

use kubelab::config::LabConfig;
use kubelab::lab::Lab;

use super::args::ProvisionArgs;
use super::dispatch::open_hv;
use super::errors::ExpectedError;

/// `kubelab provision`.
pub async fn provision(cfg: &LabConfig, args: ProvisionArgs) -> Result<(), ExpectedError> {
    use kubelab::provision::{Plan, ProvisionEvent, Provisioner, StepFilter};
    let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
    let state = lab.load_state()?;
    let shell = lab.shell(&state)?;
    let plan = Plan::from_config(cfg).map_err(|e| ExpectedError::Provision(e.into()))?;
    // The guide's cluster waits go through the kube client over this SSH connection.
    let waits = kubelab::kube_api::KubeClusterWaits::over_ssh(shell.clone(), plan.control_plane().name.clone());
    let log_dir = args.log_dir.unwrap_or_else(|| cfg.lab_dir().join("provision"));
    std::fs::create_dir_all(&log_dir).map_err(|e| ExpectedError::Other(e.into()))?;
    let events_path = log_dir.join("events.jsonl");
    let sink_file = std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&events_path)
            .map_err(|e| ExpectedError::Other(e.into()))?,
    );
    let sink = |e: ProvisionEvent| {
        use std::io::Write;
        if let Some(line) = provision_line(&e) {
            eprintln!("{line}");
        }
        if let Some(ev) = provision_run_event(&e) {
            let _ = writeln!(sink_file.lock().expect("poisoned"), "{}", serde_json::to_string(&ev).expect("serialisable"));
        }
    };
    let filter = StepFilter { only: args.only, from: args.from, until: args.until };
    let t0 = Instant::now();
    let report = Provisioner::new(shell.as_ref(), &plan)
        .cluster_waits(&waits)
        .filter(filter)
        .log_dir(log_dir.clone())
        .on_event(&sink)
        .run()
        .await
        .map_err(|e| ExpectedError::Provision(e.into()))?;
    let count = |f: &dyn Fn(&kubelab::provision::StepStatus) -> bool| report.outcomes.iter().filter(|o| f(&o.status)).count();
    use kubelab::provision::StepStatus as S;
    eprintln!(
        "provisioned in {:.1} s: {} changed, {} unchanged, {} skipped; logs in {}",
        t0.elapsed().as_secs_f64(),
        count(&|s| matches!(s, S::Changed)),
        count(&|s| matches!(s, S::Unchanged)),
        count(&|s| matches!(s, S::Skipped { .. })),
        log_dir.display()
    );
    Ok(())
}

fn provision_line(e: &kubelab::provision::ProvisionEvent) -> Option<String> {
    use kubelab::provision::{ProvisionEventKind as K, StepStatus as S};
    match &e.kind {
        K::Started => None,
        K::Finished { status, duration, note } => {
            let st = match status {
                S::Changed => "changed".to_string(),
                S::Unchanged => "unchanged".to_string(),
                S::Failed { message } => format!("FAILED: {message}"),
                S::Skipped { reason } => format!("skipped ({reason})"),
            };
            let note = note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
            Some(format!("[provision] {:<30} {:<24} {st} in {:.1}s{note}", e.step_id, e.node, duration.as_secs_f64()))
        }
    }
}

/// Bridges a provisioning event to the report layer's timeline.
pub fn provision_run_event(e: &kubelab::provision::ProvisionEvent) -> Option<kubelab::report::RunEvent> {
    use kubelab::provision::{ProvisionEventKind as K, StepStatus as S};
    use kubelab::report::{ProvisionStatus as P, RunEvent, RunEventKind};
    let K::Finished { status, duration, note } = &e.kind else { return None };
    let status = match status {
        S::Changed => P::Changed,
        S::Unchanged => P::Unchanged,
        S::Failed { .. } => P::Failed,
        S::Skipped { reason } => P::Skipped { reason: reason.clone() },
    };
    Some(RunEvent::now(RunEventKind::ProvisionStepFinished {
        step_id: e.step_id.clone(),
        node: e.node.clone(),
        status,
        duration: *duration,
        log_excerpt: note.clone().unwrap_or_default(),
    }))
}
