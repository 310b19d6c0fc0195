use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{LabConfig, Profile};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml;
use crate::lab::{Lab, LabState, NodeState, port};
use crate::provision::{Plan, Provisioner, StepFilter};
use crate::remote::russh_shell::RusshShell;
use crate::remote::{ExecOutput, RemoteShell};

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
}

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
];

impl FaultKind {
    /// Stable id (`kubelab fault inject <id>`).
    pub fn id(self) -> &'static str {
        match self {
            FaultKind::CloneIdentity => "clone-identity",
            FaultKind::SecurityGroup => "security-group",
            FaultKind::SecurityGroupIpip => "security-group-ipip",
            FaultKind::NetworkManager => "network-manager",
            FaultKind::Swap => "swap",
            FaultKind::BrNetfilter => "br-netfilter",
            FaultKind::Port6443 => "port-6443",
            FaultKind::CgroupDriver => "cgroup-driver",
            FaultKind::JoinTokenExpired => "join-token-expired",
            FaultKind::LinkDown => "link-down",
            FaultKind::StaticIp => "static-ip",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Self> {
        ALL.iter().copied().find(|k| k.id() == id)
    }

    /// What the guide says about it.
    pub fn pitfall(self) -> &'static str {
        match self {
            FaultKind::CloneIdentity => "必须确保product_uuid的唯一性 / 如果是复制的虚拟机，则必须确保三台主机的MAC地址的唯一性",
            FaultKind::SecurityGroup => {
                "克隆虚拟机的时候，产生的虚拟机默认安全组是default…这会导致calico等依赖iptables的组件直接失效 (pitfall 3)"
            }
            FaultKind::SecurityGroupIpip => "pitfall 3, variant: BGP allowed but IP protocol 4 (IPIP) dropped",
            FaultKind::NetworkManager => "如果系统中有NetworkManager…最佳实践是使用apt-get remove network-manager卸载",
            FaultKind::Swap => "修改/etc/fstab…关闭swap; swapoff -a",
            FaultKind::BrNetfilter => "确保br_netfilter模块已经加载 (sudo modprobe br_netfilter)",
            FaultKind::Port6443 => "6443端口…需要确保不被占用 (lsof -i | grep 6443)",
            FaultKind::CgroupDriver => "如果出现报错：cgroup不一致…\"exec-opts\": [\"native.cgroupdriver=systemd\"]",
            FaultKind::JoinTokenExpired => "token会在24小时后过期…kubeadm token create",
            FaultKind::LinkDown => "JCloud会莫名其妙阻止虚拟机联网，导致SSH挂掉…这时候需要重启虚拟机 (pitfall 4)",
            FaultKind::StaticIp => {
                "克隆的虚拟机内编辑/etc/network/interface修改为固定IP后，需要卸载网卡重新安装，并在安装时固定IP，否则无法联网 (珍爱生命，远离交大云)"
            }
        }
    }

