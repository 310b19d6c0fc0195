//! The fault table: one [`FaultSpec`] row per pitfall of the guide that kubelab reproduces —
//! its id, the guide's words, the checks it breaks, how it is injected and healed, and why it
//! cannot run live where it cannot. Adding a fault is adding a [`FaultKind`] and one row.

use serde::{Deserialize, Serialize};

use super::exec::ActionFn;
use super::{custom, scripts};
use crate::config::Profile;

/// The guide's pitfalls that kubelab can reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A clone that kept its source's identity: duplicate MAC on the lab network, duplicate
    /// SMBIOS product_uuid, shared machine-id.
    CloneIdentity,
    /// The cloud's "default security group": drops TCP 179 (BGP) and IP protocol 4 (IPIP)
    /// between the nodes.
    SecurityGroup,
    /// A security group that drops only IP protocol 4: BGP stays up, cross-node pod traffic dies.
    SecurityGroupIpip,
    /// NetworkManager installed and running.
    NetworkManager,
    /// Swap on.
    Swap,
    /// br_netfilter not loaded.
    BrNetfilter,
    /// Something already listens on TCP 6443.
    Port6443,
    /// Docker's cgroup driver `cgroupfs` while the kubelet expects `systemd`.
    CgroupDriver,
    /// `kubeadm join` with an expired token (needs Kubernetes: guide profile only).
    JoinTokenExpired,
    /// The guest's network link cut (libvirt link down): SSH dies until the VM is rebooted.
    LinkDown,
    /// The node's address changed inside the guest (netplan) while its NIC's port still
    /// allows only the address the cloud assigned: the node is cut off.
    StaticIp,
    /// One node's floating IP (its NAT on the lab's cloud router) removed: its downloads fail,
    /// the cluster network between the nodes keeps working.
    NoFloatingIp,
}

/// What injecting or healing a fault does.
#[derive(Clone, Copy)]
pub enum Action {
    /// Runs `script` as root on the target node; `what` names it in an error, `detail` is what
    /// the report records.
    Guest {
        /// What the script does (for the error message).
        what: &'static str,
        /// The script (in `fault/scripts.rs`, snapshot-tested).
        script: &'static str,
        /// What was done, for the report.
        detail: &'static str,
    },
    /// Re-applies the row's `heal_steps` through the provisioner (the guide's own fix).
    Provision,
    /// Hypervisor calls and guest scripts in sequence (`fault/custom.rs`).
    Custom(ActionFn),
    /// kubelab cannot do it; the text says what the operator does.
    Manual(&'static str),
}

/// One fault kind: everything kubelab knows about it.
pub struct FaultSpec {
    /// The kind.
    pub kind: FaultKind,
    /// Stable id (`kubelab fault inject <id>`, feature files).
    pub id: &'static str,
    /// What the guide says about it.
    pub pitfall: &'static str,
    /// Checks that must fail while the fault is in place.
    pub breaks: &'static [&'static str],
    /// Checks that must keep passing while it is in place (what makes a variant distinct).
    pub still_passing: &'static [&'static str],
    /// The provisioning steps that are the guide's fix ([`Action::Provision`] re-applies them).
    pub heal_steps: &'static [&'static str],
    /// A profile it cannot run live in, and why.
    pub live_skip: Option<(Profile, &'static str)>,
    /// The node it is injected on by default (index into the nodes, clamped).
    pub default_node: usize,
    /// How it is injected.
    pub inject: Action,
    /// How it is healed.
    pub heal: Action,
}

