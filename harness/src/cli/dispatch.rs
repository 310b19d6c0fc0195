//! The entry point and dispatch of subcommands to their handlers.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use kubelab::config::{Accel, LabConfig};
use kubelab::errors::ConfigError;
use kubelab::hypervisor::{self, Hypervisor};
use kubelab::lab::Lab;

use super::args::{BenchWhat, Cli, Command, ProvisionArgs, SnapshotAction};
use super::errors::ExpectedError;
use super::progress::Progress;
use super::signals::{install_signal_handler, interrupted};

/// Entry point: returns the process exit code.
pub fn main_impl() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { kubelab::exit_codes::USAGE } else { kubelab::exit_codes::OK };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("KUBELAB_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(async {
        install_signal_handler();
        dispatch(cli).await
    }) {
        Ok(()) => kubelab::exit_codes::OK,
        Err(e) => {
            eprintln!("error: {}", kubelab::errors::error_chain(&e));
            e.exit_code()
        }
    }
}

/// Loads the config: file (explicit, or ./kubelab.toml) then CLI/env overrides, validated.
pub fn load_config(cli: &Cli) -> Result<LabConfig, ConfigError> {
    let mut cfg = match &cli.config {
        Some(p) => LabConfig::load(p)?,
        None if Path::new("kubelab.toml").exists() => LabConfig::load(Path::new("kubelab.toml"))?,
        None => LabConfig::default(),
    };
    let bad = |key: &str, message: String| ConfigError::Invalid { key: key.into(), message };
    if let Some(n) = &cli.lab {
        cfg.name = n.clone();
    }
    if let Some(p) = &cli.profile {
        cfg.profile = p.parse().map_err(|m| bad("profile", m))?;
    }
    if let Some(a) = &cli.accel {
        cfg.accel = match a.as_str() {
            "auto" => Accel::Auto,
            "kvm" => Accel::Kvm,
            "tcg" => Accel::Tcg,
            o => return Err(bad("accel", format!("unknown accelerator `{o}` (expected auto, kvm or tcg)"))),
        };
    }
    if let Some(u) = &cli.uri {
        cfg.libvirt_uri = u.clone();
    }
    if let Some(d) = &cli.image_cache {
        cfg.image_cache = d.clone();
    }
    cfg.validate()?;
    Ok(cfg)
}

/// The lab does not fit in this host's available memory (local libvirt only: a remote
/// hypervisor's memory is not this host's).
fn host_memory_warning(cfg: &LabConfig) -> Option<String> {
    if kubelab::doctor::parse::remote_host(&cfg.libvirt_uri).is_some() {
        return None;
    }
    cfg.memory_warning(kubelab::config::read_mem_available_kib()?)
}

/// The hypervisor of `cfg`.
pub fn open_hv(cfg: &LabConfig) -> Result<Arc<dyn Hypervisor>, ExpectedError> {
    Ok(hypervisor::open(&cfg.libvirt_uri)?)
}

