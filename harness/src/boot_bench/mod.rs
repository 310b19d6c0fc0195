//! `kubelab bench boot`: boots throwaway labs of 1 and 3 nodes, a baseline and a candidate
//! variant alternating in the same run (so the host's load affects both), and reads per node
//! the host's view (sshd with the pinned key, cloud-init done) and the guest's own account of
//! its boot ([`analysis::breakdown`]). Every raw output read in a guest is saved next to the
//! report. Main entry: [`run`].

pub mod analysis;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Accel, LabConfig, NodeConfig};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::{self, xml};
use crate::lab::{Lab, LabEvent};
use crate::remote::RemoteShell;

pub use analysis::{Breakdown, GuestCapture, LabSample, NodeSample, breakdown, render};

/// What a variant changes against the lab config: `image=DIR` (an offline image directory,
/// e.g. an older recipe's cache), `vcpus=N`, `cpu=MODEL` (TCG CPU model). Written
/// `key=value,key=value`; empty = the config as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// Base image directory (holds base.qcow2, vmlinuz, initrd.img, manifest.json).
    pub image: Option<PathBuf>,
    /// vCPUs per guest.
    pub vcpus: Option<u32>,
    /// TCG CPU model.
    pub cpu: Option<String>,
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut v = Variant::default();
        for kv in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match kv.split_once('=') {
                Some(("image", p)) if Path::new(p).is_absolute() => v.image = Some(PathBuf::from(p)),
                Some(("image", p)) => return Err(format!("image={p}: give an absolute image directory")),
                Some(("vcpus", n)) => v.vcpus = Some(n.parse().ok().filter(|n| (1..=64).contains(n)).ok_or(format!("vcpus={n}: 1-64"))?),
                Some(("cpu", m)) if !m.is_empty() => v.cpu = Some(m.to_string()),
                _ => return Err(format!("`{kv}`: expected image=DIR, vcpus=N or cpu=MODEL")),
            }
        }
        Ok(v)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(i) = &self.image {
            parts.push(format!("image={}", i.display()));
        }
        if let Some(n) = self.vcpus {
            parts.push(format!("vcpus={n}"));
        }
        if let Some(c) = &self.cpu {
            parts.push(format!("cpu={c}"));
        }
        if parts.is_empty() { f.write_str("(config as is)") } else { f.write_str(&parts.join(",")) }
    }
}

/// Options of one bench run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Baseline variant (none: only the candidate is booted).
    pub baseline: Option<Variant>,
    /// Candidate variant.
    pub candidate: Variant,
    /// Node counts (each ≤ the config's nodes).
    pub nodes: Vec<usize>,
    /// Rounds; within a round the order of baseline and candidate alternates.
    pub rounds: usize,
    /// Directory for the raw captures and `samples.json`.
    pub save: PathBuf,
}

/// The lab config a variant boots: a throwaway lab (own name and subnet) of the first `n` nodes.
pub fn variant_config(cfg: &LabConfig, v: &Variant, n: usize) -> LabConfig {
    let octet = 7;
    let nodes: Vec<NodeConfig> = cfg
        .nodes
        .iter()
        .take(n)
        .map(|node| NodeConfig { ip: std::net::Ipv4Addr::new(192, 168, octet, node.ip.octets()[3]), ..node.clone() })
        .collect();
    LabConfig {
        name: "kl-bench-boot".into(),
        subnet: format!("192.168.{octet}.0/24").parse().expect("static"),
        gateway: std::net::Ipv4Addr::new(192, 168, octet, 1),
        metallb_pool: format!("192.168.{octet}.200-192.168.{octet}.220"),
        nodes,
        vcpus: v.vcpus.unwrap_or(cfg.vcpus),
        base_image: v.image.as_ref().map(|d| d.join("base.qcow2")).or_else(|| cfg.base_image.clone()),
        ..cfg.clone()
    }
}

/// The order of the two variants in round `round` for the `i`-th node count (ABBA: each
/// variant goes first as often as the other).
pub fn order(round: usize, i: usize) -> [&'static str; 2] {
    if (round + i) % 2 == 1 { ["baseline", "candidate"] } else { ["candidate", "baseline"] }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}

/// Names of the threads of the QEMU process running `domain` (`/run/libvirt/qemu/<domain>.pid`).
fn qemu_threads(domain: &str) -> Vec<String> {
    let Ok(pid) = std::fs::read_to_string(format!("/run/libvirt/qemu/{domain}.pid")) else { return Vec::new() };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", pid.trim())) else { return Vec::new() };
    let mut v: Vec<String> =
        tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok()).map(|s| s.trim().to_string()).collect();
    v.sort();
    v
}

