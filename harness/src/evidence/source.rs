//! [`EvidenceSource`]: where facts come from. [`LiveEvidence`] runs probes over any
//! [`RemoteShell`]; [`RecordedEvidence`] answers from a bundle. [`gather`] walks the catalog over
//! either and, when given a [`BundleWriter`], records every fact it gets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    BundleWriter, Evidence, EvidenceError, EvidenceHeader, Fact, Gap, Origin, Probe, ProbeCatalog, ScriptContext, Target, load_bundle,
};
use crate::config::{LabConfig, NodeConfig};
use crate::remote::{BoxFuture, RemoteShell};

/// A source of facts.
pub trait EvidenceSource: Send + Sync {
    /// Nodes, profile, expectations, and a description of this source.
    fn header(&self) -> EvidenceHeader;

    /// Whether this source can answer `probe` at all (live: the profile runs it and it is a
    /// query; recorded: always — absence is found per fact).
    fn offers(&self, probe: &Probe) -> bool;

    /// Fetches `probe` on `target`, running on `node`. `Ok(None)`: the source has no such fact.
    /// `so_far` holds facts gathered earlier in the run (generated scripts read them).
    fn fetch<'a>(
        &'a self,
        probe: &'a Probe,
        target: &'a Target,
        node: &'a NodeConfig,
        so_far: &'a Evidence,
    ) -> BoxFuture<'a, Result<Option<Fact>, EvidenceError>>;
}

/// Runs probes on a live lab over a [`RemoteShell`].
pub struct LiveEvidence {
    shell: Arc<dyn RemoteShell>,
    cfg: LabConfig,
    via: String,
}

impl LiveEvidence {
    /// Live evidence over `shell` for the lab `cfg`; `via` names the transport (`ssh`).
    pub fn new(shell: Arc<dyn RemoteShell>, cfg: LabConfig, via: impl Into<String>) -> Self {
        LiveEvidence { shell, cfg, via: via.into() }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl EvidenceSource for LiveEvidence {
    fn header(&self) -> EvidenceHeader {
        EvidenceHeader::from_config(&self.cfg, format!("live via {} from lab {}", self.via, self.cfg.name))
    }

    fn offers(&self, probe: &Probe) -> bool {
        probe.profiles.contains(&self.cfg.profile) && !matches!(probe.script, super::Script::StepOutput(_) | super::Script::Hypervisor(_))
    }

    fn fetch<'a>(
        &'a self,
        probe: &'a Probe,
        target: &'a Target,
        node: &'a NodeConfig,
        so_far: &'a Evidence,
    ) -> BoxFuture<'a, Result<Option<Fact>, EvidenceError>> {
        Box::pin(async move {
            if !self.offers(probe) {
                return Ok(None);
            }
            let Some(script) = probe.script_for(&ScriptContext { node, so_far }) else {
                return Ok(None);
            };
            let output = self.shell.run(&node.name, &script).await.map_err(|e| EvidenceError::Fetch {
                probe: probe.id.into(),
                target: target.to_string(),
                message: e.to_string(),
            })?;
            Ok(Some(Fact {
                probe: probe.id.into(),
                target: target.clone(),
                command: script,
                output,
                fetched_at: now_rfc3339(),
                origin: Origin::Live { via: self.via.clone() },
            }))
        })
    }
}

/// Answers from a bundle loaded once.
pub struct RecordedEvidence {
    dir: PathBuf,
    evidence: Evidence,
}

impl RecordedEvidence {
    /// Loads the bundle at `dir`.
    pub fn open(dir: &Path) -> Result<Self, EvidenceError> {
        Ok(RecordedEvidence { dir: dir.to_path_buf(), evidence: load_bundle(dir)? })
    }

    /// The loaded evidence itself (the fast path for re-judging: no copying).
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// Takes the loaded evidence.
    pub fn into_evidence(self) -> Evidence {
        self.evidence
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl EvidenceSource for RecordedEvidence {
    fn header(&self) -> EvidenceHeader {
        self.evidence.header.clone()
    }

    fn offers(&self, _probe: &Probe) -> bool {
        true
    }

    fn fetch<'a>(
        &'a self,
        probe: &'a Probe,
        target: &'a Target,
        _node: &'a NodeConfig,
        _so_far: &'a Evidence,
    ) -> BoxFuture<'a, Result<Option<Fact>, EvidenceError>> {
        Box::pin(async move { Ok(self.evidence.fact(probe.id, target).cloned()) })
    }
}

