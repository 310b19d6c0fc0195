//! Evidence bundles on disk: `manifest.json` + `facts/<node-or-cluster>/<probe-id>.json`.
//! [`BundleWriter`] writes one (every live run does); [`load_bundle`] reads one back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Evidence, EvidenceError, EvidenceHeader, Expectations, Fact, Origin, Target};
use crate::config::{NodeConfig, Profile};
use crate::remote::ExecOutput;

/// Bundle format version this build writes and reads.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Lab name.
    pub lab: String,
    /// Profile the evidence was gathered under.
    pub profile: Profile,
    /// Nodes with name, ip, role.
    pub nodes: Vec<NodeConfig>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Where the facts came from (`live via ssh from lab X`, `recorded fixture ...`).
    pub source: String,
    /// Expected versions and ranges.
    pub expect: Expectations,
    /// Per fact file (path relative to the bundle): where its content comes from.
    pub provenance: BTreeMap<String, String>,
}

/// One `facts/<target>/<probe>.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactFile {
    /// Probe id.
    pub probe: String,
    /// Node name or `cluster`.
    pub target: String,
    /// The exact script.
    pub command: String,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status.
    pub exit_status: u32,
    /// RFC 3339 UTC time.
    pub fetched_at: String,
}

/// Relative path of a fact file.
pub fn fact_path(target: &Target, probe: &str) -> String {
    format!("facts/{}/{probe}.json", target.dir_name())
}

/// Writes a bundle incrementally: each fact file as it arrives, and the manifest after every
/// fact, so an interrupted run still leaves a loadable bundle.
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    manifest: Manifest,
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), EvidenceError> {
    let mut text = serde_json::to_string_pretty(v).map_err(|e| EvidenceError::bundle(path, e))?;
    text.push('\n');
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| EvidenceError::bundle(parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| EvidenceError::bundle(path, e))
}

impl BundleWriter {
    /// Starts a bundle in `dir` (created; must not already hold a manifest).
    pub fn create(dir: impl Into<PathBuf>, header: &EvidenceHeader, created_at: impl Into<String>) -> Result<Self, EvidenceError> {
        let dir = dir.into();
        if dir.join("manifest.json").exists() {
            return Err(EvidenceError::bundle(&dir, "already holds a bundle (manifest.json exists); choose a new directory"));
        }
        let w = BundleWriter {
            manifest: Manifest {
                format_version: BUNDLE_FORMAT_VERSION,
                lab: header.lab.clone(),
                profile: header.profile,
                nodes: header.nodes.clone(),
                created_at: created_at.into(),
                source: header.source.clone(),
                expect: header.expect.clone(),
                provenance: BTreeMap::new(),
            },
            dir,
        };
        w.write_manifest()?;
        Ok(w)
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_manifest(&self) -> Result<(), EvidenceError> {
        write_json(&self.dir.join("manifest.json"), &self.manifest)
    }

    /// Writes one fact and records its provenance.
    pub fn write_fact(&mut self, fact: &Fact, provenance: impl Into<String>) -> Result<(), EvidenceError> {
        let rel = fact_path(&fact.target, &fact.probe);
        let file = FactFile {
            probe: fact.probe.clone(),
            target: fact.target.dir_name().to_string(),
            command: fact.command.clone(),
            stdout: fact.output.stdout.clone(),
            stderr: fact.output.stderr.clone(),
            exit_status: fact.output.exit_status,
            fetched_at: fact.fetched_at.clone(),
        };
        write_json(&self.dir.join(&rel), &file)?;
        self.manifest.provenance.insert(rel, provenance.into());
        self.write_manifest()
    }

    /// Finishes the bundle; returns its directory.
    pub fn finish(self) -> Result<PathBuf, EvidenceError> {
        self.write_manifest()?;
        Ok(self.dir)
    }
}

/// Reads a bundle's manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, EvidenceError> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| EvidenceError::bundle(&path, e))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| EvidenceError::bundle(&path, e))?;
    if m.format_version != BUNDLE_FORMAT_VERSION {
        return Err(EvidenceError::FormatVersion {
            path: dir.display().to_string(),
            found: m.format_version,
            expected: BUNDLE_FORMAT_VERSION,
        });
    }
    Ok(m)
}

