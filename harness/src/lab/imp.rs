use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{Accel, LabConfig, NodeConfig, Role};
use crate::errors::{HypervisorError, LabError, RemoteError};
use crate::hypervisor::Hypervisor;
use crate::hypervisor::xml::{self, DomainSpec};
use crate::image::{self, BaseImage};
use crate::remote::RemoteShell;
use crate::remote::russh_shell::{RusshShell, SshPolicy, SshTarget, fingerprint, parse_public_key};
use crate::seed::{self, NodeSeed};
use crate::wait::{self, Attempt, WaitError};

/// What a lab records about one node when it is created.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeState {
    /// Node name (= hostname).
    pub name: String,
    /// Static address.
    pub ip: std::net::Ipv4Addr,
    /// Role.
    pub role: Role,
    /// libvirt domain name.
    pub domain: String,
    /// Domain UUID (= SMBIOS product_uuid).
    pub uuid: String,
    /// MAC of the lab NIC.
    pub mac: String,
    /// Pinned host public key (OpenSSH line).
    pub host_key: String,
    /// Its SHA256 fingerprint.
    pub host_key_fingerprint: String,
}

/// Persistent record of a lab (`<state_dir>/<name>/lab.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabState {
    /// Lab name.
    pub name: String,
    /// Profile.
    pub profile: String,
    /// libvirt URI.
    pub uri: String,
    /// Domain type used (`kvm` or `qemu`).
    pub domain_type: String,
    /// Lab client key (private) path.
    pub key_path: PathBuf,
    /// Login user.
    pub user: String,
    /// Nodes.
    pub nodes: Vec<NodeState>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Progress of `up`/`down`, for progress bars and logs.
#[derive(Clone, Debug, Serialize)]
pub struct LabEvent {
    /// Node concerned (or `lab`).
    pub node: String,
    /// Phase, e.g. `clone`, `boot`, `ssh`, `ready`, `fallback`.
    pub phase: String,
    /// Human message.
    pub message: String,
    /// Seconds since the operation started.
    pub elapsed: f64,
}

/// Counts of a lab's resources on the hypervisor and disk.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Inventory {
    /// Domains tagged with the lab.
    pub domains: usize,
    /// Volumes in the lab's pool.
    pub volumes: usize,
    /// Seed ISOs on disk (in or out of the pool).
    pub seeds: usize,
    /// Networks tagged with the lab.
    pub networks: usize,
    /// The lab's storage pools.
    pub pools: usize,
    /// nwfilters named after the lab.
    pub nwfilters: usize,
    /// Whether the lab's state directory exists.
    pub state_dir: bool,
}

impl Inventory {
    /// Nothing of the lab is left.
    pub fn is_empty(&self) -> bool {
        *self == Inventory::default()
    }
}

/// A lab bound to a hypervisor.
pub struct Lab {
    cfg: LabConfig,
    hv: Arc<dyn Hypervisor>,
}

type Emit<'a> = &'a (dyn Fn(LabEvent) + Send + Sync);

/// libvirt calls in flight on blocking threads. Dropping the future that awaits one does not stop
/// it: an interrupted `up` waits for them to return before it removes what they created.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl std::future::Future<Output = T> {
    use std::sync::atomic::Ordering;
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let task = tokio::task::spawn_blocking(move || {
        let out = f();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        out
    });
    async move { task.await.expect("blocking task panicked") }
}

