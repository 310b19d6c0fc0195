//! Samples: `tests/fixtures/boot/<image>-1-node/`, captured by `kubelab bench boot` on kubelab's
//! offline image (Debian 12: systemd 252, cloud-init 22.4.2) under TCG on the development host:
//! `offline-4da12621f281` is the image before issue #15's trims, `offline-7f85cb160c87` after
//! them (no wait-online, no docker at boot, the seed's modules only).
use super::*;

macro_rules! fixture {
    ($dir:literal, $file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/boot/", $dir, "/", $file))
    };
}

#[test]
fn timespans_in_systemd_format() {
    assert_eq!(parse_timespan("2min 11.234s"), Some(131.234));
    assert_eq!(parse_timespan("131ms"), Some(0.131));
    assert_eq!(parse_timespan("1h 2min"), Some(3720.0));
    assert_eq!(parse_timespan("500us"), Some(0.0005));
    assert_eq!(parse_timespan("8.712s"), Some(8.712));
    assert_eq!(parse_timespan("soon"), None);
    assert_eq!(parse_timespan(""), None);
}

#[test]
fn startup_time_of_a_real_boot() {
    let st = parse_systemd_analyze_time(fixture!("offline-4da12621f281-1-node", "systemd-analyze.txt")).unwrap();
    assert_eq!(st.phases, vec![("kernel".to_string(), 4.635), ("userspace".to_string(), 47.533)]);
    assert_eq!(st.total, 52.168);
    assert_eq!(st.target, Some(("graphical.target".to_string(), 42.913)));
    assert_eq!(st.phase("initrd"), 0.0, "initramfs-tools runs no systemd in the initrd: its time is the kernel's");
    let e = parse_systemd_analyze_time("Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).\n")
        .unwrap_err();
    assert!(e.message.contains("not finished"), "{e}");
}

#[test]
fn critical_chain_of_three_units() {
    let chains = parse_critical_chain(fixture!("offline-4da12621f281-1-node", "systemd-analyze-critical-chain.txt")).unwrap();
    let roots: Vec<&str> = chains.iter().map(|c| c[0].unit.as_str()).collect();
    assert_eq!(roots, ["ssh.service", "cloud-final.service", "multi-user.target"]);
    // The unit asked about: `+took` only.
    assert_eq!(chains[1][0], ChainLink { depth: 0, unit: "cloud-final.service".into(), at: None, took: Some(4.561) });
    // Before the trims cloud-final waited for multi-user, which waited for docker and containerd.
    let units: Vec<&str> = chains[1].iter().map(|l| l.unit.as_str()).collect();
    assert_eq!(&units[..4], ["cloud-final.service", "multi-user.target", "docker.service", "containerd.service"]);
    let wait = chains[1].iter().find(|l| l.unit == "systemd-networkd-wait-online.service").unwrap();
    assert_eq!((wait.at, wait.took), (Some(13.851), Some(13.202)));
    assert!(chains[1].windows(2).all(|w| w[1].depth == w[0].depth + 1), "one link per level");
    assert_eq!(chains[1].last().unwrap().unit, "-.slice");
    // ASCII glyphs (a non-UTF-8 locale) read the same.
    let ascii = "ssh.service +1.005s\n`-basic.target @31.909s\n  `-sockets.target @31.908s\n";
    let c = parse_critical_chain(ascii).unwrap();
    assert_eq!((c[0].len(), c[0][2].depth, c[0][2].at), (3, 2, Some(31.908)));
}

#[test]
fn blame_lines() {
    let b = parse_systemd_blame(fixture!("offline-4da12621f281-1-node", "systemd-analyze-blame.txt")).unwrap();
    assert_eq!(b.len(), 49);
    assert_eq!(b[0], UnitTime { unit: "systemd-networkd-wait-online.service".into(), secs: 13.202 });
    assert!(b.iter().any(|u| u.unit == "e2scrub_reap.service" && (u.secs - 0.997).abs() < 1e-9));
    assert!(b.windows(2).all(|w| w[0].secs >= w[1].secs), "longest first");
}

#[test]
fn cloud_init_show_and_blame_before_the_trims() {
    let recs = parse_cloud_init_show(fixture!("offline-4da12621f281-1-node", "cloud-init-analyze-show.txt")).unwrap();
    assert_eq!(recs.len(), 1);
    let names: Vec<&str> = recs[0].iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["init-local", "init-network", "modules-config", "modules-final"]);
    assert_eq!(recs[0][0].secs, 4.489);
    assert!(recs[0][1].events.iter().any(|(d, _, t)| d == "config-users-groups ran successfully" && *t == 0.279));
    let blame = parse_cloud_init_blame(fixture!("offline-4da12621f281-1-node", "cloud-init-analyze-blame.txt")).unwrap();
    assert_eq!(blame[0][0], ("modules-config/config-grub-dpkg".to_string(), 1.855));
}

#[test]
fn cloud_init_22_4_cannot_show_a_stage_without_modules() {
    // After the trims `analyze show`/`blame` crash (IndexError in generate_records): the
    // bench reads `analyze dump` instead; a traceback is a parse error, not an empty boot.
    let out = fixture!("offline-7f85cb160c87-1-node", "cloud-init-analyze-blame.txt");
    assert!(out.contains("IndexError: pop from empty list"));
    assert!(parse_cloud_init_blame(out).is_err());
}

#[test]
fn systemctl_show_blocks() {
    let units = parse_systemctl_show(fixture!("offline-7f85cb160c87-1-node", "systemctl-show-units.txt"));
    let ssh = units.iter().find(|b| b["Id"] == "ssh.service").unwrap();
    assert_eq!(ssh["ActiveEnterTimestampMonotonic"], "19330074");
    // Units that never ran report 0 (docker is no longer started at boot).
    let docker = units.iter().find(|b| b["Id"] == "docker.service").unwrap();
    assert_eq!(docker["ActiveEnterTimestampMonotonic"], "0");
    let m = parse_systemctl_show(fixture!("offline-7f85cb160c87-1-node", "systemctl-show-manager.txt"));
    assert_eq!(m[0]["InitRDTimestampMonotonic"], "0");
}

#[test]
fn cloud_init_dump_of_the_trimmed_image() {
    // offline-b2ad463cacf8: the seed's modules only, cloud-config.service masked.
    let ev = parse_cloud_init_dump(fixture!("offline-b2ad463cacf8-1-node", "cloud-init-analyze-dump.json")).unwrap();
    let stages: Vec<(&str, f64)> =
        ev.iter().filter(|e| !e.name.contains('/')).map(|e| (e.name.as_str(), (e.secs * 1000.0).round())).collect();
    assert_eq!(stages, [("init-local", 2569.0), ("init-network", 1310.0), ("modules-final", 24.0)]);
    let modules: Vec<&str> = ev.iter().filter_map(|e| e.name.strip_prefix("init-network/config-")).collect();
    assert_eq!(modules, ["bootcmd", "write-files", "set_hostname", "update_hostname", "update_etc_hosts", "users-groups", "ssh"]);
    assert!(ev.iter().all(|e| e.result == "SUCCESS" && e.secs >= 0.0));
    assert!(parse_cloud_init_dump("Traceback (most recent call last):\n").is_err());
}
