//! Fake-tier tests of the lab lifecycle: [`FakeHypervisor`] + [`FakeShell`] on tokio's paused
//! clock. Keys, seeds (xorriso) and the base image's `qemu-img info` are real, in a temp dir.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Lab, LabEvent, LabState};
use crate::config::{Accel, LabConfig};
use crate::errors::{LabError, RemoteError};
use crate::hypervisor::Hypervisor as _;
use crate::hypervisor::fake::FakeHypervisor;
use crate::remote::fake::FakeShell;
use crate::remote::{ExecOutput, RemoteShell};

/// A lab on the fakes, its config under a temp dir, with a real (tiny) base image.
pub(crate) struct FakeLab {
    pub lab: Lab,
    pub hv: Arc<FakeHypervisor>,
    pub shell: Arc<FakeShell>,
    pub _dir: tempfile::TempDir,
}

/// The config of a fake lab rooted at `dir`, with a 16 MiB qcow2 base image, kernel and initrd.
pub(crate) fn config_in(dir: &std::path::Path, accel: Accel) -> LabConfig {
    let img = dir.join("images");
    std::fs::create_dir_all(&img).unwrap();
    let base = img.join("base.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("16M")
        .output()
        .expect("qemu-img is required: apt-get install qemu-utils (ci/labenv setup)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(img.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(img.join("initrd.img"), b"initrd").unwrap();
    let defaults = LabConfig::default();
    // Short node names keep the assertions readable; everything else is the default lab.
    let nodes =
        defaults.nodes.iter().enumerate().map(|(i, n)| crate::config::NodeConfig { name: format!("node{i}"), ..n.clone() }).collect();
    LabConfig {
        nodes,
        accel,
        state_dir: dir.join("state"),
        image_cache: dir.join("cache"),
        base_image: Some(base),
        boot_progress_secs: 60,
        boot_timeout_secs: 300,
        ..defaults
    }
}

/// A fake lab; the shell answers `cloud-init status` with `status: done`.
pub(crate) fn fake_lab(accel: Accel, kvm_present: bool) -> FakeLab {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), accel);
    let hv = Arc::new(FakeHypervisor::new());
    let shell = Arc::new(FakeShell::new());
    shell.on("*", "cloud-init status", ExecOutput::ok("status: done\n"));
    let opened = shell.clone();
    let lab = Lab::new(cfg, hv.clone())
        .with_shells(Arc::new(move |_: &LabState| Ok(opened.clone() as Arc<dyn RemoteShell>)))
        .with_kvm_present(kvm_present);
    FakeLab { lab, hv, shell, _dir: dir }
}

/// Collects the events of `up`.
fn recorder() -> (Arc<Mutex<Vec<LabEvent>>>, impl Fn(LabEvent) + Send + Sync) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, move |ev: LabEvent| e.lock().unwrap().push(ev))
}

fn refused(node: &str) -> RemoteError {
    RemoteError::Connect { node: node.into(), addr: "192.168.1.135:22".into(), source: "Connection refused".into() }
}

/// `true` probes fail with "connection refused" for the first `n` tries on every node.
fn ssh_up_after(shell: &FakeShell, n: usize) {
    let tries = Mutex::new(std::collections::HashMap::<String, usize>::new());
    shell.respond_result(move |node, script| {
        (script == "true").then(|| {
            let mut t = tries.lock().unwrap();
            let k = t.entry(node.to_string()).or_default();
            *k += 1;
            if *k <= n { Err(refused(node)) } else { Ok(ExecOutput::ok("")) }
        })
    });
}

fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}

/// Brings a fake lab up (SSH answers at once) and returns its state.
pub(crate) async fn up(f: &FakeLab) -> LabState {
    let (_, emit) = recorder();
    f.lab.up(&emit).await.expect("fake up")
}