    /// Checks that must fail while the fault is in place.
    pub fn checks(self) -> &'static [&'static str] {
        match self {
            FaultKind::CloneIdentity => &["identity.unique-macs", "identity.unique-product-uuid", "identity.unique-machine-id"],
            FaultKind::SecurityGroup => &["calico.bgp-mesh", "calico.ipip-traffic"],
            FaultKind::SecurityGroupIpip => &["calico.ipip-traffic"],
            FaultKind::NetworkManager => &["host.no-network-manager"],
            FaultKind::Swap => &["host.swap-off"],
            FaultKind::BrNetfilter => &["host.br-netfilter", "host.bridge-nf-call-iptables"],
            FaultKind::Port6443 => &["host.port-6443"],
            FaultKind::CgroupDriver => &["host.cgroup-driver"],
            FaultKind::JoinTokenExpired => &["kubeadm.join"],
            FaultKind::LinkDown => &[],
            FaultKind::StaticIp => &["port.address-allowed", "identity.reach-by-name"],
        }
    }

    /// Checks that must keep passing while the fault is in place (what makes a variant distinct).
    pub fn still_passing(self) -> &'static [&'static str] {
        match self {
            FaultKind::SecurityGroupIpip => &["calico.bgp-mesh"],
            _ => &[],
        }
    }

    /// The provisioning steps that are the guide's fix (heal re-applies them).
    pub fn heal_steps(self) -> &'static [&'static str] {
        match self {
            FaultKind::Swap => &["host.swap-off"],
            FaultKind::BrNetfilter => &["host.br-netfilter", "host.sysctl"],
            FaultKind::CgroupDriver => &["docker.cgroup-systemd"],
            FaultKind::NetworkManager => &["host.network-manager"],
            _ => &[],
        }
    }

    /// Why it cannot run live in `profile`, if it cannot.
    pub fn live_skip(self, profile: Profile) -> Option<&'static str> {
        match (self, profile) {
            (FaultKind::JoinTokenExpired, Profile::Offline) => {
                Some("needs the guide profile (internet): no kubeadm offline; judged from the recorded bundle join-token-expired")
            }
            _ => None,
        }
    }

    /// The node it is injected on by default (index into the nodes).
    pub fn default_node(self) -> usize {
        match self {
            FaultKind::CloneIdentity
            | FaultKind::NetworkManager
            | FaultKind::Swap
            | FaultKind::BrNetfilter
            | FaultKind::CgroupDriver
            | FaultKind::LinkDown => 2,
            FaultKind::StaticIp => 1,
            FaultKind::SecurityGroup | FaultKind::SecurityGroupIpip => 0,
            FaultKind::Port6443 | FaultKind::JoinTokenExpired => 0,
        }
    }
}

/// A fault that is in place (persisted in `<lab>/faults.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActiveFault {
    /// Kind.
    pub kind: FaultKind,
    /// Node it was injected on.
    pub node: String,
    /// What was done, for the report.
    pub detail: String,
}

/// Injects and heals faults on a live lab.
pub struct FaultLab<'a> {
    lab: &'a Lab,
    state: &'a LabState,
    shell: Arc<RusshShell>,
}

fn run_err(node: &str, what: &str, out: &ExecOutput) -> LabError {
    LabError::local(format!("{what} on {node}"), format!("exit {}: {}", out.exit_status, out.stderr.trim()))
}

impl<'a> FaultLab<'a> {
    /// A fault lab over a running lab.
    pub fn new(lab: &'a Lab, state: &'a LabState, shell: Arc<RusshShell>) -> Self {
        FaultLab { lab, state, shell }
    }

    fn cfg(&self) -> &LabConfig {
        self.lab.config()
    }

    fn faults_path(&self) -> PathBuf {
        self.cfg().lab_dir().join("faults.json")
    }

    /// Faults currently in place.
    pub fn active(&self) -> Vec<ActiveFault> {
        std::fs::read_to_string(self.faults_path()).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
    }

    fn save(&self, faults: &[ActiveFault]) -> Result<(), LabError> {
        std::fs::write(self.faults_path(), serde_json::to_string_pretty(faults).expect("serialisable"))
            .map_err(|e| LabError::local("write faults.json", e))
    }