/// Reads the boot record of `node` once it finished booting (bounded wait).
pub async fn capture(shell: &dyn RemoteShell, node: &str) -> Result<GuestCapture, LabError> {
    let run = async |script: &str| -> Result<String, LabError> {
        let o = shell.run(node, script).await?;
        Ok(if o.stdout.trim().is_empty() { o.stderr } else { o.stdout })
    };
    run("timeout 300 systemctl is-system-running --wait >/dev/null 2>&1; true").await?;
    Ok(GuestCapture {
        analyze: run("systemd-analyze").await?,
        critical_chain: run("systemd-analyze critical-chain ssh.service cloud-final.service multi-user.target").await?,
        blame: run("systemd-analyze blame").await?,
        cloud_init_show: run("cloud-init analyze show").await?,
        cloud_init_blame: run("cloud-init analyze blame").await?,
        cloud_init_dump: run("cloud-init analyze dump").await?,
        manager: run("systemctl show -p UserspaceTimestampMonotonic -p InitRDTimestampMonotonic -p FinishTimestampMonotonic").await?,
        units: run(&format!(
            "systemctl show -p Id -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic {}",
            analysis::TIMED_UNITS.join(" ")
        ))
        .await?,
        cloud_init_status: run("cloud-init status --long").await?,
    })
}

/// Boots one lab of `cfg` (create, retune, start, wait until ready), reads every node, and
/// removes the lab again, also on failure.
pub async fn boot_once(cfg: &LabConfig, v: &Variant, round: usize, label: &str, save: &Path) -> Result<LabSample, LabError> {
    let lab = Lab::new(cfg.clone(), hypervisor::open(&cfg.libvirt_uri)?);
    let _ = lab.down(false).await;
    let load_before = loadavg();
    let t0 = Instant::now();
    let result = boot_and_read(&lab, v, t0).await;
    let _ = lab.down(false).await;
    let (per_node, up) = result?;
    let sample = LabSample {
        round,
        variant: label.into(),
        spec: v.to_string(),
        nodes: cfg.nodes.len(),
        vcpus: cfg.vcpus,
        up,
        load: (load_before, loadavg()),
        per_node: per_node.iter().map(|(n, _)| n.clone()).collect(),
    };
    let dir = save.join(sample_dir(round, label, cfg.nodes.len()));
    for (n, c) in &per_node {
        let d = dir.join(&n.node);
        std::fs::create_dir_all(&d).map_err(|e| LabError::local(format!("create {}", d.display()), e))?;
        for (f, body) in c.files() {
            std::fs::write(d.join(f), body).map_err(|e| LabError::local(format!("write {}", d.join(f).display()), e))?;
        }
    }
    Ok(sample)
}

type Booted = (Vec<(NodeSample, GuestCapture)>, f64);

async fn boot_and_read(lab: &Lab, v: &Variant, t0: Instant) -> Result<Booted, LabError> {
    let cfg = lab.config();
    let base = lab.preflight()?;
    // The bench boots under the accelerator it is told to, with no KVM attempt first.
    let domain_type = if cfg.accel == Accel::Kvm { "kvm" } else { "qemu" };
    let state = lab.create(&base, domain_type, &|_| {}).await?;
    let hv = lab.hypervisor().clone();
    let started: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    {
        let (hv, state, v, started) = (hv.clone(), state.clone(), v.clone(), started.clone());
        tokio::task::spawn_blocking(move || -> Result<(), HypervisorError> {
            if v.cpu.is_some() {
                for d in hv.domains()? {
                    if state.nodes.iter().any(|n| n.domain == d.name) {
                        hv.define_domain(&xml::retune(&d.xml, v.cpu.as_deref(), None))?;
                    }
                }
            }
            for n in &state.nodes {
                hv.start_domain(&n.domain)?;
                started.lock().expect("not poisoned").push((n.name.clone(), Instant::now()));
            }
            Ok(())
        })
        .await
        .expect("start task panicked")?;
    }
    let events: Mutex<Vec<(LabEvent, Instant)>> = Mutex::default();
    let emit = |e: LabEvent| events.lock().expect("not poisoned").push((e, Instant::now()));
    let budget = Duration::from_secs(cfg.boot_timeout_secs);
    lab.wait_ready(&state, Duration::from_secs(cfg.boot_progress_secs), budget, &emit).await?;
    let up = t0.elapsed().as_secs_f64();
    let shell = lab.shell(&state)?;
    let events = events.into_inner().expect("not poisoned");
    let started = started.lock().expect("not poisoned").clone();
    let mut out = Vec::new();
    for n in &state.nodes {
        let start = started.iter().find(|(x, _)| x == &n.name).map(|(_, t)| *t).unwrap_or(t0);
        let at = |phase: &str| {
            events
                .iter()
                .find(|(e, _)| e.node == n.name && e.phase == phase)
                .map(|(e, t)| (t.duration_since(start).as_secs_f64(), e.message.clone()))
        };
        let (ssh, _) = at("ssh").unwrap_or_default();
        let (ready, msg) = at("ready").unwrap_or_default();
        let threads = qemu_threads(&n.domain);
        let c = capture(shell.as_ref(), &n.name).await?;
        let guest = breakdown(&c).map_err(|e| e.to_string());
        let status = msg.rsplit("; ").next().unwrap_or_default().to_string();
        out.push((NodeSample { node: n.name.clone(), ssh, ready, status, tcg_threads: threads, guest }, c));
    }
    Ok((out, up))
}

