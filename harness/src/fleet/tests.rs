//! Fake-tier tests of [`Fleet`]: two fake hosts (one local, one remote), labs placed by free
//! memory, a request that fits nowhere refused with nothing created, a failure half-way taking
//! down the labs made before it, and `status --all` / `down --all` across both hosts.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::config::Accel;
use crate::hypervisor::fake::FakeHypervisor;
use crate::lab::tests::config_in;
use crate::remote::fake::FakeShell;
use crate::remote::{ExecOutput, RemoteShell};

const REMOTE: &str = "qemu+libssh2://root@10.255.3.2/system?keyfile=/k&known_hosts=/kh&known_hosts_verify=normal&sshauth=privkey";

struct Two {
    fleet: Fleet,
    here: Arc<FakeHypervisor>,
    there: Arc<FakeHypervisor>,
    shell: Arc<FakeShell>,
    _dir: tempfile::TempDir,
}

/// A fleet of 3-node labs (2048 MiB each node) over `here` (qemu:///system) and `there` (remote).
fn two_hosts(here_mib: u64, there_mib: u64) -> Two {
    let dir = tempfile::tempdir().unwrap();
    let mut base = config_in(dir.path(), Accel::Tcg);
    base.name = "lab".into();
    let here = Arc::new(FakeHypervisor::new().with_uri("qemu:///system"));
    let there = Arc::new(FakeHypervisor::new().with_uri(REMOTE));
    here.set_memory_mib(here_mib);
    there.set_memory_mib(there_mib);
    let hosts = HostsFile {
        hosts: vec![
            HostEntry { name: "here".into(), uri: "qemu:///system".into(), ssh_key: None, known_hosts: None },
            HostEntry { name: "h2".into(), uri: REMOTE.into(), ssh_key: None, known_hosts: None },
        ],
    };
    let shell = Arc::new(FakeShell::new());
    shell.on("*", "cloud-init status", ExecOutput::ok("status: done\n"));
    let by_uri: BTreeMap<String, Arc<FakeHypervisor>> =
        [("qemu:///system".to_string(), here.clone()), (REMOTE.to_string(), there.clone())].into_iter().collect();
    let open: HypervisorOpener = Arc::new(move |uri: &str| {
        by_uri
            .get(uri)
            .map(|h| h.clone() as Arc<dyn Hypervisor>)
            .ok_or_else(|| HypervisorError::Unreachable { uri: uri.into(), source: "no such fake".into() })
    });
    let s = shell.clone();
    let make: LabMaker = Arc::new(move |cfg, hv| {
        let s = s.clone();
        Lab::new(cfg, hv).with_outside(None).with_shells(Arc::new(move |_: &LabState| Ok(s.clone() as Arc<dyn RemoteShell>)))
    });
    Two { fleet: Fleet::new(base, hosts).with_seams(open, make), here, there, shell, _dir: dir }
}

fn domains_of(hv: &FakeHypervisor) -> Vec<String> {
    hv.domains().unwrap().into_iter().map(|d| d.name).collect()
}

async fn up(t: &Two, n: usize) -> Result<Vec<LabState>, FleetError> {
    let plan = t.fleet.plan(n).await?;
    t.fleet.up(&plan, &|_, _| {}, std::future::pending()).await
}