/// Every fault, in `fault list` order.
pub static SPECS: &[FaultSpec] = &[
    FaultSpec {
        kind: FaultKind::CloneIdentity,
        id: "clone-identity",
        pitfall: "必须确保product_uuid的唯一性 / 如果是复制的虚拟机，则必须确保三台主机的MAC地址的唯一性",
        breaks: &["identity.unique-macs", "identity.unique-product-uuid", "identity.unique-machine-id"],
        still_passing: &[],
        heal_steps: &[],
        live_skip: None,
        default_node: 2,
        inject: Action::Custom(custom::inject_clone_identity),
        heal: Action::Custom(custom::heal_clone_identity),
    },
    FaultSpec {
        kind: FaultKind::SecurityGroup,
        id: "security-group",
        pitfall: "克隆虚拟机的时候，产生的虚拟机默认安全组是default…这会导致calico等依赖iptables的组件直接失效 (pitfall 3)",
        breaks: &["calico.bgp-mesh", "calico.ipip-traffic"],
        still_passing: &[],
        heal_steps: &[],
        live_skip: None,
        default_node: 0,
        inject: Action::Custom(custom::inject_security_group),
        heal: Action::Custom(custom::heal_security_group),
    },
    FaultSpec {
        kind: FaultKind::SecurityGroupIpip,
        id: "security-group-ipip",
        pitfall: "pitfall 3, variant: BGP allowed but IP protocol 4 (IPIP) dropped",
        breaks: &["calico.ipip-traffic"],
        still_passing: &["calico.bgp-mesh"],
        heal_steps: &[],
        live_skip: None,
        default_node: 0,
        inject: Action::Custom(custom::inject_security_group),
        heal: Action::Custom(custom::heal_security_group),
    },
    FaultSpec {
        kind: FaultKind::NetworkManager,
        id: "network-manager",
        pitfall: "如果系统中有NetworkManager…最佳实践是使用apt-get remove network-manager卸载",
        breaks: &["host.no-network-manager"],
        still_passing: &[],
        heal_steps: &["host.network-manager"],
        live_skip: None,
        default_node: 2,
        inject: Action::Guest {
            what: "install NetworkManager offline",
            script: scripts::NETWORK_MANAGER_INSTALL,
            detail: "network-manager installed from the image's offline .debs and started",
        },
        heal: Action::Provision,
    },
    FaultSpec {
        kind: FaultKind::Swap,
        id: "swap",
        pitfall: "修改/etc/fstab…关闭swap; swapoff -a",
        breaks: &["host.swap-off"],
        still_passing: &[],
        heal_steps: &["host.swap-off"],
        live_skip: None,
        default_node: 2,
        inject: Action::Guest {
            what: "turn swap on",
            script: scripts::SWAP_ON,
            detail: "swap line restored in /etc/fstab and `swapon -a`",
        },
        heal: Action::Provision,
    },
    FaultSpec {
        kind: FaultKind::BrNetfilter,
        id: "br-netfilter",
        pitfall: "确保br_netfilter模块已经加载 (sudo modprobe br_netfilter)",
        breaks: &["host.br-netfilter", "host.bridge-nf-call-iptables"],
        still_passing: &[],
        heal_steps: &["host.br-netfilter", "host.sysctl"],
        live_skip: None,
        default_node: 2,
        inject: Action::Guest {
            what: "unload br_netfilter",
            script: scripts::BR_NETFILTER_UNLOAD,
            detail: "`modprobe -r br_netfilter` (module not loaded now)",
        },
        heal: Action::Provision,
    },
    FaultSpec {
        kind: FaultKind::Port6443,
        id: "port-6443",
        pitfall: "6443端口…需要确保不被占用 (lsof -i | grep 6443)",
        breaks: &["host.port-6443"],
        still_passing: &[],
        heal_steps: &[],
        live_skip: None,
        default_node: 0,
        inject: Action::Guest {
            what: "occupy port 6443",
            script: scripts::PORT_6443_OCCUPY,
            detail: "a python3 http.server listens on 0.0.0.0:6443 (unit kubelab-fault-6443)",
        },
        heal: Action::Guest { what: "free port 6443", script: scripts::PORT_6443_FREE, detail: "stopped the listener on 6443" },
    },
    FaultSpec {
        kind: FaultKind::CgroupDriver,
        id: "cgroup-driver",
        pitfall: "如果出现报错：cgroup不一致…\"exec-opts\": [\"native.cgroupdriver=systemd\"]",
        breaks: &["host.cgroup-driver"],
        still_passing: &[],
        heal_steps: &["docker.cgroup-systemd"],
        live_skip: None,
        default_node: 2,
        inject: Action::Guest {
            what: "switch docker to cgroupfs",
            script: scripts::DOCKER_CGROUPFS,
            detail: "/etc/docker/daemon.json exec-opts native.cgroupdriver=cgroupfs, docker restarted",
        },
        heal: Action::Provision,
    },
    FaultSpec {
        kind: FaultKind::JoinTokenExpired,
        id: "join-token-expired",
        pitfall: "token会在24小时后过期…kubeadm token create",
        breaks: &["kubeadm.join"],
        still_passing: &[],
        heal_steps: &[],
        live_skip: Some((
            Profile::Offline,
            "needs the guide profile (internet): no kubeadm offline; judged from the recorded bundle join-token-expired",
        )),
        default_node: 0,
        inject: Action::Manual(
            "wait 24 h after `kubeadm init` (or `kubeadm token delete` the join token), then `kubeadm join` (guide profile)",
        ),
        heal: Action::Manual("run `kubeadm token create` on node0 and join again (guide profile)"),
    },
    FaultSpec {
        kind: FaultKind::LinkDown,
        id: "link-down",
        pitfall: "JCloud会莫名其妙阻止虚拟机联网，导致SSH挂掉…这时候需要重启虚拟机 (pitfall 4)",
        breaks: &[],
        still_passing: &[],
        heal_steps: &[],
        live_skip: None,
        default_node: 2,
        inject: Action::Custom(custom::inject_link_down),
        heal: Action::Custom(custom::heal_link_down),
    },
    FaultSpec {
        kind: FaultKind::StaticIp,
        id: "static-ip",
        pitfall: "克隆的虚拟机内编辑/etc/network/interface修改为固定IP后，需要卸载网卡重新安装，并在安装时固定IP，否则无法联网 (珍爱生命，远离交大云)",
        breaks: &["port.address-allowed", "identity.reach-by-name"],
        still_passing: &[],
        heal_steps: &[],
        live_skip: None,
        default_node: 1,
        inject: Action::Custom(custom::inject_static_ip),
        heal: Action::Custom(custom::heal_static_ip),
    },
    FaultSpec {
        kind: FaultKind::NoFloatingIp,
        id: "no-floating-ip",
        pitfall: "必须给每个虚拟机都绑定一个浮动IP，校园网就行，不然容器无法访问外网（下载都不行） (珍爱生命，远离交大云, pitfall 2)",
        breaks: &["net.egress"],
        // Only the way out is gone: node-to-node traffic and the BGP mesh stay up.
        still_passing: &["identity.reach-by-name", "calico.bgp-mesh", "calico.ipip-traffic"],
        heal_steps: &[],
        live_skip: None,
        default_node: 1,
        inject: Action::Custom(custom::remove_floating_ip),
        heal: Action::Custom(custom::bind_floating_ip),
    },
];

