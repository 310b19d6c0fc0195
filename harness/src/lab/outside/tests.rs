//! Fake tier: the outside's create/teardown over the recording [`FakeRunner`], whose responder
//! keeps the namespaces, links, processes and table that the commands make, answering in the
//! formats `ip netns list`, `ip netns pids`, `ip -o link show` and `nft list tables` print
//! (captured on this host: `kl1a2b3c-o (id: 3)` when the namespace has an id, bare otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};

use super::*;
use crate::process::fake::FakeRunner;

#[derive(Default)]
struct World {
    netns: BTreeSet<String>,
    links: BTreeSet<String>,
    pids: BTreeMap<String, Vec<u32>>,
    table: BTreeSet<String>,
    next_pid: u32,
    fail_on: Option<String>,
    stale: BTreeSet<String>,
}

fn ok(stdout: &str) -> Option<Result<CommandOutput, CommandError>> {
    Some(Ok(CommandOutput { code: Some(0), stdout: stdout.into(), ..Default::default() }))
}

fn fake(world: Arc<Mutex<World>>) -> FakeRunner {
    let f = FakeRunner::new();
    f.respond(move |s| {
        let line = s.line();
        let mut w = world.lock().unwrap();
        if w.fail_on.as_deref().is_some_and(|p| line.contains(p)) {
            return Some(Ok(CommandOutput { code: Some(1), stderr: format!("refused: {line}"), ..Default::default() }));
        }
        let a: Vec<&str> = s.args.iter().map(String::as_str).collect();
        match (s.program.as_str(), a.as_slice()) {
            ("ip", ["netns", "add", n]) => {
                w.netns.insert(n.to_string());
                ok("")
            }
            ("ip", ["netns", "del", n]) => {
                w.netns.remove(*n);
                w.table.remove(*n);
                ok("")
            }
            ("ip", ["netns", "list"]) => {
                let mut out = String::from("kubelab\n");
                for (i, n) in w.netns.iter().enumerate() {
                    out.push_str(&format!("{n} (id: {i})\n"));
                }
                ok(&out)
            }
            ("ip", ["netns", "pids", n]) if w.stale.contains(*n) => Some(Ok(CommandOutput {
                code: Some(255),
                stderr: format!("setting the network namespace \"{n}\" failed: Invalid argument\n"),
                ..Default::default()
            })),
            ("ip", ["netns", "pids", n]) => ok(&w.pids.get(*n).map(|p| p.iter().map(|p| format!("{p}\n")).collect::<String>()).unwrap_or_default()),
            ("ip", ["link", "add", leg, ..]) => {
                w.links.insert(leg.to_string());
                ok("")
            }
            ("ip", ["link", "del", leg]) => {
                w.links.remove(*leg);
                ok("")
            }
            ("ip", ["-o", "link", "show"]) => ok(&w
                .links
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{}: {l}@if{}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master virbr1 state UP mode DEFAULT group default qlen 1000\\    link/ether 8a:1f:22:33:44:55 brd ff:ff:ff:ff:ff:ff link-netns kl-r\n", i + 7, i + 2))
                .collect::<String>()),
            ("ip", ["netns", "exec", ns, "nft", "-f", _]) => {
                w.table.insert(ns.to_string());
                ok("")
            }
            ("ip", ["netns", "exec", ns, "nft", "list", "tables"]) => {
                ok(if w.table.contains(*ns) { "table ip kubelab_outside\n" } else { "" })
            }
            ("ip", ["netns", "exec", ns, "start-stop-daemon", rest @ ..]) => {
                w.next_pid += 1;
                let pid = 4000 + w.next_pid;
                // As start-stop-daemon does under the usual umask 022: pid and log files 0644.
                for flag in ["--pidfile", "--output"] {
                    if let Some(i) = rest.iter().position(|a| *a == flag) {
                        let path = Path::new(rest[i + 1]);
                        std::fs::write(path, format!("{pid}\n")).unwrap();
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
                    }
                }
                w.pids.entry(ns.to_string()).or_default().push(pid);
                ok("")
            }
            ("ip", ["netns", "exec", _, "curl", ..]) if line.contains("%header{location}") => {
                ok("http://203.0.113.2:5000/v2/kubelab/busybox/blobs/uploads/fbc0d012?_state=abc%3D%3D")
            }
            ("kill", [_sig, pids @ ..]) => {
                for v in w.pids.values_mut() {
                    v.retain(|p| !pids.contains(&p.to_string().as_str()));
                }
                ok("")
            }
            ("ip", _) => ok(""),
            _ => None,
        }
    });
    f
}

