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

/// The probes that read the offline lab's outside (its cloud router, floating IPs, HTTP server
/// and registry, guide pitfall 2).
pub const OUTSIDE_PROBES: [&str; 2] = ["egress", "floating-ips"];

/// Why a lab without an outside gathers no [`OUTSIDE_PROBES`]: the offline profile makes the
/// outside only beside a local libvirt (its namespaces live on the machine kubelab runs on).
pub fn no_outside_reason(uri: &str) -> String {
    format!(
        "the lab has no outside: the offline profile's cloud router, floating IPs and registry are made in network namespaces of the machine kubelab runs on, only for a lab on its local libvirt (this lab is on {})",
        uri.split('?').next().unwrap_or_default()
    )
}

/// The gaps a lab without an outside records instead of gathering the [`OUTSIDE_PROBES`] that
/// `wanted` selects: its checks are then skipped with the reason, never judged from a node that
/// has nothing to reach.
pub fn outside_gaps(catalog: &ProbeCatalog, cfg: &LabConfig, wanted: &dyn Fn(&Probe) -> bool, reason: &str) -> Vec<crate::evidence::Gap> {
    catalog
        .probes()
        .iter()
        .filter(|p| OUTSIDE_PROBES.contains(&p.id) && wanted(p))
        .flat_map(|p| {
            p.targets(&cfg.nodes).into_iter().map(|(target, _)| crate::evidence::Gap { probe: p.id.into(), target, reason: reason.into() })
        })
        .collect()
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
    // An offline lab without an outside (on a remote libvirt host) has nothing to download from.
    let no_outside = (profile == Profile::Offline).then_some(lab).flatten().filter(|(l, _)| l.outside().is_none());
    let gathered = |p: &Probe| rule(p) && !(no_outside.is_some() && OUTSIDE_PROBES.contains(&p.id));
    let mut ev = gather(source.as_ref(), &catalog, &gathered, writer.as_mut()).await?;
    if let Some((l, _)) = no_outside {
        for gap in outside_gaps(&catalog, cfg, &rule, &no_outside_reason(&l.hypervisor().uri())) {
            ev.record_gap(gap);
        }
    }
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

    /// A lab without an outside: `net.egress` is skipped with the reason (never failed for a
    /// node that has nothing to reach), and the reason names the host without its key paths.
    #[test]
    fn a_lab_without_an_outside_skips_egress_with_the_reason() {
        let cat = ProbeCatalog::standard();
        let cfg = LabConfig::default();
        let reason = no_outside_reason("qemu+libssh2://root@10.255.3.2/system?keyfile=/k&known_hosts=/kh");
        assert!(reason.ends_with("(this lab is on qemu+libssh2://root@10.255.3.2/system)"), "{reason}");
        let gaps = outside_gaps(&cat, &cfg, &|p| runs_live(Profile::Offline, p), &reason);
        // egress on each of the three nodes, floating-ips once for the lab.
        assert_eq!(gaps.iter().filter(|g| g.probe == "egress").count(), 3, "{gaps:?}");
        assert_eq!(gaps.iter().filter(|g| g.probe == "floating-ips").count(), 1, "{gaps:?}");
        assert!(outside_gaps(&cat, &cfg, &|p| p.id == "swapon", &reason).is_empty());
        let mut ev = Evidence::new(crate::evidence::EvidenceHeader::from_config(&cfg, "test"));
        for g in gaps {
            ev.record_gap(g);
        }
        let v = crate::checks::run("net.egress", &ev).unwrap();
        assert!(v.is_skip(), "{v}");
        assert!(v.to_string().contains("the lab has no outside"), "{v}");
    }
}
