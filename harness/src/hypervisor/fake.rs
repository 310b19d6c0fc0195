//! [`FakeHypervisor`]: an in-memory, recording [`Hypervisor`] for unit tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::parse::{element, lab_of, link_state, port_binding, root_attr, serial_log};
use super::{DomainInfo, HvResult, Hypervisor, HypervisorVersion, NetworkInfo, VolumeInfo};
use crate::errors::HypervisorError;

#[derive(Default)]
struct State {
    domains: BTreeMap<String, DomainInfo>,
    networks: BTreeMap<String, NetworkInfo>,
    pools: BTreeMap<String, BTreeMap<String, VolumeInfo>>,
    pool_paths: BTreeMap<String, String>,
    nwfilters: BTreeMap<String, String>,
    snapshots: BTreeMap<String, Vec<String>>,
    calls: Vec<String>,
    fail_on: Option<String>,
    silent_under: Option<String>,
    version: Option<HypervisorVersion>,
    uri: Option<String>,
    /// Console bytes per running domain (a remote-URI fake counts here instead of writing files).
    console: BTreeMap<String, u64>,
    kvm: bool,
    /// Host memory in MiB before any domain runs (`None`: 16 GiB).
    memory_mib: Option<u64>,
}

/// In-memory hypervisor; every call is recorded as `op name`.
#[derive(Default)]
pub struct FakeHypervisor {
    state: Mutex<State>,
}

fn call_err(op: &str, message: &str) -> HypervisorError {
    HypervisorError::Call { op: op.to_string(), source: message.into() }
}

impl FakeHypervisor {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same fake answering to `uri` (default `fake:///`). With a URI that names a host
    /// ([`super::is_remote_uri`]) it plays a remote libvirt: booting domains write no console log
    /// file on this machine, their console output is counted for [`Hypervisor::console_bytes`].
    pub fn with_uri(self, uri: &str) -> Self {
        self.state.lock().expect("poisoned").uri = Some(uri.to_string());
        self
    }

    /// What [`Hypervisor::kvm_available`] answers (default `false`).
    pub fn set_kvm_available(&self, kvm: bool) {
        self.state.lock().expect("poisoned").kvm = kvm;
    }

    /// The host's memory in MiB while no domain runs (default 16384): [`Hypervisor::free_memory`]
    /// answers this minus the `<memory>` of every running domain, as a host's free memory falls
    /// when guests start.
    pub fn set_memory_mib(&self, mib: u64) {
        self.state.lock().expect("poisoned").memory_mib = Some(mib);
    }

    /// Recorded calls, e.g. `define_domain kubelab-node0`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().expect("poisoned").calls.clone()
    }

    /// Makes the first call whose record starts with `prefix` fail (e.g. `"start_domain"`).
    pub fn fail_on(&self, prefix: &str) {
        self.state.lock().expect("poisoned").fail_on = Some(prefix.to_string());
    }

    /// What [`Hypervisor::version`] answers (default `libvirt 0.0.0` / `fake 0.0.0`).
    pub fn set_version(&self, library: &str, hypervisor: &str) {
        self.state.lock().expect("poisoned").version = Some(HypervisorVersion { library: library.into(), hypervisor: hypervisor.into() });
    }

    /// Domains started with this domain type (e.g. `"kvm"`) print nothing on their serial
    /// console, as a guest under a nested KVM that hangs silently. Others append a boot line
    /// to the file of their `<serial type='file'>`, as QEMU does when the guest boots.
    pub fn silent_under(&self, domain_type: &str) {
        self.state.lock().expect("poisoned").silent_under = Some(domain_type.to_string());
    }

    fn record(&self, s: &mut State, call: String) -> HvResult<()> {
        if let Some(p) = &s.fail_on
            && call.starts_with(p.as_str())
        {
            s.fail_on = None;
            s.calls.push(format!("{call} (injected failure)"));
            return Err(call_err(&call, "injected failure"));
        }
        s.calls.push(call);
        Ok(())
    }
}

impl Hypervisor for FakeHypervisor {
    fn uri(&self) -> String {
        self.state.lock().expect("poisoned").uri.clone().unwrap_or_else(|| "fake:///".into())
    }

    fn version(&self) -> HvResult<HypervisorVersion> {
        let s = self.state.lock().expect("poisoned");
        Ok(s.version.clone().unwrap_or(HypervisorVersion { library: "libvirt 0.0.0".into(), hypervisor: "fake 0.0.0".into() }))
    }