fn cfg(dir: &Path) -> LabConfig {
    LabConfig { name: "kl-out".into(), state_dir: dir.to_path_buf(), ..LabConfig::default() }
}

fn busybox_present() -> bool {
    Path::new(BUSYBOX).exists()
}

#[test]
fn addresses_and_names_fit_the_lab_and_the_kernel() {
    let c = LabConfig::default();
    assert_eq!(router_lab_address(c.subnet), Ipv4Addr::new(192, 168, 1, 254));
    assert_eq!(floating_ip(c.nodes[1].ip), Ipv4Addr::new(203, 0, 113, 135));
    assert_eq!(image_ref(), "203.0.113.2:5000/kubelab/busybox:1.35");
    let r = FakeRunner::new();
    let o = Outside::new(&c, &r);
    for name in [o.router_ns(), o.outside_ns(), o.lab_leg()] {
        assert!(name.len() <= 15, "{name} longer than IFNAMSIZ-1");
        assert!(name.starts_with("kl"), "{name}");
    }
    assert_ne!(short_tag("a"), short_tag("b"));
}

#[test]
fn the_ruleset_gives_each_node_its_floating_ip_and_rejects_the_others() {
    let c = LabConfig::default();
    let r = FakeRunner::new();
    let o = Outside::new(&c, &r);
    let all: Vec<&NodeConfig> = c.nodes.iter().collect();
    insta::assert_snapshot!(o.ruleset(&all));
    let without = o.ruleset(&[&c.nodes[0], &c.nodes[2]]);
    assert!(!without.contains("192.168.1.135") && !without.contains("203.0.113.135"), "{without}");
    assert!(without.contains("snat to 203.0.113.134") && without.contains("snat to 203.0.113.136"));
    assert!(without.contains("reject with icmp type admin-prohibited"));
}

