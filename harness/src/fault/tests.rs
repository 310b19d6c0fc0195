//! Fake-tier tests of each fault's inject and heal: which hypervisor calls and guest scripts
//! each makes, on [`FakeHypervisor`] + [`FakeShell`] with tokio's paused clock.

use super::scripts::{self, moved_address, static_ip_script};
use super::{FaultKind, FaultLab, SPECS};
use crate::config::{Accel, Profile};
use crate::errors::LabError;
use crate::hypervisor::Hypervisor as _;
use crate::lab::tests::{FakeLab, fake_lab, up};
use crate::lab::{LabState, port};
use crate::remote::ExecOutput;

/// The hypervisor calls and guest scripts made from `mark` on.
struct Since {
    calls: usize,
    scripts: usize,
}

fn mark(f: &FakeLab) -> Since {
    Since { calls: f.hv.calls().len(), scripts: f.shell.calls().len() }
}

fn calls_since(f: &FakeLab, m: &Since) -> Vec<String> {
    f.hv.calls()[m.calls..].to_vec()
}

fn scripts_since(f: &FakeLab, m: &Since) -> Vec<(String, String)> {
    f.shell.calls()[m.scripts..].iter().map(|c| (c.node.clone(), c.script.clone())).collect()
}

async fn lab() -> (FakeLab, LabState) {
    let f = fake_lab(Accel::Tcg, false);
    let state = up(&f).await;
    (f, state)
}

