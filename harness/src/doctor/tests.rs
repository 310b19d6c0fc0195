//! Doctor checks over the fakes: every verdict comes from scripted command output, never
//! from this host's KVM, libvirt or disks.

use std::path::Path;
use std::time::Duration;

use super::boot_probe::DEBUG_EXIT_STATUS;
use super::fake::FakeFs;
use super::*;
use crate::config::{Accel, LabConfig, Profile};
use crate::errors::HypervisorError;
use crate::hypervisor::Hypervisor;
use crate::hypervisor::fake::FakeHypervisor;
use crate::process::fake::{FakeRunner, timed_out};
use crate::process::{CommandError, CommandOutput};

const DF_PLENTY: &str = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                         /dev/vda         264212084 14114048  81171840      15% /\n";
const DF_SMALL: &str = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                        /dev/vdb           8000000  4000000   4000000      50% /var\n";
const IP_ADDR: &str = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                       4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n";
const NET_DEFAULT: &str = "<network><name>default</name><bridge name='virbr0' stp='on' delay='0'/>\
                           <ip address='192.168.122.1' netmask='255.255.255.0'/></network>";

/// QEMU under `accel` "runs" the image: prints `serial` into the serial file, replies `out`.
fn qemu(runner: &FakeRunner, fs: &FakeFs, accel: &'static str, serial: &'static str, out: CommandOutput) {
    let fs = fs.clone();
    runner.respond(move |spec| {
        if spec.program != "qemu-system-x86_64" || !spec.args.windows(2).any(|w| w[0] == "-accel" && w[1] == accel) {
            return None;
        }
        let path = spec.args.iter().find_map(|a| a.strip_prefix("file:"))?;
        fs.write(Path::new(path), serial.as_bytes()).ok()?;
        Some(Ok(out.clone()))
    });
}

fn booted(ms: u64) -> CommandOutput {
    CommandOutput { code: Some(DEBUG_EXIT_STATUS), elapsed: Duration::from_millis(ms), ..Default::default() }
}

/// A host where everything works; `setup` adds overrides first (first responder wins).
fn host(setup: impl FnOnce(&FakeRunner, &FakeFs)) -> (FakeRunner, FakeFs) {
    let (r, fs) = (FakeRunner::new(), FakeFs::new());
    setup(&r, &fs);
    r.ok("qemu-system-x86_64 --version", "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n")
        .ok("df -Pk", DF_PLENTY)
        .ok("ip -o -4 addr show", IP_ADDR)
        .ok("ip netns add kubelab-doctor-probe", "")
        .ok("ip netns delete kubelab-doctor-probe", "");
    qemu(&r, &fs, "kvm", "SeaBIOS\r\nKUBELAB-BOOT-OK\r\n", booted(2741));
    qemu(&r, &fs, "tcg", "SeaBIOS\r\nKUBELAB-BOOT-OK\r\n", booted(144));
    fs.add_file("/proc/meminfo", b"MemTotal:       16314920 kB\nMemFree:         9101480 kB\nMemAvailable:   12345678 kB\n");
    fs.add_file("/dev/kvm", b"")
        .add_dir("/var/cache")
        .add_link("/proc/self/ns/net", "net:[4026532300]")
        .add_inode("/proc/self/ns/net", 4026532300)
        .add_inode("/run/netns/kubelab", 4026532300);
    for tool in ["debootstrap", "qemu-img"] {
        fs.add_file(format!("/usr/sbin/{tool}"), b"");
    }
    for tool in ["xorriso", "ssh-keygen"] {
        fs.add_file(format!("/usr/bin/{tool}"), b"");
    }
    fs.add_file(kubelab_image_manifest(&LabConfig::default()), b"{}");
    (r, fs)
}

fn opts() -> DoctorOptions {
    DoctorOptions { work_dir: "/tmp/kubelab-doctor-test".into(), search_path: "/usr/bin:/usr/sbin".into(), ..Default::default() }
}

/// A libvirt with the networks `xmls` (libvirt 11.3.0 driving QEMU 10.0.2, as on the lab runner).
fn libvirt(xmls: &[&str]) -> FakeHypervisor {
    let hv = FakeHypervisor::new();
    hv.set_version("libvirt 11.3.0", "QEMU 10.0.2");
    for x in xmls {
        hv.create_network(x).unwrap();
    }
    hv
}