/// Waits (up to `limit`) until no libvirt call started by this process is still running.
async fn settle_blocking(limit: Duration) {
    let t0 = Instant::now();
    while IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > 0 && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Lab {
    /// A lab for this config on this hypervisor.
    pub fn new(cfg: LabConfig, hv: Arc<dyn Hypervisor>) -> Self {
        Lab { cfg, hv }
    }

    /// The config.
    pub fn config(&self) -> &LabConfig {
        &self.cfg
    }

    /// The hypervisor.
    pub fn hypervisor(&self) -> &Arc<dyn Hypervisor> {
        &self.hv
    }

    fn pool_name(&self) -> String {
        format!("{}-pool", self.cfg.name)
    }

    fn pool_dir(&self) -> PathBuf {
        self.cfg.lab_dir().join("pool")
    }

    fn state_path(&self) -> PathBuf {
        self.cfg.lab_dir().join("lab.json")
    }

    /// Console log of a node (boot-progress detection).
    pub fn console_log(&self, node: &str) -> PathBuf {
        self.cfg.lab_dir().join("console").join(format!("{node}.log"))
    }

    /// Checks everything a user can get wrong before anything is created.
    pub fn preflight(&self) -> Result<BaseImage, LabError> {
        let base = image::resolve(&self.cfg)?;
        let lab = &self.cfg.name;
        if let Some(d) = self.hv.domains()?.into_iter().find(|d| owned_by(lab, &d.lab, &d.name)) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("domain {}", d.name) }.into());
        }
        let nets = self.hv.networks()?;
        if let Some(n) = nets.iter().find(|n| owned_by(lab, &n.lab, &n.name)) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("network {}", n.name) }.into());
        }
        if self.hv.pools()?.contains(&self.pool_name()) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("storage pool {}", self.pool_name()) }.into());
        }
        for n in &nets {
            if n.active
                && xml::network_subnets(&n.xml)
                    .iter()
                    .any(|s| s.contains(&self.cfg.subnet.network()) || self.cfg.subnet.contains(&s.network()))
            {
                return Err(HypervisorError::SubnetInUse { subnet: self.cfg.subnet.to_string(), network: n.name.clone() }.into());
            }
        }
        if self.state_path().exists() {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("state {}", self.state_path().display()) }.into());
        }
        Ok(base)
    }

    /// Creates the network, pool, overlays, seeds and domains (not started). Returns the state
    /// (saved to disk). [`Lab::up`] starts and waits.
    pub async fn create(&self, base: &BaseImage, domain_type: &str, emit: Emit<'_>) -> Result<LabState, LabError> {
        let t0 = Instant::now();
        let ev = |node: &str, phase: &str, message: String| {
            emit(LabEvent { node: node.into(), phase: phase.into(), message, elapsed: t0.elapsed().as_secs_f64() })
        };
        let dir = self.cfg.lab_dir();
        // The state directory holds private keys: owner-only all the way (QEMU runs as root on a
        // lab runner, see ci/labenv; libvirt relabels the images it opens).
        for d in [self.cfg.state_dir.clone(), dir.clone(), dir.join("keys"), dir.join("console"), dir.join("seeds"), self.pool_dir()] {
            crate::private_fs::create_dir(&d).map_err(|e| LabError::local(format!("create {}", d.display()), e))?;
        }
        let key_path = dir.join("keys").join("id_ed25519");
        let (_, client_pub) = seed::generate_ed25519(&key_path, &format!("kubelab-{}", self.cfg.name))?;
        let hv = self.hv.clone();
        let net_xml = xml::network_xml(&self.cfg.network_name(), &self.cfg.name, self.cfg.gateway, self.cfg.subnet);
        let pool_xml = xml::pool_xml(&self.pool_name(), &self.pool_dir());
        blocking(move || -> Result<(), HypervisorError> {
            hv.create_pool(&pool_xml)?;
            hv.create_network(&net_xml)
        })
        .await?;
        ev("lab", "network", format!("network {} ({}) and pool {} created", self.cfg.network_name(), self.cfg.subnet, self.pool_name()));
        let mut nodes = Vec::new();
        for node in &self.cfg.nodes {
            let mac = xml::random_mac();
            let uuid = uuid::Uuid::new_v4().to_string();
            let hk_path = dir.join("keys").join(format!("{}_host_ed25519", node.name));
            let (hk_priv, hk_pub) = seed::generate_ed25519(&hk_path, &format!("root@{}", node.name))?;
            let hk = parse_public_key(&hk_pub).map_err(|e| LabError::local("parse generated host key", e))?;
            let seed_data = NodeSeed::new(&self.cfg, node, &mac, &client_pub, (&hk_priv, &hk_pub));
            let iso = self.pool_dir().join(format!("{}-seed.iso", node.name));
            seed_data.write_iso(&dir.join("seeds").join(&node.name), &iso)?;
            let vol_xml = xml::overlay_volume_xml(&format!("{}.qcow2", node.name), &base.disk, &base.format, base.virtual_size);
            let log = self.console_log(&node.name);
            let _ = std::fs::remove_file(&log);
            let spec = DomainSpec {
                name: self.cfg.domain_name(node),
                lab: self.cfg.name.clone(),
                node: node.name.clone(),
                uuid: uuid.clone(),
                memory_mib: self.cfg.memory_mib,
                vcpus: self.cfg.vcpus,
                domain_type: domain_type.to_string(),
                boot: base.boot.clone(),
                disk: PathBuf::new(),
                seed: iso.clone(),
                network: self.cfg.network_name(),
                mac: mac.clone(),
                port: xml::Port::new(node.ip),
                console_log: log,
            };
            let hv = self.hv.clone();
            let pool = self.pool_name();
            blocking(move || -> Result<(), HypervisorError> {
                let vol = hv.create_volume(&pool, &vol_xml)?;
                hv.refresh_pool(&pool)?;
                hv.define_domain(&xml::domain_xml(&DomainSpec { disk: vol.path.into(), ..spec }))
            })
            .await?;
            ev(&node.name, "clone", format!("linked clone of {} with uuid {uuid}, mac {mac}", base.disk.display()));
            nodes.push(NodeState {
                name: node.name.clone(),
                ip: node.ip,
                role: node.role,
                domain: self.cfg.domain_name(node),
                uuid,
                mac,
                host_key_fingerprint: fingerprint(&hk),
                host_key: hk_pub,
            });
        }
        let state = LabState {
            name: self.cfg.name.clone(),
            profile: self.cfg.profile.as_str().into(),
            uri: self.hv.uri(),
            domain_type: domain_type.into(),
            key_path,
            user: self.cfg.user.clone(),
            nodes,
            created_at: chrono::Utc::now().to_rfc3339(),
        };
        self.save_state(&state)?;
        Ok(state)
    }

    async fn start_all(&self, state: &LabState, emit: Emit<'_>, t0: Instant) -> Result<(), LabError> {
        for n in &state.nodes {
            let hv = self.hv.clone();
            let d = n.domain.clone();
            blocking(move || hv.start_domain(&d)).await?;
            emit(LabEvent {
                node: n.name.clone(),
                phase: "boot".into(),
                message: format!("domain {} started ({})", n.domain, state.domain_type),
                elapsed: t0.elapsed().as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Writes the state file.
    pub fn save_state(&self, state: &LabState) -> Result<(), LabError> {
        let body = serde_json::to_string_pretty(state).expect("serialisable");
        crate::private_fs::write(&self.state_path(), body).map_err(|e| LabError::local("write lab state", e))
    }

    /// Reads the state file of an existing lab.
    pub fn load_state(&self) -> Result<LabState, LabError> {
        let p = self.state_path();
        let body = std::fs::read_to_string(&p).map_err(|_| LabError::NotUp(self.cfg.name.clone()))?;
        serde_json::from_str(&body).map_err(|e| LabError::local(format!("parse {}", p.display()), e))
    }

    /// Waits until each node printed to its console (boot progress) within `progress` and
    /// answers SSH within `ssh_budget`. Nodes are waited for concurrently.
    pub async fn wait_ready(
        &self,
        state: &LabState,
        progress: Duration,
        ssh_budget: Duration,
        emit: Emit<'_>,
    ) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let shell = self.shell(state)?;
        let waits = state.nodes.iter().map(|n| {
            let shell = &shell;
            async move {
                let log = self.console_log(&n.name);
                let start = tokio::time::Instant::from_std(t0);
                wait::until(start, progress, Duration::from_millis(500), async || {
                    match std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) {
                        0 => Attempt::<(), ()>::Retry("nothing on the serial console yet".into()),
                        _ => Attempt::Done(()),
                    }
                })
                .await
                .map_err(|_| LabError::NoBootProgress {
                    node: n.name.clone(),
                    secs: progress.as_secs(),
                    accel: state.domain_type.clone(),
                    hint: if state.domain_type == "kvm" {
                        "; nested KVM hangs silently on some hosts: set accel = \"tcg\" (or \"auto\")".into()
                    } else {
                        String::new()
                    },
                })?;
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "console".into(),
                    message: "boot progress on the serial console".into(),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                wait::until(start, ssh_budget, Duration::from_secs(2), async || match shell.run(&n.name, "true").await {
                    Ok(_) => Attempt::Done(()),
                    Err(e @ (RemoteError::HostKeyMismatch { .. } | RemoteError::Auth { .. })) => Attempt::Fatal(e),
                    Err(e) => Attempt::Retry(e.to_string()),
                })
                .await
                .map_err(|e| match e {
                    WaitError::Fatal(e) => LabError::Remote(e),
                    WaitError::TimedOut { last, .. } => LabError::SshNeverUp { node: n.name.clone(), secs: ssh_budget.as_secs(), last },
                })?;
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "ssh".into(),
                    message: "ssh answers with the pinned host key".into(),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                // sshd accepts logins before cloud-init has finished writing /etc/hosts and
                // resetting the machine-id: wait for it (bounded by the same budget).
                let left = ssh_budget.saturating_sub(t0.elapsed()).as_secs().max(30);
                // One cloud-init process (each costs seconds of Python start under TCG): `--wait`
                // polls inside and prints the final `status: …` line after its progress dots.
                let ci = shell.run(&n.name, &format!("timeout {left} cloud-init status --wait 2>&1")).await?;
                let status = ci.stdout.trim().lines().last().unwrap_or_default().trim_start_matches('.');
                if !status.contains("done") {
                    tracing::warn!(node = %n.name, status = %status, "cloud-init did not finish cleanly");
                }
                emit(LabEvent {
                    node: n.name.clone(),
                    phase: "ready".into(),
                    message: format!("ssh answers with the pinned host key; {status}"),
                    elapsed: t0.elapsed().as_secs_f64(),
                });
                Ok::<(), LabError>(())
            }
        });
        for r in futures::future::join_all(waits).await {
            r?;
        }
        Ok(t0.elapsed())
    }

    /// `kubelab up`: preflight, create, boot, wait for SSH. With `accel = auto` a KVM guest
    /// that shows no boot progress makes the lab fall back to TCG. On any failure after
    /// preflight everything created is removed again.
    pub async fn up(&self, emit: Emit<'_>) -> Result<LabState, LabError> {
        let base = self.preflight()?;
        let kvm_usable = Path::new("/dev/kvm").exists();
        let first = match self.cfg.accel {
            Accel::Tcg => "qemu",
            Accel::Kvm => "kvm",
            Accel::Auto if kvm_usable => "kvm",
            Accel::Auto => "qemu",
        };
        let progress = Duration::from_secs(self.cfg.boot_progress_secs);
        let budget = Duration::from_secs(self.cfg.boot_timeout_secs);
        let result = async {
            let state = self.create(&base, first, emit).await?;
            let attempt = async {
                self.start_all(&state, emit, Instant::now()).await?;
                self.wait_ready(&state, progress, budget, emit).await
            }
            .await;
            let fallback = match &attempt {
                Ok(_) => None,
                Err(LabError::NoBootProgress { node, secs, .. }) => Some(format!("{node}: no boot progress under kvm after {secs} s")),
                Err(LabError::Hypervisor(HypervisorError::Call { op, message })) if op.starts_with("start domain") => {
                    Some(format!("{op} under kvm failed: {}", message.lines().next().unwrap_or_default()))
                }
                Err(_) => None,
            };
            match (attempt, fallback) {
                (Ok(_), _) => Ok(state),
                (Err(_), Some(why)) if self.cfg.accel == Accel::Auto && first == "kvm" => {
                    emit(LabEvent {
                        node: "lab".into(),
                        phase: "fallback".into(),
                        message: format!("{why}; accel = auto falls back to tcg"),
                        elapsed: 0.0,
                    });
                    self.retype(&state, "qemu").await?;
                    let state = LabState { domain_type: "qemu".into(), ..state };
                    self.save_state(&state)?;
                    self.start_all(&state, emit, Instant::now()).await?;
                    self.wait_ready(&state, progress, budget, emit).await?;
                    Ok(state)
                }
                (Err(LabError::Hypervisor(HypervisorError::Call { op, message })), _) if first == "kvm" => Err(LabError::NoBootProgress {
                    node: op.trim_start_matches("start domain ").to_string(),
                    secs: 0,
                    accel: "kvm".into(),
                    hint: format!(
                        ": QEMU refused to start ({}); nested KVM is unusable on some hosts: set accel = \"tcg\" (or \"auto\")",
                        message.lines().next().unwrap_or_default()
                    ),
                }),
                (Err(e), _) => Err(e),
            }
        }
        .await;
        if result.is_err() {
            let _ = self.down(false).await;
        }
        result
    }

    /// [`Lab::up`] that stops when `cancel` completes (SIGINT, SIGTERM): what it had created is
    /// removed, as after a failure, and the result is [`LabError::Interrupted`].
    pub async fn up_or_cancel(&self, emit: Emit<'_>, cancel: impl std::future::Future<Output = ()>) -> Result<LabState, LabError> {
        tokio::select! {
            r = self.up(emit) => r,
            () = cancel => {
                emit(LabEvent { node: "lab".into(), phase: "interrupt".into(), message: "interrupted: removing what `up` created".into(), elapsed: 0.0 });
                settle_blocking(Duration::from_secs(60)).await;
                let removed = self.down(false).await.and_then(|_| self.inventory());
                Err(LabError::Interrupted(match removed {
                    Ok(left) if left.is_empty() => format!("`up` of lab `{}` stopped; everything it had created was removed", self.cfg.name),
                    Ok(left) => format!("`up` of lab `{}` stopped; left behind: {left:?}: run `kubelab down`", self.cfg.name),
                    Err(e) => format!("`up` of lab `{}` stopped; removing what it created failed ({e}): run `kubelab down`", self.cfg.name),
                }))
            }
        }
    }

    async fn retype(&self, state: &LabState, domain_type: &str) -> Result<(), LabError> {
        for n in &state.nodes {
            let hv = self.hv.clone();
            let d = n.domain.clone();
            let dt = domain_type.to_string();
            let log = self.console_log(&n.name);
            blocking(move || -> Result<(), HypervisorError> {
                hv.stop_domain(&d)?;
                let xml = hv.domains()?.into_iter().find(|x| x.name == d).map(|x| x.xml).unwrap_or_default();
                let _ = std::fs::remove_file(&log);
                let xml = xml::retype(&xml, &dt);
                hv.define_domain(&xml)
            })
            .await?;
        }
        Ok(())
    }

    /// A russh shell to the nodes of a lab, with their pinned host keys.
    pub fn shell(&self, state: &LabState) -> Result<RusshShell, LabError> {
        let targets = state
            .nodes
            .iter()
            .map(|n| {
                Ok(SshTarget {
                    node: n.name.clone(),
                    addr: SocketAddr::new(n.ip.into(), 22),
                    user: state.user.clone(),
                    host_key: parse_public_key(&n.host_key).map_err(|e| LabError::local("parse pinned host key", e))?,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let policy = SshPolicy { connect_timeout: Duration::from_secs(8), attempts: 1, ..SshPolicy::default() };
        Ok(RusshShell::new(targets, &state.key_path, policy)?)
    }

    /// Counts what of this lab exists.
    pub fn inventory(&self) -> Result<Inventory, LabError> {
        let lab = &self.cfg.name;
        let pool_dir = self.pool_dir();
        let seeds_on_disk = std::fs::read_dir(&pool_dir)
            .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with("-seed.iso")).count())
            .unwrap_or(0);
        Ok(Inventory {
            domains: self.hv.domains()?.iter().filter(|d| owned_by(lab, &d.lab, &d.name)).count(),
            volumes: self.hv.volumes(&self.pool_name())?.len(),
            seeds: seeds_on_disk,
            networks: self.hv.networks()?.iter().filter(|n| owned_by(lab, &n.lab, &n.name)).count(),
            pools: self.hv.pools()?.iter().filter(|p| **p == self.pool_name()).count(),
            nwfilters: self.hv.nwfilters()?.iter().filter(|f| f.starts_with(&format!("{lab}-"))).count(),
            state_dir: self.cfg.lab_dir().exists(),
        })
    }

    /// `kubelab down`: removes every resource of the lab found by tag or name (works after a
    /// crash, with or without the state file). `purge` also removes the cached base images.
    pub async fn down(&self, purge: bool) -> Result<Inventory, LabError> {
        let before = self.inventory()?;
        let hv = self.hv.clone();
        let cfg = self.cfg.clone();
        let pool = self.pool_name();
        blocking(move || -> Result<(), HypervisorError> {
            let lab = &cfg.name;
            for d in hv.domains()?.into_iter().filter(|d| owned_by(lab, &d.lab, &d.name)) {
                hv.undefine_domain(&d.name)?;
            }
            for f in hv.nwfilters()?.into_iter().filter(|f| f.starts_with(&format!("{lab}-"))) {
                hv.undefine_nwfilter(&f)?;
            }
            if hv.pools()?.contains(&pool) {
                for v in hv.volumes(&pool)? {
                    hv.delete_volume(&pool, &v.name)?;
                }
                hv.remove_pool(&pool)?;
            }
            for n in hv.networks()?.into_iter().filter(|n| owned_by(lab, &n.lab, &n.name)) {
                hv.remove_network(&n.name)?;
            }
            Ok(())
        })
        .await?;
        let dir = self.cfg.lab_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| LabError::local(format!("remove {}", dir.display()), e))?;
        }
        if purge && self.cfg.image_cache.exists() {
            std::fs::remove_dir_all(&self.cfg.image_cache).map_err(|e| LabError::local("purge image cache", e))?;
        }
        Ok(before)
    }

    /// Reboots nodes from inside the guest (`systemctl reboot`, as an operator would) and waits
    /// until each is back with a new boot id. Returns the time until all are back.
    pub async fn reboot(&self, shell: &RusshShell, nodes: &[String], budget: Duration) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let boot_id = "cat /proc/sys/kernel/random/boot_id";
        let waits = nodes.iter().map(|name| async move {
            let before = shell.run(name, boot_id).await?.stdout;
            shell.run(name, "systemd-run --on-active=1 --quiet systemctl reboot").await?;
            shell.forget(name).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            wait::until(tokio::time::Instant::from_std(t0), budget, Duration::from_secs(3), async || match shell.run(name, boot_id).await {
                Ok(o) if o.success() && o.stdout != before => Attempt::<(), ()>::Done(()),
                seen => {
                    shell.forget(name).await;
                    Attempt::Retry(match seen {
                        Ok(_) => "the old boot id".into(),
                        Err(e) => e.to_string(),
                    })
                }
            })
            .await
            .map_err(|e| {
                let last = match e {
                    WaitError::TimedOut { last, .. } => last,
                    WaitError::Fatal(()) => String::new(),
                };
                LabError::SshNeverUp { node: name.clone(), secs: budget.as_secs(), last: format!("no new boot id after reboot ({last})") }
            })
        });
        for r in futures::future::join_all(waits).await {
            r?;
        }
        Ok(t0.elapsed())
    }

    /// Saves a live internal snapshot of every node (qcow2 overlay with memory; the raw,
    /// read-only seed disk is excluded). Replaces an existing snapshot of the same name.
    pub async fn snapshot_save(&self, state: &LabState, name: &str) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let xml = format!(
            "<domainsnapshot><name>{}</name><description>kubelab snapshot</description><memory snapshot='internal'/><disks><disk name='vda' snapshot='internal'/><disk name='vdb' snapshot='no'/></disks></domainsnapshot>",
            xml::esc(name)
        );
        for n in &state.nodes {
            let (hv, d, x, nm) = (self.hv.clone(), n.domain.clone(), xml.clone(), name.to_string());
            blocking(move || -> Result<(), HypervisorError> {
                if hv.snapshots(&d)?.contains(&nm) {
                    hv.delete_snapshot(&d, &nm)?;
                }
                hv.create_snapshot(&d, &x)
            })
            .await?;
        }
        Ok(t0.elapsed())
    }

    /// Reverts every node to a snapshot (running, as saved). Open SSH sessions are stale after.
    pub async fn snapshot_revert(&self, state: &LabState, name: &str) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        for n in &state.nodes {
            let (hv, d, nm) = (self.hv.clone(), n.domain.clone(), name.to_string());
            blocking(move || -> Result<(), HypervisorError> {
                if !hv.snapshots(&d)?.contains(&nm) {
                    return Err(HypervisorError::Call {
                        op: format!("revert {d} to {nm}"),
                        message: format!("no snapshot `{nm}`; run `kubelab snapshot save {nm}` first"),
                    });
                }
                hv.revert_snapshot(&d, &nm)
            })
            .await?;
        }
        let _ = std::fs::remove_file(self.cfg.lab_dir().join("faults.json"));
        Ok(t0.elapsed())
    }

    /// Reads identity facts inside every guest plus the domain state (for `kubelab status`).
    pub async fn status(&self, state: &LabState, shell: &dyn RemoteShell) -> Result<Vec<NodeStatus>, LabError> {
        let domains = self.hv.domains()?;
        let others = |me: &str| state.nodes.iter().filter(|n| n.name != me).map(|n| n.name.clone()).collect::<Vec<_>>();
        let probes = state.nodes.iter().map(|n| {
            let script = identity_script(&others(&n.name));
            async move { (n, shell.run(&n.name, &script).await) }
        });
        let mut out = Vec::new();
        for (n, res) in futures::future::join_all(probes).await {
            let dom = domains.iter().find(|d| d.name == n.domain);
            let mut st = NodeStatus {
                name: n.name.clone(),
                domain: n.domain.clone(),
                domain_state: match dom {
                    Some(d) if d.active => "running".into(),
                    Some(_) => "shut off".into(),
                    None => "missing".into(),
                },
                domain_uuid: n.uuid.clone(),
                ip: n.ip.to_string(),
                pinned_host_key_fingerprint: n.host_key_fingerprint.clone(),
                reachable: false,
                error: None,
                hostname: None,
                product_uuid: None,
                machine_id: None,
                macs: Vec::new(),
                host_key_fingerprint: None,
                reaches: BTreeMap::new(),
            };
            match res {
                Ok(o) if o.success() => {
                    st.reachable = true;
                    parse_identity(&o.stdout, &mut st);
                }
                Ok(o) => st.error = Some(format!("identity probe exited {}: {}", o.exit_status, o.stderr.trim())),
                Err(e) => st.error = Some(e.to_string()),
            }
            out.push(st);
        }
        Ok(out)
    }
}