#[tokio::test(start_paused = true)]
async fn up_creates_boots_and_waits_for_console_and_ssh() {
    let f = fake_lab(Accel::Tcg, false);
    ssh_up_after(&f.shell, 3);
    let (events, emit) = recorder();
    let t0 = Instant::now();
    let state = f.lab.up(&emit).await.unwrap();
    let calls = f.hv.calls();
    assert_eq!(calls[..2], ["create_pool kubelab-pool".to_string(), "create_network kubelab-net".to_string()], "{calls:?}");
    for n in ["node0", "node1", "node2"] {
        assert!(calls.contains(&format!("create_volume kubelab-pool/{n}.qcow2")), "{calls:?}");
        assert!(calls.contains(&format!("define_domain kubelab-{n}")), "{calls:?}");
        assert!(calls.contains(&format!("start_domain kubelab-{n}")), "{calls:?}");
        // Refused three times, then up: four probes, then cloud-init.
        let scripts = f.shell.scripts_on(n);
        assert_eq!(scripts.iter().filter(|s| *s == "true").count(), 4, "{scripts:?}");
        assert!(scripts.last().unwrap().contains("cloud-init status --wait"), "{scripts:?}");
    }
    assert_eq!(state.domain_type, "qemu", "accel = tcg");
    assert_eq!(t0.elapsed(), Duration::from_secs(6), "three 2 s retries on the paused clock");
    assert_eq!(f.lab.load_state().unwrap().nodes, state.nodes, "the state file holds what up returned");
    let ev = events.lock().unwrap();
    assert_eq!(ev.iter().filter(|e| e.phase == "ready").count(), 3);
    // Identity decided per clone: distinct MACs and UUIDs, pinned host keys.
    let macs: std::collections::BTreeSet<_> = state.nodes.iter().map(|n| n.mac.clone()).collect();
    let uuids: std::collections::BTreeSet<_> = state.nodes.iter().map(|n| n.uuid.clone()).collect();
    assert_eq!((macs.len(), uuids.len()), (3, 3));
    assert!(state.nodes.iter().all(|n| n.host_key.starts_with("ssh-ed25519 ")));
}

#[tokio::test(start_paused = true)]
async fn auto_falls_back_to_tcg_when_kvm_shows_no_boot_progress() {
    let f = fake_lab(Accel::Auto, true);
    f.hv.silent_under("kvm");
    let (events, emit) = recorder();
    let t0 = Instant::now();
    let state = f.lab.up(&emit).await.unwrap();
    assert_eq!(state.domain_type, "qemu");
    assert_eq!(f.lab.load_state().unwrap().domain_type, "qemu", "the fallback is saved");
    // The KVM probe is kvm_probe_secs (15 s by default), not boot_progress_secs (60 s here).
    assert!(
        t0.elapsed() >= Duration::from_secs(15) && t0.elapsed() < Duration::from_secs(60),
        "waited kvm_probe_secs under kvm, not boot_progress_secs: {:?}",
        t0.elapsed()
    );
    let calls = f.hv.calls();
    for n in ["node0", "node1", "node2"] {
        assert_eq!(count(&calls, &format!("start_domain kubelab-{n}")), 2, "started under kvm, then under qemu: {calls:?}");
        assert_eq!(count(&calls, &format!("stop_domain kubelab-{n}")), 1, "{calls:?}");
        assert_eq!(count(&calls, &format!("define_domain kubelab-{n}")), 2, "redefined with the new type: {calls:?}");
    }
    let domains = f.hv.domains().unwrap();
    assert!(domains.iter().all(|d| d.xml.starts_with("<domain type='qemu'>") && !d.xml.contains("host-passthrough")), "{domains:?}");
    let ev = events.lock().unwrap();
    let fb = ev.iter().find(|e| e.phase == "fallback").expect("a fallback event");
    assert!(fb.message.contains("no boot progress under kvm after 15 s") && fb.message.contains("falls back to tcg"), "{}", fb.message);
}

#[tokio::test(start_paused = true)]
async fn explicit_kvm_that_stays_silent_waits_boot_progress_secs_and_names_the_fix() {
    let f = fake_lab(Accel::Kvm, true);
    f.hv.silent_under("kvm");
    let (events, emit) = recorder();
    let t0 = Instant::now();
    let e = f.lab.up(&emit).await.unwrap_err();
    assert!(t0.elapsed() >= Duration::from_secs(60), "accel = kvm is not probed: {:?}", t0.elapsed());
    assert!(matches!(e, LabError::NoBootProgress { secs: 60, .. }), "{e:?}");
    assert!(e.to_string().contains("set accel = \"tcg\""), "{e}");
    assert!(!events.lock().unwrap().iter().any(|e| e.phase == "fallback"), "no fallback under accel = kvm");
    assert!(f.lab.footprint().unwrap().is_empty(), "{:?}", f.lab.footprint());
}