fn doctor(cfg: &LabConfig, (r, fs): &(FakeRunner, FakeFs)) -> DoctorReport {
    run_with(cfg, &opts(), Ok(&libvirt(&[NET_DEFAULT])), r, fs)
}

fn doctor_on(cfg: &LabConfig, hv: Result<&dyn Hypervisor, &HypervisorError>, (r, fs): &(FakeRunner, FakeFs)) -> DoctorReport {
    run_with(cfg, &opts(), hv, r, fs)
}

fn item<'a>(rep: &'a DoctorReport, id: &str) -> &'a DoctorItem {
    rep.item(id).unwrap_or_else(|| panic!("no item {id} in {rep:#?}"))
}

#[test]
fn healthy_host_is_fit_and_every_check_ran() {
    let h = host(|_, _| {});
    let rep = doctor(&LabConfig::default(), &h);
    for i in &rep.items {
        assert_eq!(i.status, Status::Ok, "{i:?}");
    }
    assert!(rep.fit_for_lab());
    assert_eq!(item(&rep, "kvm-boot").duration_ms, Some(2741));
    assert_eq!(item(&rep, "tcg-boot").duration_ms, Some(144));
    assert!(item(&rep, "kvm-boot").detail.contains("2.74 s"), "{}", item(&rep, "kvm-boot").detail);
    assert!(item(&rep, "libvirt").detail.contains("libvirt 11.3.0, hypervisor QEMU 10.0.2"));
    assert!(item(&rep, "disk").detail.starts_with("77.4 GiB free on /"), "{}", item(&rep, "disk").detail);
    let lines = h.0.lines();
    // df measures the cache dir (here it exists: the image is cached)…
    assert!(lines.contains(&"df -Pk /var/cache/kubelab/images".to_string()), "{lines:#?}");
    // …or, before anything is cached, its nearest existing ancestor.
    let bare = host(|_, _| {});
    bare.1.remove(&kubelab_image_manifest(&LabConfig::default()));
    doctor(&LabConfig::default(), &bare);
    assert!(bare.0.lines().contains(&"df -Pk /var/cache".to_string()), "{:#?}", bare.0.lines());
    let add = lines.iter().position(|l| l == "ip netns add kubelab-doctor-probe").expect("netns add");
    let del = lines.iter().position(|l| l == "ip netns delete kubelab-doctor-probe").expect("netns delete");
    assert!(add < del);
    let kvm_call = h.0.calls().into_iter().find(|c| c.line().contains("-accel kvm")).expect("kvm probe ran");
    assert_eq!(kvm_call.timeout, Duration::from_secs(20));
}

#[test]
fn nested_kvm_hang_is_reported_by_what_the_config_asks() {
    let hang = || host(|r, fs| qemu(r, fs, "kvm", "", timed_out(Duration::from_secs(20))));
    let cfg = LabConfig { accel: Accel::Kvm, ..Default::default() };
    let rep = doctor(&cfg, &hang());
    let kvm = item(&rep, "kvm-boot");
    assert_eq!(kvm.status, Status::Fail);
    assert!(
        kvm.detail.starts_with(
            "no guest code ran under KVM within 20 s (nested KVM hangs on this host); use accel = \"tcg\"; TCG booted it in 0.14 s"
        ),
        "{}",
        kvm.detail
    );
    assert_eq!(kvm.duration_ms, Some(20_000));
    assert!(kvm.fix.as_deref().unwrap().contains("accel = \"tcg\""));
    assert_eq!(item(&rep, "tcg-boot").status, Status::Ok);
    assert!(!rep.fit_for_lab());
    assert_eq!(rep.failures().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["kvm-boot"]);

    // `auto` falls back to TCG, so the lab still runs: a warning with the same advice.
    let rep = doctor(&LabConfig::default(), &hang());
    assert_eq!(item(&rep, "kvm-boot").status, Status::Warn);
    assert!(item(&rep, "kvm-boot").fix.as_deref().unwrap().contains("kvm_probe_secs"));
    assert!(rep.fit_for_lab());

    // `tcg` already chosen: informational, nothing to fix.
    let rep = doctor(&LabConfig { accel: Accel::Tcg, ..Default::default() }, &hang());
    assert_eq!(item(&rep, "kvm-boot").status, Status::Warn);
    assert_eq!(item(&rep, "kvm-boot").fix, None);
}

