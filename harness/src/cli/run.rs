//! Dispatch of subcommands.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{CommandFactory, Parser};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kubelab::config::{Accel, LabConfig, Profile};
use kubelab::errors::ConfigError;
use kubelab::hypervisor::{self, Hypervisor};
use kubelab::lab::{Lab, LabEvent};
use kubelab::remote::RemoteShell;

use super::args::{ArtifactsAction, BenchWhat, CheckArgs, Cli, Command, FaultAction, ImageAction, ProvisionArgs, SnapshotAction, Which};
use super::errors::ExpectedError;

/// `--version` text: the harness version and the pinned guide versions.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nguide: kubeadm/kubelet/kubectl 1.23.6, calico 3.22.2, metrics-server 0.6.1, MetalLB 0.12.1, Helm 3.8.0, cfssl 1.6.1, docker-ce 20.10.24"
);

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
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Signal state of the process: how many operations can clean up after an interrupt right now,
/// and whether one arrived.
static CLEANUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static SIGNALLED: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> = std::sync::OnceLock::new();

/// SIGINT / SIGTERM: inside an operation that cleans up after itself (see [`interrupted`]) the
/// first one asks it to stop and clean up, a second one exits at once; anywhere else the process
/// exits at once with 130, as without a handler.
fn install_signal_handler() {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, _) = tokio::sync::watch::channel(false);
    let _ = SIGNALLED.set(tx);
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    tokio::spawn(async move {
        let mut cleaning = false;
        loop {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            if cleaning {
                eprintln!("interrupted again: exiting now; `kubelab down` removes what is left");
                std::process::exit(kubelab::exit_codes::INTERRUPTED);
            }
            if CLEANUPS.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                eprintln!("interrupted");
                std::process::exit(kubelab::exit_codes::INTERRUPTED);
            }
            cleaning = true;
            eprintln!("interrupted: cleaning up (interrupt again to exit at once)");
            if let Some(tx) = SIGNALLED.get() {
                let _ = tx.send(true);
            }
        }
    });
}

