//! Many labs over many libvirt hosts (issue 14, part 3): the hosts file ([`HostsFile`]), where
//! `up --labs N` places each lab ([`placement`], pure), and [`Fleet`], which plans, brings the
//! labs up one after another (taking down what it made when one fails or the user interrupts),
//! and finds, reports and removes every lab on every host (`status --all`, `down --all`).
//!
//! A lab is found by its state file (`<state_dir>/<name>/lab.json`, with the config it was made
//! with beside it) or by the lab tag on its domains and networks on any host, so `down --all`
//! also finds a lab whose state was lost.

pub mod hosts;
pub mod placement;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde::Serialize;
use thiserror::Error;

pub use hosts::{HostEntry, HostsFile};
pub use placement::HostFree;

use crate::config::LabConfig;
use crate::errors::{BoxError, ConfigError, HypervisorError, LabError};
use crate::hypervisor::{Hypervisor, parse};
use crate::lab::{Footprint, Lab, LabEvent, LabState};

/// A fleet operation failed.
#[derive(Debug, Error)]
pub enum FleetError {
    /// The hosts file is unreadable or invalid.
    #[error("hosts file {file}: {message}")]
    Hosts {
        /// Path of the file.
        file: String,
        /// What is wrong and the fix.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// No host has the free memory for a lab: nothing was created.
    #[error(
        "lab `{lab}` fits on no host: it needs {need_mib} MiB ({nodes} node(s) × memory_mib = {memory_mib}) and after the {placed} lab(s) placed before it the hosts have {free} free; nothing was created: ask for fewer labs, lower `memory_mib`, or add a host to the hosts file"
    )]
    NoHostFits {
        /// The lab that does not fit.
        lab: String,
        /// MiB it needs.
        need_mib: u64,
        /// Its nodes.
        nodes: usize,
        /// Per node.
        memory_mib: u64,
        /// Labs placed before it.
        placed: usize,
        /// Each host's free memory left, `name N MiB, …`.
        free: String,
    },
    /// No subnet of the base's size is free for a lab.
    #[error(
        "no free subnet for lab `{lab}` among the 256 of its size from {subnet}; remove unused libvirt networks or set another `subnet`"
    )]
    NoSubnet {
        /// The lab.
        lab: String,
        /// The base subnet.
        subnet: String,
    },
    /// A derived lab config is invalid.
    #[error("the config derived for lab `{lab}` is invalid")]
    Derive {
        /// The lab.
        lab: String,
        /// The rule it broke.
        #[source]
        source: ConfigError,
    },
    /// A lab operation on one host failed.
    #[error("host `{host}`")]
    Host {
        /// Host name.
        host: String,
        /// What failed.
        #[source]
        source: LabError,
    },
    /// `down --all` left something behind.
    #[error("left behind after down --all: {0}; run `kubelab down --all` again or remove it with virsh")]
    Leftovers(String),
}

impl FleetError {
    fn hosts(file: &Path, message: String, source: Option<BoxError>) -> Self {
        FleetError::Hosts { file: file.display().to_string(), message, source }
    }

    fn at(host: &str) -> impl Fn(LabError) -> FleetError + '_ {
        move |source| FleetError::Host { host: host.to_string(), source }
    }
}

/// Opens the hypervisor of a URI (the real one by default, a fake in tests).
pub type HypervisorOpener = Arc<dyn Fn(&str) -> Result<Arc<dyn Hypervisor>, HypervisorError> + Send + Sync>;
/// Makes the [`Lab`] of a config on a hypervisor (`Lab::new` by default; tests add fake shells).
pub type LabMaker = Arc<dyn Fn(LabConfig, Arc<dyn Hypervisor>) -> Lab + Send + Sync>;

/// One lab of a plan: its config (name, subnet, URI) and the host it goes to.
#[derive(Clone, Debug)]
pub struct PlannedLab {
    /// The lab's config.
    pub cfg: LabConfig,
    /// Host name.
    pub host: String,
    /// That host's free memory in MiB when planned (before any lab of the plan).
    pub host_free_mib: u64,
}

/// A lab found on a host or in the state directory.
#[derive(Clone, Debug)]
pub struct KnownLab {
    /// Its config: the one it was made with when recorded, else the base one renamed onto its host.
    pub cfg: LabConfig,
    /// Host name.
    pub host: String,
    /// Its state file, when there is one.
    pub state: Option<LabState>,
}