/// Runs the bench: `rounds` × node counts × (baseline, candidate) in alternating order.
/// Prints each lab as it is read (`progress`) and returns every sample; `samples.json` and
/// the raw captures are written under `opts.save`. A node whose cloud-init did not report
/// `done` fails the run after the report (ready was not reached).
pub async fn run(cfg: &LabConfig, opts: &Options, progress: &dyn Fn(&LabSample)) -> Result<Vec<LabSample>, LabError> {
    if let Some(&n) = opts.nodes.iter().find(|&&n| n == 0 || n > cfg.nodes.len()) {
        return Err(LabError::local("bench boot --nodes", format!("{n}: the config has {} node(s)", cfg.nodes.len())));
    }
    std::fs::create_dir_all(&opts.save).map_err(|e| LabError::local(format!("create {}", opts.save.display()), e))?;
    let mut samples = Vec::new();
    for round in 1..=opts.rounds {
        for (i, &n) in opts.nodes.iter().enumerate() {
            for label in order(round, i) {
                let v = match label {
                    "baseline" => match &opts.baseline {
                        Some(b) => b,
                        None => continue,
                    },
                    _ => &opts.candidate,
                };
                let s = boot_once(&variant_config(cfg, v, n), v, round, label, &opts.save).await?;
                progress(&s);
                samples.push(s);
            }
        }
    }
    let json = serde_json::to_string_pretty(&samples).expect("serialisable");
    std::fs::write(opts.save.join("samples.json"), json).map_err(|e| LabError::local("write samples.json", e))?;
    Ok(samples)
}

fn sample_dir(round: usize, label: &str, nodes: usize) -> String {
    format!("r{round}-{label}-{nodes}n")
}

/// Re-reads a saved run (`samples.json` and the raw captures beside it) with the current
/// parsers: the guests' phases are judged again from the recorded outputs, nothing boots.
pub fn reread(save: &Path) -> Result<Vec<LabSample>, LabError> {
    let p = save.join("samples.json");
    let body = std::fs::read_to_string(&p).map_err(|e| LabError::local(format!("read {}", p.display()), e))?;
    let mut samples: Vec<LabSample> = serde_json::from_str(&body).map_err(|e| LabError::local(format!("parse {}", p.display()), e))?;
    for s in &mut samples {
        let dir = save.join(sample_dir(s.round, &s.variant, s.nodes));
        for n in &mut s.per_node {
            n.guest = breakdown(&GuestCapture::read(&dir.join(&n.node))).map_err(|e| e.to_string());
        }
    }
    Ok(samples)
}

/// Nodes whose cloud-init did not report done (the bench then exits non-zero).
pub fn not_ready(samples: &[LabSample]) -> Vec<String> {
    samples
        .iter()
        .flat_map(|s| {
            s.per_node
                .iter()
                .filter(|n| !n.status.contains("done"))
                .map(move |n| format!("{} ({} r{}): {}", n.node, s.variant, s.round, n.status))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_print() {
        let v: Variant = "image=/var/cache/kubelab/images/offline-4da12621f281,vcpus=1,cpu=max".parse().unwrap();
        assert_eq!(v.vcpus, Some(1));
        assert_eq!(v.cpu.as_deref(), Some("max"));
        assert_eq!(v.to_string(), "image=/var/cache/kubelab/images/offline-4da12621f281,vcpus=1,cpu=max");
        assert_eq!("".parse::<Variant>().unwrap(), Variant::default());
        assert!("image=rel/dir".parse::<Variant>().unwrap_err().contains("absolute"));
        assert!("vcpus=0".parse::<Variant>().is_err());
        assert!("ram=2".parse::<Variant>().unwrap_err().contains("expected"));
    }

    #[test]
    fn variant_config_is_a_throwaway_lab_on_the_image_asked_for() {
        let cfg = LabConfig::default();
        let v: Variant = "image=/img/old,vcpus=1".parse().unwrap();
        let c = variant_config(&cfg, &v, 1);
        assert_eq!(c.nodes.len(), 1);
        assert_eq!(c.vcpus, 1);
        assert_eq!(c.base_image.as_deref(), Some(Path::new("/img/old/base.qcow2")));
        assert_ne!(c.name, cfg.name);
        assert_eq!(c.nodes[0].ip, std::net::Ipv4Addr::new(192, 168, 7, 134));
        c.validate().unwrap();
        let c = variant_config(&cfg, &Variant::default(), 3);
        assert_eq!((c.nodes.len(), c.vcpus, c.base_image), (3, cfg.vcpus, None));
    }

    #[test]
    fn order_alternates_abba() {
        assert_eq!(order(1, 0), ["baseline", "candidate"]);
        assert_eq!(order(1, 1), ["candidate", "baseline"]);
        assert_eq!(order(2, 0), ["candidate", "baseline"]);
    }
}