/// Completes when the user interrupts; while it is being awaited, an interrupt means "stop and
/// clean up" instead of "exit now".
async fn interrupted() {
    struct Section;
    impl Drop for Section {
        fn drop(&mut self) {
            CLEANUPS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let Some(mut rx) = SIGNALLED.get().map(|tx| tx.subscribe()) else {
        return std::future::pending().await;
    };
    CLEANUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _section = Section;
    let _ = rx.wait_for(|s| *s).await;
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

fn open_hv(cfg: &LabConfig) -> Result<Arc<dyn Hypervisor>, ExpectedError> {
    Ok(hypervisor::open(&cfg.libvirt_uri)?)
}

/// Renders lab events as progress bars on a terminal, as plain lines otherwise.
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Progress {
    /// Bars when stderr is a terminal.
    pub fn new() -> Self {
        Progress { multi: std::io::stderr().is_terminal().then(MultiProgress::new), bars: Default::default() }
    }

    /// Shows one event.
    pub fn event(&self, e: LabEvent) {
        let Some(multi) = &self.multi else {
            eprintln!("[{:>6.1}s] {:<24} {:<9} {}", e.elapsed, e.node, e.phase, e.message);
            return;
        };
        let mut bars = self.bars.lock().expect("poisoned");
        let bar = bars.entry(e.node.clone()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("{spinner} {prefix:<24} [{elapsed_precise}] {msg}").expect("template"));
            b.set_prefix(e.node.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(format!("{}: {}", e.phase, e.message));
        if e.phase == "ready" {
            bar.finish_with_message(format!("ready: {}", e.message));
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
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
        Command::Image { action } => image(&cfg, action),
        Command::Up { no_provision } => {
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
                provision(&cfg, ProvisionArgs { only: vec![], from: None, until: None, log_dir: None }).await?;
            }
            Ok(())
        }
        Command::Down { purge } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let before = lab.down(purge).await?;
            let after = lab.inventory()?;
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
            let inv = lab.inventory()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inv).expect("serialisable"));
            } else {
                println!("{inv:?}");
            }
            Ok(())
        }
        Command::Status { json } => {
            let lab = Lab::new(cfg.clone(), open_hv(&cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            let st = lab.status(&state, &shell).await?;
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
            let t = lab.reboot(&shell, &nodes, Duration::from_secs(cfg.boot_timeout_secs)).await?;
            eprintln!("rebooted {} node(s); all back in {:.1} s", nodes.len(), t.as_secs_f64());
            Ok(())
        }
        Command::Artifacts { action } => artifacts(&cfg, action).await,
        Command::Fault { action } => fault(&cfg, action).await,
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
        Command::Provision(args) => provision(&cfg, args).await,
        Command::Check(args) => check(&cfg, args).await,
        Command::Bench { what } => match what {
            BenchWhat::Clone(opts) => super::bench::clone(&cfg, &opts.sizes).await,
            BenchWhat::Check(o) => super::bench::check(o.features.as_deref(), &o.evidence, o.scenarios, o.iterations).await,
            BenchWhat::Ssh { commands } => super::bench::ssh(&cfg, commands).await,
            BenchWhat::Boot(o) => super::bench_boot::boot(&cfg, o).await,
            BenchWhat::Reset => super::bench::reset(&cfg).await,
        },
    }
}

fn image(cfg: &LabConfig, action: ImageAction) -> Result<(), ExpectedError> {
    match action {
        ImageAction::Build { which: Which::Offline, force } => {
            let t0 = Instant::now();
            let dir =
                kubelab::image::build_offline(cfg, force).map_err(|e| ExpectedError::ImageBuild(format!("image build failed: {e}")))?;
            eprintln!("offline image ready in {} ({:.0} s)", dir.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        ImageAction::Build { which: Which::Guide, .. } => Err(ExpectedError::Other(anyhow::anyhow!(
            "the guide profile uses Ubuntu's official 20.04 cloud image: run `kubelab image fetch guide`"
        ))),
        ImageAction::Fetch { which: Which::Guide } => {
            let p = kubelab::image::fetch_guide(cfg).context("fetch the guide image").map_err(ExpectedError::Other)?;
            eprintln!("guide image verified at {}", p.display());
            Ok(())
        }
        ImageAction::Fetch { which: Which::Offline } => {
            Err(ExpectedError::Other(anyhow::anyhow!("the offline image is built, not downloaded: run `kubelab image build offline`")))
        }
        ImageAction::Path { which } => {
            let c = LabConfig { profile: if matches!(which, Which::Guide) { Profile::Guide } else { Profile::Offline }, ..cfg.clone() };
            println!(
                "{}",
                if matches!(which, Which::Guide) { kubelab::image::guide_path(&c) } else { kubelab::image::offline_dir(&c) }.display()
            );
            Ok(())
        }
    }
}

/// `kubelab provision`.
pub async fn provision(cfg: &LabConfig, args: ProvisionArgs) -> Result<(), ExpectedError> {
    use kubelab::provision::{Plan, ProvisionEvent, Provisioner, StepFilter};
    let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
    let state = lab.load_state()?;
    let shell = lab.shell(&state)?;
    let plan = Plan::from_config(cfg).map_err(|e| ExpectedError::Provision(e.to_string()))?;
    let log_dir = args.log_dir.unwrap_or_else(|| cfg.lab_dir().join("provision"));
    std::fs::create_dir_all(&log_dir).map_err(|e| ExpectedError::Other(e.into()))?;
    let events_path = log_dir.join("events.jsonl");
    let sink_file = std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&events_path)
            .map_err(|e| ExpectedError::Other(e.into()))?,
    );
    let sink = |e: ProvisionEvent| {
        use std::io::Write;
        if let Some(line) = provision_line(&e) {
            eprintln!("{line}");
        }
        if let Some(ev) = provision_run_event(&e) {
            let _ = writeln!(sink_file.lock().expect("poisoned"), "{}", serde_json::to_string(&ev).expect("serialisable"));
        }
    };
    let filter = StepFilter { only: args.only, from: args.from, until: args.until };
    let t0 = Instant::now();
    let report = Provisioner::new(&shell, &plan)
        .filter(filter)
        .log_dir(log_dir.clone())
        .on_event(&sink)
        .run()
        .await
        .map_err(|e| ExpectedError::Provision(e.to_string()))?;
    let count = |f: &dyn Fn(&kubelab::provision::StepStatus) -> bool| report.outcomes.iter().filter(|o| f(&o.status)).count();
    use kubelab::provision::StepStatus as S;
    eprintln!(
        "provisioned in {:.1} s: {} changed, {} unchanged, {} skipped; logs in {}",
        t0.elapsed().as_secs_f64(),
        count(&|s| matches!(s, S::Changed)),
        count(&|s| matches!(s, S::Unchanged)),
        count(&|s| matches!(s, S::Skipped { .. })),
        log_dir.display()
    );
    Ok(())
}

fn provision_line(e: &kubelab::provision::ProvisionEvent) -> Option<String> {
    use kubelab::provision::{ProvisionEventKind as K, StepStatus as S};
    match &e.kind {
        K::Started => None,
        K::Finished { status, duration, note } => {
            let st = match status {
                S::Changed => "changed".to_string(),
                S::Unchanged => "unchanged".to_string(),
                S::Failed { message } => format!("FAILED: {message}"),
                S::Skipped { reason } => format!("skipped ({reason})"),
            };
            let note = note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
            Some(format!("[provision] {:<30} {:<24} {st} in {:.1}s{note}", e.step_id, e.node, duration.as_secs_f64()))
        }
    }
}

/// Bridges a provisioning event to the report layer's timeline.
pub fn provision_run_event(e: &kubelab::provision::ProvisionEvent) -> Option<kubelab::report::RunEvent> {
    use kubelab::provision::{ProvisionEventKind as K, StepStatus as S};
    use kubelab::report::{ProvisionStatus as P, RunEvent, RunEventKind};
    let K::Finished { status, duration, note } = &e.kind else { return None };
    let status = match status {
        S::Changed => P::Changed,
        S::Unchanged => P::Unchanged,
        S::Failed { .. } => P::Failed,
        S::Skipped { reason } => P::Skipped { reason: reason.clone() },
    };
    Some(RunEvent::now(RunEventKind::ProvisionStepFinished {
        step_id: e.step_id.clone(),
        node: e.node.clone(),
        status,
        duration: *duration,
        log_excerpt: note.clone().unwrap_or_default(),
    }))
}

/// `kubelab check`.
pub async fn check(cfg: &LabConfig, args: CheckArgs) -> Result<(), ExpectedError> {
    use kubelab::evidence::RecordedEvidence;
    let (evidence, source, extra, live) = match &args.evidence {
        Some(dir) => {
            let rec = RecordedEvidence::open(dir)?;
            (rec.into_evidence(), format!("recorded bundle {}", dir.display()), Vec::new(), None)
        }
        None if args.inventory.is_some() => {
            let path = args.inventory.as_ref().expect("checked");
            let inv = kubelab::inventory::Inventory::load(path)?;
            let icfg = inv.lab_config()?;
            let shell: Arc<dyn RemoteShell> = Arc::new(inv.shell()?);
            let (ev, bundle_dir) = gather_live(shell, &icfg, &args.report_dir, args.cluster_api, None).await?;
            (ev, format!("inventory {} over ssh (bundle written to {})", path.display(), bundle_dir.display()), Vec::new(), None)
        }
        None => {
            let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
            let state = lab.load_state()?;
            let shell = Arc::new(lab.shell(&state)?);
            let (ev, bundle_dir) = gather_live(shell.clone(), cfg, &args.report_dir, args.cluster_api, Some((&lab, &state))).await?;
            let extra = read_provision_events(&cfg.lab_dir().join("provision").join("events.jsonl"));
            let live_lab = crate::conformance::world::LiveLab { lab, state, shell };
            (ev, format!("live over ssh (bundle written to {})", bundle_dir.display()), extra, Some(live_lab))
        }
    };
    let opts = crate::conformance::runner::CheckOptions {
        features: args.features.clone(),
        tags: args.tags.clone(),
        name: args.name.clone(),
        exact: false,
        quiet: false,
        report_dir: Some(args.report_dir.clone()),
        lab: evidence.header.lab.clone(),
        profile: evidence.header.profile.as_str().into(),
    };
    let sum = crate::conformance::runner::run(evidence, source, &opts, extra, live).await?;
    eprintln!("reports in {}", args.report_dir.display());
    if sum.failed > 0 {
        return Err(ExpectedError::ChecksFailed(sum.failed as usize));
    }
    Ok(())
}

/// Gathers live evidence over `shell` into `<report_dir>/evidence` and returns it. In the
/// offline profile Kubernetes is not installed: its probes are not run (the scenarios that need
/// them are reported skipped with the reason). With `--cluster-api kube` (guide profile) the
/// cluster probes go through the kube client, tunnelled over the control plane's SSH connection.
/// With a lab, the facts kubelab reads from libvirt and the serial consoles are added (and written).
async fn gather_live(
    shell: Arc<dyn RemoteShell>,
    cfg: &LabConfig,
    report_dir: &Path,
    via: super::args::ClusterApiVia,
    lab: Option<(&Lab, &kubelab::lab::LabState)>,
) -> Result<(kubelab::evidence::Evidence, std::path::PathBuf), ExpectedError> {
    use kubelab::evidence::{BundleWriter, EvidenceSource, LiveEvidence, ProbeCatalog, Tier, gather};
    let err = |e: kubelab::evidence::EvidenceError| ExpectedError::Other(anyhow::anyhow!("{e}"));
    let guide = cfg.profile == Profile::Guide;
    let live = LiveEvidence::new(shell.clone(), cfg.clone(), "ssh");
    let (source, catalog): (Box<dyn EvidenceSource>, ProbeCatalog) = if guide && via == super::args::ClusterApiVia::Kube {
        let cp = cfg
            .nodes
            .iter()
            .find(|n| n.role == kubelab::config::Role::ControlPlane)
            .ok_or_else(|| ExpectedError::Other(anyhow::anyhow!("the lab has no control-plane node")))?;
        let api = kubelab::kube_api::ClusterApi::connect(shell, &cp.name).await?;
        (Box::new(kubelab::kube_api::ClusterApiEvidence::new(Arc::new(live), api)), kubelab::kube_api::api_catalog())
    } else {
        (Box::new(live), ProbeCatalog::standard())
    };
    let bundle_dir = report_dir.join("evidence");
    let _ = std::fs::remove_dir_all(&bundle_dir);
    let mut w = BundleWriter::create(&bundle_dir, &source.header(), chrono::Utc::now().to_rfc3339()).map_err(err)?;
    let select = move |p: &kubelab::evidence::Probe| guide || p.tier == Tier::Host;
    let mut ev = gather(source.as_ref(), &catalog, &select, Some(&mut w)).await.map_err(err)?;
    if let Some((lab, state)) = lab {
        for f in kubelab::lab::port::port_facts(lab, state, &ev).await? {
            let format = catalog.get(&f.probe).map(|p| p.format).unwrap_or_default();
            w.write_fact(&f, format!("{}; format: {format}", f.origin)).map_err(err)?;
            ev.insert(f);
        }
    }
    w.finish().map_err(err)?;
    Ok((ev, bundle_dir))
}

fn read_provision_events(path: &Path) -> Vec<kubelab::report::RunEvent> {
    std::fs::read_to_string(path).map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()).unwrap_or_default()
}

/// `kubelab fault …`.
pub async fn fault(cfg: &LabConfig, action: FaultAction) -> Result<(), ExpectedError> {
    use kubelab::fault::{ALL, FaultKind, FaultLab};
    let kind_of = |id: &str| {
        FaultKind::from_id(id).ok_or_else(|| {
            ExpectedError::Lab(
                kubelab::errors::ConfigError::Invalid {
                    key: "fault kind".into(),
                    message: format!("unknown fault `{id}`; one of: {}", ALL.iter().map(|k| k.id()).collect::<Vec<_>>().join(", ")),
                }
                .into(),
            )
        })
    };
    if let FaultAction::List = action {
        for k in ALL {
            let live = k.live_skip(cfg.profile).map(|r| format!("recorded only here: {r}")).unwrap_or_else(|| "live".into());
            println!(
                "{:<20} breaks: {:<60} [{live}]\n{:<20} guide: {}",
                k.id(),
                if k.checks().is_empty() { "ssh (diagnosed by kubelab's retry/backoff)".to_string() } else { k.checks().join(", ") },
                "",
                k.pitfall()
            );
        }
        return Ok(());
    }
    let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
    let state = lab.load_state()?;
    let shell = Arc::new(lab.shell(&state)?);
    let fl = FaultLab::new(&lab, &state, shell);
    match action {
        FaultAction::List => unreachable!("handled above"),
        FaultAction::Inject { kind, node } => {
            let f = fl.inject(kind_of(&kind)?, node.as_deref()).await?;
            eprintln!("injected {} on {}: {}", f.kind.id(), f.node, f.detail);
        }
        FaultAction::Heal { kind, node } => {
            let d = fl.heal(kind_of(&kind)?, node.as_deref()).await?;
            eprintln!("healed {kind}: {d}");
        }
    }
    Ok(())
}

/// `kubelab artifacts …`.
pub async fn artifacts(cfg: &LabConfig, action: ArtifactsAction) -> Result<(), ExpectedError> {
    use kubelab::provision::artifacts::{ArtifactCache, CurlDownloader};
    let pins = kubelab::provision::PinSet::for_versions(&cfg.versions).map_err(|e| ExpectedError::Provision(e.to_string()))?;
    match action {
        ArtifactsAction::List => {
            for p in pins.all() {
                println!("{:<28} {}  {}", p.artifact, p.sha256.unwrap_or("(no published checksum: trust on first use)"), p.url);
            }
            Ok(())
        }
        ArtifactsAction::Fetch { dir } => {
            let cache = ArtifactCache::new(dir.clone());
            let mut failed = Vec::new();
            for p in pins.all() {
                match cache.fetch(p, &CurlDownloader) {
                    Ok(path) => eprintln!("ok       {:<28} {}", p.artifact, path.display()),
                    Err(e) => {
                        eprintln!("FAILED   {:<28} {e}", p.artifact);
                        failed.push(p.artifact);
                    }
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(ExpectedError::Provision(format!(
                    "{} artifact(s) not fetched: {}; the guide profile needs internet (or a copied cache in {})",
                    failed.len(),
                    failed.join(", "),
                    dir.display()
                )))
            }
        }
        ArtifactsAction::Push { dir } => {
            let cache = ArtifactCache::new(dir);
            let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            for n in &state.nodes {
                for p in pins.all() {
                    let file = cache.path_of(p).map_err(|e| ExpectedError::Provision(e.to_string()))?;
                    if !file.exists() {
                        return Err(ExpectedError::Provision(format!(
                            "{} is not in the cache; run `kubelab artifacts fetch` first",
                            p.artifact
                        )));
                    }
                    let name = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    cache
                        .push(p, &shell, &n.name, &format!("/var/cache/kubelab-artifacts/{name}"))
                        .await
                        .map_err(|e| ExpectedError::Provision(e.to_string()))?;
                }
                eprintln!("pushed {} artifacts to {}", pins.all().len(), n.name);
            }
            Ok(())
        }
    }
}
