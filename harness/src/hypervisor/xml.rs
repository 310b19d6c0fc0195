//! Pure rendering and reading of libvirt XML (domains, networks, pools, volumes, filters).
//! Everything kubelab creates carries a `<kubelab:lab name=…>` metadata tag (or a name prefix
//! where libvirt has no metadata), so `kubelab down` finds it even after a crash.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

/// XML namespace of kubelab's metadata element.
pub const METADATA_NS: &str = "https://kubelab.invalid/xmlns/lab/1";

/// Escapes text for XML attribute or element content.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn metadata(lab: &str, node: Option<&str>) -> String {
    let node = node.map(|n| format!(" node=\"{}\"", esc(n))).unwrap_or_default();
    format!("<metadata><kubelab:lab xmlns:kubelab=\"{METADATA_NS}\" name=\"{}\"{node}/></metadata>", esc(lab))
}

/// An isolated lab network: no `<forward>` (nothing is routed or NATed out), no DHCP, no DNS.
pub fn network_xml(name: &str, lab: &str, gateway: Ipv4Addr, subnet: Ipv4Net) -> String {
    format!(
        "<network>\n  <name>{}</name>\n  {}\n  <bridge stp='off' delay='0'/>\n  <dns enable='no'/>\n  <ip address='{gateway}' prefix='{}'/>\n</network>\n",
        esc(name),
        metadata(lab, None),
        subnet.prefix_len()
    )
}

/// A directory storage pool.
pub fn pool_xml(name: &str, path: &Path) -> String {
    format!(
        "<pool type='dir'>\n  <name>{}</name>\n  <target>\n    <path>{}</path>\n  </target>\n</pool>\n",
        esc(name),
        esc(&path.display().to_string())
    )
}

/// A volume that an upload fills: `capacity_bytes` is the size of the file uploaded (for a qcow2
/// file its byte length; the guest-visible size stays in the file's header), nothing allocated yet.
pub fn upload_volume_xml(name: &str, format: &str, capacity_bytes: u64) -> String {
    format!(
        "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{capacity_bytes}</capacity>\n  <allocation unit='bytes'>0</allocation>\n  <target>\n    <format type='{}'/>\n  </target>\n</volume>\n",
        esc(name),
        esc(format)
    )
}

/// A qcow2 linked clone: an empty overlay whose backing store is the base image.
pub fn overlay_volume_xml(name: &str, base: &Path, base_format: &str, capacity_bytes: u64) -> String {
    format!(
        "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{capacity_bytes}</capacity>\n  <target>\n    <format type='qcow2'/>\n  </target>\n  <backingStore>\n    <path>{}</path>\n    <format type='{}'/>\n  </backingStore>\n</volume>\n",
        esc(name),
        esc(&base.display().to_string()),
        esc(base_format)
    )
}

/// How a guest boots.
#[derive(Clone, Debug)]
pub enum Boot {
    /// Direct kernel boot (the offline image has no bootloader).
    Kernel {
        /// vmlinuz path on the hypervisor.
        kernel: PathBuf,
        /// initrd path.
        initrd: PathBuf,
        /// Kernel command line.
        cmdline: String,
    },
    /// BIOS boot from the first disk (the Ubuntu cloud image).
    Disk,
}

/// Everything that makes one lab node's domain.
#[derive(Clone, Debug)]
pub struct DomainSpec {
    /// Domain name.
    pub name: String,
    /// Lab name (metadata tag).
    pub lab: String,
    /// Node name (metadata tag).
    pub node: String,
    /// Domain UUID = SMBIOS product_uuid.
    pub uuid: String,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// `kvm` or `qemu` (TCG).
    pub domain_type: String,
    /// Boot method.
    pub boot: Boot,
    /// Root disk (qcow2 overlay).
    pub disk: PathBuf,
    /// NoCloud seed (raw ISO, read-only, virtio).
    pub seed: PathBuf,
    /// libvirt network to attach to.
    pub network: String,
    /// MAC of the lab NIC.
    pub mac: String,
    /// The port's filter binding (the cloud's anti-spoofing: the address the port allows).
    pub port: Port,
    /// Serial console log file on the host (boot-progress detection).
    pub console_log: PathBuf,
    /// The serial port is a pty that libvirt's console stream can read (logged to
    /// `console_log` as well); otherwise it writes only the file (read there directly).
    pub console_stream: bool,
}