#[test]
fn firmware_output_without_marker_is_a_partial_hang() {
    let h = host(|r, fs| qemu(r, fs, "kvm", "SeaBIOS (version 1.16.3)\r\n", timed_out(Duration::from_secs(20))));
    let rep = doctor(&LabConfig { accel: Accel::Kvm, ..Default::default() }, &h);
    let kvm = item(&rep, "kvm-boot");
    assert_eq!(kvm.status, Status::Fail);
    assert!(kvm.detail.contains("firmware printed 26 bytes"), "{}", kvm.detail);
}

#[test]
fn missing_dev_kvm_skips_the_kvm_boot_but_still_times_tcg() {
    let h = host(|r, fs| qemu(r, fs, "tcg", "KUBELAB-BOOT-OK", booted(150)));
    h.1.remove(Path::new("/dev/kvm"));
    let rep = doctor(&LabConfig { accel: Accel::Kvm, ..Default::default() }, &h);
    let kvm = item(&rep, "kvm-boot");
    assert_eq!(kvm.status, Status::Fail);
    assert_eq!(kvm.detail, "/dev/kvm does not exist on this host; TCG booted it in 0.15 s");
    assert!(kvm.fix.is_some());
    assert!(!h.0.lines().iter().any(|l| l.contains("-accel kvm")), "no KVM boot without /dev/kvm");
    assert_eq!(item(&rep, "tcg-boot").status, Status::Ok);
}

#[test]
fn qemu_error_under_kvm_is_quoted() {
    let err = CommandOutput {
        code: Some(1),
        stderr: "qemu-system-x86_64: -accel kvm: Could not access KVM kernel module: Permission denied\n".into(),
        elapsed: Duration::from_millis(40),
        ..Default::default()
    };
    let h = host(|r, fs| qemu(r, fs, "kvm", "", err));
    let rep = doctor(&LabConfig { accel: Accel::Kvm, ..Default::default() }, &h);
    assert!(item(&rep, "kvm-boot").detail.starts_with("QEMU refused -accel kvm: qemu-system-x86_64: -accel kvm: Could not access KVM"));
}

#[test]
fn tcg_failure_fails_unless_kvm_is_what_runs() {
    let h = || host(|r, fs| qemu(r, fs, "tcg", "", timed_out(Duration::from_secs(20))));
    let rep = doctor(&LabConfig::default(), &h());
    assert_eq!(item(&rep, "tcg-boot").status, Status::Fail);
    let rep = doctor(&LabConfig { accel: Accel::Kvm, ..Default::default() }, &h());
    assert_eq!(item(&rep, "tcg-boot").status, Status::Warn);
}

#[test]
fn unreachable_libvirt_quotes_libvirt_names_the_fix_and_leaves_networks_unchecked() {
    // libvirt's own message when libvirtd is not running (virConnectOpen on qemu:///system).
    let down = HypervisorError::Unreachable {
        uri: "qemu:///system".into(),
        source: "Failed to connect socket to '/var/run/libvirt/virtqemud-sock': No such file or directory".into(),
    };
    let h = host(|_, _| {});
    let rep = doctor_on(&LabConfig::default(), Err(&down), &h);
    let lv = item(&rep, "libvirt");
    assert_eq!(lv.status, Status::Fail);
    assert_eq!(
        lv.detail,
        "cannot connect to libvirt at qemu:///system: Failed to connect socket to '/var/run/libvirt/virtqemud-sock': No such file or directory"
    );
    let fix = lv.fix.as_deref().unwrap();
    for want in ["ci/labenv start", "libvirt-clients", "libvirt-daemon-system"] {
        assert!(fix.contains(want), "{fix}");
    }
    let net = item(&rep, "subnet");
    assert_eq!(net.status, Status::Warn);
    assert!(net.detail.contains("libvirtd unreachable"), "{}", net.detail);
    assert!(!h.0.lines().iter().any(|l| l.starts_with("virsh")), "no virsh: {:?}", h.0.lines());
}

#[test]
fn reachable_libvirt_reports_its_versions() {
    let rep = doctor(&LabConfig::default(), &host(|_, _| {}));
    assert_eq!(item(&rep, "libvirt").detail, "libvirt at qemu:///system: libvirt 11.3.0, hypervisor QEMU 10.0.2");
}