/// One lab in `status --all`.
#[derive(Clone, Debug, Serialize)]
pub struct LabStatus {
    /// Lab name.
    pub lab: String,
    /// Host name.
    pub host: String,
    /// libvirt URI.
    pub uri: String,
    /// Its domains on that host, with `running` or `shut off`.
    pub domains: Vec<(String, String)>,
    /// The nodes as seen inside the guests (`None`: no state file, or unreachable: see `error`).
    pub nodes: Option<Vec<crate::lab::NodeStatus>>,
    /// Why the nodes could not be read.
    pub error: Option<String>,
}

/// What `down --all` removed and what is left, per host.
#[derive(Clone, Debug, Serialize)]
pub struct HostDown {
    /// Host name.
    pub host: String,
    /// Labs removed there, with what each had.
    pub removed: Vec<(String, Footprint)>,
    /// What is left there of any lab (domains and networks with a lab tag, the labs' pools, volumes, filters).
    pub left: HostLeftovers,
}

/// kubelab's resources on one host.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostLeftovers {
    /// Domains with a lab tag (or named after a known lab).
    pub domains: usize,
    /// Networks with a lab tag (or named after a known lab).
    pub networks: usize,
    /// Storage pools of known labs (the shared `kubelab-images` pool is kept on purpose).
    pub pools: usize,
    /// Volumes in those pools.
    pub volumes: usize,
    /// nwfilters named after known labs.
    pub nwfilters: usize,
}

impl HostLeftovers {
    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        *self == HostLeftovers::default()
    }
}

/// Labs over the hosts of a hosts file.
pub struct Fleet {
    base: LabConfig,
    hosts: HostsFile,
    open: HypervisorOpener,
    make: LabMaker,
}

impl Fleet {
    /// A fleet of labs derived from `base` on `hosts`, over the real libvirt and SSH.
    pub fn new(base: LabConfig, hosts: HostsFile) -> Self {
        Fleet { base, hosts, open: Arc::new(crate::hypervisor::open), make: Arc::new(Lab::new) }
    }

    /// The same fleet opening hypervisors and making labs through the given seams (tests).
    pub fn with_seams(self, open: HypervisorOpener, make: LabMaker) -> Self {
        Fleet { open, make, ..self }
    }

    /// The hosts.
    pub fn hosts(&self) -> &[HostEntry] {
        &self.hosts.hosts
    }

    fn hv(&self, host: &HostEntry) -> Result<Arc<dyn Hypervisor>, FleetError> {
        (self.open)(&host.uri).map_err(|e| FleetError::at(&host.name)(e.into()))
    }

    /// Plans `n` new labs: names `<base>-<i>` not yet used (no state, no tagged resource on any
    /// host), each on the host with the most free memory left, each on the first subnet of the
    /// base's size that no network of any host and no earlier lab of the plan uses; then every
    /// lab's preflight (image, name, subnet) on its host. Nothing is created.
    pub async fn plan(&self, n: usize) -> Result<Vec<PlannedLab>, FleetError> {
        let known: BTreeSet<String> = self.known_labs()?.into_iter().map(|k| k.cfg.name).collect();
        let names: Vec<String> = (1..).map(|i| format!("{}-{i}", self.base.name)).filter(|c| !known.contains(c)).take(n).collect();
        let mut free = Vec::new();
        let mut taken: Vec<Ipv4Net> = Vec::new();
        let mut hvs = Vec::new();
        for h in self.hosts() {
            let hv = self.hv(h)?;
            let bytes = hv.free_memory().map_err(|e| FleetError::at(&h.name)(e.into()))?;
            free.push(HostFree { host: h.name.clone(), free_mib: bytes / (1024 * 1024) });
            let nets = hv.networks().map_err(|e| FleetError::at(&h.name)(e.into()))?;
            taken.extend(nets.iter().filter(|n| n.active).flat_map(|n| parse::network_subnets(&n.xml)));
            hvs.push(hv);
        }
        let b = &self.base;
        let at = placement::place(&names, b.memory_needed_mib(), b.nodes.len(), b.memory_mib, &free)?;
        let mut plan = Vec::new();
        for (name, i) in names.iter().zip(at) {
            let host = &self.hosts()[i];
            let cfg = placement::derive(b, name, &host.uri, &taken)?;
            taken.push(cfg.subnet);
            (self.make)(cfg.clone(), hvs[i].clone()).preflight().map_err(FleetError::at(&host.name))?;
            plan.push(PlannedLab { cfg, host: host.name.clone(), host_free_mib: free[i].free_mib });
        }
        Ok(plan)
    }

