//! Lab lifecycle below real VMs: the recording fake (unit tier) and libvirt's in-process
//! `test:///default` driver (fast tier). Real VMs: `tests/lab.rs` (`--features lab`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kubelab::config::LabConfig;
use kubelab::errors::{HypervisorError, LabError};
use kubelab::hypervisor::Hypervisor;
use kubelab::hypervisor::fake::FakeHypervisor;
use kubelab::image;
use kubelab::lab::{Footprint, Lab};

/// A throwaway "offline image" (an empty qcow2 plus placeholder kernel files): enough for the
/// hypervisor calls, never booted.
fn fake_image(dir: &Path) -> LabConfig {
    let img = dir.join("images");
    let cfg = LabConfig { state_dir: dir.join("state"), image_cache: img.clone(), ..LabConfig::default() };
    let d = image::offline_dir(&cfg);
    std::fs::create_dir_all(&d).unwrap();
    let st = Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(d.join("base.qcow2")).arg("64M").status().unwrap();
    assert!(st.success());
    std::fs::write(d.join("vmlinuz"), b"not a kernel (lifecycle test)").unwrap();
    std::fs::write(d.join("initrd.img"), b"not an initrd (lifecycle test)").unwrap();
    cfg
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn create_then_down(hv: Arc<dyn Hypervisor>, cfg: LabConfig) {
    let lab = Lab::new(cfg.clone(), hv.clone());
    rt().block_on(async {
        let base = lab.preflight().unwrap();
        let state = lab.create(&base, "qemu", &|_| {}).await.unwrap();
        // Identity: fresh UUIDs, MACs and host keys per clone.
        let uuids: std::collections::HashSet<_> = state.nodes.iter().map(|n| &n.uuid).collect();
        let macs: std::collections::HashSet<_> = state.nodes.iter().map(|n| &n.mac).collect();
        let keys: std::collections::HashSet<_> = state.nodes.iter().map(|n| &n.host_key_fingerprint).collect();
        assert_eq!((uuids.len(), macs.len(), keys.len()), (3, 3, 3));
        let inv = lab.footprint().unwrap();
        assert_eq!((inv.domains, inv.networks, inv.pools, inv.seeds), (3, 1, 1, 3), "{inv:?}");
        assert!(inv.volumes >= 3, "{inv:?}");
        // Secrets at rest: nothing under the state directory is readable by group or others
        // (keys, seeds, the state file), and no staging copy of a seed is left.
        let exposed = kubelab::private_fs::exposed(&cfg.state_dir).unwrap();
        assert!(exposed.is_empty(), "group/world-accessible under the state dir: {exposed:?}");
        let staged: Vec<_> = std::fs::read_dir(cfg.lab_dir().join("seeds")).unwrap().collect();
        assert!(staged.is_empty(), "seed staging copies left: {staged:?}");
        let private_keys =
            walk(&cfg.state_dir).into_iter().filter(|p| std::fs::read(p).is_ok_and(|b| contains(&b, b"PRIVATE KEY"))).count();
        assert!(private_keys >= 4 + 3, "client key, 3 host keys and 3 seed ISOs hold private keys: found {private_keys}");
        // A second lab of the same name is refused before anything is created.
        match lab.preflight() {
            Err(LabError::Hypervisor(HypervisorError::LabExists { .. })) => {}
            other => panic!("expected LabExists, got {other:?}"),
        }
        // Same subnet under another name is refused too.
        let other = Lab::new(LabConfig { name: "other".into(), ..cfg.clone() }, hv.clone());
        match other.preflight() {
            Err(LabError::Hypervisor(HypervisorError::SubnetInUse { network, .. })) => assert_eq!(network, cfg.network_name()),
            o => panic!("expected SubnetInUse, got {o:?}"),
        }
        lab.down(false).await.unwrap();
        assert_eq!(lab.footprint().unwrap(), Footprint::default());
    });
}

#[test]
fn fake_hypervisor_create_and_down_leave_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cfg = fake_image(d.path());
    let hv = Arc::new(FakeHypervisor::new());
    create_then_down(hv.clone(), cfg);
    let calls = hv.calls();
    assert!(calls.iter().any(|c| c.starts_with("create_volume kubelab-pool/ICE-k8s-machines-node0.qcow2")), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("define_domain")).count(), 3);
    assert_eq!(calls.iter().filter(|c| c.starts_with("undefine_domain")).count(), 3);
}