#[test]
fn missing_qemu_names_the_package_and_skips_boots() {
    let h = host(|r, _| {
        r.respond(|s| (s.program == "qemu-system-x86_64").then(|| Err(CommandError::NotFound { program: s.program.clone() })));
    });
    let rep = doctor(&LabConfig::default(), &h);
    assert_eq!(item(&rep, "qemu").fix.as_deref(), Some("apt-get install qemu-system-x86"));
    assert_eq!(item(&rep, "kvm-boot").status, Status::Skip);
    assert_eq!(item(&rep, "tcg-boot").status, Status::Skip);
    assert_eq!(h.0.lines().iter().filter(|l| l.contains("-accel")).count(), 0);
}

#[test]
fn small_disk_fails_with_numbers() {
    let h = host(|r, _| {
        r.ok("df -Pk", DF_SMALL);
    });
    let disk = doctor(&LabConfig::default(), &h).item("disk").cloned().unwrap();
    assert_eq!(disk.status, Status::Fail);
    assert_eq!(disk.detail, "3.8 GiB free on /var for image_cache /var/cache/kubelab/images; need ≥ 10 GiB");
    assert!(disk.fix.unwrap().contains("/var"));
}

#[test]
fn subnet_in_use_by_another_network_or_interface_fails() {
    let hv = libvirt(&[NET_DEFAULT, "<network><name>other</name><ip address='192.168.1.1' prefix='24'/></network>"]);
    let net = doctor_on(&LabConfig::default(), Ok(&hv), &host(|_, _| {})).item("subnet").cloned().unwrap();
    assert_eq!(net.status, Status::Fail);
    assert!(net.detail.starts_with("192.168.1.0/24 collides: libvirt network `other` has 192.168.1.1/24"), "{}", net.detail);

    let h = host(|r, _| {
        r.ok("ip -o -4 addr show", "5: eth1    inet 192.168.1.20/16 scope global eth1\n");
    });
    let net = doctor(&LabConfig::default(), &h).item("subnet").cloned().unwrap();
    assert_eq!(net.status, Status::Fail);
    assert!(net.detail.contains("interface eth1 has 192.168.1.20/16 in this namespace"), "{}", net.detail);
}

#[test]
fn the_labs_own_network_and_bridge_are_not_a_conflict() {
    let hv = libvirt(&[
        NET_DEFAULT,
        "<network><name>kubelab-net</name><bridge name='klab0'/><ip address='192.168.1.1' netmask='255.255.255.0'/></network>",
    ]);
    let h = host(|r, _| {
        r.ok("ip -o -4 addr show", "9: klab0    inet 192.168.1.1/24 scope global klab0\n");
    });
    let net = doctor_on(&LabConfig::default(), Ok(&hv), &h).item("subnet").cloned().unwrap();
    assert_eq!(net.status, Status::Ok, "{net:?}");
    assert!(net.detail.contains("`kubelab-net` already defined"), "{}", net.detail);
}

#[test]
fn netns_probe_failures_and_leftovers() {
    let h = host(|r, _| {
        r.fail("ip netns add", 1, "mount --make-shared /run/netns failed: Operation not permitted\n");
    });
    let ns = doctor(&LabConfig::default(), &h).item("netns").cloned().unwrap();
    assert_eq!(ns.status, Status::Fail);
    assert!(ns.fix.unwrap().contains("root"));

    // A leftover probe namespace is deleted and the add retried once.
    let h = host(|r, _| {
        let first = std::sync::atomic::AtomicBool::new(true);
        r.respond(move |s| {
            (s.line() == "ip netns add kubelab-doctor-probe" && first.swap(false, std::sync::atomic::Ordering::SeqCst)).then(|| {
                Ok(CommandOutput {
                    code: Some(1),
                    stderr: "Cannot create namespace file \"/run/netns/kubelab-doctor-probe\": File exists\n".into(),
                    ..Default::default()
                })
            })
        });
    });
    let rep = doctor(&LabConfig::default(), &h);
    assert_eq!(item(&rep, "netns").status, Status::Ok);
    let netns: Vec<String> = h.0.lines().into_iter().filter(|l| l.starts_with("ip netns")).collect();
    assert_eq!(
        netns,
        [
            "ip netns add kubelab-doctor-probe",
            "ip netns delete kubelab-doctor-probe",
            "ip netns add kubelab-doctor-probe",
            "ip netns delete kubelab-doctor-probe"
        ]
    );
}