#[test]
#[ignore = "needs nft (apt-get install nftables) and root: `nft -c` checks the ruleset against the kernel's netlink API"]
fn the_ruleset_is_valid_nftables() {
    let c = LabConfig::default();
    let r = FakeRunner::new();
    let o = Outside::new(&c, &r);
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), o.ruleset(&c.nodes.iter().collect::<Vec<_>>())).unwrap();
    let out = std::process::Command::new("nft").arg("-c").arg("-f").arg(f.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn create_then_teardown_leaves_nothing() {
    if !busybox_present() {
        panic!("{BUSYBOX} missing: apt-get install busybox-static (ci/labenv setup)");
    }
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let world = Arc::new(Mutex::new(World::default()));
    let r = fake(world.clone());
    let o = Outside::new(&c, &r);
    o.create("virbr1").unwrap();
    let inv = o.inventory().unwrap();
    assert_eq!(inv, OutsideInventory { netns: 2, links: 1, nft_tables: 1, processes: 2, files: 1 });
    let lines = r.lines();
    let pos = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in {lines:#?}"));
    // The router is plugged into the lab bridge, the floating IPs are loaded before the servers
    // start, and the image is pushed blob by blob, then its manifest.
    assert!(pos("master virbr1 up") < pos("nft -f"));
    assert!(pos("nft -f") < pos("http.server 8080 --bind 203.0.113.2"));
    assert!(pos("docker-registry -- serve") < pos("blobs/uploads/"));
    let upload = lines.iter().filter(|l| l.contains("blobs/uploads/fbc0d012?_state=abc%3D%3D&digest=sha256:")).count();
    assert_eq!(upload, 2, "layer and config uploaded at the location the registry gave: {lines:#?}");
    assert!(pos("manifests/1.35") > pos("&digest=sha256:"));
    assert!(o.dir().join("www").join(FILE_NAME).exists());
    // The outside's files sit under the state dir, which holds keys: nothing there is readable
    // by group or others, and the daemons write theirs under umask 077.
    assert_eq!(crate::private_fs::exposed(&c.lab_dir()).unwrap(), vec![], "outside files exposed");
    assert_eq!(lines.iter().filter(|l| l.contains("start-stop-daemon --start --background --umask 077")).count(), 2);
    // The pitfall: node1's NAT removed, then back.
    o.set_floating_ips(&["ICE-k8s-machines-node1"]).unwrap();
    let nft = std::fs::read_to_string(o.dir().join("router.nft")).unwrap();
    assert!(!nft.contains("192.168.1.135") && nft.contains("192.168.1.136"));
    o.teardown().unwrap();
    assert_eq!(o.inventory().unwrap(), OutsideInventory::default());
    let w = world.lock().unwrap();
    assert!(w.netns.is_empty() && w.links.is_empty() && w.pids.values().all(Vec::is_empty));
}

#[test]
fn a_failed_create_removes_what_it_made_and_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let world = Arc::new(Mutex::new(World { fail_on: Some("docker-registry".into()), ..World::default() }));
    let r = fake(world.clone());
    let o = Outside::new(&c, &r);
    let e = o.create("virbr1").unwrap_err().to_string();
    assert!(e.contains("start the outside's registry failed") && e.contains("refused"), "{e}");
    assert_eq!(o.inventory().unwrap(), OutsideInventory::default(), "{:#?}", r.lines());
    let clash = LabConfig {
        nodes: vec![NodeConfig { ip: Ipv4Addr::new(192, 168, 1, 2), ..LabConfig::default().nodes[0].clone() }],
        ..cfg(dir.path())
    };
    let e = Outside::new(&clash, &r).create("virbr1").unwrap_err().to_string();
    assert!(e.contains("floating IP 203.0.113.2") && e.contains("give the node another address"), "{e}");
}

/// Seen live: names left under /run/netns whose namespace is gone (made in a session's own
/// mount namespace, which died with it); `ip netns pids` then fails with the message captured
/// here. Inventory counts the names, `down` removes them.
#[test]
fn stale_namespace_names_are_counted_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let r0 = FakeRunner::new();
    let names = {
        let o = Outside::new(&c, &r0);
        [o.router_ns(), o.outside_ns()]
    };
    let world =
        Arc::new(Mutex::new(World { netns: names.iter().cloned().collect(), stale: names.iter().cloned().collect(), ..World::default() }));
    let r = fake(world.clone());
    let o = Outside::new(&c, &r);
    assert_eq!(o.inventory().unwrap(), OutsideInventory { netns: 2, ..Default::default() });
    o.teardown().unwrap();
    assert_eq!(o.inventory().unwrap(), OutsideInventory::default());
    assert!(r.lines().iter().any(|l| l == &format!("ip netns del {}", names[0])));
}

#[test]
fn a_node_on_the_routers_outside_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = FakeRunner::new();
    let clash = LabConfig {
        nodes: vec![NodeConfig { ip: Ipv4Addr::new(192, 168, 1, 1), ..LabConfig::default().nodes[0].clone() }],
        ..cfg(dir.path())
    };
    let e = Outside::new(&clash, &r).create("virbr1").unwrap_err().to_string();
    assert!(e.contains("floating IP 203.0.113.1") && r.lines().is_empty(), "{e}: nothing may run before the refusal");
}

#[test]
fn a_missing_program_is_one_line_naming_it_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let r = FakeRunner::new();
    let e = Outside::new(&cfg(dir.path()), &r).create("virbr1").unwrap_err();
    let l: LabError = e.into();
    let s = l.to_string();
    assert!(s.contains("`ip` not found") && s.contains("install `ip`") && s.contains("create the router namespace"), "{s}");
}