#[test]
fn failure_mid_up_removes_everything() {
    let d = tempfile::tempdir().unwrap();
    let cfg = fake_image(d.path());
    let hv = Arc::new(FakeHypervisor::new());
    hv.fail_on("start_domain kubelab-ICE-k8s-machines-node1");
    // TCG: under `accel = auto` on a host with /dev/kvm a failed start falls back to TCG and
    // starts again (lab::tests covers that); here the failure must end `up`.
    let lab = Lab::new(LabConfig { accel: kubelab::config::Accel::Tcg, ..cfg }, hv.clone());
    let err = rt().block_on(lab.up(&|_| {})).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(lab.footprint().unwrap(), Footprint::default(), "calls: {:?}", hv.calls());
}

#[test]
fn down_after_a_crash_finds_resources_by_tag() {
    // Simulates a harness killed mid-`up`: resources exist, the state file does not.
    let d = tempfile::tempdir().unwrap();
    let cfg = fake_image(d.path());
    let hv = Arc::new(FakeHypervisor::new());
    let lab = Lab::new(cfg.clone(), hv.clone());
    rt().block_on(async {
        let base = lab.preflight().unwrap();
        lab.create(&base, "qemu", &|_| {}).await.unwrap();
        std::fs::remove_file(cfg.lab_dir().join("lab.json")).unwrap();
        assert!(lab.load_state().is_err());
        lab.down(false).await.unwrap();
    });
    assert_eq!(lab.footprint().unwrap(), Footprint::default());
}

#[test]
fn missing_base_image_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LabConfig { state_dir: d.path().join("state"), image_cache: d.path().join("nothing-here"), ..LabConfig::default() };
    let hv = Arc::new(FakeHypervisor::new());
    let lab = Lab::new(cfg.clone(), hv.clone());
    let err = rt().block_on(lab.up(&|_| {})).unwrap_err();
    assert!(matches!(err, LabError::Hypervisor(HypervisorError::BaseImage { .. })), "{err}");
    assert!(hv.calls().is_empty(), "{:?}", hv.calls());
    assert!(!cfg.lab_dir().exists());
}

#[cfg(feature = "libvirt")]
#[test]
fn test_driver_create_and_down_leave_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LabConfig { name: "kl-testdrv".into(), ..fake_image(d.path()) };
    let hv: Arc<dyn Hypervisor> = Arc::new(kubelab::hypervisor::libvirt::LibvirtHypervisor::open("test:///default").unwrap());
    // test:///default ships a NAT network on 192.168.122.0/24; ours must not collide.
    create_then_down(hv, cfg);
}

#[test]
fn interrupted_up_removes_what_it_created() {
    // Interrupted while the lab is half created (network and pool exist, domains being made):
    // the in-flight libvirt calls are waited for, then everything is removed.
    let d = tempfile::tempdir().unwrap();
    let cfg = fake_image(d.path());
    let hv = Arc::new(FakeHypervisor::new());
    let lab = Lab::new(cfg.clone(), hv.clone());
    let signal = Arc::new(tokio::sync::Notify::new());
    let s2 = signal.clone();
    let err = rt()
        .block_on(lab.up_or_cancel(
            &move |e| {
                if e.phase == "network" {
                    s2.notify_one();
                }
            },
            async move { signal.notified().await },
        ))
        .unwrap_err();
    assert!(matches!(err, LabError::Interrupted(_)), "{err}");
    assert!(err.to_string().contains("everything it had created was removed"), "{err}");
    let calls = hv.calls();
    assert!(calls.iter().any(|c| c.starts_with("create_network")), "the network existed at the interrupt: {calls:?}");
    // How far `up` got after the signal depends on the scheduler (the fake's calls return at
    // once on blocking threads): what must hold is that everything it made is gone again.
    assert_eq!(lab.footprint().unwrap(), Footprint::default(), "calls: {calls:?}");
    assert!(!cfg.lab_dir().exists());
}