/// Renders a domain. Disks are virtio (the Debian cloud kernel has no AHCI); the seed is a
/// read-only raw virtio disk with label `cidata`.
pub fn domain_xml(s: &DomainSpec) -> String {
    let os = match &s.boot {
        Boot::Kernel { kernel, initrd, cmdline } => format!(
            "<os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <kernel>{}</kernel>\n    <initrd>{}</initrd>\n    <cmdline>{}</cmdline>\n  </os>",
            esc(&kernel.display().to_string()),
            esc(&initrd.display().to_string()),
            esc(cmdline)
        ),
        Boot::Disk => "<os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>".to_string(),
    };
    let cpu = if s.domain_type == "kvm" { "<cpu mode='host-passthrough'/>".to_string() } else { tcg_cpu(TCG_CPU_MODEL) };
    format!(
        r#"<domain type='{dt}'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  {meta}
  <memory unit='MiB'>{mem}</memory>
  <vcpu>{vcpus}</vcpu>
  {os}
  {cpu}
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='{mac}'/>
      <source network='{net}'/>
      <model type='virtio'/>{port}
    </interface>
    {serial}
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>
"#,
        dt = esc(&s.domain_type),
        name = esc(&s.name),
        uuid = esc(&s.uuid),
        meta = metadata(&s.lab, Some(&s.node)),
        mem = s.memory_mib,
        vcpus = s.vcpus,
        disk = esc(&s.disk.display().to_string()),
        seed = esc(&s.seed.display().to_string()),
        mac = esc(&s.mac),
        net = esc(&s.network),
        port = s.port.filterref().replace('\n', "\n      "),
        serial = serial_xml(&esc(&s.console_log.display().to_string()), s.console_stream),
    )
}

/// The serial port and its console: a file, or a pty whose output is also logged to the file.
fn serial_xml(log: &str, stream: bool) -> String {
    if stream {
        format!(
            "<serial type='pty'>\n      <log file='{log}' append='off'/>\n      <target port='0'/>\n    </serial>\n    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>"
        )
    } else {
        format!(
            "<serial type='file'>\n      <source path='{log}'/>\n      <target port='0'/>\n    </serial>\n    <console type='file'>\n      <source path='{log}'/>\n      <target type='serial' port='0'/>\n    </console>"
        )
    }
}

/// libvirt's built-in anti-spoofing filter (no-mac-spoofing, no-ip-spoofing, no-arp-spoofing,
/// allow-incoming-ipv4, …): what an OpenStack port with port security does. Never undefined
/// by kubelab (it belongs to libvirt).
pub const PORT_FILTER: &str = "clean-traffic";

/// What a lab NIC's port lets through, like a cloud port with port security: traffic from
/// `ip` (and `mac`, when it differs from the NIC's own) only. `filter` replaces
/// [`PORT_FILTER`] by a kubelab filter that itself references it (a security group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Filter bound to the NIC (default [`PORT_FILTER`]).
    pub filter: String,
    /// The address the port allows (the filter's `IP` parameter).
    pub ip: Ipv4Addr,
    /// The MAC the port allows when it is not the NIC's own (the filter's `MAC` parameter).
    pub mac: Option<String>,
}

impl Port {
    /// The cloud's default port: [`PORT_FILTER`] bound to `ip`.
    pub fn new(ip: Ipv4Addr) -> Self {
        Port { filter: PORT_FILTER.into(), ip, mac: None }
    }

    /// The same port behind another filter.
    pub fn with_filter(self, filter: &str) -> Self {
        Port { filter: filter.into(), ..self }
    }

    /// The `<filterref>` element (two-space indented parameters).
    pub fn filterref(&self) -> String {
        let mac = self.mac.as_ref().map(|m| format!("\n  <parameter name='MAC' value='{}'/>", esc(m))).unwrap_or_default();
        format!("\n<filterref filter='{}'>\n  <parameter name='IP' value='{}'/>{mac}\n</filterref>", esc(&self.filter), self.ip)
    }
}

