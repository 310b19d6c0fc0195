//! Live tier: real VMs (offline profile) driven through the `kubelab` binary exactly as a user
//! would. Compiled only with `cargo test --features lab`, run inside the lab namespace
//! (`ci/labenv exec -- cargo test --features lab`).
#![cfg(feature = "lab")]

mod interrupt;
mod outside;
mod seams;
mod side_by_side;
mod two_hosts;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Live tests share the CPU-bound TCG guests: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn kubelab(args: &[&str], config: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubelab"));
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    c.args(args).current_dir(workspace());
    let t = Instant::now();
    let out = c.stderr(Stdio::piped()).output().expect("run kubelab");
    eprintln!(
        "$ kubelab {} -> {} in {:.1}s\n{}",
        args.join(" "),
        out.status,
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).lines().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    );
    out
}

fn ok(args: &[&str], config: Option<&Path>) -> String {
    let out = kubelab(args, config);
    assert!(out.status.success(), "kubelab {} failed: {}", args.join(" "), out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inventory(config: Option<&Path>) -> serde_json::Value {
    serde_json::from_str(&ok(&["inventory", "--json"], config)).unwrap()
}

fn assert_empty(inv: &serde_json::Value) {
    for k in ["domains", "volumes", "seeds", "networks", "pools", "nwfilters"] {
        assert_eq!(inv[k], 0, "{k} left behind: {inv}");
    }
    assert_eq!(inv["state_dir"], false, "state dir left behind: {inv}");
    for k in ["netns", "links", "nft_tables", "processes", "files"] {
        assert_eq!(inv["outside"][k], 0, "outside {k} left behind: {inv}");
    }
}

/// Writes `<dir>/<name>.toml`: the guide's three nodes on `192.168.<third_octet>.0/24` (host parts
/// .134–.136, gateway .1, MetalLB .200–.220), with `memory_mib` when given.
fn lab_config(dir: &Path, name: &str, third_octet: u8, memory_mib: Option<u64>) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    let net = format!("192.168.{third_octet}");
    let mut text = format!("name = \"{name}\"\nsubnet = \"{net}.0/24\"\ngateway = \"{net}.1\"\nmetallb_pool = \"{net}.200-{net}.220\"\n");
    if let Some(m) = memory_mib {
        text.push_str(&format!("memory_mib = {m}\n"));
    }
    for (i, role) in ["control-plane", "worker", "worker"].iter().enumerate() {
        text.push_str(&format!("[[nodes]]\nname = \"ICE-k8s-machines-node{i}\"\nip = \"{net}.{}\"\nrole = \"{role}\"\n", 134 + i));
    }
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `kubelab status --json` of a lab: three nodes, each reachable, product_uuid = domain uuid, and
/// answering with its pinned host key.
fn lab_status(c: &Path) -> Vec<serde_json::Value> {
    let status: serde_json::Value = serde_json::from_str(&ok(&["status", "--json"], Some(c))).unwrap();
    let nodes = status.as_array().unwrap().clone();
    assert_eq!(nodes.len(), 3);
    for n in &nodes {
        assert_eq!(n["reachable"], true, "{n}");
        assert_eq!(n["product_uuid"], n["domain_uuid"], "{n}");
        assert_eq!(n["host_key_fingerprint"], n["pinned_host_key_fingerprint"], "{n}");
    }
    nodes
}

fn pairwise_distinct(nodes: &[serde_json::Value], key: &str) {
    let vals: Vec<String> = nodes.iter().map(|n| n[key].to_string()).collect();
    let set: HashSet<&String> = vals.iter().collect();
    assert_eq!(set.len(), vals.len(), "{key} not pairwise distinct: {vals:?}");
    assert!(vals.iter().all(|v| v != "null" && v != "\"\""), "{key} missing: {vals:?}");
}

#[test]
fn offline_lab_end_to_end() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // ci/lab built the image outside the namespace; here (inside it) that is a no-op.
    ok(&["image", "build", "offline"], None);
    image_build_inside_the_namespace_fails_fast();
    ok(&["down"], None);
    ok(&["up", "--no-provision"], None);
    state_dir_holds_no_readable_secret();
    ports_are_bound_like_the_cloud();

    // Identity, read inside the guests.
    let status: serde_json::Value = serde_json::from_str(&ok(&["status", "--json"], None)).unwrap();
    let nodes = status.as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["reachable"], true, "{n}");
        assert_eq!(n["hostname"], format!("ICE-k8s-machines-node{i}"), "{n}");
        assert_eq!(n["product_uuid"], n["domain_uuid"], "product_uuid must be the domain uuid: {n}");
        assert_eq!(n["host_key_fingerprint"], n["pinned_host_key_fingerprint"], "{n}");
        let mid = n["machine_id"].as_str().unwrap();
        assert!(mid.len() == 32 && mid.chars().all(|c| c.is_ascii_hexdigit()), "{n}");
        for (other, reached) in n["reaches"].as_object().unwrap() {
            assert_eq!(reached, true, "{} cannot reach {other} by name", n["name"]);
        }
        assert_eq!(n["reaches"].as_object().unwrap().len(), 2);
    }
    for k in ["product_uuid", "machine_id", "macs", "host_key_fingerprint"] {
        pairwise_distinct(nodes, k);
    }

    user_errors_have_their_exit_codes();
    provisioning_is_idempotent_and_persistent();
    conformance_live_and_faults();

    // `down` with a fault still in place (a filter attached to every NIC) leaves nothing either.
    ok(&["fault", "inject", "security-group"], None);
    assert_eq!(inventory(None)["nwfilters"], 1);
    ok(&["down"], None);
    assert_empty(&inventory(None));
    assert!(
        virsh(&["nwfilter-list"]).lines().any(|l| l.split_whitespace().nth(1) == Some("clean-traffic")),
        "down must leave libvirt's built-in clean-traffic alone"
    );
}

fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh").arg("-c").arg("qemu:///system").args(args).output().expect("run virsh");
    assert!(out.status.success(), "virsh {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every node's NIC sits behind libvirt's clean-traffic bound to the address kubelab assigned
/// (the cloud's port security), as libvirt itself reports it.
fn ports_are_bound_like_the_cloud() {
    for (i, last) in [134, 135, 136].iter().enumerate() {
        let x = virsh(&["dumpxml", &format!("kubelab-ICE-k8s-machines-node{i}")]);
        let want = format!("<filterref filter='clean-traffic'>\n        <parameter name='IP' value='192.168.1.{last}'/>");
        assert!(x.contains(&want), "node{i}: no clean-traffic bound to 192.168.1.{last}:\n{x}");
    }
}

/// Inside the lab namespace nothing downloads: with an empty image cache `image build` must give
/// up at once, with the cause and the fix, exit 31 — not after debootstrap's retries.
fn image_build_inside_the_namespace_fails_fast() {
    let empty = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = kubelab(&["--image-cache", empty.path().to_str().unwrap(), "image", "build", "offline"], None);
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("image build inside the namespace with an empty cache: exit {:?} after {:.2} s", out.status.code(), took.as_secs_f64());
    assert_eq!(out.status.code(), Some(31), "{err}");
    assert!(err.contains("cannot be reached from here") && err.contains("outside the lab's network namespace"), "{err}");
    assert!(took < Duration::from_secs(10), "must fail fast, took {took:?}");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "nothing half-built left");
}

/// Secrets at rest: the live lab's state directory (client key, pinned host keys, seed ISOs,
/// state) is owner-only; nothing that holds key material is readable by group or others.
fn state_dir_holds_no_readable_secret() {
    let root = Path::new("/var/lib/kubelab/kubelab");
    let exposed = kubelab::private_fs::exposed(root).unwrap();
    let mut keyed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if std::fs::metadata(&p).unwrap().len() < 64 << 20
            && std::fs::read(&p).is_ok_and(|b| b.windows(11).any(|w| w == b"PRIVATE KEY"))
        {
            keyed += 1;
        }
    }
    eprintln!("state dir {}: {keyed} files hold a private key; group/world-accessible: {exposed:?}", root.display());
    assert!(keyed >= 7, "client key, 3 host keys, 3 seed ISOs: found {keyed}");
    assert!(exposed.is_empty(), "group/world-accessible under {}: {exposed:?}", root.display());
}

