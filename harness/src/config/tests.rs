//! The config's unit tests: defaults, parse errors naming the key, and each validation rule.

use std::net::Ipv4Addr;

use super::*;

#[test]
fn defaults_are_the_guides() {
    let c = LabConfig::default();
    c.validate().unwrap();
    assert_eq!(c.nodes[0].name, "ICE-k8s-machines-node0");
    assert_eq!(c.nodes[2].ip, Ipv4Addr::new(192, 168, 1, 136));
    assert_eq!(c.control_plane().name, "ICE-k8s-machines-node0");
    assert_eq!(c.user, "speit");
    assert_eq!(c.pod_cidr.to_string(), "10.233.0.0/16");
    assert_eq!(c.memory_mib, 2048);
    assert_eq!(c.versions.kubernetes, "1.23.6");
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(LabConfig::from_toml("", "lab.toml").unwrap(), LabConfig::default());
}

fn err(toml: &str) -> String {
    LabConfig::from_toml(toml, "lab.toml").unwrap_err().to_string()
}

#[test]
fn errors_name_the_key() {
    let dup = r#"
[[nodes]]
name = "a"
ip = "192.168.1.10"
role = "control-plane"
[[nodes]]
name = "a"
ip = "192.168.1.11"
role = "worker"
"#;
    assert!(err(dup).contains("nodes[1].name"), "{}", err(dup));
    let dup_ip = dup.replace("name = \"a\"\nip = \"192.168.1.11\"", "name = \"b\"\nip = \"192.168.1.10\"");
    assert!(err(&dup_ip).contains("nodes[1].ip"), "{}", err(&dup_ip));
    let outside = dup.replace("192.168.1.11", "10.0.0.5").replacen("name = \"a\"\nip = \"10", "name = \"b\"\nip = \"10", 1);
    assert!(err(&outside).contains("nodes[1].ip"), "{}", err(&outside));
    assert!(err("pod_cidr = \"192.168.0.0/16\"").contains("pod_cidr"));
    assert!(err("profile = \"cloud\"").contains("profile"), "{}", err("profile = \"cloud\""));
    assert!(err("colour = 1").contains("colour"), "{}", err("colour = 1"));
}

/// The error of `toml`, asserting it names `key` and says `says`, on one line.
fn refused(toml: &str, key: &str, says: &str) -> String {
    let e = err(toml);
    assert!(e.contains(&format!("key `{key}`")), "{toml:?} → {e}");
    assert!(e.contains(says), "{toml:?} → {e}");
    assert!(!e.contains('\n'), "{toml:?} → {e}");
    e
}

#[test]
fn unpinned_versions_are_refused_naming_the_key_and_the_pins() {
    for (key, pinned) in crate::provision::PINNED_VERSIONS {
        for bad in ["latest", "1.23", "1.23.6; rm -rf /", "", "vv1.23.6", "1.23.6\n"] {
            let toml = format!("[versions]\n{key} = {bad:?}\n");
            refused(&toml, &format!("versions.{key}"), &format!("set it to `{}`", pinned[0]));
        }
        LabConfig::from_toml(&format!("[versions]\n{key} = {:?}\n", pinned[0]), "lab.toml").unwrap();
    }
    let e = refused("[versions]\nkubernetes = \"1.23.6; rm -rf /\"", "versions.kubernetes", "`1.23.6; rm -rf /` is not a release");
    assert!(e.ends_with("set it to `1.23.6`"), "{e}");
    LabConfig::from_toml("[versions]\nkubernetes = \"v1.23.6\"\nhelm = \"v3.8.0\"", "lab.toml").unwrap();
    refused("[versions]\ndocker = \"v20.10.24\"", "versions.docker", "`20.10.24`");
    // Whatever validation accepts, the pin set resolves.
    let cfg = LabConfig::from_toml("[versions]\nkubernetes = \"v1.23.6\"", "lab.toml").unwrap();
    crate::provision::PinSet::for_versions(&cfg.versions).unwrap();
}

#[test]
fn inventory_versions_need_only_look_like_releases() {
    let cfg = LabConfig { versions: Versions { kubernetes: "1.23.17".into(), ..Versions::default() }, ..LabConfig::default() };
    cfg.validate_inventory(true).unwrap();
    assert!(cfg.validate().unwrap_err().to_string().contains("versions.kubernetes"));
    let junk = LabConfig { versions: Versions { helm: "3.8; id".into(), ..Versions::default() }, ..LabConfig::default() };
    assert!(junk.validate_inventory(true).unwrap_err().to_string().contains("key `versions.helm`"));
    let far_pool = LabConfig { metallb_pool: "10.9.9.1-10.9.9.9".into(), ..LabConfig::default() };
    far_pool.validate_inventory(false).unwrap();
    assert!(far_pool.validate_inventory(true).unwrap_err().to_string().contains("metallb_pool"));
}