    fn domains(&self) -> HvResult<Vec<DomainInfo>> {
        Ok(self.state.lock().expect("poisoned").domains.values().cloned().collect())
    }

    fn define_domain(&self, xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let name = element(xml, "name").ok_or_else(|| call_err("define_domain", "no <name>"))?;
        self.record(&mut s, format!("define_domain {name}"))?;
        let uuid = element(xml, "uuid").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if s.domains.values().any(|d| d.uuid == uuid && d.name != name) {
            return Err(call_err("define_domain", &format!("domain with uuid {uuid} already exists")));
        }
        let active = s.domains.get(&name).is_some_and(|d| d.active);
        s.domains.insert(name.clone(), DomainInfo { name, uuid, active, lab: lab_of(xml), xml: xml.to_string() });
        Ok(())
    }

    fn start_domain(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("start_domain {name}"))?;
        let silent = s.silent_under.clone();
        let d = s.domains.get_mut(name).ok_or_else(|| call_err("start_domain", "no such domain"))?;
        d.active = true;
        let domain_type = root_attr(&d.xml, "type").unwrap_or_default();
        let serial = serial_log(&d.xml);
        let prints = silent.as_deref() != Some(domain_type.as_str());
        if s.uri.as_deref().is_some_and(super::is_remote_uri) {
            let line = format!("[    0.000000] Linux version (fake boot of {name} under {domain_type})\n");
            *s.console.entry(name.to_string()).or_default() += if prints { line.len() as u64 } else { 0 };
            return Ok(());
        }
        if let Some(log) = serial
            && prints
        {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| call_err(&format!("start_domain {name}"), &format!("console log {log}: {e}")))?;
            let _ = writeln!(f, "[    0.000000] Linux version (fake boot of {name} under {domain_type})");
        }
        Ok(())
    }

    fn stop_domain(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("stop_domain {name}"))?;
        if let Some(d) = s.domains.get_mut(name) {
            d.active = false;
        }
        s.console.remove(name);
        Ok(())
    }

    fn reset_domain(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("reset_domain {name}"))
    }

    fn undefine_domain(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("undefine_domain {name}"))?;
        s.domains.remove(name);
        s.snapshots.remove(name);
        Ok(())
    }

    fn update_device(&self, domain: &str, device_xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let filter = port_binding(device_xml).map(|(f, _)| f).unwrap_or_default();
        let link = link_state(device_xml);
        self.record(&mut s, format!("update_device {domain} filter={filter} link={link}"))
    }

    fn networks(&self) -> HvResult<Vec<NetworkInfo>> {
        Ok(self.state.lock().expect("poisoned").networks.values().cloned().collect())
    }

    fn create_network(&self, xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let name = element(xml, "name").ok_or_else(|| call_err("create_network", "no <name>"))?;
        self.record(&mut s, format!("create_network {name}"))?;
        if s.networks.contains_key(&name) {
            return Err(call_err("create_network", "network already exists"));
        }
        s.networks.insert(name.clone(), NetworkInfo { name, active: true, lab: lab_of(xml), xml: xml.to_string() });
        Ok(())
    }

    fn remove_network(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("remove_network {name}"))?;
        s.networks.remove(name);
        Ok(())
    }

    fn pools(&self) -> HvResult<Vec<String>> {
        Ok(self.state.lock().expect("poisoned").pools.keys().cloned().collect())
    }

    fn create_pool(&self, xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let name = element(xml, "name").ok_or_else(|| call_err("create_pool", "no <name>"))?;
        self.record(&mut s, format!("create_pool {name}"))?;
        s.pool_paths.insert(name.clone(), element(xml, "path").unwrap_or_default());
        s.pools.entry(name).or_default();
        Ok(())
    }

    fn remove_pool(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("remove_pool {name}"))?;
        s.pools.remove(name);
        Ok(())
    }

    fn refresh_pool(&self, pool: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("refresh_pool {pool}"))?;
        let Some(dir) = s.pool_paths.get(pool).cloned() else { return Ok(()) };
        let files: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let vols = s.pools.entry(pool.to_string()).or_default();
        for f in files {
            let path = format!("{dir}/{f}");
            vols.entry(f.clone()).or_insert(VolumeInfo { name: f, path });
        }
        Ok(())
    }

    fn volumes(&self, pool: &str) -> HvResult<Vec<VolumeInfo>> {
        let s = self.state.lock().expect("poisoned");
        Ok(s.pools.get(pool).map(|v| v.values().cloned().collect()).unwrap_or_default())
    }

    fn create_volume(&self, pool: &str, xml: &str) -> HvResult<VolumeInfo> {
        let mut s = self.state.lock().expect("poisoned");
        let name = element(xml, "name").ok_or_else(|| call_err("create_volume", "no <name>"))?;
        self.record(&mut s, format!("create_volume {pool}/{name}"))?;
        let path = format!("{}/{name}", s.pool_paths.get(pool).cloned().unwrap_or_default());
        let v = VolumeInfo { name: name.clone(), path };
        s.pools.get_mut(pool).ok_or_else(|| call_err("create_volume", "no such pool"))?.insert(name, v.clone());
        Ok(v)
    }

    fn delete_volume(&self, pool: &str, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("delete_volume {pool}/{name}"))?;
        if let Some(p) = s.pools.get_mut(pool) {
            p.remove(name);
        }
        Ok(())
    }

    fn upload_volume(&self, pool: &str, name: &str, format: &str, file: &std::path::Path) -> HvResult<VolumeInfo> {
        let mut s = self.state.lock().expect("poisoned");
        let len =
            std::fs::metadata(file).map(|m| m.len()).map_err(|e| call_err(&format!("upload_volume {pool}/{name}"), &e.to_string()))?;
        self.record(&mut s, format!("upload_volume {pool}/{name} {format} {len}"))?;
        let path = format!("{}/{name}", s.pool_paths.get(pool).cloned().unwrap_or_default());
        let v = VolumeInfo { name: name.to_string(), path };
        let vols = s.pools.get_mut(pool).ok_or_else(|| call_err("upload_volume", "no such pool"))?;
        if vols.contains_key(name) {
            return Err(call_err("upload_volume", "volume already exists"));
        }
        vols.insert(name.to_string(), v.clone());
        Ok(v)
    }

    fn console_bytes(&self, domain: &str) -> HvResult<u64> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("console_bytes {domain}"))?;
        if !s.domains.contains_key(domain) {
            return Err(call_err(&format!("open the console of {domain}"), "no such domain"));
        }
        Ok(s.console.get(domain).copied().unwrap_or(0))
    }

    fn kvm_available(&self) -> HvResult<bool> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, "kvm_available".into())?;
        Ok(s.kvm)
    }

    fn free_memory(&self) -> HvResult<u64> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, "free_memory".into())?;
        let used: u64 = s
            .domains
            .values()
            .filter(|d| d.active)
            .filter_map(|d| element(&d.xml, "memory"))
            .filter_map(|m| m.trim().parse::<u64>().ok())
            .sum();
        Ok(s.memory_mib.unwrap_or(16 * 1024).saturating_sub(used) * 1024 * 1024)
    }

    fn nwfilters(&self) -> HvResult<Vec<String>> {
        Ok(self.state.lock().expect("poisoned").nwfilters.keys().cloned().collect())
    }

    fn define_nwfilter(&self, xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let name = root_attr(xml, "name").ok_or_else(|| call_err("define_nwfilter", "no name"))?;
        self.record(&mut s, format!("define_nwfilter {name}"))?;
        s.nwfilters.insert(name, xml.to_string());
        Ok(())
    }

    fn undefine_nwfilter(&self, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("undefine_nwfilter {name}"))?;
        s.nwfilters.remove(name);
        Ok(())
    }

    fn snapshots(&self, domain: &str) -> HvResult<Vec<String>> {
        Ok(self.state.lock().expect("poisoned").snapshots.get(domain).cloned().unwrap_or_default())
    }

    fn create_snapshot(&self, domain: &str, xml: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        let name = element(xml, "name").ok_or_else(|| call_err("create_snapshot", "no <name>"))?;
        self.record(&mut s, format!("create_snapshot {domain}/{name}"))?;
        s.snapshots.entry(domain.to_string()).or_default().push(name);
        Ok(())
    }

    fn revert_snapshot(&self, domain: &str, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("revert_snapshot {domain}/{name}"))
    }

    fn delete_snapshot(&self, domain: &str, name: &str) -> HvResult<()> {
        let mut s = self.state.lock().expect("poisoned");
        self.record(&mut s, format!("delete_snapshot {domain}/{name}"))?;
        if let Some(v) = s.snapshots.get_mut(domain) {
            v.retain(|n| n != name);
        }
        Ok(())
    }
}