#[tokio::test(start_paused = true)]
async fn guest_script_faults_run_their_script_on_the_default_node_and_heal_as_the_table_says() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    for (kind, script) in [
        (FaultKind::Swap, scripts::SWAP_ON),
        (FaultKind::BrNetfilter, scripts::BR_NETFILTER_UNLOAD),
        (FaultKind::Port6443, scripts::PORT_6443_OCCUPY),
        (FaultKind::CgroupDriver, scripts::DOCKER_CGROUPFS),
        (FaultKind::NetworkManager, scripts::NETWORK_MANAGER_INSTALL),
    ] {
        let node = &state.nodes[kind.default_node()].name;
        let m = mark(&f);
        let fault = fl.inject(kind, None).await.unwrap();
        assert_eq!(&fault.node, node);
        assert_eq!(scripts_since(&f, &m), [(node.clone(), script.to_string())], "{kind:?}");
        assert!(calls_since(&f, &m).is_empty(), "{kind:?} touches no hypervisor");
        assert_eq!(fl.active(), [fault], "{kind:?} recorded in faults.json");

        let m = mark(&f);
        let detail = fl.heal(kind, None).await.unwrap();
        let healed = scripts_since(&f, &m);
        if kind.heal_steps().is_empty() {
            assert_eq!(healed, [(node.clone(), scripts::PORT_6443_FREE.to_string())], "{kind:?}");
        } else {
            assert_eq!(detail, format!("re-applied the guide's step(s) {}", kind.heal_steps().join(", ")));
            // The provisioner checks each step on every node it targets.
            for n in &state.nodes {
                assert!(healed.iter().any(|(on, _)| on == &n.name), "{kind:?} heal reached {}: {healed:?}", n.name);
            }
        }
        assert!(fl.active().is_empty(), "{kind:?} forgotten after heal");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_fault_script_is_an_error_and_records_nothing() {
    let (f, state) = lab().await;
    f.shell.on("node2", "swapon -a", ExecOutput::failed(1, "swapon: /swap.img: read swap header failed"));
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let e = fl.inject(FaultKind::Swap, None).await.unwrap_err();
    assert_eq!(e.to_string(), "turn swap on on node2: exit 1: swapon: /swap.img: read swap header failed");
    assert!(fl.active().is_empty());
}

#[tokio::test(start_paused = true)]
async fn security_groups_define_a_filter_attach_it_to_every_port_and_heal_detaches_and_undefines_it() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    for (kind, drops_bgp) in [(FaultKind::SecurityGroup, true), (FaultKind::SecurityGroupIpip, false)] {
        let name = format!("kubelab-{}", kind.id());
        let m = mark(&f);
        fl.inject(kind, None).await.unwrap();
        let mut want = vec![format!("define_nwfilter {name}")];
        want.extend(state.nodes.iter().map(|n| format!("update_device {} filter={name} link=up", n.domain)));
        assert_eq!(calls_since(&f, &m), want, "{kind:?}");
        assert!(scripts_since(&f, &m).is_empty(), "{kind:?} runs nothing in the guests");
        let xml = fl.filter_xml(kind);
        assert!(xml.contains("<filterref filter='clean-traffic'/>"), "anti-spoofing stays on: {xml}");
        assert_eq!(xml.contains("srcportstart='179'"), drops_bgp, "{xml}");
        for n in &state.nodes {
            assert!(xml.contains(&format!("<ip srcipaddr='{}' protocol='4'/>", n.ip)), "{xml}");
        }

        let m = mark(&f);
        fl.heal(kind, None).await.unwrap();
        let mut want: Vec<String> =
            state.nodes.iter().map(|n| format!("update_device {} filter=clean-traffic link=up", n.domain)).collect();
        want.push(format!("undefine_nwfilter {name}"));
        assert_eq!(calls_since(&f, &m), want, "{kind:?}");
    }
    assert!(f.hv.nwfilters().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn link_down_cuts_the_link_and_heal_resets_the_vm_and_waits_for_ssh() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let n2 = &state.nodes[2];
    let m = mark(&f);
    fl.inject(FaultKind::LinkDown, None).await.unwrap();
    assert_eq!(calls_since(&f, &m), [format!("update_device {} filter=clean-traffic link=down", n2.domain)]);
    assert_eq!(f.shell.forgets(), ["node2"], "the dead connection is dropped");

    let m = mark(&f);
    let detail = fl.heal(FaultKind::LinkDown, None).await.unwrap();
    assert_eq!(
        calls_since(&f, &m),
        [format!("update_device {} filter=clean-traffic link=up", n2.domain), format!("reset_domain {}", n2.domain)]
    );
    assert_eq!(f.shell.forgets(), ["node2", "node2"]);
    assert_eq!(scripts_since(&f, &m), [("node2".to_string(), "true".to_string())], "ssh probed after the reset");
    assert!(detail.starts_with("rebooted node2 (hard reset)"), "{detail}");
}

#[tokio::test(start_paused = true)]
async fn clone_identity_copies_the_first_nodes_uuid_machine_id_and_mac_and_heal_restores_them() {
    let (f, state) = lab().await;
    let (n0, n2) = (&state.nodes[0], &state.nodes[2]);
    f.shell.on("node0", scripts::READ_MACHINE_ID, ExecOutput::ok("aaaabbbbccccddddeeeeffff00001111\n"));
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let m = mark(&f);
    let fault = fl.inject(FaultKind::CloneIdentity, None).await.unwrap();
    assert_eq!(fault.node, "node2");
    assert_eq!(
        calls_since(&f, &m),
        [
            format!("stop_domain {}", n2.domain),
            format!("define_domain {}", n2.domain),
            format!("start_domain {}", n2.domain),
            format!("update_device {} filter=clean-traffic link=up", n2.domain),
        ]
    );
    let dom = f.hv.domains().unwrap().into_iter().find(|d| d.name == n2.domain).unwrap();
    assert!(dom.xml.contains(&format!("<qemu:arg value='type=1,uuid={}'/>", n0.uuid)), "SMBIOS uuid of node0: {}", dom.xml);
    assert_eq!(dom.uuid, n2.uuid, "the domain keeps its own UUID; only what the guest reads changes");
    let on2: Vec<String> = scripts_since(&f, &m).into_iter().filter(|(n, _)| n == "node2").map(|(_, s)| s).collect();
    assert!(on2.contains(&scripts::copy_machine_id("aaaabbbbccccddddeeeeffff00001111")), "{on2:?}");
    assert!(on2.contains(&scripts::copy_mac_detached(&n0.mac)), "{on2:?}");
    assert_eq!(on2.last(), Some(&scripts::check_mac(&n0.mac)));
    assert_eq!(f.shell.forgets(), ["node2", "node2"], "after the cold restart and after the MAC change");
    // Refused on the source itself.
    let e = fl.inject(FaultKind::CloneIdentity, Some("node0")).await.unwrap_err();
    assert!(e.to_string().contains("pick a node other than the first"), "{e}");

    let m = mark(&f);
    fl.heal(FaultKind::CloneIdentity, None).await.unwrap();
    assert_eq!(
        calls_since(&f, &m),
        [format!("stop_domain {}", n2.domain), format!("define_domain {}", n2.domain), format!("start_domain {}", n2.domain)]
    );
    let dom = f.hv.domains().unwrap().into_iter().find(|d| d.name == n2.domain).unwrap();
    assert!(!dom.xml.contains("qemu:commandline"), "override removed: {}", dom.xml);
    assert!(
        dom.xml.contains(&format!("<parameter name='IP' value='{}'/>", n2.ip)) && !dom.xml.contains("name='MAC'"),
        "own port: {}",
        dom.xml
    );
    let on2: Vec<String> = scripts_since(&f, &m).into_iter().map(|(_, s)| s).collect();
    assert_eq!(on2.first(), Some(&scripts::restore_mac_detached(&n2.mac)));
    assert_eq!(on2.last().map(String::as_str), Some(scripts::REGENERATE_MACHINE_ID));
}

#[tokio::test(start_paused = true)]
async fn static_ip_moves_the_address_in_the_guest_and_heal_rebinds_the_port_then_restores_it() {
    let (f, state) = lab().await;
    let n1 = state.nodes[1].clone();
    let new = moved_address(f.lab.config());
    let console = f.lab.console_log("node1");
    // The guest: `netplan apply` moves the address, and the console report loop prints it.
    let report = |addr: std::net::Ipv4Addr| {
        format!("{}\n2: eth0    inet {addr}/24 brd 192.168.1.255 scope global eth0\n{}\n", port::CONSOLE_BEGIN, port::CONSOLE_END)
    };
    let (c, r) = (console.clone(), report);
    let (to_new, to_old) = (static_ip_script(n1.ip, new, 24), static_ip_script(new, n1.ip, 24));
    f.shell.respond(move |node, s| {
        if node != "node1" {
            return None;
        }
        let moved = if s == to_new {
            Some(new)
        } else if s == to_old {
            Some(n1.ip)
        } else {
            None
        };
        moved.map(|a| {
            std::fs::write(&c, r(a)).unwrap();
            ExecOutput::ok("/etc/netplan/50-cloud-init.yaml\n")
        })
    });
    f.shell.on("node1", scripts::ETH0_ADDRS, ExecOutput::ok(format!("2: eth0    inet {new}/24 brd 192.168.1.255 scope global eth0\n")));
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let m = mark(&f);
    let fault = fl.inject(FaultKind::StaticIp, None).await.unwrap();
    assert_eq!(fault.node, "node1");
    assert!(fault.detail.contains(&format!("the node's serial console reports {new}")), "{}", fault.detail);
    assert!(calls_since(&f, &m).is_empty(), "NIC and port left as they are");
    let s: Vec<String> = scripts_since(&f, &m).into_iter().map(|(_, s)| s).collect();
    assert_eq!(s, [port::console_report_start(), static_ip_script(state.nodes[1].ip, new, 24)]);

    let m = mark(&f);
    fl.heal(FaultKind::StaticIp, None).await.unwrap();
    let d = &state.nodes[1].domain;
    assert_eq!(
        calls_since(&f, &m),
        [format!("update_device {d} filter=clean-traffic link=up"), format!("update_device {d} filter=clean-traffic link=up")],
        "re-bound to the new address, then back"
    );
    let s: Vec<String> = scripts_since(&f, &m).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        s,
        [scripts::ETH0_ADDRS.to_string(), static_ip_script(new, state.nodes[1].ip, 24), "true".to_string(), port::console_report_stop()]
    );
    assert!(std::fs::read_to_string(&console).unwrap().contains(&format!("inet {}/24", state.nodes[1].ip)));
}

