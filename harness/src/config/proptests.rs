//! Property test: generated lab configs (mostly plausible, some junk in every key). Validation
//! never panics; every config it accepts round-trips through TOML, renders every node's seed and
//! renders the provisioning plan of both profiles.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;
use crate::provision::{PINNED_VERSIONS, Plan};
use crate::seed::NodeSeed;

const JUNK_VERSIONS: [&str; 8] = ["latest", "1.23", "1.23.6; rm -rf /", "", "v", "1.24.0", "$(reboot)", "1.23.6\n"];

/// A valid choice most of the time, junk otherwise.
fn mostly<T: std::fmt::Debug + Clone + 'static>(
    good: impl Strategy<Value = T> + 'static,
    junk: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![24 => good, 1 => junk].boxed()
}

fn version(key: &'static str) -> BoxedStrategy<String> {
    let pinned = PINNED_VERSIONS.iter().find(|(k, _)| *k == key).expect("key").1;
    let good = prop::sample::select(pinned.to_vec()).prop_flat_map(move |v| {
        let with_v = if key == "docker" { v.to_string() } else { format!("v{v}") };
        prop::sample::select(vec![v.to_string(), with_v])
    });
    mostly(good, prop::sample::select(JUNK_VERSIONS.to_vec()).prop_map(String::from))
}

fn versions() -> impl Strategy<Value = Versions> {
    (
        version("kubernetes"),
        version("calico"),
        version("metrics_server"),
        version("metallb"),
        version("helm"),
        version("cfssl"),
        version("docker"),
    )
        .prop_map(|(kubernetes, calico, metrics_server, metallb, helm, cfssl, docker)| Versions {
            kubernetes,
            calico,
            metrics_server,
            metallb,
            helm,
            cfssl,
            docker,
        })
}

/// How the pool is written, relative to the subnet.
#[derive(Clone, Debug)]
enum PoolGen {
    /// Offsets (from the subnet's upper half) of the first and last address.
    Range(u32, u32),
    /// A CIDR at an offset with a prefix.
    Cidr(u32, u8),
    /// Any text.
    Junk(String),
}

fn pool() -> impl Strategy<Value = PoolGen> {
    prop_oneof![
        8 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| PoolGen::Range(a, b)),
        2 => (any::<u32>(), 24u8..=32).prop_map(|(a, p)| PoolGen::Cidr(a, p)),
        1 => prop::sample::select(vec!["", "pool", "172.42.42.100-120", "192.168.1.220-192.168.1.200", "10.0.0.0/8", "1.2.3.4-", "-", "::1-::2"])
            .prop_map(|s| PoolGen::Junk(s.into())),
        1 => "[0-9./-]{0,20}".prop_map(PoolGen::Junk),
    ]
}

fn user() -> BoxedStrategy<String> {
    mostly(
        "[a-z_][a-z0-9_-]{0,20}\\$?",
        prop_oneof![
            prop::sample::select(vec!["", "Speit", "1x", "a b", "root;reboot", "ünï"]).prop_map(String::from),
            "[a-z]{33,40}",
            ".{0,12}",
        ],
    )
}

fn abs_path(default: &'static str) -> BoxedStrategy<PathBuf> {
    mostly(
        prop_oneof![Just(default.to_string()), "/[a-z0-9/_.-]{0,30}"].prop_map(PathBuf::from),
        prop::sample::select(vec!["", "relative", "./x", "var/lib/kubelab", "~/.cache"]).prop_map(PathBuf::from),
    )
}

fn timeout() -> BoxedStrategy<u64> {
    mostly(1u64..=86_400, prop_oneof![Just(0u64), Just(u64::MAX), 86_401u64..u64::MAX])
}