    /// Brings the planned labs up one after another (`emit` gets each lab's events with its
    /// name). When one fails, or `cancel` completes (SIGINT), the labs this call made are taken
    /// down again and the error says so.
    pub async fn up(
        &self,
        plan: &[PlannedLab],
        emit: &(dyn Fn(&str, LabEvent) + Send + Sync),
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<LabState>, FleetError> {
        let cancel = std::pin::pin!(cancel);
        let mut cancel = cancel;
        let mut made: Vec<(Lab, &str)> = Vec::new();
        let mut states = Vec::new();
        // Every host opened before the first lab is made: a host that cannot be reached now
        // must not strand the labs made before its turn.
        let hvs = plan
            .iter()
            .map(|p| self.hv(self.hosts().iter().find(|h| h.name == p.host).expect("planned on a listed host")))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, hv) in plan.iter().zip(hvs) {
            let lab = (self.make)(p.cfg.clone(), hv);
            let name = p.cfg.name.clone();
            let on_event = |e: LabEvent| emit(&name, e);
            let r = lab.up_or_cancel(&on_event, &mut cancel).await;
            match r {
                Ok(s) => {
                    states.push(s);
                    made.push((lab, &p.host));
                }
                Err(e) => {
                    // `up` removed the failing lab itself; take down the ones made before it.
                    let mut undone = Vec::new();
                    for (l, _) in made.iter().rev() {
                        let left = l.down(false).await.and_then(|_| l.footprint());
                        undone.push(match left {
                            Ok(f) if f.is_empty() => format!("`{}` removed", l.config().name),
                            Ok(f) => format!("`{}` left {f:?}: run `kubelab down --all`", l.config().name),
                            Err(e) => format!("`{}` not removed ({e}): run `kubelab down --all`", l.config().name),
                        });
                    }
                    let e = match (e, undone.is_empty()) {
                        (e, true) => e,
                        (LabError::Interrupted(m), false) => {
                            LabError::Interrupted(format!("{m}; the labs made before it: {}", undone.join(", ")))
                        }
                        (e, false) => {
                            LabError::local(format!("up of lab `{}` (the labs made before it: {})", p.cfg.name, undone.join(", ")), e)
                        }
                    };
                    return Err(FleetError::Host { host: p.host.clone(), source: e });
                }
            }
        }
        Ok(states)
    }

