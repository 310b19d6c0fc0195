//! [`Evidence`]: the facts one run gathered (or one bundle holds), with the lab's nodes and the
//! expectations the checks compare against. Loaded once, judged many times: lookups do not
//! allocate and JSON outputs are parsed at most once.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Fact, Target};
use crate::config::{LabConfig, NodeConfig, Profile, Role};
use crate::parsers::{ParseError, clean_capture, parse_json};

/// What the checks compare against (taken from the lab config when the evidence was gathered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// `gitVersion` / kubeletVersion, e.g. `v1.23.6`.
    pub kubernetes: String,
    /// `helm version --short` without the commit, e.g. `v3.8.0`.
    pub helm: String,
    /// calico version (informational: calicoctl prints no version in `node status`).
    pub calico: String,
    /// kubeadm `--pod-network-cidr`.
    pub pod_cidr: String,
    /// MetalLB layer-2 pool `first-last`.
    pub metallb_pool: String,
}

impl Expectations {
    /// The expectations of a lab config.
    pub fn from_config(cfg: &LabConfig) -> Self {
        Expectations {
            kubernetes: format!("v{}", cfg.versions.kubernetes),
            helm: format!("v{}", cfg.versions.helm),
            calico: format!("v{}", cfg.versions.calico),
            pod_cidr: cfg.pod_cidr.to_string(),
            metallb_pool: cfg.metallb_pool.clone(),
        }
    }
}

/// Who the evidence is about and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceHeader {
    /// Lab name.
    pub lab: String,
    /// Profile the evidence was gathered under.
    pub profile: Profile,
    /// Nodes (name, ip, role).
    pub nodes: Vec<NodeConfig>,
    /// Human description of the source (`live via ssh`, `bundle tests/fixtures/bundles/x`).
    pub source: String,
    /// Expected versions and ranges.
    pub expect: Expectations,
    /// kubeconfig the kubectl probes use (`kubeconfig` of the lab config / inventory).
    pub kubeconfig: String,
}

impl EvidenceHeader {
    /// The header for a live run over `cfg`.
    pub fn from_config(cfg: &LabConfig, source: impl Into<String>) -> Self {
        EvidenceHeader {
            lab: cfg.name.clone(),
            profile: cfg.profile,
            nodes: cfg.nodes.clone(),
            source: source.into(),
            expect: Expectations::from_config(cfg),
            kubeconfig: cfg.kubeconfig.clone(),
        }
    }

    /// The control-plane node, if the node list has one.
    pub fn control_plane(&self) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.role == Role::ControlPlane)
    }
}

/// A probe that was wanted but could not be fetched (transport failure), with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Probe id.
    pub probe: String,
    /// Node or cluster.
    pub target: Target,
    /// Why it is missing.
    pub reason: String,
}

/// Evidence that is one pasted capture rather than a whole cluster's facts (`kubelab explain`,
/// the real-capture corpus): checks that compare nodes judge what the one capture can show —
/// peers/nodes present in it, or `expected_nodes` when the cluster size is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SingleCapture {
    /// How many nodes the cluster has, when known.
    pub expected_nodes: Option<usize>,
}

/// The facts of one run or bundle.
#[derive(Debug)]
pub struct Evidence {
    /// Nodes, profile, source, expectations.
    pub header: EvidenceHeader,
    facts: Vec<Fact>,
    json: Vec<OnceLock<Result<Value, ParseError>>>,
    clean: Vec<OnceLock<Option<String>>>,
    gaps: Vec<Gap>,
    single: Option<SingleCapture>,
}

impl Evidence {
    /// Empty evidence about these nodes.
    pub fn new(header: EvidenceHeader) -> Self {
        Evidence { header, facts: Vec::new(), json: Vec::new(), clean: Vec::new(), gaps: Vec::new(), single: None }
    }

    /// Marks this evidence as one pasted capture (see [`SingleCapture`]).
    pub fn into_single_capture(mut self, mode: SingleCapture) -> Self {
        self.single = Some(mode);
        self
    }

    /// `Some` when this evidence is one pasted capture.
    pub fn single_capture(&self) -> Option<&SingleCapture> {
        self.single.as_ref()
    }

    /// Adds (or replaces) a fact.
    pub fn insert(&mut self, fact: Fact) {
        match self.facts.iter().position(|f| f.probe == fact.probe && f.target == fact.target) {
            Some(i) => {
                self.facts[i] = fact;
                self.json[i] = OnceLock::new();
                self.clean[i] = OnceLock::new();
            }
            None => {
                self.facts.push(fact);
                self.json.push(OnceLock::new());
                self.clean.push(OnceLock::new());
            }
        }
        self.gaps.retain(|g| !self.facts.iter().any(|f| f.probe == g.probe && f.target == g.target));
    }