fn uri() -> BoxedStrategy<String> {
    mostly(
        prop_oneof![
            prop::sample::select(vec![
                "qemu:///system",
                "qemu:///session",
                "test:///default",
                "qemu+ssh://root@h/system",
                "qemu+libssh://speit@hv1.example.org:2222/system?sshauth=privkey",
            ])
            .prop_map(String::from),
            "(qemu|test|lxc)(\\+(ssh|tcp|tls|libssh))?://([a-z]{1,8}@)?[a-z0-9.]{0,12}(:[0-9]{1,5})?/[a-z]{1,10}(\\?[a-z]{1,5}=[a-z0-9/]{0,8})?",
        ],
        prop_oneof![
            prop::sample::select(vec!["", "qemu:/system", "localhost", "qemu:///system#x", "qemu:///sys tem"]).prop_map(String::from),
            ".{0,30}",
        ],
    )
}

fn cidr(good_base: &'static [[u8; 2]], good_prefix: std::ops::RangeInclusive<u8>) -> BoxedStrategy<Ipv4Net> {
    let good = (prop::sample::select(good_base.to_vec()), any::<u16>(), good_prefix).prop_map(|(b, low, p)| {
        let addr = Ipv4Addr::new(b[0], b[1], (low >> 8) as u8, low as u8);
        Ipv4Net::new(addr, p).expect("prefix ≤ 32").trunc()
    });
    let junk = (any::<u32>(), 0u8..=32).prop_map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).expect("prefix ≤ 32"));
    mostly(good, junk)
}

prop_compose! {
    fn lab_config()(
        n in 1usize..=5,
        name in mostly("[a-z][a-z0-9-]{0,15}", prop_oneof![Just(String::new()), "[A-Za-z0-9_ \n-]{0,25}"]),
        profile in prop_oneof![Just(Profile::Guide), Just(Profile::Offline)],
        accel in prop_oneof![Just(Accel::Auto), Just(Accel::Kvm), Just(Accel::Tcg)],
        mirror in prop_oneof![Just(Mirror::Upstream), Just(Mirror::Aliyun)],
        libvirt_uri in uri(),
        user in user(),
        subnet in cidr(&[[192, 168], [172, 20], [10, 10]], 16..=26),
        gateway_offset in mostly(Just(1u32), any::<u32>()),
        node_offsets in prop::collection::vec(mostly(2u32..30, any::<u32>()), 5),
        node_names in prop::collection::vec(mostly(Just(None), "[A-Za-z0-9;\n-]{0,70}".prop_map(Some)), 5),
        control_plane in mostly(Just(0usize), 0usize..6),
        pod_cidr in cidr(&[[10, 233], [10, 244]], 16..=24),
        service_cidr in cidr(&[[10, 96], [10, 112]], 12..=28),
        pool in pool(),
        memory_mib in mostly(1024u64..=65_536, prop_oneof![0u64..1024, 65_537u64..u64::MAX]),
        vcpus in mostly(1u32..=64, prop_oneof![Just(0u32), 65u32..u32::MAX]),
        boot_timeout_secs in timeout(),
        boot_progress_secs in timeout(),
        kvm_probe_secs in timeout(),
        state_dir in abs_path("/var/lib/kubelab"),
        image_cache in abs_path("/var/cache/kubelab/images"),
        base_image in prop::option::weighted(0.1, abs_path("/srv/base.qcow2")),
        versions in versions(),
    ) -> LabConfig {
        let base = u32::from(subnet.network());
        let size = 1u64 << (32 - subnet.prefix_len());
        let at = |off: u32| Ipv4Addr::from(base.wrapping_add(off));
        let nodes = (0..n)
            .map(|i| NodeConfig {
                name: node_names[i].clone().unwrap_or_else(|| format!("node{i}")),
                ip: at(node_offsets[i].wrapping_add(3 * i as u32)),
                role: if i == control_plane { Role::ControlPlane } else { Role::Worker },
            })
            .collect();
        // The pool lives in the upper half of the subnet, where no node is put.
        let half = (size / 2) as u32;
        let metallb_pool = match pool {
            PoolGen::Range(a, b) => {
                let span = half.saturating_sub(1).max(1);
                let first = half + a % span;
                let last = first + b % (span - (first - half)).max(1);
                format!("{}-{}", at(first), at(last))
            }
            PoolGen::Cidr(a, p) => Ipv4Net::new(at(half + a % half.max(1)), p).expect("p ≤ 32").trunc().to_string(),
            PoolGen::Junk(s) => s,
        };
        LabConfig {
            name,
            profile,
            libvirt_uri,
            accel,
            user,
            subnet,
            gateway: at(gateway_offset),
            pod_cidr,
            service_cidr,
            metallb_pool,
            memory_mib,
            vcpus,
            boot_timeout_secs,
            boot_progress_secs,
            kvm_probe_secs,
            state_dir,
            image_cache,
            base_image,
            versions,
            mirror,
            nodes,
            ..LabConfig::default()
        }
    }
}