/// A changed host key and a refused key each give their own exit code and a message naming the
/// node; the lab is untouched (the state file is restored afterwards).
fn user_errors_have_their_exit_codes() {
    let state_path = Path::new("/var/lib/kubelab/kubelab/lab.json");
    let original = std::fs::read_to_string(state_path).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&original).unwrap();
    // Pin node0 to node1's host key: node0 must be refused as "host key changed".
    state["nodes"][0]["host_key"] = state["nodes"][1]["host_key"].clone();
    std::fs::write(state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let out = kubelab(&["ssh", "node0", "--", "true"], None);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::write(state_path, &original).unwrap();
    assert_eq!(out.status.code(), Some(23), "host key mismatch exit code: {err}");
    assert!(err.contains("host key of ICE-k8s-machines-node0 changed"), "{err}");
    // A key the nodes do not authorize: authentication failure.
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger");
    let st = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&stranger).status().unwrap();
    assert!(st.success());
    let mut state: serde_json::Value = serde_json::from_str(&original).unwrap();
    state["key_path"] = serde_json::Value::String(stranger.display().to_string());
    std::fs::write(state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let out = kubelab(&["ssh", "node1", "--", "true"], None);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::write(state_path, &original).unwrap();
    assert_eq!(out.status.code(), Some(22), "auth failure exit code: {err}");
    assert!(err.contains("authentication as speit on ICE-k8s-machines-node1 failed"), "{err}");
    // libvirtd unreachable.
    let out = kubelab(&["--uri", "qemu+unix:///system?socket=/nonexistent/libvirt-sock", "inventory"], None);
    assert_eq!(out.status.code(), Some(11), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
    ok(&["ssh", "node0", "--", "true"], None);
}

/// The profile under test (`KUBELAB_PROFILE`, default offline).
fn offline() -> bool {
    std::env::var("KUBELAB_PROFILE").map_or(true, |p| p == "offline")
}

fn ssh(node: &str, cmd: &str) -> String {
    ok(&["ssh", node, "--", cmd], None)
}

/// `provisioned in X s: C changed, U unchanged, S skipped` → (C, U, S).
fn provision_counts(stderr: &str) -> (u32, u32, u32) {
    let line = stderr.lines().find(|l| l.starts_with("provisioned in")).unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let num = |word: &str| -> u32 {
        let i = line.find(&format!(" {word}")).unwrap_or_else(|| panic!("{word} missing in `{line}`"));
        line[..i].rsplit(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    (num("changed"), num("unchanged"), num("skipped"))
}

fn provisioning_is_idempotent_and_persistent() {
    // Killed in the middle: the rerun completes with no duplicated effect.
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_kubelab")).arg("provision").current_dir(workspace()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(6));
    child.kill().unwrap();
    child.wait().unwrap();
    let first = kubelab(&["provision"], None);
    assert!(first.status.success(), "provision failed");
    let (changed, _, skipped) = provision_counts(&String::from_utf8_lossy(&first.stderr));
    assert!(changed > 0, "the first complete provisioning changed nothing");
    if offline() {
        assert!(skipped > 0, "Kubernetes steps must be reported skipped in the offline profile");
    }
    let again = kubelab(&["provision"], None);
    assert!(again.status.success());
    let (changed2, unchanged2, _) = provision_counts(&String::from_utf8_lossy(&again.stderr));
    assert_eq!(changed2, 0, "an immediate second run must change nothing");
    assert!(unchanged2 > 0);
    for n in ["node0", "node1", "node2"] {
        assert_eq!(ssh(n, "grep -c '^192.168.1.134[[:space:]]' /etc/hosts").trim(), "1", "duplicated /etc/hosts line on {n}");
        assert_eq!(ssh(n, "ls /etc/sysctl.d | grep -c k8s || true").trim(), "1", "sysctl file count on {n}");
        assert_eq!(ssh(n, "ls /etc/modules-load.d | wc -l").trim(), ssh(n, "ls /etc/modules-load.d | sort -u | wc -l").trim());
        assert_eq!(ssh(n, "grep -rh 'br_netfilter' /etc/modules-load.d | wc -l").trim(), "1", "br_netfilter listed more than once on {n}");
    }
    // Persistence across a reboot, checked over SSH.
    ok(&["reboot"], None);
    for n in ["node0", "node1", "node2"] {
        assert_eq!(ssh(n, "swapon --show --noheadings | wc -l").trim(), "0", "swap back on {n} after reboot");
        assert!(ssh(n, "lsmod").contains("br_netfilter"), "br_netfilter not loaded on {n} after reboot");
        assert!(ssh(n, "lsmod").contains("ip_vs_sh"), "ip_vs_sh not loaded on {n} after reboot");
        assert_eq!(ssh(n, "sysctl -n net.bridge.bridge-nf-call-iptables").trim(), "1");
        assert_eq!(ssh(n, "sysctl -n net.ipv4.ip_forward").trim(), "1");
        assert_eq!(ssh(n, "docker info --format '{{.CgroupDriver}}'").trim(), "systemd");
    }
    ok(&["snapshot", "save", "provisioned"], None);
}

fn conformance_live_and_faults() {
    let reports = workspace().join("reports");
    // Everything but the pitfalls: host scenarios pass live, k8s scenarios are skipped with the reason.
    ok(&["check", "--tags", "not @fault", "--report-dir", reports.to_str().unwrap()], None);
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    if offline() {
        assert!(
            junit.contains("<skipped message=\"") && junit.contains("needs the guide profile (internet)"),
            "k8s scenarios must be skipped with the reason"
        );
    }
    let cj: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.join("cucumber.json")).unwrap()).unwrap();
    let statuses: Vec<String> = cj
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["elements"].as_array().unwrap().iter())
        .flat_map(|e| e["steps"].as_array().cloned().unwrap_or_default())
        .map(|s| s["result"]["status"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(statuses.iter().any(|s| s == "passed"), "{statuses:?}");
    assert_eq!(statuses.iter().any(|s| s == "skipped"), offline(), "skips only where Kubernetes is absent: {statuses:?}");
    assert!(!statuses.iter().any(|s| s == "failed"), "a live scenario failed: see reports/report.html");
    assert!(reports.join("report.html").exists() && reports.join("evidence/manifest.json").exists());
    // The pitfalls, each from the `provisioned` snapshot.
    let fault_dir = workspace().join("reports/faults");
    ok(&["check", "--tags", "@fault", "--report-dir", fault_dir.to_str().unwrap()], None);
}

/// Runs `args` in the host shell of the lab namespace (where the test runs): (exit, stdout+stderr).
fn sh(args: &[&str]) -> (i32, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("$ {} -> {:?}\n{}", args.join(" "), out.status.code(), text.trim_end());
    (out.status.code().unwrap_or(-1), text)
}