/// The lab NIC of a domain as a device XML (for `update_device`), bound to its port filter.
pub fn interface_xml(mac: &str, network: &str, port: &Port, link_up: bool) -> String {
    let link = if link_up { "up" } else { "down" };
    format!(
        "<interface type='network'>\n  <mac address='{}'/>\n  <source network='{}'/>\n  <model type='virtio'/>{}\n  <link state='{link}'/>\n</interface>\n",
        esc(mac),
        esc(network),
        port.filterref().replace('\n', "\n  ")
    )
}

/// A security group as an nwfilter on top of the port's anti-spoofing filter: drops IP
/// protocol 4 (IPIP) — and with `drop_bgp` TCP 179 (BGP) — from and to each of `ips`, so traffic
/// between the nodes dies while the hypervisor's SSH to them is untouched.
pub fn security_group_xml(name: &str, ips: &[Ipv4Addr], drop_bgp: bool) -> String {
    let mut rules = String::new();
    for ip in ips {
        if drop_bgp {
            for port in ["dstportstart", "srcportstart"] {
                rules.push_str(&format!(
                    "  <rule action='drop' direction='inout' priority='-900'><tcp srcipaddr='{ip}' {port}='179'/></rule>\n  <rule action='drop' direction='inout' priority='-900'><tcp dstipaddr='{ip}' {port}='179'/></rule>\n"
                ));
            }
        }
        rules.push_str(&format!(
            "  <rule action='drop' direction='inout' priority='-900'><ip srcipaddr='{ip}' protocol='4'/></rule>\n  <rule action='drop' direction='inout' priority='-900'><ip dstipaddr='{ip}' protocol='4'/></rule>\n"
        ));
    }
    // The security group sits on top of the port's anti-spoofing, as on the cloud. Its drops
    // come first (priority -900): clean-traffic accepts outgoing IPv4 at -650 and incoming
    // IPv4 in its ipv4 chain (-700), so later rules would never see the traffic.
    format!("<filter name='{}' chain='root'>\n  <filterref filter='{PORT_FILTER}'/>\n{rules}</filter>\n", esc(name))
}

/// A minimal shut-off domain owning `disk` (qcow2): the original `virt-clone` copies in the
/// clone benchmark.
pub fn clone_source_domain_xml(name: &str, disk: &Path) -> String {
    format!(
        "<domain type='qemu'><name>{}</name><memory unit='MiB'>256</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        esc(name),
        esc(&disk.display().to_string())
    )
}

/// A live internal snapshot of a node: the qcow2 overlay (`vda`) with memory; the raw,
/// read-only seed disk (`vdb`) is excluded (raw disks cannot hold internal snapshots).
pub fn snapshot_xml(name: &str) -> String {
    format!(
        "<domainsnapshot><name>{}</name><description>kubelab snapshot</description><memory snapshot='internal'/><disks><disk name='vda' snapshot='internal'/><disk name='vdb' snapshot='no'/></disks></domainsnapshot>",
        esc(name)
    )
}

/// The guest CPU model under TCG (no KVM). Chosen by measurement: `kubelab bench boot
/// --baseline cpu=…` boots both in the same run (docs/boot.md).
pub const TCG_CPU_MODEL: &str = "qemu64";

/// The `<cpu>` element of a TCG guest with CPU `model` (`qemu64`, a named model, or `max`:
/// libvirt refuses `max` as a custom model and spells it `mode='maximum'`).
pub fn tcg_cpu(model: &str) -> String {
    if model == "max" {
        return "<cpu mode='maximum' migratable='off'/>".into();
    }
    format!("<cpu mode='custom' match='exact'><model fallback='allow'>{}</model></cpu>", esc(model))
}

/// A defined domain's XML with another TCG CPU model and/or vCPU count, everything else kept
/// (what `kubelab bench boot` varies between a baseline and a candidate).
pub fn retune(xml: &str, cpu_model: Option<&str>, vcpus: Option<u32>) -> String {
    let mut s = xml.to_string();
    if let Some(n) = vcpus
        && let Some(i) = s.find("<vcpu")
        && let Some(j) = s[i..].find("</vcpu>").map(|j| i + j)
        && let Some(k) = s[i..j].find('>').map(|k| i + k + 1)
    {
        s.replace_range(k..j, &n.to_string());
    }
    if let Some(model) = cpu_model {
        let dt = super::parse::root_attr(&s, "type").unwrap_or_else(|| "qemu".into());
        s = super::edit::retype(&s, &dt);
        if let Some(j) = s.find("</vcpu>").map(|j| j + "</vcpu>".len()) {
            s.insert_str(j, &format!("\n  {}", tcg_cpu(model)));
        }
    }
    s
}

