//! Fake-tier tests of a lab on a remote libvirt host: everything the host opens is a volume
//! made through the hypervisor seam (the base image uploaded once and reused, seeds uploaded,
//! overlays backed by the uploaded base), boot progress comes from the console stream, and
//! the host's capabilities decide whether KVM is tried.

use std::sync::Arc;

use super::host_storage::{IMAGE_POOL, IMAGE_POOL_DIR};
use super::tests::config_in;
use super::{Lab, LabEvent, LabState};
use crate::config::Accel;
use crate::hypervisor::Hypervisor as _;
use crate::hypervisor::fake::FakeHypervisor;
use crate::remote::fake::FakeShell;
use crate::remote::{ExecOutput, RemoteShell};

const URI: &str = "qemu+libssh://root@10.255.3.2/system?keyfile=/k&known_hosts=/kh&known_hosts_verify=normal&sshauth=privkey";

struct RemoteLab {
    lab: Lab,
    _dir: tempfile::TempDir,
}

fn remote_lab(hv: Arc<FakeHypervisor>, name: &str, accel: Accel) -> RemoteLab {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_in(dir.path(), accel);
    cfg.name = name.into();
    let shell = Arc::new(FakeShell::new());
    shell.on("*", "cloud-init status", ExecOutput::ok("status: done\n"));
    let lab = Lab::new(cfg, hv).with_shells(Arc::new(move |_: &LabState| Ok(shell.clone() as Arc<dyn RemoteShell>)));
    RemoteLab { lab, _dir: dir }
}

async fn up(l: &RemoteLab) -> (LabState, Vec<LabEvent>) {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let e = events.clone();
    let emit = move |ev: LabEvent| e.lock().unwrap().push(ev);
    let state = l.lab.up(&emit).await.unwrap();
    let ev = events.lock().unwrap().clone();
    (state, ev)
}

fn image_line(events: &[LabEvent]) -> String {
    events.iter().find(|e| e.phase == "image").map(|e| e.message.clone()).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_remote_lab_uploads_its_base_once_and_opens_nothing_on_this_machine() {
    let hv = Arc::new(FakeHypervisor::new().with_uri(URI));
    let a = remote_lab(hv.clone(), "alice", Accel::Tcg);
    assert!(a.lab.on_remote_host());
    let (state, events) = up(&a).await;
    let calls = hv.calls();
    let uploads: Vec<&String> = calls.iter().filter(|c| c.starts_with("upload_volume")).collect();
    // Base, kernel and initrd into the image pool; one seed per node into the lab's pool.
    assert_eq!(uploads.iter().filter(|c| c.starts_with(&format!("upload_volume {IMAGE_POOL}/"))).count(), 3, "{uploads:?}");
    for n in ["node0", "node1", "node2"] {
        assert!(uploads.iter().any(|c| c.starts_with(&format!("upload_volume alice-pool/{n}-seed.iso raw"))), "{uploads:?}");
    }
    assert!(image_line(&events).contains("-base.qcow2 uploaded"), "{events:?}");
    for n in &state.nodes {
        let xml = hv.domains().unwrap().into_iter().find(|d| d.name == n.domain).unwrap().xml;
        // Every path the domain names is on the remote host, none under this machine's state dir.
        assert!(xml.contains(&format!("{IMAGE_POOL_DIR}/")), "kernel and initrd from the image pool: {xml}");
        assert!(xml.contains("/var/lib/libvirt/images/kubelab-lab-alice/"), "overlay and seed in the lab's pool on the host: {xml}");
        assert!(xml.contains(&format!("/var/log/libvirt/qemu/{}-console.log", n.domain)), "{xml}");
        assert!(!xml.contains(&a.lab.config().state_dir.display().to_string()), "a local path in the domain: {xml}");
    }
    assert!(!a.lab.config().lab_dir().join("pool").exists(), "no local pool directory");
    let seeds = std::fs::read_dir(a.lab.config().lab_dir().join("seeds")).unwrap().count();
    assert_eq!(seeds, 0, "the local seed ISOs (private host keys) are removed once uploaded");
    // The overlays are backed by the uploaded base, as the host names it.
    let vols = hv.volumes("alice-pool").unwrap();
    assert_eq!(vols.len(), 6, "3 overlays and 3 seeds: {vols:?}");

    // `down` removes the lab, never the host's image cache.
    a.lab.down(false).await.unwrap();
    assert!(a.lab.footprint().unwrap().is_empty());
    assert_eq!(hv.volumes(IMAGE_POOL).unwrap().len(), 3);

    // A second lab on the same host reuses the base: no upload of base, kernel or initrd.
    let b = remote_lab(hv.clone(), "bob", Accel::Tcg);
    let before = hv.calls().len();
    let (_, events) = up(&b).await;
    let line = image_line(&events);
    assert!(line.contains("-base.qcow2 reused") && line.contains("-vmlinuz reused") && !line.contains("uploaded"), "{line}");
    assert!(!hv.calls()[before..].iter().any(|c| c.starts_with(&format!("upload_volume {IMAGE_POOL}/"))), "{:?}", hv.calls());
    assert!(!line.contains("keyfile"), "the URI's query (key paths) stays out of the progress line: {line}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_upload_rolls_the_remote_lab_back() {
    let hv = Arc::new(FakeHypervisor::new().with_uri(URI));
    hv.fail_on("upload_volume alice-pool/node1-seed.iso");
    let a = remote_lab(hv.clone(), "alice", Accel::Tcg);
    let events = std::sync::Mutex::new(Vec::new());
    let emit = |ev: LabEvent| events.lock().unwrap().push(ev);
    let e = a.lab.up(&emit).await.unwrap_err();
    assert!(e.to_string().contains("node1-seed.iso"), "{e}");
    assert!(a.lab.footprint().unwrap().is_empty(), "{:?}", a.lab.footprint());
}

#[tokio::test(start_paused = true)]
async fn boot_progress_on_a_remote_host_is_read_from_the_console_stream() {
    let hv = Arc::new(FakeHypervisor::new().with_uri(URI));
    // The host offers KVM, but its KVM guests print nothing (a nested KVM that hangs).
    hv.set_kvm_available(true);
    hv.silent_under("kvm");
    let a = remote_lab(hv.clone(), "alice", Accel::Auto);
    assert!(a.lab.kvm_usable().await, "read from the host's capabilities");
    let (state, events) = up(&a).await;
    assert_eq!(state.domain_type, "qemu", "{events:?}");
    let fallback = events.iter().find(|e| e.phase == "fallback").expect("a fallback event");
    assert!(fallback.message.contains("no boot progress under kvm"), "{fallback:?}");
    assert!(hv.calls().iter().any(|c| c.starts_with("console_bytes alice-node0")), "{:?}", hv.calls());
    // A host without KVM: TCG at once.
    let hv = Arc::new(FakeHypervisor::new().with_uri(URI));
    let b = remote_lab(hv.clone(), "bob", Accel::Auto);
    assert!(!b.lab.kvm_usable().await);
    let (state, events) = up(&b).await;
    assert_eq!(state.domain_type, "qemu");
    assert!(!events.iter().any(|e| e.phase == "fallback"), "{events:?}");
}