#[tokio::test(start_paused = true)]
async fn kvm_that_qemu_refuses_falls_back_under_auto_and_names_the_fix_under_kvm() {
    let f = fake_lab(Accel::Auto, true);
    f.hv.fail_on("start_domain");
    let (_, emit) = recorder();
    assert_eq!(f.lab.up(&emit).await.unwrap().domain_type, "qemu");

    let f = fake_lab(Accel::Kvm, true);
    f.hv.fail_on("start_domain");
    let e = f.lab.up(&emit).await.unwrap_err();
    assert!(matches!(e, LabError::NoBootProgress { .. }), "{e:?}");
    assert!(e.to_string().contains("set accel = \"tcg\""), "{e}");
    assert!(f.lab.footprint().unwrap().is_empty(), "a failed up removes what it created: {:?}", f.lab.footprint());
}

#[tokio::test(start_paused = true)]
async fn a_failed_up_leaves_nothing_at_any_failure_point() {
    for point in
        ["create_pool", "create_network", "create_volume kubelab-pool/node1", "define_domain kubelab-node2", "start_domain kubelab-node1"]
    {
        let f = fake_lab(Accel::Tcg, false);
        f.hv.fail_on(point);
        let (_, emit) = recorder();
        let e = f.lab.up(&emit).await.unwrap_err();
        assert!(e.to_string().contains("injected failure"), "{point}: {e}");
        let left = f.lab.footprint().unwrap();
        assert!(left.is_empty(), "{point}: left behind {left:?}");
        assert!(f.hv.calls().iter().any(|c| c.contains("(injected failure)")), "{point}: the failure happened");
    }
    // The seed tool is missing (the process seam answers "not found"): same.
    let f = fake_lab(Accel::Tcg, false);
    let f = FakeLab { lab: f.lab.with_processes(Arc::new(crate::process::fake::FakeRunner::new())), ..f };
    let (_, emit) = recorder();
    let e = f.lab.up(&emit).await.unwrap_err();
    assert_eq!(e.to_string(), "run xorriso (apt-get install xorriso): `xorriso` not found");
    assert!(f.lab.footprint().unwrap().is_empty());
    // SSH never answers: the budget runs out, and everything goes too.
    let f = fake_lab(Accel::Tcg, false);
    ssh_up_after(&f.shell, usize::MAX);
    let (_, emit) = recorder();
    let e = f.lab.up(&emit).await.unwrap_err();
    assert!(matches!(&e, LabError::SshNeverUp { secs: 300, last, .. } if last.contains("Connection refused")), "{e:?}");
    assert!(f.lab.footprint().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_host_key_mismatch_stops_the_wait_at_once() {
    let f = fake_lab(Accel::Tcg, false);
    f.shell.respond_result(|node, s| {
        (s == "true")
            .then(|| Err(RemoteError::HostKeyMismatch { node: node.into(), expected: "SHA256:a".into(), found: "SHA256:b".into() }))
    });
    let (_, emit) = recorder();
    let t0 = Instant::now();
    let e = f.lab.up(&emit).await.unwrap_err();
    assert!(matches!(e, LabError::Remote(RemoteError::HostKeyMismatch { .. })), "{e:?}");
    assert_eq!(t0.elapsed(), Duration::ZERO, "no retry after a refused host key");
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_up_removes_what_it_created() {
    let f = fake_lab(Accel::Tcg, false);
    ssh_up_after(&f.shell, usize::MAX);
    let (events, emit) = recorder();
    let e = f.lab.up_or_cancel(&emit, tokio::time::sleep(Duration::from_secs(10))).await.unwrap_err();
    assert!(matches!(&e, LabError::Interrupted(m) if m.contains("everything it had created was removed")), "{e:?}");
    assert!(f.lab.footprint().unwrap().is_empty());
    assert!(events.lock().unwrap().iter().any(|e| e.phase == "interrupt"));
}

#[tokio::test(start_paused = true)]
async fn reboot_forgets_the_connection_and_waits_for_a_new_boot_id() {
    let f = fake_lab(Accel::Tcg, false);
    up(&f).await;
    let reads = Mutex::new(0);
    f.shell.respond(move |node, s| {
        (node == "node1" && s == "cat /proc/sys/kernel/random/boot_id").then(|| {
            let mut r = reads.lock().unwrap();
            *r += 1;
            // Before the reboot, then twice still the old id (the guest is going down), then new.
            ExecOutput::ok(if *r <= 3 { "old-boot-id\n" } else { "new-boot-id\n" })
        })
    });
    let t0 = Instant::now();
    f.lab.reboot(f.shell.as_ref(), &["node1".to_string()], Duration::from_secs(120)).await.unwrap();
    let scripts = f.shell.scripts_on("node1");
    let reboot = scripts.iter().position(|s| s.contains("systemctl reboot")).expect("reboot sent");
    assert!(scripts[reboot].starts_with("systemd-run --on-active=1"), "detached, so the session returns");
    assert_eq!(f.shell.forgets(), ["node1", "node1", "node1"], "after the reboot command and after each stale answer");
    assert_eq!(t0.elapsed(), Duration::from_secs(5 + 3 + 3), "5 s grace, then 3 s between probes");

    // A node that never comes back is named with what was last seen.
    let e = f.lab.reboot(f.shell.as_ref(), &["node2".to_string()], Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(&e, LabError::SshNeverUp { node, last, .. } if node == "node2" && last.contains("no new boot id")), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn status_reads_identity_in_the_guest_and_the_domain_state() {
    let f = fake_lab(Accel::Tcg, false);
    let state = up(&f).await;
    let n0 = state.nodes[0].clone();
    let out = format!(
        "hostname=node0\nproduct_uuid={}\nmachine_id=0123\nmac={}\nhost_key={}\nreach=node1=yes\nreach=node2=no\n",
        n0.uuid.to_uppercase(),
        n0.mac,
        n0.host_key_fingerprint
    );
    f.shell.on("node0", "product_uuid", ExecOutput::ok(out));
    f.shell.on("node1", "product_uuid", ExecOutput::failed(1, "cat: /etc/machine-id: No such file"));
    f.shell.respond_result(|node, s| (node == "node2" && s.contains("product_uuid")).then(|| Err(refused(node))));
    f.hv.stop_domain("kubelab-node2").unwrap();
    let st = f.lab.status(&state, f.shell.as_ref()).await.unwrap();
    assert_eq!(st[0].domain_state, "running");
    assert!(st[0].reachable);
    assert_eq!(st[0].product_uuid.as_deref(), Some(n0.uuid.as_str()), "lower-cased");
    assert_eq!(st[0].macs, std::slice::from_ref(&n0.mac));
    assert_eq!(st[0].reaches.get("node1"), Some(&true));
    assert_eq!(st[0].reaches.get("node2"), Some(&false));
    assert!(!st[1].reachable && st[1].error.as_deref().unwrap().contains("exited 1"), "{:?}", st[1].error);
    assert_eq!(st[2].domain_state, "shut off");
    assert!(st[2].error.as_deref().unwrap().contains("Connection refused"));
    let probe = f.shell.scripts_on("node0").into_iter().find(|s| s.contains("product_uuid")).unwrap();
    assert!(probe.contains("ping -c1 -W3 node1") && probe.contains("ping -c1 -W3 node2") && !probe.contains("ping -c1 -W3 node0"));
}

#[tokio::test(start_paused = true)]
async fn snapshots_are_replaced_on_save_and_must_exist_to_revert() {
    let f = fake_lab(Accel::Tcg, false);
    let state = up(&f).await;
    f.lab.snapshot_save(&state, "provisioned").await.unwrap();
    f.lab.snapshot_save(&state, "provisioned").await.unwrap();
    let calls = f.hv.calls();
    for n in ["node0", "node1", "node2"] {
        assert_eq!(count(&calls, &format!("create_snapshot kubelab-{n}/provisioned")), 2);
        assert_eq!(count(&calls, &format!("delete_snapshot kubelab-{n}/provisioned")), 1, "the second save replaces the first");
        assert_eq!(f.hv.snapshots(&format!("kubelab-{n}")).unwrap(), ["provisioned"]);
    }
    let e = f.lab.snapshot_revert(&state, "nope").await.unwrap_err();
    assert!(e.to_string().contains("run `kubelab snapshot save nope` first"), "{e}");
    std::fs::write(f.lab.config().lab_dir().join("faults.json"), "[]").unwrap();
    f.lab.snapshot_revert(&state, "provisioned").await.unwrap();
    assert_eq!(count(&f.hv.calls(), "revert_snapshot"), 3);
    assert!(!f.lab.config().lab_dir().join("faults.json").exists(), "a revert forgets the faults injected after the snapshot");
}

#[tokio::test(start_paused = true)]
async fn down_removes_every_resource_and_the_state() {
    let f = fake_lab(Accel::Tcg, false);
    let state = up(&f).await;
    f.lab.snapshot_save(&state, "s").await.unwrap();
    let before = f.lab.down(false).await.unwrap();
    assert_eq!((before.domains, before.networks, before.pools, before.seeds), (3, 1, 1, 3), "{before:?}");
    assert!(before.volumes >= 3, "{before:?}");
    assert!(f.lab.footprint().unwrap().is_empty());
    assert!(matches!(f.lab.load_state(), Err(LabError::NotUp(_))));
    // Again, with nothing there: a no-op.
    assert!(f.lab.down(false).await.unwrap().is_empty());
}

/// Two labs whose names share a prefix (`alice`, `alice-2`) on one hypervisor: each counts and
/// removes only its own domains, network, pool, nwfilters and state; the other stays whole.
#[tokio::test(start_paused = true)]
async fn down_of_one_lab_leaves_a_lab_whose_name_it_prefixes() {
    let a = fake_lab(Accel::Tcg, false);
    // Its own subnet: two labs may not share one (`up` refuses).
    let mut cfg_b = LabConfig { name: format!("{}-2", a.lab.config().name), ..a.lab.config().clone() };
    cfg_b.subnet = "192.168.7.0/24".parse().unwrap();
    cfg_b.gateway = "192.168.7.1".parse().unwrap();
    for (i, n) in cfg_b.nodes.iter_mut().enumerate() {
        n.ip = format!("192.168.7.{}", 134 + i).parse().unwrap();
    }
    let opened = a.shell.clone();
    let b = Lab::new(cfg_b.clone(), a.hv.clone())
        .with_shells(Arc::new(move |_: &LabState| Ok(opened.clone() as Arc<dyn RemoteShell>)))
        .with_kvm_present(false);
    up(&a).await;
    let (_, emit) = recorder();
    b.up(&emit).await.unwrap();
    // A security-group pitfall in place on the second lab only (its filter carries no tag).
    let filter = crate::lab::nwfilter_name(&cfg_b.name, crate::lab::NWFILTER_KINDS[0]);
    a.hv.define_nwfilter(&crate::hypervisor::xml::security_group_xml(&filter, &[], true)).unwrap();
    let b_before = b.footprint().unwrap();
    assert_eq!((b_before.domains, b_before.networks, b_before.pools, b_before.nwfilters), (3, 1, 1, 1), "{b_before:?}");
    let a_before = a.lab.footprint().unwrap();
    assert_eq!((a_before.domains, a_before.networks, a_before.pools, a_before.nwfilters), (3, 1, 1, 0), "{a_before:?}");
    a.lab.down(false).await.unwrap();
    assert!(a.lab.footprint().unwrap().is_empty());
    assert_eq!(b.footprint().unwrap(), b_before, "down of {} took from {}", a.lab.config().name, cfg_b.name);
    assert!(b.load_state().is_ok());
    b.down(false).await.unwrap();
    assert!(b.footprint().unwrap().is_empty() && a.hv.nwfilters().unwrap().is_empty());
}