/// Gathers every probe of `catalog` that `select` keeps and `source` offers, in catalog order
/// (each probe's targets concurrently). A transport failure becomes a [`Gap`] (checks then skip
/// with that reason); it does not abort the run. With `writer`, every fact is also written to
/// the bundle, its provenance naming the source and the probe's format.
pub async fn gather(
    source: &dyn EvidenceSource,
    catalog: &ProbeCatalog,
    select: &dyn Fn(&Probe) -> bool,
    mut writer: Option<&mut BundleWriter>,
) -> Result<Evidence, EvidenceError> {
    let header = source.header();
    let nodes = header.nodes.clone();
    let mut ev = Evidence::new(header);
    for probe in catalog.probes().iter().filter(|p| select(p) && source.offers(p)) {
        let targets = probe.targets(&nodes);
        let results = {
            let ev_ref = &ev;
            futures::future::join_all(targets.iter().map(|(t, n)| source.fetch(probe, t, n, ev_ref))).await
        };
        for ((target, _), res) in targets.into_iter().zip(results) {
            match res {
                Ok(Some(fact)) => {
                    if let Some(w) = writer.as_deref_mut() {
                        w.write_fact(&fact, format!("{}; format: {}", fact.origin, probe.format))?;
                    }
                    ev.insert(fact);
                }
                Ok(None) => {}
                Err(e) => ev.record_gap(Gap { probe: probe.id.into(), target, reason: e.to_string() }),
            }
        }
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::remote::ExecOutput;
    use crate::remote::fake::FakeShell;

    fn guide_cfg() -> LabConfig {
        LabConfig { profile: Profile::Guide, ..LabConfig::default() }
    }

    #[tokio::test]
    async fn live_gather_runs_kubectl_on_the_control_plane_and_writes_a_bundle() {
        let shell = Arc::new(FakeShell::new());
        shell.on("*", "get nodes -o json", ExecOutput::ok("{\"kind\":\"List\",\"items\":[]}"));
        shell.on(
            "ICE-k8s-machines-node1",
            "swapon --show",
            ExecOutput::ok("NAME      TYPE SIZE USED PRIO\n/swap.img file   2G   0B   -2\n"),
        );
        let live = LiveEvidence::new(shell.clone(), guide_cfg(), "ssh");
        let tmp = tempfile::tempdir().unwrap();
        let mut w = BundleWriter::create(tmp.path().join("run"), &live.header(), "2022-05-01T00:00:00Z").unwrap();
        let select = |p: &Probe| matches!(p.id, "swapon" | "k8s-nodes" | "bgp-birdc");
        let ev = gather(&live, &ProbeCatalog::standard(), &select, Some(&mut w)).await.unwrap();
        let calls = shell.calls();
        // 3 × swapon + 1 × kubectl; bgp-birdc is offline-only.
        assert_eq!(calls.len(), 4, "{calls:?}");
        let kubectl: Vec<_> = calls.iter().filter(|c| c.script.contains("kubectl")).collect();
        assert_eq!(kubectl.len(), 1);
        assert_eq!(kubectl[0].node, "ICE-k8s-machines-node0");
        assert_eq!(kubectl[0].script, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json");
        assert!(ev.fact("k8s-nodes", &Target::Cluster).is_some());
        let dir = w.finish().unwrap();
        let back = load_bundle(&dir).unwrap();
        let t = Target::Node("ICE-k8s-machines-node1".into());
        assert_eq!(back.fact("swapon", &t).unwrap().output, ev.fact("swapon", &t).unwrap().output);
        assert_eq!(back.facts().len(), 4);
        let m = super::super::read_manifest(&dir).unwrap();
        assert!(m.provenance["facts/cluster/k8s-nodes.json"].starts_with("live via ssh; format: kubectl 1.23"));
    }

    struct Broken;
    impl RemoteShell for Broken {
        fn run<'a>(&'a self, node: &'a str, _s: &'a str) -> BoxFuture<'a, Result<ExecOutput, crate::errors::RemoteError>> {
            Box::pin(async move { Err(crate::errors::RemoteError::Timeout { node: node.into(), secs: 30 }) })
        }
    }

    #[tokio::test]
    async fn transport_failures_become_gaps_with_reasons() {
        let live = LiveEvidence::new(Arc::new(Broken), guide_cfg(), "ssh");
        let ev = gather(&live, &ProbeCatalog::standard(), &|p| p.id == "lsmod", None).await.unwrap();
        assert_eq!(ev.gaps().len(), 3);
        let r = ev.missing_reason("lsmod", &Target::Node("ICE-k8s-machines-node2".into()));
        assert_eq!(
            r,
            "probe lsmod on node ICE-k8s-machines-node2 could not be fetched: probe lsmod on ICE-k8s-machines-node2: command on ICE-k8s-machines-node2 timed out after 30 s"
        );
    }
}
