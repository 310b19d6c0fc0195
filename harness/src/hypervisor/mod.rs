//! The libvirt seam: [`Hypervisor`] is the narrow, synchronous set of operations kubelab needs.
//! Real sibling: `libvirt::LibvirtHypervisor` (feature `libvirt`, over the `virt` crate);
//! recording fake: `fake::FakeHypervisor` (tests and feature `test-support`). Pure XML rendering lives in [`xml`].

pub mod edit;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
#[cfg(feature = "libvirt")]
pub mod libvirt;
pub mod parse;
#[cfg(feature = "libvirt")]
mod streams;
pub mod xml;

use serde::Serialize;

use crate::errors::HypervisorError;

/// Result alias for hypervisor calls.
pub type HvResult<T> = Result<T, HypervisorError>;

/// A domain as listed.
#[derive(Clone, Debug, Serialize)]
pub struct DomainInfo {
    /// libvirt name.
    pub name: String,
    /// Domain UUID (what the guest sees as SMBIOS product_uuid).
    pub uuid: String,
    /// Running or paused.
    pub active: bool,
    /// Lab that owns it (from kubelab metadata), if any.
    pub lab: Option<String>,
    /// Current XML description.
    pub xml: String,
}

/// A network as listed.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkInfo {
    /// libvirt name.
    pub name: String,
    /// Active.
    pub active: bool,
    /// Lab that owns it (from kubelab metadata), if any.
    pub lab: Option<String>,
    /// XML description.
    pub xml: String,
}

/// A storage volume as listed.
#[derive(Clone, Debug, Serialize)]
pub struct VolumeInfo {
    /// Volume name.
    pub name: String,
    /// Path on the hypervisor host.
    pub path: String,
}

/// What libvirt reports about itself (`virsh version` reads the same two calls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HypervisorVersion {
    /// The library kubelab talks to, e.g. `libvirt 9.0.0`.
    pub library: String,
    /// The driver and its version, e.g. `QEMU 7.2.0`.
    pub hypervisor: String,
}