async fn dispatch(cli: Cli) -> Result<(), ExpectedError> {
    if let Command::Completions { shell } = &cli.command {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut Cli::command(), "kubelab", &mut script);
        use std::io::Write;
        return match std::io::stdout().write_all(&script) {
            // A reader that stops early (`| head`) is not an error.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ExpectedError::Other(e.into())),
            _ => Ok(()),
        };
    }
    if let Command::Explain(args) = &cli.command {
        return super::explain::run(args);
    }
    let cfg = load_config(&cli)?;
    match cli.command {
        Command::Completions { .. } | Command::Explain(_) => unreachable!("handled above"),
        Command::Config => {
            print!("{}", toml::to_string_pretty(&cfg).map_err(|e| ExpectedError::Other(e.into()))?);
            Ok(())
        }
        Command::Image { action } => super::image::image(&cfg, action),
        Command::Up { no_provision, labs: Some(n) } => super::fleet::up(&cfg, cli.hosts.as_deref(), n as usize, no_provision).await,
        Command::Down { all: true, .. } => super::fleet::down_all(&cfg, cli.hosts.as_deref()).await,
        Command::Status { json, all: true } => super::fleet::status_all(&cfg, cli.hosts.as_deref(), json).await,
        Command::Up { no_provision, labs: None } => {
            if let Some(w) = host_memory_warning(&cfg) {
                eprintln!("warning: {w}");
            }
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let progress = Progress::new();
            let t0 = Instant::now();
            let state = lab.up_or_cancel(&|e| progress.event(e), interrupted()).await?;
            eprintln!(
                "lab `{}` up: {} nodes ({}) in {:.1} s",
                state.name,
                state.nodes.len(),
                if state.domain_type == "kvm" { "kvm" } else { "tcg" },
                t0.elapsed().as_secs_f64()
            );
            if !no_provision {
                super::provision::provision(&cfg, ProvisionArgs { only: vec![], from: None, until: None, log_dir: None }).await?;
            }
            Ok(())
        }
        Command::Down { purge, all: false } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let before = lab.down(purge).await?;
            let after = lab.footprint()?;
            eprintln!(
                "lab `{}` down: removed {} domain(s), {} volume(s), {} seed(s), {} network(s), {} pool(s), {} filter(s); left: {}",
                cfg.name,
                before.domains,
                before.volumes,
                before.seeds,
                before.networks,
                before.pools,
                before.nwfilters,
                if after.is_empty() { "nothing".to_string() } else { format!("{after:?}") }
            );
            Ok(())
        }
        Command::Inventory { json } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let inv = lab.footprint()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inv).expect("serialisable"));
            } else {
                println!("{inv:?}");
            }
            Ok(())
        }
        Command::Status { json, all: false } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            let st = lab.status(&state, shell.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st).expect("serialisable"));
            } else {
                for n in &st {
                    println!(
                        "{:<24} {:<9} {:<15} uuid={} product_uuid={} machine-id={} macs={} hostkey={} reachable={} reaches={:?}{}",
                        n.name,
                        n.domain_state,
                        n.ip,
                        n.domain_uuid,
                        n.product_uuid.as_deref().unwrap_or("?"),
                        n.machine_id.as_deref().unwrap_or("?"),
                        n.macs.join(","),
                        n.host_key_fingerprint.as_deref().unwrap_or("?"),
                        n.reachable,
                        n.reaches,
                        n.error.as_deref().map(|e| format!(" error: {e}")).unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Command::Ssh { node, cmd } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let state = lab.load_state()?;
            let n = cfg.node(&node).ok_or_else(|| kubelab::errors::RemoteError::UnknownNode(node.clone()))?;
            if cmd.is_empty() {
                println!(
                    "ssh -i {} -o UserKnownHostsFile={} {}@{}",
                    state.key_path.display(),
                    cfg.lab_dir().join("keys").join("known_hosts").display(),
                    state.user,
                    n.ip
                );
                return Ok(());
            }
            let shell = lab.shell(&state)?;
            let out = shell.run(&n.name, &cmd.join(" ")).await?;
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            if out.exit_status != 0 {
                std::process::exit(out.exit_status as i32);
            }
            Ok(())
        }
        Command::Doctor { json, no_boot_probe } => {
            let opts = kubelab::doctor::DoctorOptions { boot_probe: !no_boot_probe, ..kubelab::doctor::DoctorOptions::default() };
            let c = cfg.clone();
            let report =
                tokio::task::spawn_blocking(move || kubelab::doctor::run(&c, &opts)).await.map_err(|e| ExpectedError::Other(e.into()))?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.fit_for_lab() { Ok(()) } else { Err(ExpectedError::HostUnfit) }
        }
        Command::Reboot { node } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            let nodes: Vec<String> = match node {
                Some(n) => vec![cfg.node(&n).ok_or_else(|| kubelab::errors::RemoteError::UnknownNode(n.clone()))?.name.clone()],
                None => state.nodes.iter().map(|n| n.name.clone()).collect(),
            };
            let t = lab.reboot(shell.as_ref(), &nodes, Duration::from_secs(cfg.boot_timeout_secs)).await?;
            eprintln!("rebooted {} node(s); all back in {:.1} s", nodes.len(), t.as_secs_f64());
            Ok(())
        }
        Command::Artifacts { action } => super::artifacts::artifacts(&cfg, action).await,
        Command::Fault { action } => super::fault::fault(&cfg, action).await,
        Command::Snapshot { action } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let state = lab.load_state()?;
            match action {
                SnapshotAction::Save { name } => {
                    let t = lab.snapshot_save(&state, &name).await?;
                    eprintln!("snapshot `{name}` saved on {} nodes in {:.1} s", state.nodes.len(), t.as_secs_f64());
                }
                SnapshotAction::Revert { name } => {
                    let t = lab.snapshot_revert(&state, &name).await?;
                    eprintln!("{} nodes reverted to `{name}` in {:.1} s", state.nodes.len(), t.as_secs_f64());
                }
            }
            Ok(())
        }
        Command::Provision(args) => super::provision::provision(&cfg, args).await,
        Command::Check(args) => super::check::check(&cfg, args).await,
        Command::Bench { what } => match what {
            BenchWhat::Clone(opts) => super::bench::clone(&cfg, &opts.sizes).await,
            BenchWhat::Check(o) => super::bench::check(o.features.as_deref(), &o.evidence, o.scenarios, o.iterations).await,
            BenchWhat::Ssh { commands } => super::bench::ssh(&cfg, commands).await,
            BenchWhat::Boot(o) => super::bench_boot::boot(&cfg, o).await,
            BenchWhat::Reset => super::bench::reset(&cfg).await,
        },
    }
}
