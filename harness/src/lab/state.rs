//! What a lab records (the state file `<state_dir>/<name>/lab.json`), its progress events, and the
//! count of its resources.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Lab;
use crate::config::Role;
use crate::errors::LabError;

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

impl LabState {
    /// Reads a state file: `None` when it cannot be read, an error when it does not parse.
    pub fn read(path: &std::path::Path) -> Result<Option<LabState>, LabError> {
        let Ok(body) = std::fs::read_to_string(path) else { return Ok(None) };
        serde_json::from_str(&body).map(Some).map_err(|e| LabError::local(format!("parse {}", path.display()), e))
    }
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

/// What a lab leaves on the host: counts of its domains, volumes, seeds, network, pool, nwfilters,
/// state dir and outside. `Lab::footprint` counts it, `kubelab inventory` prints it (these field
/// names are its JSON keys).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Footprint {
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
    /// The lab's outside (router and outside namespaces, veth, nftables table, processes, files).
    pub outside: super::outside::OutsideInventory,
}

impl Footprint {
    /// Nothing of the lab is left.
    pub fn is_empty(&self) -> bool {
        *self == Footprint::default()
    }
}

impl Lab {
    /// Writes the state file.
    pub fn save_state(&self, state: &LabState) -> Result<(), LabError> {
        let body = serde_json::to_string_pretty(state).expect("serialisable");
        crate::private_fs::write(&self.state_path(), body).map_err(|e| LabError::local("write lab state", e))
    }

    /// Writes the config the lab was made with beside its state ([`super::CONFIG_FILE`]), so
    /// `status --all` and `down --all` know it without the file it came from.
    pub fn save_config(&self) -> Result<(), LabError> {
        let body = toml::to_string_pretty(&self.cfg).map_err(|e| LabError::local("serialise the lab config", e))?;
        crate::private_fs::write(&self.cfg.lab_dir().join(super::CONFIG_FILE), body).map_err(|e| LabError::local("write lab config", e))
    }

    /// Reads the state file of an existing lab.
    pub fn load_state(&self) -> Result<LabState, LabError> {
        LabState::read(&self.state_path())?.ok_or_else(|| LabError::NotUp(self.cfg.name.clone()))
    }
}