    /// The node by name (or the kind's default node).
    pub fn node(&self, kind: FaultKind, name: Option<&str>) -> Result<&'a NodeState, LabError> {
        match name {
            Some(n) => {
                let cfg_node = self.cfg().node(n).ok_or_else(|| LabError::local("select node", format!("unknown node `{n}`")))?;
                self.state
                    .nodes
                    .iter()
                    .find(|s| s.name == cfg_node.name)
                    .ok_or_else(|| LabError::local("select node", format!("node `{n}` is not in the lab")))
            }
            None => Ok(&self.state.nodes[kind.default_node().min(self.state.nodes.len() - 1)]),
        }
    }

    async fn sh(&self, node: &str, what: &str, script: &str) -> Result<ExecOutput, LabError> {
        let out = self.shell.run(node, script).await?;
        if !out.success() {
            return Err(run_err(node, what, &out));
        }
        Ok(out)
    }

    async fn hv<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn crate::hypervisor::Hypervisor) -> Result<T, HypervisorError> + Send + 'static,
    ) -> Result<T, LabError> {
        let hv = self.lab.hypervisor().clone();
        Ok(tokio::task::spawn_blocking(move || f(hv.as_ref())).await.expect("blocking task")?)
    }

    fn filter_name(&self, kind: FaultKind) -> String {
        format!("{}-{}", self.cfg().name, kind.id())
    }

    /// The nwfilter of a security-group kind: drops traffic between the nodes only, so the
    /// hypervisor's SSH to the nodes is untouched.
    pub fn filter_xml(&self, kind: FaultKind) -> String {
        let mut rules = String::new();
        for n in &self.state.nodes {
            if kind == FaultKind::SecurityGroup {
                for port in ["dstportstart", "srcportstart"] {
                    rules.push_str(&format!(
                        "  <rule action='drop' direction='inout' priority='-900'><tcp srcipaddr='{ip}' {port}='179'/></rule>\n  <rule action='drop' direction='inout' priority='-900'><tcp dstipaddr='{ip}' {port}='179'/></rule>\n",
                        ip = n.ip
                    ));
                }
            }
            rules.push_str(&format!(
                "  <rule action='drop' direction='inout' priority='-900'><ip srcipaddr='{ip}' protocol='4'/></rule>\n  <rule action='drop' direction='inout' priority='-900'><ip dstipaddr='{ip}' protocol='4'/></rule>\n",
                ip = n.ip
            ));
        }
        // The security group sits on top of the port's anti-spoofing, as on the cloud. Its drops
        // come first (priority -900): clean-traffic accepts outgoing IPv4 at -650 and incoming
        // IPv4 in its ipv4 chain (-700), so later rules would never see the traffic.
        format!(
            "<filter name='{}' chain='root'>\n  <filterref filter='{}'/>\n{rules}</filter>\n",
            xml::esc(&self.filter_name(kind)),
            xml::PORT_FILTER
        )
    }

    /// Injects `kind` (on `node`, or the kind's default node).
    pub async fn inject(&self, kind: FaultKind, node: Option<&str>) -> Result<ActiveFault, LabError> {
        if let Some(why) = kind.live_skip(self.cfg().profile) {
            return Err(LabError::local(format!("inject {}", kind.id()), why));
        }
        let target = self.node(kind, node)?;
        let detail = match kind {
            FaultKind::Swap => {
                self.sh(&target.name, "turn swap on",
                    "set -e\nsed -i -E 's|^#+[[:space:]]*(/swap\\.img[[:space:]].*)$|\\1|' /etc/fstab\ngrep -qE '^/swap\\.img[[:space:]]' /etc/fstab || echo '/swap.img none swap sw 0 0' >> /etc/fstab\nif [ ! -s /swap.img ]; then fallocate -l 256M /swap.img; chmod 600 /swap.img; mkswap /swap.img >/dev/null; fi\nswapon -a\nswapon --show\n").await?;
                "swap line restored in /etc/fstab and `swapon -a`".to_string()
            }
            FaultKind::BrNetfilter => {
                self.sh(&target.name, "unload br_netfilter", "set -e\nmodprobe -r br_netfilter\n! lsmod | grep -q '^br_netfilter '\n")
                    .await?;
                "`modprobe -r br_netfilter` (module not loaded now)".to_string()
            }
            FaultKind::Port6443 => {
                self.sh(&target.name, "occupy port 6443",
                    "set -e\nsystemctl stop kubelab-fault-6443 2>/dev/null || true\nsystemd-run --unit=kubelab-fault-6443 --quiet python3 -m http.server 6443 --bind 0.0.0.0\nfor _ in $(seq 50); do ss -Htln 'sport = :6443' | grep -q . && exit 0; sleep 0.2; done\necho 'listener did not come up' >&2; exit 1\n").await?;
                "a python3 http.server listens on 0.0.0.0:6443 (unit kubelab-fault-6443)".to_string()
            }
            FaultKind::CgroupDriver => {
                self.sh(&target.name, "switch docker to cgroupfs",
                    "set -e\npython3 - <<'PY'\nimport json, os\np = '/etc/docker/daemon.json'\nd = json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else {}\nd['exec-opts'] = ['native.cgroupdriver=cgroupfs']\njson.dump(d, open(p, 'w'), indent=2)\nPY\nsystemctl restart docker\ndocker info --format '{{.CgroupDriver}}'\n").await?;
                "/etc/docker/daemon.json exec-opts native.cgroupdriver=cgroupfs, docker restarted".to_string()
            }
            FaultKind::NetworkManager => {
                self.sh(&target.name, "install NetworkManager offline",
                    "set -e\nmkdir -p /etc/NetworkManager/conf.d\n# keep the harness's SSH path (eth0) out of NM's hands; NM still takes every other interface\nprintf '[keyfile]\\nunmanaged-devices=interface-name:eth0\\n' > /etc/NetworkManager/conf.d/kubelab-keep-eth0.conf\nDEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold /var/cache/kubelab-debs/*.deb >/tmp/kubelab-nm-install.log 2>&1 || { tail -20 /tmp/kubelab-nm-install.log >&2; exit 1; }\nsystemctl enable --now NetworkManager\nsystemctl is-active NetworkManager\n").await?;
                "network-manager installed from the image's offline .debs and started".to_string()
            }
            FaultKind::SecurityGroup | FaultKind::SecurityGroupIpip => {
                let filter = self.filter_xml(kind);
                let fname = self.filter_name(kind);
                let net = self.cfg().network_name();
                let nodes: Vec<(String, String, xml::Port)> =
                    self.state.nodes.iter().map(|n| (n.domain.clone(), n.mac.clone(), port(n).with_filter(&fname))).collect();
                self.hv(move |hv| {
                    hv.define_nwfilter(&filter)?;
                    for (dom, mac, port) in &nodes {
                        hv.update_device(dom, &xml::interface_xml(mac, &net, port, true))?;
                    }
                    Ok(())
                })
                .await?;
                if kind == FaultKind::SecurityGroup {
                    "nwfilter dropping TCP 179 and IP protocol 4 between the nodes attached to every node".to_string()
                } else {
                    "nwfilter dropping IP protocol 4 between the nodes attached to every node".to_string()
                }
            }
            FaultKind::LinkDown => {
                let (dom, mac, net, port) = (target.domain.clone(), target.mac.clone(), self.cfg().network_name(), port(target));
                self.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &port, false))).await?;
                self.shell.forget(&target.name).await;
                "libvirt link of the lab NIC set down".to_string()
            }
            FaultKind::CloneIdentity => self.inject_identity(target).await?,
            FaultKind::StaticIp => self.inject_static_ip(target).await?,
            FaultKind::JoinTokenExpired => unreachable!("guarded by live_skip in the offline profile"),
        };
        let fault = ActiveFault { kind, node: target.name.clone(), detail };
        let mut all = self.active();
        all.retain(|f| f.kind != kind);
        all.push(fault.clone());
        self.save(&all)?;
        Ok(fault)
    }

    async fn inject_identity(&self, target: &NodeState) -> Result<String, LabError> {
        let source = &self.state.nodes[0];
        if source.name == target.name {
            return Err(LabError::local("inject clone-identity", "pick a node other than the first (the clone's source)"));
        }
        // Shared machine-id and duplicate MAC, as in a clone that was never sysprepped.
        let mid = self.sh(&source.name, "read machine-id", "cat /etc/machine-id").await?.stdout.trim().to_string();
        // Duplicate product_uuid: the clone's SMBIOS system UUID is the source's. This is a
        // hardware property, so the domain is redefined and cold-restarted.
        let (dom, src_uuid, mac_src) = (target.domain.clone(), source.uuid.clone(), source.mac.clone());
        let own_mac = target.mac.clone();
        self.hv(move |hv| {
            let xml = hv.domains()?.into_iter().find(|d| d.name == dom).map(|d| d.xml).unwrap_or_default();
            let xml = with_smbios_uuid(&xml, Some(&src_uuid));
            hv.stop_domain(&dom)?;
            hv.define_domain(&xml)?;
            hv.start_domain(&dom)
        })
        .await?;
        self.shell.forget(&target.name).await;
        self.wait_ssh(&target.name, Duration::from_secs(600)).await?;
        // After the cold restart (a power cut would lose an unsynced write): the shared
        // machine-id, then the duplicate MAC, which makes the bridge see one MAC behind two ports.
        self.sh(&target.name, "copy machine-id", &format!("set -e\nprintf '%s\\n' '{mid}' > /etc/machine-id\nsync\n")).await?;
        // The clone's port carries the source's MAC too (the cloud's port for a clone that kept
        // its MAC); without this, the anti-spoofing filter would drop the clone's frames.
        // The MAC changes 2 s after this returns (detached), the port follows at once; the SSH
        // session is reopened afterwards.
        self.sh(&target.name, "copy MAC", &format!("set -e\nsystemd-run --on-active=2 --quiet ip link set dev eth0 address {mac_src}\n"))
            .await?;
        let (dom, mac, net, p) = (
            target.domain.clone(),
            target.mac.clone(),
            self.cfg().network_name(),
            xml::Port { mac: Some(mac_src.clone()), ..port(target) },
        );
        self.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &p, true))).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        self.shell.forget(&target.name).await;
        self.wait_ssh(&target.name, Duration::from_secs(120)).await?;
        self.sh(&target.name, "check the copied MAC", &format!("ip -o link show eth0 | grep -qi 'link/ether {mac_src}'")).await?;
        Ok(format!(
            "machine-id of {src} copied, SMBIOS product_uuid set to {src}'s ({uuid}), eth0 MAC {own_mac} replaced by {src}'s {mac_src}",
            src = source.name,
            uuid = source.uuid
        ))
    }

    async fn rebind_port(&self, target: &NodeState, ip: Ipv4Addr) -> Result<(), LabError> {
        let (dom, mac, net) = (target.domain.clone(), target.mac.clone(), self.cfg().network_name());
        self.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &xml::Port::new(ip), true))).await
    }

    /// Waits until the console of `node` reports `want` and not `gone` on the lab NIC.
    async fn wait_console(&self, node: &str, want: Ipv4Addr, gone: Ipv4Addr, budget: Duration) -> Result<String, LabError> {
        let log = self.lab.console_log(node);
        let t0 = Instant::now();
        loop {
            let text = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if let Some(block) = port::last_console_addrs(&text)
                && block.contains(&format!("inet {want}/"))
                && !block.contains(&format!("inet {gone}/"))
            {
                return Ok(block);
            }
            if t0.elapsed() > budget {
                return Err(LabError::local(
                    format!("move {node} to {want}"),
                    format!("its serial console did not report {want} within {} s", budget.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// The guide's mistake: the clone's address changed inside the guest (its netplan file,
    /// where the guide edited /etc/network/interfaces), the NIC and its port left as they are.
    async fn inject_static_ip(&self, target: &NodeState) -> Result<String, LabError> {
        let (old, new, prefix) = (target.ip, moved_address(self.cfg()), self.cfg().subnet.prefix_len());
        // The path that survives the cut: the guest prints its addresses on its serial console.
        self.sh(&target.name, "start the console address report", &port::console_report_start()).await?;
        let out = self.sh(&target.name, "change the address in netplan", &static_ip_script(old, new, prefix)).await?;
        self.shell.forget(&target.name).await;
        self.wait_console(&target.name, new, old, Duration::from_secs(120)).await?;
        Ok(format!(
            "{}: {old}/{prefix} → {new}/{prefix}, `netplan apply` (the guide edited /etc/network/interfaces); NIC and port left as they are ({} IP={old}); the node's serial console reports {new}",
            out.stdout.trim(),
            xml::PORT_FILTER
        ))
    }

    /// The guide's fix — the NIC re-created with the address fixed: the port is re-bound to the
    /// node's new address and the node answers there (pinned host key); then the lab's own
    /// address is restored in the guest and the port re-bound to it, so the lab is as planned.
    async fn heal_static_ip(&self, target: &NodeState) -> Result<String, LabError> {
        let (old, new, prefix) = (target.ip, moved_address(self.cfg()), self.cfg().subnet.prefix_len());
        let t0 = Instant::now();
        self.rebind_port(target, new).await?;
        let at_new = port::shell_at(self.state, &target.name, new)?;
        let back = loop {
            match at_new.run(&target.name, "ip -o -4 addr show dev eth0").await {
                Ok(o) if o.success() && o.stdout.contains(&format!("inet {new}/")) => break t0.elapsed(),
                Err(e @ crate::errors::RemoteError::HostKeyMismatch { .. }) => return Err(e.into()),
                _ if t0.elapsed() > Duration::from_secs(120) => {
                    return Err(LabError::local(
                        format!("heal static-ip on {}", target.name),
                        format!("no ssh at {new} within 120 s after the port was re-bound"),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        };
        let restore = static_ip_script(new, old, prefix);
        let out = at_new.run(&target.name, &restore).await?;
        if !out.success() {
            return Err(run_err(&target.name, "restore the address in netplan", &out));
        }
        self.wait_console(&target.name, old, new, Duration::from_secs(120)).await?;
        self.rebind_port(target, old).await?;
        self.shell.forget(&target.name).await;
        self.wait_ssh(&target.name, Duration::from_secs(120)).await?;
        self.sh(&target.name, "stop the console address report", &port::console_report_stop()).await?;
        Ok(format!(
            "port re-bound to {new} ({} IP={new}, `update-device --live`: the guide's fix, NIC re-created with the address fixed); ssh to {new} answered with the pinned host key after {:.0} s; then {old} restored in netplan and the port re-bound to {old}; all in {:.0} s",
            xml::PORT_FILTER,
            back.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        ))
    }

    /// Waits until `node` answers SSH again (reconnecting with backoff).
    pub async fn wait_ssh(&self, node: &str, budget: Duration) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let mut delay = Duration::from_secs(1);
        loop {
            match self.shell.run(node, "true").await {
                Ok(o) if o.success() => return Ok(t0.elapsed()),
                Ok(o) => return Err(run_err(node, "probe", &o)),
                Err(e) if t0.elapsed() > budget => {
                    return Err(LabError::SshNeverUp { node: node.into(), secs: budget.as_secs(), last: e.to_string() });
                }
                Err(_) => {}
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(8));
        }
    }

    /// Heals `kind` the way the guide says (re-applying the guide's provisioning step, removing
    /// the filter, rebooting the node, …) and forgets it.
    pub async fn heal(&self, kind: FaultKind, node: Option<&str>) -> Result<String, LabError> {
        let recorded = self.active().into_iter().find(|f| f.kind == kind);
        let target = match (node, &recorded) {
            (Some(n), _) => self.node(kind, Some(n))?,
            (None, Some(f)) => self.node(kind, Some(&f.node))?,
            (None, None) => self.node(kind, None)?,
        };
        let detail = if !kind.heal_steps().is_empty() {
            let plan = Plan::from_config(self.cfg()).map_err(|e| LabError::local("plan", e))?;
            let filter = StepFilter { only: kind.heal_steps().iter().map(|s| s.to_string()).collect(), from: None, until: None };
            Provisioner::new(self.shell.as_ref(), &plan)
                .filter(filter)
                .run()
                .await
                .map_err(|e| LabError::local("heal by provisioning", e))?;
            format!("re-applied the guide's step(s) {}", kind.heal_steps().join(", "))
        } else {
            match kind {
                FaultKind::Port6443 => {
                    self.sh(&target.name, "free port 6443", "systemctl stop kubelab-fault-6443 2>/dev/null || true\nfor _ in $(seq 50); do ss -Htln 'sport = :6443' | grep -q . || exit 0; sleep 0.2; done\nexit 1\n").await?;
                    "stopped the listener on 6443".into()
                }
                FaultKind::SecurityGroup | FaultKind::SecurityGroupIpip => {
                    let fname = self.filter_name(kind);
                    let net = self.cfg().network_name();
                    let nodes: Vec<(String, String, xml::Port)> =
                        self.state.nodes.iter().map(|n| (n.domain.clone(), n.mac.clone(), port(n))).collect();
                    self.hv(move |hv| {
                        for (dom, mac, port) in &nodes {
                            hv.update_device(dom, &xml::interface_xml(mac, &net, port, true))?;
                        }
                        hv.undefine_nwfilter(&fname)
                    })
                    .await?;
                    "filter detached from every node and undefined (the security group fixed)".into()
                }
                FaultKind::LinkDown => {
                    let (dom, mac, net, port) = (target.domain.clone(), target.mac.clone(), self.cfg().network_name(), port(target));
                    // The guide's remedy: reboot the VM. The cloud's fault is modelled as the
                    // link state, which the reboot (a fresh VM start on the cloud) clears.
                    self.hv(move |hv| {
                        hv.update_device(&dom, &xml::interface_xml(&mac, &net, &port, true))?;
                        hv.reset_domain(&dom)
                    })
                    .await?;
                    self.shell.forget(&target.name).await;
                    let t = self.wait_ssh(&target.name, Duration::from_secs(600)).await?;
                    format!("rebooted {} (hard reset); ssh back after {:.0} s", target.name, t.as_secs_f64())
                }
                FaultKind::CloneIdentity => {
                    let (dom, mac, p) = (target.domain.clone(), target.mac.clone(), port(target));
                    // Detached: once the MAC is back, the port (still bound to the source's MAC)
                    // drops the reply until the cold restart below restores the port.
                    let _ = self
                        .shell
                        .run(&target.name, &format!("systemd-run --on-active=1 --quiet ip link set dev eth0 address {mac}"))
                        .await;
                    self.hv(move |hv| {
                        let xml = hv.domains()?.into_iter().find(|d| d.name == dom).map(|d| d.xml).unwrap_or_default();
                        hv.stop_domain(&dom)?;
                        hv.define_domain(&xml::with_port(&with_smbios_uuid(&xml, None), &mac, &p))?;
                        hv.start_domain(&dom)
                    })
                    .await?;
                    self.shell.forget(&target.name).await;
                    self.wait_ssh(&target.name, Duration::from_secs(600)).await?;
                    self.sh(&target.name, "regenerate machine-id", "set -e\nrm -f /etc/machine-id\nsystemd-machine-id-setup\n").await?;
                    "identity regenerated: own MAC and product_uuid back (cold restart), new machine-id".into()
                }
                FaultKind::StaticIp => self.heal_static_ip(target).await?,
                FaultKind::JoinTokenExpired => {
                    return Err(LabError::local(
                        "heal join-token-expired",
                        "run `kubeadm token create` on node0 and join again (guide profile)",
                    ));
                }
                _ => unreachable!("kinds with heal steps handled above"),
            }
        };
        let mut all = self.active();
        all.retain(|f| f.kind != kind);
        self.save(&all)?;
        Ok(detail)
    }
}

/// The port as kubelab assigned it: the cloud's anti-spoofing filter bound to the node's address.
fn port(n: &NodeState) -> xml::Port {
    xml::Port::new(n.ip)
}

/// The address the `static-ip` fault moves a node to: host 150 of the lab subnet.
pub fn moved_address(cfg: &LabConfig) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cfg.subnet.network()) + 150)
}

/// Moves the node's address from `from` to `to` the way an operator does it in the guest: the
/// static address edited in its netplan file, then `netplan apply` (detached, so the SSH
/// session that runs this returns before the address goes). Prints the file it edited.
pub fn static_ip_script(from: Ipv4Addr, to: Ipv4Addr, prefix: u8) -> String {
    let re = from.to_string().replace('.', "\\.");
    format!(
        "set -e\nf=$(grep -l -F -- '{from}/{prefix}' /etc/netplan/*.yaml | head -n1)\nif [ -z \"$f\" ]; then echo 'no netplan file holds {from}/{prefix}' >&2; exit 1; fi\nsed -i 's|{re}/{prefix}|{to}/{prefix}|' \"$f\"\necho \"$f\"\nsystemd-run --on-active=2 --quiet netplan apply\n"
    )
}

/// Adds (Some) or removes (None) a QEMU `-smbios type=1,uuid=…` override, which makes the
/// guest's product_uuid differ from the domain UUID (libvirt's own `<sysinfo>` must match it).
pub fn with_smbios_uuid(domain_xml: &str, uuid: Option<&str>) -> String {
    const NS: &str = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'";
    let mut s = domain_xml.to_string();
    // Drop an earlier override.
    if let Some(i) = s.find("<qemu:commandline>")
        && let Some(j) = s[i..].find("</qemu:commandline>")
    {
        s.replace_range(i..i + j + "</qemu:commandline>".len(), "");
    }
    if let Some(u) = uuid {
        if !s.contains("xmlns:qemu=") {
            s = s.replacen("<domain ", &format!("<domain {NS} "), 1);
        }
        let block =
            format!("<qemu:commandline><qemu:arg value='-smbios'/><qemu:arg value='type=1,uuid={}'/></qemu:commandline>", xml::esc(u));
        if let Some(i) = s.rfind("</domain>") {
            s.insert_str(i, &block);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_every_kind_names_its_checks() {
        for k in ALL {
            assert_eq!(FaultKind::from_id(k.id()), Some(*k));
            assert!(!k.pitfall().is_empty());
            if *k != FaultKind::LinkDown {
                assert!(!k.checks().is_empty(), "{k:?}");
                for c in k.checks().iter().chain(k.still_passing()) {
                    assert!(crate::checks::spec(c).is_some(), "{k:?} names unknown check {c}");
                }
            }
        }
        assert!(FaultKind::JoinTokenExpired.live_skip(Profile::Offline).is_some());
        assert!(FaultKind::Swap.live_skip(Profile::Offline).is_none());
    }

    #[test]
    fn static_ip_script_snapshot_and_shellcheck() {
        let s = static_ip_script(Ipv4Addr::new(192, 168, 1, 135), Ipv4Addr::new(192, 168, 1, 150), 24);
        insta::assert_snapshot!(s);
        assert_eq!(moved_address(&LabConfig::default()), Ipv4Addr::new(192, 168, 1, 150));
        for script in [s, port::console_report_start(), port::console_report_stop()] {
            let mut child = std::process::Command::new("shellcheck")
                .args(["-s", "bash", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("shellcheck is required: apt-get install shellcheck (ci/labenv setup)");
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(format!("#!/bin/bash\n{script}").as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stdout));
        }
    }

    #[test]
    fn smbios_override_is_added_and_removed() {
        let x = "<domain type='qemu'>\n  <name>n</name>\n</domain>\n";
        let y = with_smbios_uuid(x, Some("11111111-2222-3333-4444-555555555555"));
        assert!(y.starts_with("<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' type='qemu'>"), "{y}");
        assert!(y.contains("<qemu:arg value='type=1,uuid=11111111-2222-3333-4444-555555555555'/></qemu:commandline></domain>"));
        let z = with_smbios_uuid(&y, None);
        assert!(!z.contains("qemu:commandline"), "{z}");
        assert_eq!(with_smbios_uuid(&y, Some("a")).matches("qemu:commandline>").count(), 2);
    }
}
