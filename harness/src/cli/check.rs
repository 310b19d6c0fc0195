//! `kubelab check`: picks the evidence (a recorded bundle, an inventory over SSH, or the live
//! lab), builds the [`Run`] with its sinks (terminal, report directory) and runs the scenarios;
//! SIGINT/SIGTERM heals the run's faults, closes the reports and exits 130.

use std::path::Path;
use std::sync::Arc;

use kubelab::config::LabConfig;
use kubelab::evidence::RecordedEvidence;
use kubelab::lab::Lab;
use kubelab::remote::RemoteShell;
use kubelab::runner::gather::{ClusterTransport, bundle_dir, gather_live};
use kubelab::runner::{LabFaults, RunHeader};

use super::args::{CheckArgs, ClusterApiVia};
use super::dispatch::open_hv;
use super::errors::ExpectedError;
use super::signals::interrupted;
use crate::conformance::scenarios::{self, CheckOptions};

fn transport(via: ClusterApiVia) -> ClusterTransport {
    match via {
        ClusterApiVia::Kubectl => ClusterTransport::Kubectl,
        ClusterApiVia::Kube => ClusterTransport::KubeClient,
    }
}

/// `kubelab check`.
pub async fn check(cfg: &LabConfig, args: CheckArgs) -> Result<(), ExpectedError> {
    let all = |_: &kubelab::evidence::Probe| true;
    let bundle = bundle_dir(&args.report_dir);
    let (evidence, source, extra, faults) = match &args.evidence {
        Some(dir) => {
            let rec = RecordedEvidence::open(dir)?;
            (rec.into_evidence(), format!("recorded bundle {}", dir.display()), Vec::new(), None)
        }
        None if args.inventory.is_some() => {
            let path = args.inventory.as_ref().expect("checked");
            let inv = kubelab::inventory::Inventory::load(path)?;
            let icfg = inv.lab_config()?;
            let shell: Arc<dyn RemoteShell> = inv.shell()?;
            let ev = gather_live(shell, &icfg, transport(args.cluster_api), &all, None, Some(&bundle)).await?;
            (ev, format!("inventory {} over ssh (bundle written to {})", path.display(), bundle.display()), Vec::new(), None)
        }
        None => {
            let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            let dyn_shell: Arc<dyn RemoteShell> = shell.clone();
            let ev = gather_live(dyn_shell, cfg, transport(args.cluster_api), &all, Some((&lab, &state)), Some(&bundle)).await?;
            let extra = read_provision_events(&cfg.lab_dir().join("provision").join("events.jsonl"));
            let driver: Arc<dyn kubelab::runner::FaultDriver> = Arc::new(LabFaults::new(lab, state, shell));
            (ev, format!("live over ssh (bundle written to {})", bundle.display()), extra, Some(driver))
        }
    };
    let header = RunHeader { lab: evidence.header.lab.clone(), profile: evidence.header.profile, source };
    let run = scenarios::new_run(header, evidence, Some(&args.report_dir), false)?;
    let run = Arc::new(match faults {
        Some(d) => run.with_faults(d),
        None => run,
    });
    let opts = CheckOptions { features: args.features.clone(), tags: args.tags.clone(), name: args.name.clone(), exact: args.exact };
    let sum = scenarios::run(run, &opts, extra, interrupted()).await;
    eprintln!("reports in {}", args.report_dir.display());
    let sum = sum?;
    if sum.failed > 0 {
        return Err(ExpectedError::ChecksFailed(sum.failed as usize));
    }
    Ok(())
}

fn read_provision_events(path: &Path) -> Vec<kubelab::report::RunEvent> {
    std::fs::read_to_string(path).map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()).unwrap_or_default()
}