/// Formats libvirt's packed version number (`major * 1_000_000 + minor * 1000 + release`).
pub fn unpack_version(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// The operations kubelab performs on a hypervisor. Implementations are blocking; call them
/// from async code through `spawn_blocking`.
pub trait Hypervisor: Send + Sync {
    /// Connection URI.
    fn uri(&self) -> String;
    /// Library and hypervisor versions (what `kubelab doctor` reports).
    fn version(&self) -> HvResult<HypervisorVersion>;
    /// All domains, defined or running.
    fn domains(&self) -> HvResult<Vec<DomainInfo>>;
    /// Defines a persistent domain.
    fn define_domain(&self, xml: &str) -> HvResult<()>;
    /// Starts a defined domain.
    fn start_domain(&self, name: &str) -> HvResult<()>;
    /// Powers a domain off at once (no-op when not running).
    fn stop_domain(&self, name: &str) -> HvResult<()>;
    /// Hard-resets a running domain (the guide's "reboot the VM").
    fn reset_domain(&self, name: &str) -> HvResult<()>;
    /// Removes a domain definition with its snapshot metadata (stops it first).
    fn undefine_domain(&self, name: &str) -> HvResult<()>;
    /// Updates a device of a domain (live and config).
    fn update_device(&self, domain: &str, device_xml: &str) -> HvResult<()>;
    /// All networks.
    fn networks(&self) -> HvResult<Vec<NetworkInfo>>;
    /// Defines and starts a network (no autostart).
    fn create_network(&self, xml: &str) -> HvResult<()>;
    /// Stops and undefines a network (no-op when absent).
    fn remove_network(&self, name: &str) -> HvResult<()>;
    /// Names of all storage pools.
    fn pools(&self) -> HvResult<Vec<String>>;
    /// Defines, builds and starts a storage pool.
    fn create_pool(&self, xml: &str) -> HvResult<()>;
    /// Stops and undefines a pool (no-op when absent), removing its directory when empty.
    fn remove_pool(&self, name: &str) -> HvResult<()>;
    /// Rescans a pool for files created outside libvirt.
    fn refresh_pool(&self, pool: &str) -> HvResult<()>;
    /// Volumes of a pool.
    fn volumes(&self, pool: &str) -> HvResult<Vec<VolumeInfo>>;
    /// Creates a volume (a `<backingStore>` makes it a linked clone).
    fn create_volume(&self, pool: &str, xml: &str) -> HvResult<VolumeInfo>;
    /// Deletes a volume.
    fn delete_volume(&self, pool: &str, name: &str) -> HvResult<()>;
    /// Creates volume `name` in `pool` with the size of the local `file` and fills it from that
    /// file over libvirt's storage stream API (`virStorageVolUpload`), so the host needs no access
    /// to this machine's filesystem. `format` is the volume's format (`qcow2`, `raw`): the bytes
    /// are copied as they are. On any failure the half-written volume is deleted.
    fn upload_volume(&self, pool: &str, name: &str, format: &str, file: &std::path::Path) -> HvResult<VolumeInfo>;
    /// Bytes the domain's serial console has printed since the first call for this domain: the
    /// first call opens the console stream (`virDomainOpenConsole`) and reads it in the
    /// background; later calls return the running total. Reading stops when the domain stops;
    /// a call after that opens the console again.
    fn console_bytes(&self, domain: &str) -> HvResult<u64>;
    /// Whether the host offers hardware-accelerated x86_64 guests (a `kvm` domain type in its
    /// capabilities): read from the host the URI points at, not from this machine's `/dev/kvm`.
    fn kvm_available(&self) -> HvResult<bool>;
    /// Bytes of memory free on the host the URI points at (`virNodeGetFreeMemory`, what
    /// `virsh freecell --all` totals): where `up --labs` places a lab.
    fn free_memory(&self) -> HvResult<u64>;
    /// Names of all network filters.
    fn nwfilters(&self) -> HvResult<Vec<String>>;
    /// Defines (or redefines) a network filter.
    fn define_nwfilter(&self, xml: &str) -> HvResult<()>;
    /// Undefines a network filter (no-op when absent).
    fn undefine_nwfilter(&self, name: &str) -> HvResult<()>;
    /// Snapshot names of a domain.
    fn snapshots(&self, domain: &str) -> HvResult<Vec<String>>;
    /// Creates a snapshot from XML.
    fn create_snapshot(&self, domain: &str, xml: &str) -> HvResult<()>;
    /// Reverts a domain to a snapshot.
    fn revert_snapshot(&self, domain: &str, name: &str) -> HvResult<()>;
    /// Deletes a snapshot.
    fn delete_snapshot(&self, domain: &str, name: &str) -> HvResult<()>;
}

/// Whether a libvirt URI points at another host: it names a host (`qemu+libssh://root@h/system`,
/// `qemu+tcp://h/system`). `qemu:///system`, `qemu+unix:///system` and `test:///default` are local.
pub fn is_remote_uri(uri: &str) -> bool {
    let Some((_, rest)) = uri.split_once("://") else { return false };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.strip_prefix('[').map_or(host, |h| h.split(']').next().unwrap_or_default());
    let host = if authority.contains('[') { host } else { host.split(':').next().unwrap_or_default() };
    !host.is_empty()
}

/// Opens the real hypervisor for a URI (requires feature `libvirt`). Tests construct
/// [`fake::FakeHypervisor`] directly (feature `test-support`); no URI selects it.
pub fn open(uri: &str) -> HvResult<std::sync::Arc<dyn Hypervisor>> {
    #[cfg(feature = "libvirt")]
    {
        Ok(std::sync::Arc::new(libvirt::LibvirtHypervisor::open(uri)?))
    }
    #[cfg(not(feature = "libvirt"))]
    {
        Err(HypervisorError::Unreachable { uri: uri.to_string(), source: "this kubelab was built without the `libvirt` feature".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::is_remote_uri;

    #[test]
    fn a_uri_is_remote_when_it_names_a_host() {
        for local in ["qemu:///system", "qemu:///session", "qemu+unix:///system", "test:///default", "fake:///", "garbage"] {
            assert!(!is_remote_uri(local), "{local}");
        }
        for remote in [
            "qemu+libssh://root@10.255.3.2/system?keyfile=/k&known_hosts=/kh",
            "qemu+ssh://speit@hv1.example.org/system",
            "qemu+tcp://hv1:16509/system",
            "qemu+libssh2://[fd00::2]:2222/system",
            "qemu://hv1/system",
        ] {
            assert!(is_remote_uri(remote), "{remote}");
        }
    }
}