/// Whether a resource belongs to `lab`: its kubelab metadata tag, or (untagged kinds and
/// leftovers) the `<lab>-` name prefix every lab resource carries.
fn owned_by(lab: &str, tag: &Option<String>, name: &str) -> bool {
    tag.as_deref() == Some(lab) || name.strip_prefix(lab).is_some_and(|rest| rest.starts_with('-'))
}

/// One node as `kubelab status` reports it; identity values are read inside the guest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// Domain name.
    pub domain: String,
    /// `running`, `shut off` or `missing`.
    pub domain_state: String,
    /// Domain UUID on the hypervisor.
    pub domain_uuid: String,
    /// Configured address.
    pub ip: String,
    /// Host key fingerprint kubelab pinned.
    pub pinned_host_key_fingerprint: String,
    /// SSH answered.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
    /// `hostname` in the guest.
    pub hostname: Option<String>,
    /// /sys/class/dmi/id/product_uuid in the guest.
    pub product_uuid: Option<String>,
    /// /etc/machine-id in the guest.
    pub machine_id: Option<String>,
    /// MACs of the guest's non-loopback interfaces.
    pub macs: Vec<String>,
    /// Fingerprint of /etc/ssh/ssh_host_ed25519_key.pub in the guest.
    pub host_key_fingerprint: Option<String>,
    /// Other node name → answered one ping by name.
    pub reaches: BTreeMap<String, bool>,
}