#[tokio::test(start_paused = true)]
async fn labs_go_to_the_host_with_the_most_free_memory_on_their_own_subnets() {
    let t = two_hosts(20_000, 14_000);
    let plan = t.fleet.plan(3).await.unwrap();
    // here 20000 → lab-1 (13856 left) → h2 has more: lab-2 (7856) → here again: lab-3.
    let placed: Vec<(&str, &str, String)> = plan.iter().map(|p| (p.cfg.name.as_str(), p.host.as_str(), p.cfg.subnet.to_string())).collect();
    assert_eq!(
        placed,
        [("lab-1", "here", "192.168.1.0/24".into()), ("lab-2", "h2", "192.168.2.0/24".into()), ("lab-3", "here", "192.168.3.0/24".into())]
    );
    assert!(t.here.calls().iter().all(|c| !c.starts_with("define")), "planning creates nothing: {:?}", t.here.calls());
    let states = t.fleet.up(&plan, &|_, _| {}, std::future::pending()).await.unwrap();
    assert_eq!(states.iter().map(|s| s.uri.as_str()).collect::<Vec<_>>(), ["qemu:///system", REMOTE, "qemu:///system"]);
    assert_eq!(domains_of(&t.here).len(), 6);
    assert!(domains_of(&t.there).iter().all(|d| d.starts_with("lab-2-")), "{:?}", domains_of(&t.there));
    // The host's free memory now counts the running guests: a fourth lab goes to h2 (7856 MiB).
    let next = t.fleet.plan(1).await.unwrap();
    assert_eq!((next[0].cfg.name.as_str(), next[0].host.as_str(), next[0].host_free_mib), ("lab-4", "h2", 14_000 - 6144));
    assert_eq!(next[0].cfg.subnet.to_string(), "192.168.4.0/24", "past the three subnets in use");
    // Each lab recorded the config it was made with.
    let recorded = LabConfig::load(&states[1].key_path.parent().unwrap().parent().unwrap().join(crate::lab::CONFIG_FILE)).unwrap();
    assert_eq!((recorded.name.as_str(), recorded.subnet.to_string()), ("lab-2", "192.168.2.0/24".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_request_that_fits_nowhere_is_refused_before_anything_is_made() {
    let t = two_hosts(13_000, 7_000);
    // 6144 MiB per lab: here takes two (12288), h2 one; the fourth fits nowhere.
    let e = up(&t, 4).await.unwrap_err();
    assert!(matches!(e, FleetError::NoHostFits { placed: 3, .. }), "{e:?}");
    assert!(e.to_string().contains("lab `lab-4` fits on no host"), "{e}");
    for hv in [&t.here, &t.there] {
        assert!(hv.calls().iter().all(|c| !c.starts_with("define") && !c.starts_with("create")), "{:?}", hv.calls());
        assert!(leftovers(hv.as_ref(), &["lab-1".into(), "lab-2".into(), "lab-3".into()]).unwrap().is_empty());
    }
    assert!(t.fleet.known_labs().unwrap().is_empty(), "no state written");
}

#[tokio::test(start_paused = true)]
async fn a_lab_failing_half_way_takes_down_the_labs_made_before_it() {
    let t = two_hosts(20_000, 20_000);
    let plan = t.fleet.plan(2).await.unwrap();
    assert_eq!(plan[1].host, "h2");
    t.there.fail_on("define_domain lab-2-node1");
    let e = t.fleet.up(&plan, &|_, _| {}, std::future::pending()).await.unwrap_err();
    let text = crate::errors::error_chain(&e);
    assert!(text.starts_with("host `h2`: up of lab `lab-2` (the labs made before it: `lab-1` removed)"), "{text}");
    for hv in [&t.here, &t.there] {
        assert!(leftovers(hv.as_ref(), &["lab-1".into(), "lab-2".into()]).unwrap().is_empty(), "{:?}", domains_of(hv));
    }
    assert!(t.fleet.known_labs().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_takes_down_every_lab_of_the_request() {
    let t = two_hosts(20_000, 20_000);
    let plan = t.fleet.plan(2).await.unwrap();
    // The interrupt arrives as the second lab (on h2) starts.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    let emit = move |lab: &str, _: LabEvent| {
        if lab == "lab-2"
            && let Some(tx) = tx.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    };
    let e = t
        .fleet
        .up(&plan, &emit, async {
            let _ = rx.await;
        })
        .await
        .unwrap_err();
    let text = crate::errors::error_chain(&e);
    assert!(matches!(&e, FleetError::Host { source: LabError::Interrupted(_), .. }), "{e:?}");
    assert!(text.contains("the labs made before it: `lab-1` removed"), "{text}");
    for hv in [&t.here, &t.there] {
        assert!(leftovers(hv.as_ref(), &["lab-1".into(), "lab-2".into()]).unwrap().is_empty(), "{:?}", domains_of(hv));
    }
}

#[tokio::test(start_paused = true)]
async fn status_and_down_all_cover_every_host_and_a_lab_known_only_by_its_tag() {
    let t = two_hosts(20_000, 20_000);
    up(&t, 2).await.unwrap();
    // lab-2's state is lost (a crash, a wiped state dir): down --all still finds it by its tag.
    std::fs::remove_dir_all(t.fleet.base.state_dir.join("lab-2")).unwrap();
    let known = t.fleet.known_labs().unwrap();
    assert_eq!(
        known.iter().map(|k| (k.cfg.name.as_str(), k.host.as_str(), k.state.is_some())).collect::<Vec<_>>(),
        [("lab-1", "here", true), ("lab-2", "h2", false)]
    );
    t.shell.on("*", "", ExecOutput::ok(""));
    let st = t.fleet.status().await.unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].domains.iter().filter(|(_, s)| s == "running").count(), 3, "{st:?}");
    assert!(st[1].error.as_deref().unwrap_or_default().contains("no state file"), "{st:?}");
    let down = t.fleet.down_all().await.unwrap();
    assert_eq!(
        down.iter().map(|d| (d.host.as_str(), d.removed.len(), d.left.is_empty())).collect::<Vec<_>>(),
        [("here", 1, true), ("h2", 1, true)]
    );
    assert_eq!(down[1].removed[0].1.domains, 3);
    assert!(domains_of(&t.here).is_empty() && domains_of(&t.there).is_empty());
    assert!(t.fleet.known_labs().unwrap().is_empty());
}