#[test]
fn outside_the_kubelab_namespace_is_a_warning_with_the_way_in() {
    let h = host(|_, _| {});
    // The file-system fixture is a map, so later entries replace the healthy ones.
    h.1.add_inode("/proc/self/ns/net", 4026531840).add_link("/proc/self/ns/net", "net:[4026531840]");
    let rep = doctor(&LabConfig::default(), &h);
    let cur = item(&rep, "netns-current");
    assert_eq!(cur.status, Status::Warn);
    assert!(cur.detail.starts_with("this process is in net:[4026531840], not in /run/netns/kubelab (net:[4026532300])"), "{}", cur.detail);
    assert!(cur.fix.as_deref().unwrap().contains("ci/labenv exec --"));
    assert!(rep.fit_for_lab());
}

#[test]
fn image_tools_follow_the_profile() {
    let (r, fs) = host(|_, _| {});
    let bare = FakeFs::new();
    bare.add_dir("/var/cache");
    let offline = run_with(&LabConfig::default(), &opts(), Ok(&libvirt(&[])), &r, &bare);
    let t = item(&offline, "tool-debootstrap");
    assert_eq!((t.status, t.fix.as_deref()), (Status::Fail, Some("apt-get install debootstrap (or `ci/labenv setup`)")));
    assert_eq!(item(&offline, "tool-ssh-keygen").fix.as_deref(), Some("apt-get install openssh-client (or `ci/labenv setup`)"));
    let guide = run_with(&LabConfig { profile: Profile::Guide, ..Default::default() }, &opts(), Ok(&libvirt(&[])), &r, &bare);
    assert_eq!(item(&guide, "tool-debootstrap").status, Status::Skip);
    assert_eq!(item(&guide, "tool-xorriso").status, Status::Fail);
    let found = run_with(&LabConfig::default(), &opts(), Ok(&libvirt(&[])), &r, &fs);
    assert_eq!(item(&found, "tool-debootstrap").detail, "/usr/sbin/debootstrap");
}

#[test]
fn remote_hypervisor_skips_local_probes_and_says_where_to_run_them() {
    let r = FakeRunner::new();
    r.ok("df -Pk", DF_PLENTY);
    let cfg = LabConfig { libvirt_uri: "qemu+ssh://speit@hv1/system".into(), ..Default::default() };
    let rep = run_with(&cfg, &opts(), Ok(&libvirt(&[])), &r, &FakeFs::new());
    for id in ["qemu", "kvm-boot", "tcg-boot", "netns", "netns-current"] {
        let i = item(&rep, id);
        assert_eq!(i.status, Status::Skip, "{i:?}");
        assert!(i.fix.as_deref().unwrap().contains("on speit@hv1"), "{i:?}");
    }
    assert_eq!(item(&rep, "libvirt").status, Status::Ok);
    assert!(item(&rep, "disk").detail.contains("(on this host)"));
    assert!(!r.lines().iter().any(|l| l.starts_with("qemu") || l.starts_with("ip ")), "{:#?}", r.lines());
}

#[test]
fn disabled_probes_say_so() {
    let h = host(|_, _| {});
    let o = DoctorOptions { boot_probe: false, netns_probe: false, ..opts() };
    let rep = run_with(&LabConfig::default(), &o, Ok(&libvirt(&[NET_DEFAULT])), &h.0, &h.1);
    assert_eq!(item(&rep, "kvm-boot").detail, "boot probe disabled by the caller");
    assert_eq!(item(&rep, "netns").status, Status::Skip);
    assert!(!h.0.lines().iter().any(|l| l.contains("-accel") || l.contains("netns add")));
}

#[test]
fn text_report_shows_fixes_and_verdict() {
    let h = host(|r, fs| qemu(r, fs, "kvm", "", timed_out(Duration::from_secs(20))));
    let rep = doctor(&LabConfig { accel: Accel::Kvm, ..Default::default() }, &h);
    let text = rep.to_string();
    assert!(text.starts_with("kubelab doctor: lab `kubelab`, offline profile, accel Kvm, libvirt qemu:///system\n"), "{text}");
    assert!(text.contains("[FAIL] kvm-boot"), "{text}");
    assert!(text.contains("fix: set accel = \"tcg\" in lab.toml"), "{text}");
    assert!(text.contains("[ ok ] tcg-boot"), "{text}");
    assert!(
        text.trim_end().ends_with(&format!("NOT fit for a lab (kvm-boot): {} ok, 0 warn, 1 failed, 0 skipped", rep.items.len() - 1)),
        "{text}"
    );
}