/// A random locally administered MAC in QEMU's 52:54:00 range.
pub fn random_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::edit::{retype, with_port};
    use crate::hypervisor::parse::{element, interface_of, lab_of, macs, network_subnets, node_of, port_binding};

    fn spec() -> DomainSpec {
        DomainSpec {
            name: "kubelab-ICE-k8s-machines-node0".into(),
            lab: "kubelab".into(),
            node: "ICE-k8s-machines-node0".into(),
            uuid: "6c1a7a8e-64f1-4b5e-9d59-0d3c1c1f0a01".into(),
            memory_mib: 2048,
            vcpus: 2,
            domain_type: "qemu".into(),
            boot: Boot::Kernel {
                kernel: "/img/vmlinuz".into(),
                initrd: "/img/initrd.img".into(),
                cmdline: "root=/dev/vda rw console=ttyS0".into(),
            },
            disk: "/var/lib/kubelab/kubelab/pool/node0.qcow2".into(),
            seed: "/var/lib/kubelab/kubelab/pool/node0-seed.iso".into(),
            network: "kubelab-net".into(),
            mac: "52:54:00:aa:bb:cc".into(),
            port: Port::new(Ipv4Addr::new(192, 168, 1, 134)),
            console_log: "/var/lib/kubelab/kubelab/node0.console.log".into(),
            console_stream: false,
        }
    }

    #[test]
    fn domain_xml_snapshot() {
        insta::assert_snapshot!(domain_xml(&spec()));
    }

    #[test]
    fn a_console_stream_domain_has_a_logged_pty_serial() {
        let x = domain_xml(&DomainSpec { console_stream: true, ..spec() });
        assert!(
            x.contains("<serial type='pty'>\n      <log file='/var/lib/kubelab/kubelab/node0.console.log' append='off'/>\n      <target port='0'/>\n    </serial>\n    <console type='pty'>"),
            "{x}"
        );
        assert!(!x.contains("<serial type='file'>") && !x.contains("<console type='file'>"), "{x}");
        // The file serial is unchanged (snapshot above) and has no pty.
        assert!(!domain_xml(&spec()).contains("pty"));
    }

    #[test]
    fn metadata_round_trips() {
        let x = domain_xml(&spec());
        assert_eq!(lab_of(&x).as_deref(), Some("kubelab"));
        assert_eq!(node_of(&x).as_deref(), Some("ICE-k8s-machines-node0"));
        assert_eq!(macs(&x), vec!["52:54:00:aa:bb:cc".to_string()]);
        assert_eq!(element(&x, "uuid").as_deref(), Some("6c1a7a8e-64f1-4b5e-9d59-0d3c1c1f0a01"));
    }

    #[test]
    fn network_is_isolated_and_tagged() {
        let x = network_xml("kubelab-net", "kubelab", Ipv4Addr::new(192, 168, 1, 1), "192.168.1.0/24".parse().unwrap());
        assert!(!x.contains("<forward"), "lab networks must never route or NAT out");
        assert!(x.contains("<dns enable='no'/>"));
        assert_eq!(lab_of(&x).as_deref(), Some("kubelab"));
        assert_eq!(network_subnets(&x), vec!["192.168.1.0/24".parse::<Ipv4Net>().unwrap()]);
        let nat = "<network><ip address=\"192.168.122.1\" netmask=\"255.255.255.0\"><dhcp/></ip></network>";
        assert_eq!(network_subnets(nat), vec!["192.168.122.0/24".parse::<Ipv4Net>().unwrap()]);
    }

    #[test]
    fn retune_changes_only_cpu_and_vcpus() {
        let x = domain_xml(&spec());
        assert!(x.contains(&tcg_cpu(TCG_CPU_MODEL)), "{x}");
        let t = retune(&x, Some("Skylake-Client"), Some(1));
        assert!(
            t.contains("<vcpu>1</vcpu>\n  <cpu mode='custom' match='exact'><model fallback='allow'>Skylake-Client</model></cpu>"),
            "{t}"
        );
        assert!(retune(&x, Some("max"), None).contains("<cpu mode='maximum' migratable='off'/>"));
        assert_eq!(t.matches("<cpu").count(), 1, "{t}");
        assert_eq!(retune(&x, None, None), x);
        // libvirt's own dumpxml form.
        let live = "<domain type='qemu' id='4'>\n  <vcpu placement='static'>2</vcpu>\n  <cpu mode='custom' match='exact' check='none'>\n    <model fallback='allow'>qemu64</model>\n  </cpu>\n</domain>";
        assert_eq!(
            retune(live, Some("max"), Some(3)),
            "<domain type='qemu' id='4'>\n  <vcpu placement='static'>3</vcpu>\n  <cpu mode='maximum' migratable='off'/>\n  \n</domain>"
        );
    }

    #[test]
    fn retype_switches_to_tcg() {
        let kvm = domain_xml(&DomainSpec { domain_type: "kvm".into(), ..spec() });
        assert!(kvm.contains("host-passthrough"));
        let tcg = retype(&kvm, "qemu");
        assert!(tcg.starts_with("<domain type='qemu'>"), "{tcg}");
        assert!(!tcg.contains("<cpu"), "{tcg}");
        let live = "<domain type='kvm' id='3'>\n<cpu mode='host-passthrough' check='none' migratable='on'/>\n<x/></domain>";
        assert_eq!(retype(live, "qemu"), "<domain type='qemu' id='3'>\n\n<x/></domain>");
        let nested = "<domain type=\"kvm\"><cpu mode='custom'><model>qemu64</model></cpu><y/></domain>";
        assert_eq!(retype(nested, "qemu"), "<domain type=\"qemu\"><y/></domain>");
    }

    #[test]
    fn port_is_bound_to_the_assigned_address() {
        let x = domain_xml(&spec());
        assert!(
            x.contains("<filterref filter='clean-traffic'>\n        <parameter name='IP' value='192.168.1.134'/>\n      </filterref>"),
            "{x}"
        );
        let i = interface_of(&x, "52:54:00:AA:BB:CC").unwrap();
        assert_eq!(port_binding(&i), Some(("clean-traffic".to_string(), vec![Ipv4Addr::new(192, 168, 1, 134)])));
        let moved = Port::new(Ipv4Addr::new(192, 168, 1, 150));
        let y = with_port(&x, "52:54:00:aa:bb:cc", &moved);
        assert_eq!(port_binding(&interface_of(&y, "52:54:00:aa:bb:cc").unwrap()).unwrap().1, vec![Ipv4Addr::new(192, 168, 1, 150)]);
        assert_eq!(y.matches("<filterref").count(), 1);
        insta::assert_snapshot!(interface_xml("52:54:00:aa:bb:cc", "kubelab-net", &moved, true));
        let sg = Port { mac: Some("52:54:00:00:00:01".into()), ..moved.with_filter("kubelab-security-group") };
        let z = interface_xml("52:54:00:aa:bb:cc", "kubelab-net", &sg, false);
        assert!(
            z.contains("<filterref filter='kubelab-security-group'>")
                && z.contains("name='MAC' value='52:54:00:00:00:01'")
                && z.contains("<link state='down'/>"),
            "{z}"
        );
    }

    #[test]
    fn port_binding_reads_libvirts_own_dumpxml() {
        // virsh dumpxml of a running domain (libvirt 11): filterref with its parameter, alias, …
        let live = "<interface type='network'>\n      <mac address='52:54:00:4e:7d:10'/>\n      <source network='kl-jc-net' portid='0b1c' bridge='virbr1'/>\n      <target dev='vnet1'/>\n      <model type='virtio'/>\n      <filterref filter='clean-traffic'>\n        <parameter name='IP' value='192.168.3.135'/>\n      </filterref>\n      <link state='up'/>\n      <alias name='net0'/>\n    </interface>";
        assert_eq!(port_binding(live), Some(("clean-traffic".to_string(), vec![Ipv4Addr::new(192, 168, 3, 135)])));
        assert_eq!(port_binding("<interface type='network'><mac address='x'/></interface>"), None);
    }

    #[test]
    fn macs_are_qemu_range_and_vary() {
        let a: Vec<String> = (0..20).map(|_| random_mac()).collect();
        assert!(a.iter().all(|m| m.starts_with("52:54:00:") && m.len() == 17));
        let uniq: std::collections::HashSet<_> = a.iter().collect();
        assert!(uniq.len() > 15);
    }
}