#[tokio::test(start_paused = true)]
async fn static_ip_inject_fails_when_the_console_never_reports_the_new_address() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let t0 = tokio::time::Instant::now();
    let e = fl.inject(FaultKind::StaticIp, None).await.unwrap_err();
    assert!(e.to_string().contains("its serial console did not report 192.168.1.150 within 120 s"), "{e}");
    assert_eq!(t0.elapsed(), std::time::Duration::from_secs(120));
    assert!(fl.active().is_empty());
}

#[tokio::test(start_paused = true)]
async fn join_token_expired_is_skipped_offline_and_manual_in_the_guide_profile() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let e = fl.inject(FaultKind::JoinTokenExpired, None).await.unwrap_err();
    assert!(e.to_string().contains("needs the guide profile"), "{e}");
    let guide = crate::lab::Lab::new(crate::config::LabConfig { profile: Profile::Guide, ..f.lab.config().clone() }, f.hv.clone());
    let fl = FaultLab::new(&guide, &state, f.shell.clone());
    let m = mark(&f);
    let e = fl.heal(FaultKind::JoinTokenExpired, None).await.unwrap_err();
    assert!(matches!(&e, LabError::Local { op, .. } if op == "heal join-token-expired"), "{e:?}");
    assert!(e.to_string().contains("kubeadm token create"));
    assert!(calls_since(&f, &m).is_empty() && scripts_since(&f, &m).is_empty(), "nothing done");
}