    /// Every lab on the hosts or in the state directory: by state file (with its recorded
    /// config), else by the lab tag of a domain or network on a host.
    pub fn known_labs(&self) -> Result<Vec<KnownLab>, FleetError> {
        let mut out: Vec<KnownLab> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.base.state_dir) {
            let mut dirs: Vec<_> =
                rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join(crate::lab::STATE_FILE).exists()).collect();
            dirs.sort();
            for d in dirs {
                let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let cfg = LabConfig::load(&d.join(crate::lab::CONFIG_FILE)).unwrap_or_else(|_| self.base.clone());
                let state = LabState::read(&d.join(crate::lab::STATE_FILE)).ok().flatten();
                let uri = state.as_ref().map(|s| s.uri.clone()).unwrap_or_else(|| cfg.libvirt_uri.clone());
                let host = self.hosts().iter().find(|h| h.uri == uri).map(|h| h.name.clone()).unwrap_or_else(|| uri.clone());
                out.push(KnownLab { cfg: LabConfig { name, libvirt_uri: uri, ..cfg }, host, state });
            }
        }
        for h in self.hosts() {
            let hv = self.hv(h)?;
            let at = FleetError::at(&h.name);
            let mut tags: BTreeSet<String> = hv.domains().map_err(|e| at(e.into()))?.into_iter().filter_map(|d| d.lab).collect();
            tags.extend(hv.networks().map_err(|e| at(e.into()))?.into_iter().filter_map(|n| n.lab));
            for t in tags {
                if !out.iter().any(|k| k.cfg.name == t) {
                    out.push(KnownLab {
                        cfg: LabConfig { name: t, libvirt_uri: h.uri.clone(), ..self.base.clone() },
                        host: h.name.clone(),
                        state: None,
                    });
                }
            }
        }
        Ok(out)
    }

    fn lab_of(&self, k: &KnownLab) -> Result<Lab, FleetError> {
        let hv = (self.open)(&k.cfg.libvirt_uri).map_err(|e| FleetError::at(&k.host)(e.into()))?;
        Ok((self.make)(k.cfg.clone(), hv))
    }

    /// `status --all`: every known lab with its domains on its host and its nodes read over SSH.
    pub async fn status(&self) -> Result<Vec<LabStatus>, FleetError> {
        let mut out = Vec::new();
        for k in self.known_labs()? {
            let lab = self.lab_of(&k)?;
            let domains = lab
                .hypervisor()
                .domains()
                .map_err(|e| FleetError::at(&k.host)(e.into()))?
                .into_iter()
                .filter(|d| d.lab.as_deref() == Some(k.cfg.name.as_str()))
                .map(|d| (d.name, if d.active { "running" } else { "shut off" }.to_string()))
                .collect();
            let (nodes, error) = match &k.state {
                None => (None, Some("no state file: the lab is only known by its libvirt tag".to_string())),
                Some(s) => match async { lab.status(s, lab.shell(s)?.as_ref()).await }.await {
                    Ok(n) => (Some(n), None),
                    Err(e) => (None, Some(crate::errors::error_chain(&e))),
                },
            };
            out.push(LabStatus { lab: k.cfg.name.clone(), host: k.host.clone(), uri: k.cfg.libvirt_uri.clone(), domains, nodes, error });
        }
        Ok(out)
    }

    /// `down --all`: takes every known lab down on its host, then counts what is left of any
    /// lab on every host; anything left is an error naming it.
    pub async fn down_all(&self) -> Result<Vec<HostDown>, FleetError> {
        let known = self.known_labs()?;
        let mut removed: Vec<(String, String, Footprint)> = Vec::new();
        for k in &known {
            let lab = self.lab_of(k)?;
            let before = lab.down(false).await.map_err(FleetError::at(&k.host))?;
            removed.push((k.host.clone(), k.cfg.name.clone(), before));
        }
        let names: Vec<String> = known.iter().map(|k| k.cfg.name.clone()).collect();
        let mut out = Vec::new();
        let mut hosts: Vec<HostEntry> = self.hosts().to_vec();
        for k in &known {
            if !hosts.iter().any(|h| h.uri == k.cfg.libvirt_uri) {
                hosts.push(HostEntry { name: k.host.clone(), uri: k.cfg.libvirt_uri.clone(), ssh_key: None, known_hosts: None });
            }
        }
        for h in &hosts {
            let left = leftovers(self.hv(h)?.as_ref(), &names).map_err(|e| FleetError::at(&h.name)(e.into()))?;
            let removed = removed.iter().filter(|(host, ..)| *host == h.name).map(|(_, l, f)| (l.clone(), f.clone())).collect();
            out.push(HostDown { host: h.name.clone(), removed, left });
        }
        let bad: Vec<String> = out.iter().filter(|d| !d.left.is_empty()).map(|d| format!("host `{}`: {:?}", d.host, d.left)).collect();
        if bad.is_empty() { Ok(out) } else { Err(FleetError::Leftovers(bad.join("; "))) }
    }
}

/// What is left on a host of any lab: domains and networks with a lab tag or a known lab's
/// name prefix, the known labs' pools with their volumes, and their nwfilters.
pub fn leftovers(hv: &dyn Hypervisor, labs: &[String]) -> Result<HostLeftovers, HypervisorError> {
    let named = |n: &str| labs.iter().any(|l| n.starts_with(&format!("{l}-")));
    let pools: Vec<String> = hv.pools()?.into_iter().filter(|p| labs.iter().any(|l| *p == format!("{l}-pool"))).collect();
    let mut volumes = 0;
    for p in &pools {
        volumes += hv.volumes(p)?.len();
    }
    Ok(HostLeftovers {
        domains: hv.domains()?.iter().filter(|d| d.lab.is_some() || named(&d.name)).count(),
        networks: hv.networks()?.iter().filter(|n| n.lab.is_some() || named(&n.name)).count(),
        pools: pools.len(),
        volumes,
        nwfilters: hv.nwfilters()?.iter().filter(|f| named(f)).count(),
    })
}