#[test]
fn metallb_pool_must_be_a_free_range_inside_the_subnet() {
    for (pool, says) in [
        ("pool", "is not an address range"),
        ("", "is empty"),
        ("172.42.42.100-120", "`120` is not an IPv4 address"),
        ("192.168.1.220-192.168.1.200", "is reversed: its start 192.168.1.220 comes after its end 192.168.1.200"),
        ("10.0.0.1-10.0.0.5", "is not inside the node subnet 192.168.1.0/24 (host addresses 192.168.1.1-192.168.1.254)"),
        ("192.168.1.0-192.168.1.10", "is not inside the node subnet"),
        ("192.168.1.250-192.168.1.255", "is not inside the node subnet"),
        ("192.168.1.192/26", "is not inside the node subnet"),
        ("192.168.1.130-192.168.1.140", "contains nodes[0].ip 192.168.1.134 (ICE-k8s-machines-node0)"),
        ("192.168.1.136/32", "contains nodes[2].ip 192.168.1.136"),
        ("192.168.1.1-192.168.1.3", "contains the gateway 192.168.1.1"),
        ("192.168.1.204/29", "write its network `192.168.1.200/29`"),
    ] {
        refused(&format!("metallb_pool = {pool:?}"), "metallb_pool", says);
    }
    for ok in [
        "192.168.1.200-192.168.1.220",
        "192.168.1.160/28",
        "192.168.1.200/29",
        "192.168.1.240-192.168.1.240",
        "192.168.1.137-192.168.1.254",
    ] {
        LabConfig::from_toml(&format!("metallb_pool = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn memory_and_vcpus_are_bounded() {
    refused("memory_mib = 512", "memory_mib", "below kubeadm's 1700 MB preflight floor");
    refused("memory_mib = 0", "memory_mib", "use 2048 (the guide's; 1024-65536 accepted)");
    refused("memory_mib = 1048576", "memory_mib", "absurd for this lab; use 2048 (the guide's; 1024-65536 accepted)");
    refused("vcpus = 0", "vcpus", "at least 1");
    refused("vcpus = 1000", "vcpus", "1-64 accepted");
    LabConfig::from_toml("memory_mib = 1024\nvcpus = 1", "lab.toml").unwrap();
    LabConfig::from_toml("memory_mib = 65536\nvcpus = 64", "lab.toml").unwrap();
    let cfg = LabConfig::default();
    assert_eq!(cfg.memory_needed_mib(), 6144);
    assert!(cfg.memory_warning(8 << 20).is_none());
    assert!(cfg.memory_warning(4 << 20).unwrap().contains("needs 6144 MiB"));
}

#[test]
fn user_must_be_a_useradd_name() {
    for bad in ["Speit", "1speit", "sp eit", "speit;reboot", "", "-speit", "spéit", "a$b"] {
        refused(&format!("user = {bad:?}"), "user", "useradd");
    }
    refused(&format!("user = \"{}\"", "a".repeat(33)), "user", "at most 32");
    for ok in ["speit", "_svc", "ci-runner_2", "host$", &"a".repeat(32)] {
        LabConfig::from_toml(&format!("user = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn paths_must_be_absolute() {
    refused("state_dir = \"var/lib/kubelab\"", "state_dir", "`var/lib/kubelab` is a relative path; write it absolute");
    refused("image_cache = \"images\"", "image_cache", "relative path; write it absolute, e.g. `/var/cache/kubelab/images`");
    refused("image_cache = \"\"", "image_cache", "relative path");
    refused("base_image = \"./base.qcow2\"", "base_image", "relative path");
    LabConfig::from_toml("state_dir = \"/srv/kubelab\"\nbase_image = \"/srv/base.qcow2\"", "lab.toml").unwrap();
}

#[test]
fn timeouts_are_at_least_one_second() {
    refused("boot_timeout_secs = 0", "boot_timeout_secs", "use 1 to 86400 seconds");
    refused("boot_progress_secs = 0", "boot_progress_secs", "use 1 to 86400 seconds");
    refused("boot_timeout_secs = 100000000000", "boot_timeout_secs", "out of range");
    refused("boot_progress_secs = -1", "boot_progress_secs", "invalid value");
    refused("kvm_probe_secs = 0", "kvm_probe_secs", "use 1 to 86400 seconds");
    LabConfig::from_toml("boot_timeout_secs = 1\nboot_progress_secs = 86400", "lab.toml").unwrap();
}

#[test]
fn libvirt_uri_must_be_uri_syntax() {
    for (bad, says) in [
        ("qemu:/system", "no `://`"),
        ("localhost", "no `://`"),
        ("qemu+ssh://h/system#frag", "fragment"),
        ("qemu:///system; rm -rf /", "a space"),
        ("qemu+telnet://h/system", "unknown transport `telnet`"),
        ("qemu+ssh://root@h", "no path"),
    ] {
        refused(&format!("libvirt_uri = {bad:?}"), "libvirt_uri", says);
    }
    for ok in ["qemu:///system", "qemu+ssh://root@h/system", "qemu+libssh://root@h:2222/system?sshauth=privkey", "test:///default"] {
        LabConfig::from_toml(&format!("libvirt_uri = {ok:?}"), "lab.toml").unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn service_cidr_is_kubeadms_default_and_disjoint_from_pods_and_nodes() {
    assert_eq!(LabConfig::default().service_cidr.to_string(), "10.96.0.0/12");
    assert!(toml::to_string_pretty(&LabConfig::default()).unwrap().contains("service_cidr = \"10.96.0.0/12\""));
    refused("service_cidr = \"10.233.0.0/16\"", "service_cidr", "overlaps pod_cidr 10.233.0.0/16");
    refused("pod_cidr = \"10.96.0.0/16\"", "service_cidr", "overlaps pod_cidr 10.96.0.0/16");
    refused("service_cidr = \"10.0.0.0/8\"", "service_cidr", "must be a /12 to /28");
    refused("service_cidr = \"192.168.1.0/28\"", "service_cidr", "overlaps the node subnet 192.168.1.0/24");
    refused("service_cidr = \"10.96.0.0/29\"", "service_cidr", "must be a /12 to /28");
    refused("service_cidr = \"10.96.0.1/12\"", "service_cidr", "write its network `10.96.0.0/12`");
    refused("service_cidr = \"nope\"", "service_cidr", "invalid");
    let cfg = LabConfig::from_toml("service_cidr = \"10.100.0.0/16\"", "lab.toml").unwrap();
    assert_eq!(cfg.service_cidr.to_string(), "10.100.0.0/16");
}

#[test]
fn pod_cidr_has_room_for_a_block_per_node() {
    refused(
        "pod_cidr = \"10.233.0.0/26\"",
        "pod_cidr",
        "no room for 3 /26 pod blocks (one per node, as calico IPAM allocates); use a /24 or larger",
    );
    LabConfig::from_toml("pod_cidr = \"10.233.0.0/24\"", "lab.toml").unwrap();
}

#[test]
fn gateway_must_be_a_host_address() {
    refused("gateway = \"192.168.1.0\"", "gateway", "not a host address of subnet 192.168.1.0/24");
    refused("gateway = \"192.168.1.255\"", "gateway", "not a host address");
}

#[test]
fn unknown_fields_name_the_key() {
    refused("colour = 1", "colour", "unknown key; remove it or check its spelling (expected one of `name`");
    refused("name = \"lab\"\n[versions]\nkubernetes = \"1.23.6\"\nkubernets = \"1.23.6\"\n", "versions.kubernets", "unknown key");
    let nodes = "[[nodes]]\nname = \"a\"\nip = \"192.168.1.10\"\nrole = \"control-plane\"\n[[nodes]]\nname = \"b\"\nip = \"192.168.1.11\"\nrole = \"worker\"\nmac = \"52:54:00:00:00:01\"\n";
    refused(nodes, "nodes[1].mac", "expected one of `name`, `ip`, `role`");
    refused("[[nodes]]\nnam = \"a\"\n", "nodes[0].nam", "unknown key");
    refused("versions = { kubernetes = \"1.23.6\", helmet = \"3.8.0\" }", "versions.helmet", "unknown key");
    refused("versions.extra = \"1\"", "versions.extra", "unknown key");
    // Non-field errors still name their key; syntax errors have none to name.
    refused("[versions]\nhelm = 3", "versions.helm", "invalid type");
    let syntax = err("name = ");
    assert!(syntax.starts_with("lab config lab.toml: ") && !syntax.contains("key ``"), "{syntax}");
}