/// Every kind, in `fault list` order.
pub const ALL: &[FaultKind] = &[
    FaultKind::CloneIdentity,
    FaultKind::SecurityGroup,
    FaultKind::SecurityGroupIpip,
    FaultKind::NetworkManager,
    FaultKind::Swap,
    FaultKind::BrNetfilter,
    FaultKind::Port6443,
    FaultKind::CgroupDriver,
    FaultKind::JoinTokenExpired,
    FaultKind::LinkDown,
    FaultKind::StaticIp,
    FaultKind::NoFloatingIp,
];

impl FaultKind {
    /// Its row of [`SPECS`].
    pub fn spec(self) -> &'static FaultSpec {
        SPECS.iter().find(|s| s.kind == self).expect("every FaultKind has a row in SPECS (tested)")
    }

    /// Stable id (`kubelab fault inject <id>`).
    pub fn id(self) -> &'static str {
        self.spec().id
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Self> {
        SPECS.iter().find(|s| s.id == id).map(|s| s.kind)
    }

    /// What the guide says about it.
    pub fn pitfall(self) -> &'static str {
        self.spec().pitfall
    }

    /// Checks that must fail while the fault is in place.
    pub fn checks(self) -> &'static [&'static str] {
        self.spec().breaks
    }

    /// Checks that must keep passing while the fault is in place.
    pub fn still_passing(self) -> &'static [&'static str] {
        self.spec().still_passing
    }

    /// The provisioning steps that are the guide's fix (heal re-applies them).
    pub fn heal_steps(self) -> &'static [&'static str] {
        self.spec().heal_steps
    }

    /// Why it cannot run live in `profile`, if it cannot.
    pub fn live_skip(self, profile: Profile) -> Option<&'static str> {
        self.spec().live_skip.and_then(|(p, why)| (p == profile).then_some(why))
    }

    /// The node it is injected on by default (index into the nodes).
    pub fn default_node(self) -> usize {
        self.spec().default_node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_kind_in_list_order_with_known_checks() {
        assert_eq!(SPECS.len(), ALL.len());
        for (row, k) in SPECS.iter().zip(ALL) {
            assert_eq!(row.kind, *k, "SPECS and ALL list the kinds in the same order");
            assert_eq!(FaultKind::from_id(row.id), Some(*k));
            assert!(!row.pitfall.is_empty());
            if *k != FaultKind::LinkDown {
                assert!(!row.breaks.is_empty(), "{k:?} names no check it breaks");
            }
            for c in row.breaks.iter().chain(row.still_passing) {
                assert!(crate::checks::spec(c).is_some(), "{k:?} names unknown check {c}");
            }
            for s in row.heal_steps {
                assert!(crate::provision::STEP_IDS.contains(s), "{k:?} heals with unknown step {s}");
            }
            assert_eq!(matches!(row.heal, Action::Provision), !row.heal_steps.is_empty(), "{k:?}: heal_steps only with Action::Provision");
        }
        assert_eq!(SPECS.iter().map(|s| s.id).collect::<std::collections::BTreeSet<_>>().len(), SPECS.len(), "ids are unique");
        assert!(FaultKind::JoinTokenExpired.live_skip(Profile::Offline).is_some());
        assert!(FaultKind::JoinTokenExpired.live_skip(Profile::Guide).is_none());
        assert!(FaultKind::Swap.live_skip(Profile::Offline).is_none());
    }
}
