//! `up --labs N`, `status --all`, `down --all`: labs over the hosts of a hosts file.

use std::path::Path;
use std::time::Instant;

use kubelab::config::LabConfig;
use kubelab::fleet::{Fleet, HostsFile};

use super::args::ProvisionArgs;
use super::errors::ExpectedError;
use super::progress::Progress;
use super::signals::interrupted;

fn fleet(cfg: &LabConfig, hosts: Option<&Path>) -> Result<Fleet, ExpectedError> {
    let hosts = match hosts {
        Some(p) => HostsFile::load(p)?,
        None => HostsFile::single(&cfg.libvirt_uri),
    };
    Ok(Fleet::new(cfg.clone(), hosts))
}

/// `kubelab up --labs N`.
pub async fn up(cfg: &LabConfig, hosts: Option<&Path>, n: usize, no_provision: bool) -> Result<(), ExpectedError> {
    let fleet = fleet(cfg, hosts)?;
    let plan = fleet.plan(n).await?;
    for p in &plan {
        eprintln!(
            "lab `{}` → host `{}` ({} MiB free there before this run; the lab needs {} MiB), subnet {}",
            p.cfg.name,
            p.host,
            p.host_free_mib,
            p.cfg.memory_needed_mib(),
            p.cfg.subnet
        );
    }
    let progress = Progress::new();
    let emit = |lab: &str, mut e: kubelab::lab::LabEvent| {
        e.node = format!("{lab}/{}", e.node);
        progress.event(e)
    };
    let t0 = Instant::now();
    let states = fleet.up(&plan, &emit, interrupted()).await?;
    eprintln!("{} lab(s) up in {:.1} s", states.len(), t0.elapsed().as_secs_f64());
    if !no_provision {
        for p in &plan {
            super::provision::provision(&p.cfg, ProvisionArgs { only: vec![], from: None, until: None, log_dir: None }).await?;
        }
    }
    Ok(())
}

/// `kubelab status --all`.
pub async fn status_all(cfg: &LabConfig, hosts: Option<&Path>, json: bool) -> Result<(), ExpectedError> {
    let rows = fleet(cfg, hosts)?.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).expect("serialisable"));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no labs");
    }
    for r in &rows {
        let running = r.domains.iter().filter(|(_, s)| s == "running").count();
        let reachable = r.nodes.as_ref().map(|n| n.iter().filter(|n| n.reachable).count());
        println!(
            "{:<20} host={:<10} domains={} running={} reachable={}{}",
            r.lab,
            r.host,
            r.domains.len(),
            running,
            reachable.map_or("?".to_string(), |n| n.to_string()),
            r.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    Ok(())
}

/// `kubelab down --all`.
pub async fn down_all(cfg: &LabConfig, hosts: Option<&Path>) -> Result<(), ExpectedError> {
    let out = fleet(cfg, hosts)?.down_all().await?;
    for h in &out {
        let labs: Vec<String> = h.removed.iter().map(|(l, f)| format!("{l} ({} domain(s))", f.domains)).collect();
        eprintln!(
            "host `{}`: removed {}; left: {}",
            h.host,
            if labs.is_empty() { "no lab".to_string() } else { labs.join(", ") },
            if h.left.is_empty() { "nothing".to_string() } else { format!("{:?}", h.left) }
        );
    }
    Ok(())
}
