//! The seams on real VMs (opener, status, hypervisor-only and reset faults) and the boot bench.

use super::*;

/// The code paths the seams refactor moved, on real VMs: `up` (readiness through the shell
/// opener), `status`, a fault that is only hypervisor calls (security-group), one that drops the
/// connection and resets the VM (link-down: `forget`, wait for SSH), one that is a guest script
/// healed by provisioning (swap), then `down` leaves nothing.
#[test]
fn seams_up_faults_down() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab_config(dir.path(), "kl-seams", 3, None);
    let c = Some(cfg.as_path());
    ok(&["down"], c);
    ok(&["image", "build", "offline"], c);
    let t = Instant::now();
    ok(&["up", "--no-provision"], c);
    eprintln!("seams: up in {:.1} s", t.elapsed().as_secs_f64());
    lab_status(&cfg);

    ok(&["fault", "inject", "security-group"], c);
    assert_eq!(inventory(c)["nwfilters"], 1);
    let x = virsh(&["dumpxml", "kl-seams-ICE-k8s-machines-node1"]);
    assert!(x.contains("<filterref filter='kl-seams-security-group'>"), "filter attached:\n{x}");
    ok(&["fault", "heal", "security-group"], c);
    assert_eq!(inventory(c)["nwfilters"], 0);
    let x = virsh(&["dumpxml", "kl-seams-ICE-k8s-machines-node1"]);
    assert!(x.contains("<filterref filter='clean-traffic'>"), "port back to clean-traffic:\n{x}");

    let t = Instant::now();
    ok(&["fault", "inject", "link-down"], c);
    let probe = kubelab(&["ssh", "ICE-k8s-machines-node2", "--", "true"], c);
    assert!(!probe.status.success(), "node2 must be cut off while its link is down");
    assert_ne!(probe.status.code(), Some(2), "a usage error is not a cut-off node");
    ok(&["fault", "heal", "link-down"], c);
    assert_eq!(ok(&["ssh", "ICE-k8s-machines-node2", "--", "echo", "back"], c).trim(), "back");
    eprintln!("seams: link-down inject + heal (reset, ssh back) in {:.1} s", t.elapsed().as_secs_f64());

    ok(&["fault", "inject", "swap"], c);
    assert!(!ok(&["ssh", "ICE-k8s-machines-node2", "--", "swapon", "--show", "--noheadings"], c).trim().is_empty(), "swap on");
    ok(&["fault", "heal", "swap"], c);
    assert!(ok(&["ssh", "ICE-k8s-machines-node2", "--", "swapon", "--show", "--noheadings"], c).trim().is_empty(), "swap off again");

    ok(&["down"], c);
    assert_empty(&inventory(c));
}

/// `kubelab bench boot` on one node, read for real: the host saw sshd with the pinned key and
/// cloud-init done, the guest's own phases parse, ready came after the guest's ssh.service and
/// cloud-final.service were active (nothing declared ready early), the image's trims are in
/// effect on that clean first boot, and the throwaway lab is gone afterwards.
#[test]
fn bench_boot_reads_a_clean_first_boot() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("bench");
    let out = ok(&["bench", "boot", "--nodes", "1", "--save", save.to_str().unwrap()], None);
    assert!(!out.contains("guest phases unreadable"), "{out}");
    let samples: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(save.join("samples.json")).unwrap()).unwrap();
    let n = &samples[0]["per_node"][0];
    assert!(n["status"].as_str().unwrap().contains("done"), "{n}");
    let g = &n["guest"]["Ok"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(f(&g["kernel"]) > 0.0 && f(&g["ssh_active"]) > f(&g["kernel"]), "{g}");
    // The host's clock starts at the domain's start, before the guest's kernel: ready on the
    // host can only be later than the guest's own ready.
    assert!(f(&n["ssh"]) >= f(&g["ssh_active"]) && f(&n["ready"]) >= f(&g["ready"]), "{n}");
    assert!(f(&n["ready"]) >= f(&n["ssh"]), "{n}");
    let units = g["units"].as_object().unwrap();
    for gone in ["systemd-networkd-wait-online.service", "docker.service", "containerd.service"] {
        assert!(!units.contains_key(gone), "{gone} ran on the boot path: {g}");
    }
    // Only the seed's cloud-init modules ran (cloud-init analyze blame, read in the guest).
    let events: Vec<&str> = g["cloud_init_blame"].as_array().unwrap().iter().map(|e| e[0].as_str().unwrap()).collect();
    assert!(events.iter().any(|e| e.ends_with("/config-ssh")), "{events:?}");
    assert!(!events.iter().any(|e| e.contains("config-grub") || e.contains("set_passwords") || e.contains("set-passwords")), "{events:?}");
    for f in ["systemd-analyze.txt", "cloud-init-analyze-show.txt", "systemctl-show-units.txt"] {
        assert!(save.join("r1-candidate-1n/ICE-k8s-machines-node0").join(f).exists(), "{f} not saved");
    }
    let left = virsh(&["list", "--all", "--name"]);
    assert!(!left.contains("kl-bench-boot"), "bench left a domain: {left}");
}
