//! Which probes a live run gathers ([`runs_live`], the one profile → tier rule) and gathering
//! them over SSH, or the kube client for the cluster probes ([`gather_live`]), into a bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{LabConfig, Profile, Role};
use crate::evidence::{BundleWriter, Evidence, EvidenceSource, LiveEvidence, Probe, ProbeCatalog, Tier, gather};
use crate::lab::{Lab, LabState};
use crate::remote::RemoteShell;

use super::RunnerError;

/// The rule for a live run: in the offline profile Kubernetes is not installed, so only host
/// probes run (the scenarios that need the others are reported skipped with the reason); the
/// guide profile runs every probe.
pub fn runs_live(profile: Profile, probe: &Probe) -> bool {
    profile == Profile::Guide || probe.tier == Tier::Host
}

/// How the cluster probes reach the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterTransport {
    /// kubectl on the control plane over SSH.
    Kubectl,
    /// The kube client over an SSH direct-tcpip tunnel (guide profile).
    KubeClient,
}

/// The probes `check_ids` read, selected by [`runs_live`]: what a fault scenario re-gathers.
pub fn probes_of<'a>(check_ids: &[&str]) -> std::collections::HashSet<&'a str> {
    check_ids.iter().filter_map(|id| crate::checks::spec(id)).flat_map(|s| s.probes.iter().copied()).collect()
}

/// Gathers the probes `select` (and [`runs_live`]) admit over `shell`, adds the facts kubelab
/// reads from libvirt when `lab` is given and a selected check needs them, and writes them to
/// `bundle_dir` when given.
pub async fn gather_live(
    shell: Arc<dyn RemoteShell>,
    cfg: &LabConfig,
    transport: ClusterTransport,
    select: &dyn Fn(&Probe) -> bool,
    lab: Option<(&Lab, &LabState)>,
    bundle_dir: Option<&Path>,
) -> Result<Evidence, RunnerError> {
    let live = LiveEvidence::new(shell.clone(), cfg.clone(), "ssh");
    let guide = cfg.profile == Profile::Guide;
    let (source, catalog): (Box<dyn EvidenceSource>, ProbeCatalog) = if guide && transport == ClusterTransport::KubeClient {
        let cp = cfg.nodes.iter().find(|n| n.role == Role::ControlPlane).ok_or(RunnerError::NoControlPlane)?;
        let api = crate::kube_api::ClusterApi::connect(shell, &cp.name).await?;
        (Box::new(crate::kube_api::ClusterApiEvidence::new(Arc::new(live), api)), crate::kube_api::api_catalog())
    } else {
        (Box::new(live), ProbeCatalog::standard())
    };
    let mut writer = match bundle_dir {
        Some(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            Some(BundleWriter::create(dir, &source.header(), chrono::Utc::now().to_rfc3339())?)
        }
        None => None,
    };
    let profile = cfg.profile;
    let rule = move |p: &Probe| runs_live(profile, p) && select(p);
    let mut ev = gather(source.as_ref(), &catalog, &rule, writer.as_mut()).await?;
    let wants_ports = catalog.probes().iter().any(|p| matches!(p.id, "port-filter" | "ip-addr" | "floating-ips") && rule(p));
    if let Some((lab, state)) = lab
        && (wants_ports || bundle_dir.is_some())
    {
        for f in crate::lab::port::port_facts(lab, state, &ev).await? {
            if let Some(w) = writer.as_mut() {
                let format = catalog.get(&f.probe).map(|p| p.format).unwrap_or_default();
                w.write_fact(&f, format!("{}; format: {format}", f.origin))?;
            }
            ev.insert(f);
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(ev)
}

/// `<report_dir>/evidence`: where a live `check` writes the bundle it judged.
pub fn bundle_dir(report_dir: &Path) -> PathBuf {
    report_dir.join("evidence")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_runs_host_probes_only_and_guide_runs_all() {
        let cat = ProbeCatalog::standard();
        let host = cat.probes().iter().find(|p| p.tier == Tier::Host).unwrap();
        let k8s = cat.probes().iter().find(|p| p.tier == Tier::K8s).unwrap();
        assert!(runs_live(Profile::Offline, host) && !runs_live(Profile::Offline, k8s));
        assert!(runs_live(Profile::Guide, host) && runs_live(Profile::Guide, k8s));
    }
}