/// Everything downstream of an accepted config works.
fn accepted_config_renders(cfg: &LabConfig) -> Result<(), TestCaseError> {
    let text = toml::to_string_pretty(cfg).map_err(|e| TestCaseError::fail(format!("serialise: {e}")))?;
    let back = LabConfig::from_toml(&text, "generated.toml").map_err(|e| TestCaseError::fail(format!("reload: {e}\n{text}")))?;
    prop_assert_eq!(&back, cfg);
    for node in &cfg.nodes {
        let seed = NodeSeed::new(
            cfg,
            node,
            "52:54:00:12:34:56",
            "ssh-ed25519 AAAAC3client lab",
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAAC3host node"),
        );
        let user_data = seed.user_data();
        prop_assert!(user_data.contains(&format!("  - name: {}\n", cfg.user)), "{}", user_data);
        let address = format!("- {}/{}", node.ip, cfg.subnet.prefix_len());
        prop_assert!(seed.network_config().contains(&address), "no {} in the network config", address);
        prop_assert!(seed.meta_data().contains(&node.name), "no hostname in the meta-data");
    }
    for profile in [Profile::Guide, Profile::Offline] {
        let cfg = LabConfig { profile, ..cfg.clone() };
        let plan = Plan::from_config(&cfg).map_err(|e| TestCaseError::fail(format!("{} plan: {e}", profile.as_str())))?;
        prop_assert_eq!(plan.nodes.len(), cfg.nodes.len());
        for step in &plan.steps {
            // A step whose whole action is its cluster wait (csr.approve) sends no script.
            prop_assert!(!step.check.is_empty() && (!step.action.is_empty() || step.wait.is_some()), "{}", step.id);
            for node in plan.targets(step) {
                let _ = plan.script_for(node, &step.action);
            }
        }
        if profile == Profile::Guide {
            let pool = plan.step("metallb.pool").expect("step");
            prop_assert!(pool.action.contains(&format!("  - {}\n", cfg.metallb_pool)), "{}", pool.action);
            let init = plan.step("kubeadm.init").expect("step");
            prop_assert!(init.action.contains(&cfg.service_cidr.to_string()), "{}", init.action);
            prop_assert!(!init.action.contains("versions table has no pinned checksums"), "kubeadm.init has no pins");
        }
    }
    Ok(())
}

#[test]
fn generated_configs_validate_without_panic_and_accepted_ones_render() {
    let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&lab_config(), |cfg| {
            match cfg.validate() {
                Ok(()) => {
                    accepted.set(accepted.get() + 1);
                    accepted_config_renders(&cfg)?;
                }
                Err(e) => {
                    refused.set(refused.get() + 1);
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with("lab config key `") && !msg.contains('\n'), "{}", msg);
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!("generated configs: {} accepted, {} refused", accepted.get(), refused.get());
    // Both sides of the property were exercised.
    assert!(accepted.get() >= 10 && refused.get() >= 10, "accepted {} refused {}", accepted.get(), refused.get());
}