/// Loads a whole bundle into memory. Every `facts/*/*.json` is read (listed in the manifest or
/// not); a fact file that does not parse is an error, an absent one simply is not evidence.
pub fn load_bundle(dir: &Path) -> Result<Evidence, EvidenceError> {
    let m = read_manifest(dir)?;
    let header = EvidenceHeader {
        lab: m.lab,
        profile: m.profile,
        nodes: m.nodes,
        source: format!("bundle {}", dir.display()),
        expect: m.expect,
        kubeconfig: super::ADMIN_KUBECONFIG.into(),
    };
    let mut ev = Evidence::new(header);
    let facts_dir = dir.join("facts");
    let mut paths = Vec::new();
    if facts_dir.is_dir() {
        for t in std::fs::read_dir(&facts_dir).map_err(|e| EvidenceError::bundle(&facts_dir, e))? {
            let t = t.map_err(|e| EvidenceError::bundle(&facts_dir, e))?.path();
            if !t.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&t).map_err(|e| EvidenceError::bundle(&t, e))? {
                let f = f.map_err(|e| EvidenceError::bundle(&t, e))?.path();
                if f.extension().is_some_and(|x| x == "json") {
                    paths.push(f);
                }
            }
        }
    }
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| EvidenceError::bundle(&p, e))?;
        let ff: FactFile = serde_json::from_str(&text).map_err(|e| EvidenceError::bundle(&p, e))?;
        ev.insert(Fact {
            probe: ff.probe,
            target: Target::from_dir_name(&ff.target),
            command: ff.command,
            output: ExecOutput { stdout: ff.stdout, stderr: ff.stderr, exit_status: ff.exit_status },
            fetched_at: ff.fetched_at,
            origin: Origin::Recorded { bundle: dir.to_path_buf() },
        });
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;

    #[test]
    fn write_then_load_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        let cfg = LabConfig::default();
        let header = EvidenceHeader::from_config(&cfg, "live via ssh from lab kubelab");
        let mut w = BundleWriter::create(&dir, &header, "2022-05-01T00:00:00Z").unwrap();
        let fact = Fact {
            probe: "swapon".into(),
            target: Target::Node(cfg.nodes[1].name.clone()),
            command: "swapon --show".into(),
            output: ExecOutput { stdout: "NAME TYPE\n/swap.img file\n".into(), stderr: String::new(), exit_status: 0 },
            fetched_at: "2022-05-01T00:00:01Z".into(),
            origin: Origin::Live { via: "ssh".into() },
        };
        w.write_fact(&fact, "live: swapon --show over ssh").unwrap();
        let dir = w.finish().unwrap();
        let ev = load_bundle(&dir).unwrap();
        let got = ev.fact("swapon", &fact.target).unwrap();
        assert_eq!(got.output, fact.output);
        assert_eq!(got.origin, Origin::Recorded { bundle: dir.clone() });
        assert_eq!(ev.header.nodes, cfg.nodes);
        let m = read_manifest(&dir).unwrap();
        assert_eq!(m.provenance["facts/ICE-k8s-machines-node1/swapon.json"], "live: swapon --show over ssh");
        assert!(BundleWriter::create(&dir, &header, "x").is_err(), "refuses to overwrite");
        assert!(
            ev.missing_reason("lsmod", &fact.target).starts_with("no evidence for probe lsmod on node ICE-k8s-machines-node1 in bundle ")
        );
    }

    #[test]
    fn wrong_version_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("manifest.json"),
            r#"{"format_version":9,"lab":"x","profile":"guide","nodes":[],"created_at":"","source":"","expect":{"kubernetes":"","helm":"","calico":"","pod_cidr":"","metallb_pool":""},"provenance":{}}"#,
        )
        .unwrap();
        assert!(matches!(load_bundle(tmp.path()), Err(EvidenceError::FormatVersion { found: 9, .. })));
    }
}