#[tokio::test(start_paused = true)]
async fn no_floating_ip_reloads_the_routers_ruleset_without_the_node_then_with_it() {
    let (f, state) = lab().await;
    let FakeLab { lab, hv, shell, _dir } = f;
    let runner = std::sync::Arc::new(crate::process::fake::FakeRunner::new());
    runner.ok("", "");
    let lab = lab.with_outside(Some(runner.clone()));
    let fl = FaultLab::new(&lab, &state, shell.clone());
    let (calls, scripts) = (hv.calls().len(), shell.calls().len());
    let node = &state.nodes[FaultKind::NoFloatingIp.default_node()];
    let fault = fl.inject(FaultKind::NoFloatingIp, None).await.unwrap();
    assert_eq!(fault.node, node.name);
    assert!(fault.detail.contains("removed") && fault.detail.contains(&node.ip.to_string()), "{}", fault.detail);
    let loads: Vec<String> = runner.lines().into_iter().filter(|l| l.contains("nft -f")).collect();
    assert_eq!(loads.len(), 1, "{loads:?}");
    let ruleset = std::fs::read_to_string(lab.config().lab_dir().join("outside").join("router.nft"))
        .or_else(|_| {
            // wherever the outside keeps its files: the one path the nft load named
            let path = loads[0].rsplit(' ').next().unwrap().to_string();
            std::fs::read_to_string(path)
        })
        .unwrap();
    assert!(!ruleset.contains(&node.ip.to_string()), "node's NAT removed:\n{ruleset}");
    for other in state.nodes.iter().filter(|n| n.name != node.name) {
        assert!(ruleset.contains(&other.ip.to_string()), "other nodes keep theirs:\n{ruleset}");
    }
    assert_eq!(fl.active(), [fault]);

    let detail = fl.heal(FaultKind::NoFloatingIp, None).await.unwrap();
    assert!(detail.contains("bound to") && detail.contains(&node.name), "{detail}");
    let loads: Vec<String> = runner.lines().into_iter().filter(|l| l.contains("nft -f")).collect();
    let path = loads[1].rsplit(' ').next().unwrap().to_string();
    let ruleset = std::fs::read_to_string(path).unwrap();
    for n in &state.nodes {
        assert!(ruleset.contains(&n.ip.to_string()), "every node has its NAT again:\n{ruleset}");
    }
    assert!(fl.active().is_empty());
    assert_eq!(hv.calls().len(), calls, "no hypervisor call");
    assert_eq!(shell.calls().len(), scripts, "no guest script");
}

#[tokio::test(start_paused = true)]
async fn no_floating_ip_on_a_lab_without_an_outside_names_why() {
    let (f, state) = lab().await;
    let fl = FaultLab::new(&f.lab, &state, f.shell.clone());
    let e = fl.inject(FaultKind::NoFloatingIp, None).await.unwrap_err();
    assert!(e.to_string().contains("no outside"), "{e}");
    assert!(fl.active().is_empty());
}

#[test]
fn every_row_is_exercised_by_a_test_above() {
    // The table is the list of faults: a new row needs a test of its inject and heal here.
    let tested = [
        FaultKind::Swap,
        FaultKind::BrNetfilter,
        FaultKind::Port6443,
        FaultKind::CgroupDriver,
        FaultKind::NetworkManager,
        FaultKind::SecurityGroup,
        FaultKind::SecurityGroupIpip,
        FaultKind::LinkDown,
        FaultKind::CloneIdentity,
        FaultKind::StaticIp,
        FaultKind::JoinTokenExpired,
        FaultKind::NoFloatingIp,
    ];
    for s in SPECS {
        assert!(tested.contains(&s.kind), "no fake-tier test for {}", s.id);
    }
}