/// The script that reads a node's identity (`key=value` lines).
pub fn identity_script(others: &[String]) -> String {
    let mut s = String::from(
        "echo \"hostname=$(hostname)\"\n\
         echo \"product_uuid=$(cat /sys/class/dmi/id/product_uuid)\"\n\
         echo \"machine_id=$(cat /etc/machine-id)\"\n\
         for i in /sys/class/net/*; do n=${i##*/}; [ \"$n\" = lo ] && continue; case \"$n\" in tunl*|docker*|ip_vs*|kube-ipvs*|veth*|br-*) continue;; esac; echo \"mac=$(cat \"$i/address\")\"; done\n\
         echo \"host_key=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')\"\n",
    );
    for o in others {
        s.push_str(&format!("if ping -c1 -W3 {o} >/dev/null 2>&1; then echo 'reach={o}=yes'; else echo 'reach={o}=no'; fi\n"));
    }
    s
}

/// Parses [`identity_script`] output into a status.
pub fn parse_identity(out: &str, st: &mut NodeStatus) {
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().to_string();
        match k {
            "hostname" => st.hostname = Some(v),
            "product_uuid" => st.product_uuid = Some(v.to_ascii_lowercase()),
            "machine_id" => st.machine_id = Some(v),
            "mac" => st.macs.push(v.to_ascii_lowercase()),
            "host_key" => st.host_key_fingerprint = Some(v),
            "reach" => {
                if let Some((name, ok)) = v.split_once('=') {
                    st.reaches.insert(name.to_string(), ok == "yes");
                }
            }
            _ => {}
        }
    }
}

/// The node config by name (helper for the CLI).
pub fn find_node<'a>(cfg: &'a LabConfig, name: &str) -> Option<&'a NodeConfig> {
    cfg.node(name)
}