    /// Moves the facts of `other` that `keep` accepts into this evidence, keeping their origins
    /// (e.g. offline profile: live host facts plus the Kubernetes facts of a recorded bundle).
    /// Facts already present for the same probe and target are replaced.
    pub fn absorb(&mut self, other: Evidence, keep: impl Fn(&Fact) -> bool) {
        for f in other.facts.into_iter().filter(|f| keep(f)) {
            self.insert(f);
        }
    }

    /// Records that a fact could not be fetched.
    pub fn record_gap(&mut self, gap: Gap) {
        self.gaps.push(gap);
    }

    /// All facts, in insertion order.
    pub fn facts(&self) -> &[Fact] {
        &self.facts
    }

    /// Fetch failures recorded while gathering.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    fn index(&self, probe: &str, target: &Target) -> Option<usize> {
        self.facts.iter().position(|f| f.probe == probe && &f.target == target)
    }

    /// The fact of `probe` on `target`, if present.
    pub fn fact(&self, probe: &str, target: &Target) -> Option<&Fact> {
        self.index(probe, target).map(|i| &self.facts[i])
    }

    fn clean_at(&self, i: usize) -> &str {
        let f = &self.facts[i];
        self.clean[i]
            .get_or_init(|| match clean_capture(&f.probe, &f.output.stdout) {
                std::borrow::Cow::Borrowed(_) => None,
                std::borrow::Cow::Owned(s) => Some(s),
            })
            .as_deref()
            .unwrap_or(&f.output.stdout)
    }

    /// The fact's stdout without pasted shell noise (prompts, echoed commands, other commands'
    /// output: [`clean_capture`]); what every check reads. Cleaned once, then cached.
    pub fn stdout(&self, probe: &str, target: &Target) -> Option<&str> {
        self.index(probe, target).map(|i| self.clean_at(i))
    }

    /// The fact's (cleaned) stdout parsed as JSON (parsed once, then cached).
    pub fn json(&self, probe: &str, target: &Target) -> Option<(&Fact, Result<&Value, &ParseError>)> {
        let i = self.index(probe, target)?;
        let parsed = self.json[i].get_or_init(|| parse_json("kubectl -o json", self.clean_at(i)));
        Some((&self.facts[i], parsed.as_ref()))
    }

    /// Why `probe` on `target` is not here: the fetch error if one was recorded, otherwise
    /// `no evidence for probe X on node Y in <source>`.
    pub fn missing_reason(&self, probe: &str, target: &Target) -> String {
        match self.gaps.iter().find(|g| g.probe == probe && &g.target == target) {
            Some(g) => format!("probe {probe} on {} could not be fetched: {}", target.describe(), g.reason),
            None => format!("no evidence for probe {probe} on {} in {}", target.describe(), self.header.source),
        }
    }

    /// Node targets in config order.
    pub fn node_targets(&self) -> impl Iterator<Item = (&NodeConfig, Target)> {
        self.header.nodes.iter().map(|n| (n, Target::Node(n.name.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Origin;
    use crate::remote::ExecOutput;

    fn fact(probe: &str, target: Target, origin: Origin) -> Fact {
        Fact { probe: probe.into(), target, command: probe.into(), output: ExecOutput::ok("{\"a\":1}"), fetched_at: "t".into(), origin }
    }

    #[test]
    fn absorb_keeps_origins_and_json_is_cached_per_fact() {
        let cfg = LabConfig::default();
        let mut live = Evidence::new(EvidenceHeader::from_config(&cfg, "live via ssh"));
        live.insert(fact("lsmod", Target::Node(cfg.nodes[0].name.clone()), Origin::Live { via: "ssh".into() }));
        let mut rec = Evidence::new(EvidenceHeader::from_config(&cfg, "bundle x"));
        rec.insert(fact("k8s-nodes", Target::Cluster, Origin::Recorded { bundle: "x".into() }));
        rec.insert(fact("lsmod", Target::Node(cfg.nodes[0].name.clone()), Origin::Recorded { bundle: "x".into() }));
        live.absorb(rec, |f| f.target == Target::Cluster);
        assert_eq!(live.facts().len(), 2);
        assert_eq!(live.fact("k8s-nodes", &Target::Cluster).unwrap().origin, Origin::Recorded { bundle: "x".into() });
        assert!(matches!(live.fact("lsmod", &Target::Node(cfg.nodes[0].name.clone())).unwrap().origin, Origin::Live { .. }));
        let (_, v) = live.json("k8s-nodes", &Target::Cluster).unwrap();
        let first = v.unwrap() as *const Value;
        let (_, v) = live.json("k8s-nodes", &Target::Cluster).unwrap();
        assert_eq!(first, v.unwrap() as *const Value, "parsed once");
        assert!(live.json("absent", &Target::Cluster).is_none());
    }
}
