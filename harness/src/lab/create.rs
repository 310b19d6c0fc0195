//! Creating a lab: preflight (everything a user can get wrong, before anything exists), then
//! network, pool, keys, seeds, linked clones and domain definitions; starting and re-typing
//! the domains (the KVM → TCG fallback).

use std::path::PathBuf;

use tokio::time::Instant;

use super::{Emit, Lab, LabEvent, LabState, NodeState, blocking};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml::{self, DomainSpec};
use crate::hypervisor::{edit, parse};
use crate::image::{self, BaseImage};
use crate::remote::russh_shell::{fingerprint, parse_public_key};
use crate::seed::{self, NodeSeed};

impl Lab {
    /// Checks everything a user can get wrong before anything is created.
    pub fn preflight(&self) -> Result<BaseImage, LabError> {
        let base = image::resolve(&self.cfg)?;
        let (lab, names) = (&self.cfg.name, self.own_names());
        // Ours by tag, or any resource holding a name this lab would give (it could not be defined).
        let taken = |tag: &Option<String>, name: &str| tag.as_deref() == Some(lab.as_str()) || names.iter().any(|n| n == name);
        if let Some(d) = self.hv.domains()?.into_iter().find(|d| taken(&d.lab, &d.name)) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("domain {}", d.name) }.into());
        }
        let nets = self.hv.networks()?;
        if let Some(n) = nets.iter().find(|n| taken(&n.lab, &n.name)) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("network {}", n.name) }.into());
        }
        if self.hv.pools()?.contains(&self.pool_name()) {
            return Err(HypervisorError::LabExists { lab: lab.clone(), what: format!("storage pool {}", self.pool_name()) }.into());
        }
        for n in &nets {
            if n.active
                && parse::network_subnets(&n.xml)
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
        let mut dirs = vec![self.cfg.state_dir.clone(), dir.clone(), dir.join("keys"), dir.join("console"), dir.join("seeds")];
        if !self.on_remote_host() {
            dirs.push(self.pool_dir());
        }
        for d in dirs {
            crate::private_fs::create_dir(&d).map_err(|e| LabError::local(format!("create {}", d.display()), e))?;
        }
        let key_path = dir.join("keys").join("id_ed25519");
        let (_, client_pub) = seed::generate_ed25519(&key_path, &format!("kubelab-{}", self.cfg.name))?;
        let hv = self.hv.clone();
        let net_xml = xml::network_xml(&self.cfg.network_name(), &self.cfg.name, self.cfg.gateway, self.cfg.subnet);
        let pool_xml = xml::pool_xml(&self.pool_name(), &self.pool_target());
        blocking(move || -> Result<(), HypervisorError> {
            hv.create_pool(&pool_xml)?;
            hv.create_network(&net_xml)
        })
        .await?;
        ev("lab", "network", format!("network {} ({}) and pool {} created", self.cfg.network_name(), self.cfg.subnet, self.pool_name()));
        if let Some(run) = self.outside.clone() {
            let (hv, cfg) = (self.hv.clone(), self.cfg.clone());
            let made = blocking(move || super::outside::create_for(&cfg, hv.as_ref(), run.as_ref())).await?;
            ev("lab", "outside", made);
        }
        let image = self.host_image(base).await?;
        ev("lab", "image", format!("base image: {}", image.how));
        let mut nodes = Vec::new();
        for node in &self.cfg.nodes {
            let mac = xml::random_mac();
            let uuid = uuid::Uuid::new_v4().to_string();
            let hk_path = dir.join("keys").join(format!("{}_host_ed25519", node.name));
            let (hk_priv, hk_pub) = seed::generate_ed25519(&hk_path, &format!("root@{}", node.name))?;
            let hk = parse_public_key(&hk_pub).map_err(|e| LabError::local("parse generated host key", e))?;
            let seed_data = NodeSeed::new(&self.cfg, node, &mac, &client_pub, (&hk_priv, &hk_pub));
            let iso = self.seed_build_path(&node.name);
            seed_data.write_iso(self.procs.as_ref(), &dir.join("seeds").join(&node.name), &iso)?;
            let seed = self.place_seed(&node.name, &iso).await?;
            let vol_xml = xml::overlay_volume_xml(&format!("{}.qcow2", node.name), &image.disk, &base.format, base.virtual_size);
            let log = self.console_log_on_host(&node.name, &self.cfg.domain_name(node));
            if !self.on_remote_host() {
                let _ = std::fs::remove_file(&log);
            }
            let spec = DomainSpec {
                name: self.cfg.domain_name(node),
                lab: self.cfg.name.clone(),
                node: node.name.clone(),
                uuid: uuid.clone(),
                memory_mib: self.cfg.memory_mib,
                vcpus: self.cfg.vcpus,
                domain_type: domain_type.to_string(),
                boot: image.boot.clone(),
                disk: PathBuf::new(),
                seed,
                network: self.cfg.network_name(),
                mac: mac.clone(),
                port: xml::Port::new(node.ip),
                console_log: log,
                // A remote host's log file is out of reach: read the console over libvirt.
                console_stream: self.on_remote_host(),
            };
            let hv = self.hv.clone();
            let pool = self.pool_name();
            blocking(move || -> Result<(), HypervisorError> {
                let vol = hv.create_volume(&pool, &vol_xml)?;
                hv.refresh_pool(&pool)?;
                hv.define_domain(&xml::domain_xml(&DomainSpec { disk: vol.path.into(), ..spec }))
            })
            .await?;
            ev(&node.name, "clone", format!("linked clone of {} with uuid {uuid}, mac {mac}", image.disk.display()));
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
        self.save_config()?;
        Ok(state)
    }

    pub(super) async fn start_all(&self, state: &LabState, emit: Emit<'_>, t0: Instant) -> Result<(), LabError> {
        for n in &state.nodes {
            let hv = self.hv.clone();
            let d = n.domain.clone();
            // Named by the lab, whatever the hypervisor calls it: `up` falls back to TCG on it.
            blocking(move || hv.start_domain(&d)).await.map_err(|e| match e {
                HypervisorError::Call { source, .. } => HypervisorError::Call { op: format!("start domain {}", n.domain), source },
                e => e,
            })?;
            emit(LabEvent {
                node: n.name.clone(),
                phase: "boot".into(),
                message: format!("domain {} started ({})", n.domain, state.domain_type),
                elapsed: t0.elapsed().as_secs_f64(),
            });
        }
        Ok(())
    }

    pub(super) async fn retype(&self, state: &LabState, domain_type: &str) -> Result<(), LabError> {
        for n in &state.nodes {
            let hv = self.hv.clone();
            let d = n.domain.clone();
            let dt = domain_type.to_string();
            // The new boot's progress must not be read from the old boot's console log.
            let log = (!self.on_remote_host()).then(|| self.console_log(&n.name));
            blocking(move || -> Result<(), HypervisorError> {
                hv.stop_domain(&d)?;
                let xml = hv.domains()?.into_iter().find(|x| x.name == d).map(|x| x.xml).unwrap_or_default();
                if let Some(log) = &log {
                    let _ = std::fs::remove_file(log);
                }
                let xml = edit::retype(&xml, &dt);
                hv.define_domain(&xml)
            })
            .await?;
        }
        Ok(())
    }
}