#[test]
fn json_report_is_versioned_and_machine_readable() {
    let h = host(|_, _| {});
    let rep = doctor(&LabConfig::default(), &h);
    let v: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["fit_for_lab"], true);
    assert_eq!(v["accel"], "auto");
    assert_eq!(v["profile"], "offline");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), rep.items.len());
    let kvm = items.iter().find(|i| i["id"] == "kvm-boot").unwrap();
    assert_eq!(kvm["status"], "ok");
    assert_eq!(kvm["duration_ms"], 2741);
    assert!(items.iter().any(|i| i["fix"].is_null()));
}

#[test]
fn memory_item_warns_when_the_lab_needs_more_than_is_available() {
    let rep = doctor(&LabConfig::default(), &host(|_, _| {}));
    let m = item(&rep, "memory");
    assert_eq!(m.status, Status::Ok, "{m:?}");
    assert_eq!(m.detail, "12056 MiB available (/proc/meminfo MemAvailable); the lab needs 6144 MiB (3 node(s) × memory_mib = 2048)");
    let big = LabConfig { memory_mib: 8192, ..Default::default() };
    let rep = doctor(&big, &host(|_, _| {}));
    let m = item(&rep, "memory");
    assert_eq!(m.status, Status::Warn, "{m:?}");
    assert!(m.detail.contains("needs 24576 MiB") && m.detail.contains("only 12056 MiB available"), "{}", m.detail);
    assert!(m.fix.as_deref().unwrap().contains("memory_mib"));
    assert!(rep.fit_for_lab(), "a memory shortfall is a warning, not a failure");
    let (r, fs) = host(|_, _| {});
    fs.add_file("/proc/meminfo", b"garbage\n");
    assert_eq!(item(&doctor(&LabConfig::default(), &(r, fs)), "memory").status, Status::Skip);
    let remote = LabConfig { libvirt_uri: "qemu+ssh://speit@hv1/system".into(), ..Default::default() };
    assert_eq!(item(&doctor(&remote, &host(|_, _| {})), "memory").status, Status::Skip);
}

#[test]
#[ignore = "boots qemu"]
fn real_host_probe() {
    let cfg = LabConfig::default();
    let rep = run(&cfg, &DoctorOptions::default());
    println!("{rep}");
    println!("{}", rep.to_json());
    let tcg = rep.item("tcg-boot").expect("tcg item");
    assert_eq!(tcg.status, Status::Ok, "TCG must boot the probe sector on a host with QEMU: {tcg:?}");
}

fn kubelab_image_manifest(cfg: &LabConfig) -> std::path::PathBuf {
    crate::image::offline_dir(cfg).join("manifest.json")
}

#[test]
fn image_item_says_cached_buildable_or_not_from_here() {
    let cfg = LabConfig::default();
    let h = host(|_, _| {});
    let cached = doctor(&cfg, &h).item("image").cloned().unwrap();
    assert_eq!(cached.status, Status::Ok, "{cached:?}");
    assert!(cached.detail.contains("offline image cached in /var/cache/kubelab/images/offline-"), "{cached:?}");
    // Not cached, archive reachable: a warning with the command that builds it.
    h.1.remove(&kubelab_image_manifest(&cfg));
    h.1.add_reachable(crate::image::offline_archive());
    let buildable = doctor(&cfg, &h).item("image").cloned().unwrap();
    assert_eq!(buildable.status, Status::Warn, "{buildable:?}");
    assert!(buildable.fix.as_deref().unwrap().contains("kubelab image build offline"), "{buildable:?}");
    // Not cached and nothing reachable (inside the lab namespace): a failure naming where to build.
    let h = host(|_, _| {});
    h.1.remove(&kubelab_image_manifest(&cfg));
    let rep = doctor(&cfg, &h);
    let blocked = rep.item("image").cloned().unwrap();
    assert_eq!(blocked.status, Status::Fail, "{blocked:?}");
    assert!(blocked.detail.contains("http://deb.debian.org/debian cannot be reached from here"), "{blocked:?}");
    assert!(blocked.fix.as_deref().unwrap().contains("outside the lab's network namespace"), "{blocked:?}");
    assert!(!rep.fit_for_lab());
    // Guide profile: the pinned Ubuntu image.
    let guide = LabConfig { profile: crate::config::Profile::Guide, ..LabConfig::default() };
    let g = doctor(&guide, &h).item("image").cloned().unwrap();
    assert_eq!(g.status, Status::Fail);
    assert!(g.fix.as_deref().unwrap().contains("kubelab image fetch guide"), "{g:?}");
}
