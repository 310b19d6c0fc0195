//! The lab's outside on real VMs (issue 12): downloads, the no-floating-ip pitfall, no way to the root namespace.

use super::*;

/// The root namespace's address and gateway: from ci/lab (which reads them there), else read
/// from PID 1's network namespace (`nsenter --net=/proc/1/ns/net`, as root) when the test is
/// run by hand inside the lab namespace.
fn root_ns_addrs() -> (String, String) {
    let root_ns = |args: &[&str], field: usize| -> Option<String> {
        let out = std::process::Command::new("nsenter").arg("--net=/proc/1/ns/net").arg("--").args(args).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let word = text.lines().next()?.split_whitespace().nth(field)?;
        Some(word.split('/').next()?.to_string())
    };
    let get = |k: &str, args: &[&str], field: usize| {
        std::env::var(k).ok().or_else(|| root_ns(args, field)).unwrap_or_else(|| {
            panic!("{k} unset and the root namespace unreadable: ci/lab reads it there (ip -4 -o addr / ip route show default) and passes it in")
        })
    };
    (
        get("KUBELAB_ROOT_NS_ADDR", &["ip", "-4", "-o", "addr", "show", "scope", "global"], 3),
        get("KUBELAB_ROOT_NS_GATEWAY", &["ip", "route", "show", "default"], 2),
    )
}

/// The lab's outside (issue 12, guide pitfall 2): every node downloads from the outside through
/// its floating IP; the `no-floating-ip` pitfall runs inject → detect → heal (CLI, then its
/// `@fault` scenario; `static-ip` runs in `offline_lab_end_to_end`);
/// nothing in the lab reaches the root namespace; `down` leaves nothing of the outside.
#[test]
fn outside_downloads_pitfalls_and_no_way_to_the_root_namespace() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (root_addr, root_gw) = root_ns_addrs();
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab_config(dir.path(), "kl-out", 5, None);
    let c = Some(cfg.as_path());
    ok(&["down"], c);
    ok(&["image", "build", "offline"], c);
    // Whatever fails below, the lab is torn down.
    struct Down<'p>(&'p Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = kubelab(&["down"], Some(self.0));
        }
    }
    let _down = Down(&cfg);
    let t = Instant::now();
    ok(&["up"], c);
    eprintln!("up + provision with the outside: {:.0} s", t.elapsed().as_secs_f64());
    let inv = inventory(c);
    eprintln!("inventory with the lab up: {inv}");
    assert_eq!(inv["outside"], serde_json::json!({"netns": 2, "links": 1, "nft_tables": 1, "processes": 2, "files": 1}), "{inv}");

    // No way to the root namespace: not from the lab namespace (no default route), not from the
    // outside (no route but its own segment), not from a node (the router has no route on).
    let (_, routes) = sh(&["ip", "route", "show", "default"]);
    assert!(routes.trim().is_empty(), "the lab namespace has a default route: {routes}");
    let tag = kubelab::lab::outside::short_tag("kl-out");
    let (outside_ns, router_ns) = (format!("{tag}-o"), format!("{tag}-r"));
    for ns in [&outside_ns, &router_ns] {
        for addr in [&root_addr, &root_gw] {
            let (code, text) = sh(&["ip", "netns", "exec", ns, "ip", "route", "get", addr]);
            assert!(code != 0 && text.contains("Network is unreachable"), "{ns} has a route to {addr}: {text}");
        }
    }
    let (code, text) =
        sh(&["ip", "netns", "exec", &outside_ns, "curl", "-sS", "--connect-timeout", "5", &format!("http://{root_addr}:22/")]);
    assert_eq!(code, 7, "the outside connected to the root namespace's {root_addr}: {text}");
    for node in ["node0", "node1"] {
        let out = kubelab(
            &[
                "ssh",
                node,
                "--",
                &format!("ping -c1 -W3 {root_addr}; curl -sS --connect-timeout 5 http://{root_addr}:22/; echo \"exit $?\""),
            ],
            c,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("{node} → {root_addr}:\n{text}");
        assert!(text.contains("Destination Net Unreachable") && text.contains("From 192.168.5.254"), "{node}: {text}");
        assert!(text.contains("exit 7"), "{node} connected to the root namespace: {text}");
    }

    // Every node downloads (live check), then both JCloud pitfalls from the snapshot.
    let reports = workspace().join("reports/outside");
    ok(&["check", "--tags", "@check:net.egress", "--report-dir", reports.to_str().unwrap()], c);
    for n in 0..3 {
        let f = reports.join(format!("evidence/facts/ICE-k8s-machines-node{n}/egress.json"));
        if let Ok(t) = std::fs::read_to_string(&f) {
            eprintln!("egress fact of node{n}: {t}");
        }
    }
    // The pitfall through the CLI: node1's floating IP removed, its downloads fail with the
    // diagnosis, the mesh stays up; then healed.
    ok(&["fault", "inject", "no-floating-ip"], c);
    let broken = workspace().join("reports/outside-no-fip");
    let out = kubelab(&["check", "--tags", "@check:net.egress or @check:calico.bgp-mesh", "--report-dir", broken.to_str().unwrap()], c);
    assert_eq!(out.status.code(), Some(40), "net.egress must fail with node1's floating IP removed");
    let f = std::fs::read_to_string(broken.join("evidence/facts/ICE-k8s-machines-node1/egress.json")).unwrap();
    eprintln!("egress fact of node1 without its floating IP: {f}");
    let junit = std::fs::read_to_string(broken.join("junit.xml")).unwrap();
    for l in junit.lines().filter(|l| l.contains("message=")) {
        eprintln!("{}", l.trim());
    }
    assert!(junit.contains("no floating IP") && junit.contains("浮动IP"), "{junit}");
    ok(&["fault", "heal", "no-floating-ip"], c);
    ok(&["snapshot", "save", "provisioned"], c);
    let faults = workspace().join("reports/outside-faults");
    let t = Instant::now();
    // The pitfalls are Examples rows of a Scenario Outline: chosen by the row's scenario name.
    let name = "a node without a floating IP cannot download while the cluster network stays up";
    ok(&["check", "--tags", "@fault", "--name", name, "--report-dir", faults.to_str().unwrap()], c);
    eprintln!("pitfall no-floating-ip (scenario from the snapshot): {:.0} s", t.elapsed().as_secs_f64());
    let junit = std::fs::read_to_string(faults.join("junit.xml")).unwrap();
    for l in junit.lines().filter(|l| l.contains("<testcase")) {
        eprintln!("{}", l.trim());
    }
    assert!(junit.contains("tests=\"1\"") && junit.contains("failures=\"0\"") && junit.contains(name), "{junit}");

    ok(&["down"], c);
    let left = inventory(c);
    assert_empty(&left);
    let (_, ns) = sh(&["ip", "netns", "list"]);
    assert!(!ns.contains(&outside_ns) && !ns.contains(&router_ns), "{ns}");
}
