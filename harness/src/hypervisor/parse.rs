//! Reading libvirt XML with quick-xml's event reader: the facts kubelab takes from what libvirt
//! returns (owner tags, names, MACs, subnets, port bindings, an interface's verbatim text).
//! XML that does not parse yields nothing (`None` / empty), never a guess.

use std::net::Ipv4Addr;
use std::ops::Range;

use ipnet::Ipv4Net;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// One start or empty tag: its qualified name and unescaped attributes.
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn of(e: &BytesStart<'_>) -> Tag {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let attrs = e
            .attributes()
            .flatten()
            .map(|a| {
                let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                (key, value)
            })
            .collect();
        Tag { name, attrs }
    }

    fn attr(&self, key: &str) -> Option<String> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// Calls `f` with every start/empty tag, its depth (root = 1) and the byte offset where it
/// begins; `f` returns `Some` to stop with a value. `None` when nothing matched or the XML is
/// broken.
fn find_tag<T>(xml: &str, mut f: impl FnMut(&Tag, usize, usize, &mut Reader<&[u8]>) -> Option<T>) -> Option<T> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if let Some(v) = f(&Tag::of(&e), depth, before, &mut reader) {
                    return Some(v);
                }
            }
            Ok(Event::Empty(e)) => {
                if let Some(v) = f(&Tag::of(&e), depth + 1, before, &mut reader) {
                    return Some(v);
                }
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Every start/empty tag named `name`.
fn all_tags(xml: &str, name: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    find_tag::<()>(xml, |t, _, _, _| {
        if t.name == name {
            out.push(Tag { name: t.name.clone(), attrs: t.attrs.clone() });
        }
        None
    });
    out
}

/// The lab that owns a resource, read from its `<kubelab:lab name=…>` metadata tag.
pub fn lab_of(xml: &str) -> Option<String> {
    find_tag(xml, |t, _, _, _| if t.name == "kubelab:lab" { t.attr("name") } else { None })
}

/// The node a domain belongs to, read from its metadata tag.
pub fn node_of(xml: &str) -> Option<String> {
    find_tag(xml, |t, _, _, _| if t.name == "kubelab:lab" { Some(t.attr("node")) } else { None }).flatten()
}

/// An attribute of the root element (`<domain type=…>`, `<filter name=…>`).
pub fn root_attr(xml: &str, key: &str) -> Option<String> {
    find_tag(xml, |t, depth, _, _| if depth == 1 { Some(t.attr(key)) } else { None }).flatten()
}

/// Text of the first `<tag>` element anywhere (e.g. `name`, `uuid`, `path`), trimmed.
pub fn element(xml: &str, tag: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().as_ref() == tag.as_bytes() => {
                let end = e.to_end().into_owned();
                let text = reader.read_text(end.name()).ok()?;
                let text = text.decode().ok()?;
                let text = quick_xml::escape::unescape(&text).ok()?.trim().to_string();
                return Some(text);
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// All MAC addresses of a domain's interfaces (`<mac address=…>`).
pub fn macs(xml: &str) -> Vec<String> {
    all_tags(xml, "mac").iter().filter_map(|t| t.attr("address")).collect()
}

/// The serial console's log file of a domain (`<serial type='file'><source path=…>`).
pub fn serial_log(domain_xml: &str) -> Option<String> {
    let range = element_range(domain_xml, |t| t.name == "serial" && t.attr("type").as_deref() == Some("file"))?;
    all_tags(&domain_xml[range], "source").first().and_then(|t| t.attr("path"))
}

/// The IPv4 addresses of a network XML with their prefixes (`<ip address=… netmask=…|prefix=…>`,
/// `family` absent or `ipv4`). Without either, libvirt takes the address class's netmask.
pub fn network_addresses(xml: &str) -> Vec<Ipv4Net> {
    all_tags(xml, "ip")
        .iter()
        .filter(|t| t.attr("family").is_none_or(|f| f == "ipv4"))
        .filter_map(|t| {
            let addr = t.attr("address")?.parse::<Ipv4Addr>().ok()?;
            let prefix = match (t.attr("prefix"), t.attr("netmask")) {
                (Some(p), _) => p.parse::<u8>().ok()?,
                (None, Some(m)) => ipnet::ipv4_mask_to_prefix(m.parse().ok()?).ok()?,
                (None, None) => match addr.octets()[0] {
                    0..=127 => 8,
                    128..=191 => 16,
                    _ => 24,
                },
            };
            Ipv4Net::new(addr, prefix).ok()
        })
        .collect()
}

/// IPv4 subnets a network XML claims ([`network_addresses`], truncated to the network).
pub fn network_subnets(xml: &str) -> Vec<Ipv4Net> {
    network_addresses(xml).iter().map(Ipv4Net::trunc).collect()
}

/// The bridge of a network XML (`<bridge name=…>`).
pub fn bridge_of(xml: &str) -> Option<String> {
    all_tags(xml, "bridge").first().and_then(|t| t.attr("name"))
}

/// Byte range of the first element (start tag to end tag, inclusive) whose start tag `pick`s.
fn element_range(xml: &str, mut pick: impl FnMut(&Tag) -> bool) -> Option<Range<usize>> {
    let mut reader = Reader::from_str(xml);
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if pick(&Tag::of(&e)) {
                    let end = e.to_end().into_owned();
                    reader.read_to_end(end.name()).ok()?;
                    return Some(before..reader.buffer_position() as usize);
                }
            }
            Ok(Event::Empty(e)) if pick(&Tag::of(&e)) => return Some(before..reader.buffer_position() as usize),
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Byte range of the first element named `name` (start tag to end tag, inclusive).
pub(super) fn first_element_range(xml: &str, name: &str) -> Option<Range<usize>> {
    element_range(xml, |t| t.name == name)
}

/// Byte range of the value of the root element's attribute `key` (between its quotes).
pub(super) fn root_attr_value_range(xml: &str, key: &str) -> Option<Range<usize>> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let a = e.attributes().flatten().find(|a| a.key.as_ref() == key.as_bytes())?;
                // The reader borrows from `xml`: the value's offset is where it sits in `xml`.
                let start = (a.value.as_ptr() as usize).checked_sub(xml.as_ptr() as usize)?;
                return (start + a.value.len() <= xml.len()).then_some(start..start + a.value.len());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Byte range of the `<interface>` element of a domain's XML whose MAC is `mac`.
pub fn interface_range(domain_xml: &str, mac: &str) -> Option<Range<usize>> {
    let mut from = 0;
    while let Some(r) = element_range(&domain_xml[from..], |t| t.name == "interface") {
        let r = from + r.start..from + r.end;
        if macs(&domain_xml[r.clone()]).iter().any(|m| m.eq_ignore_ascii_case(mac)) {
            return Some(r);
        }
        from = r.end;
    }
    None
}

/// The `<interface>` element of a domain's XML whose MAC is `mac`, verbatim (libvirt's own text).
pub fn interface_of(domain_xml: &str, mac: &str) -> Option<String> {
    interface_range(domain_xml, mac).map(|r| domain_xml[r].to_string())
}

/// A port's binding as libvirt reports it in an `<interface>` element: the filter name and
/// the values of its `IP` parameters.
pub fn port_binding(interface: &str) -> Option<(String, Vec<Ipv4Addr>)> {
    let range = element_range(interface, |t| t.name == "filterref")?;
    let el = &interface[range];
    let filter = all_tags(el, "filterref").first()?.attr("filter")?;
    let ips = all_tags(el, "parameter")
        .iter()
        .filter(|t| t.attr("name").as_deref() == Some("IP"))
        .filter_map(|t| t.attr("value")?.parse().ok())
        .collect();
    Some((filter, ips))
}

/// The `<link state=…>` of an interface (`up` when absent, as libvirt defaults it).
pub fn link_state(interface: &str) -> String {
    all_tags(interface, "link").first().and_then(|t| t.attr("state")).unwrap_or_else(|| "up".into())
}

/// Whether a host's capabilities (`virConnectGetCapabilities`, what `virsh capabilities` prints)
/// offer `<domain type='kvm'/>` for an x86_64 `<guest>`. XML that does not parse offers nothing.
pub fn kvm_offered(capabilities_xml: &str) -> bool {
    let mut reader = Reader::from_str(capabilities_xml);
    let (mut in_guest, mut x86_64) = (false, false);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let t = Tag::of(&e);
                match t.name.as_str() {
                    "guest" => (in_guest, x86_64) = (true, false),
                    "arch" if in_guest => x86_64 = t.attr("name").as_deref() == Some("x86_64"),
                    "domain" if in_guest && x86_64 && t.attr("type").as_deref() == Some("kvm") => return true,
                    _ => {}
                }
            }
            Ok(Event::End(e)) if e.name().as_ref() == b"guest" => in_guest = false,
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `virsh dumpxml` of a running lab domain's NIC (libvirt 11), captured on the lab runner.
    const LIVE_INTERFACE: &str = "<interface type='network'>\n      <mac address='52:54:00:4e:7d:10'/>\n      <source network='kl-jc-net' portid='0b1c' bridge='virbr1'/>\n      <target dev='vnet1'/>\n      <model type='virtio'/>\n      <filterref filter='clean-traffic'>\n        <parameter name='IP' value='192.168.3.135'/>\n      </filterref>\n      <link state='up'/>\n      <alias name='net0'/>\n    </interface>";

    #[test]
    fn port_binding_of_a_live_interface() {
        assert_eq!(port_binding(LIVE_INTERFACE), Some(("clean-traffic".to_string(), vec![Ipv4Addr::new(192, 168, 3, 135)])));
        assert_eq!(macs(LIVE_INTERFACE), ["52:54:00:4e:7d:10"]);
        assert_eq!(port_binding("<interface type='network'><mac address='a'/></interface>"), None);
        assert_eq!(element("<domain><name>x</domain>", "name"), None, "broken XML yields nothing");
        assert_eq!(lab_of("<network><name>default</name></network>"), None);
    }

    /// What libvirt itself returns (its in-process test driver): a lab domain as kubelab renders
    /// it, read back normalised by libvirt, and the driver's `default` network.
    #[cfg(feature = "libvirt")]
    #[test]
    fn reads_what_libvirt_returns() {
        use crate::hypervisor::Hypervisor as _;
        use crate::hypervisor::libvirt::LibvirtHypervisor;
        use crate::hypervisor::xml::{self, Boot, DomainSpec, Port};
        let hv = LibvirtHypervisor::open("test:///default").unwrap();
        let spec = DomainSpec {
            name: "kl-parse-node1".into(),
            lab: "kl-parse".into(),
            node: "node1".into(),
            uuid: "08feac17-8a9d-4e59-bdd1-e9737671ec38".into(),
            memory_mib: 512,
            vcpus: 1,
            domain_type: "qemu".into(),
            boot: Boot::Kernel { kernel: "/img/vmlinuz".into(), initrd: "/img/initrd.img".into(), cmdline: "console=ttyS0".into() },
            disk: "/tmp/kl-parse/node1.qcow2".into(),
            seed: "/tmp/kl-parse/node1-seed.iso".into(),
            network: "default".into(),
            mac: "52:54:00:fb:52:7f".into(),
            port: Port::new(Ipv4Addr::new(192, 168, 122, 135)),
            console_log: "/tmp/kl-parse/console/node1.log".into(),
            console_stream: false,
        };
        hv.define_domain(&xml::domain_xml(&spec)).unwrap();
        let dumped = hv.domains().unwrap().into_iter().find(|d| d.name == "kl-parse-node1").unwrap().xml;
        hv.undefine_domain("kl-parse-node1").unwrap();
        assert_eq!(lab_of(&dumped).as_deref(), Some("kl-parse"), "{dumped}");
        assert_eq!(node_of(&dumped).as_deref(), Some("node1"));
        assert_eq!(root_attr(&dumped, "type").as_deref(), Some("qemu"));
        assert_eq!(element(&dumped, "uuid").as_deref(), Some("08feac17-8a9d-4e59-bdd1-e9737671ec38"));
        assert_eq!(macs(&dumped), ["52:54:00:fb:52:7f"]);
        assert_eq!(serial_log(&dumped).as_deref(), Some("/tmp/kl-parse/console/node1.log"));
        let nic = interface_of(&dumped, "52:54:00:FB:52:7F").unwrap();
        assert!(nic.starts_with("<interface type='network'>") && nic.ends_with("</interface>"), "{nic}");
        assert_eq!(port_binding(&nic), Some(("clean-traffic".to_string(), vec![Ipv4Addr::new(192, 168, 122, 135)])));
        let default = hv.networks().unwrap().into_iter().find(|n| n.name == "default").unwrap();
        assert_eq!(network_subnets(&default.xml), ["192.168.122.0/24".parse::<Ipv4Net>().unwrap()], "{}", default.xml);
    }

    /// Real outputs: `virsh -c qemu:///system capabilities` of this project's lab runner (QEMU 10.0,
    /// libvirt 11.3, /dev/kvm present) and `virsh -c test:///default capabilities`.
    #[test]
    fn kvm_is_offered_when_an_x86_64_guest_lists_a_kvm_domain() {
        let fixture = |f: &str| std::fs::read_to_string(format!("{}/tests/fixtures/libvirt/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let qemu = fixture("capabilities-qemu-system-kvm.xml");
        assert!(kvm_offered(&qemu));
        assert!(!kvm_offered(&fixture("capabilities-test-default.xml")));
        // The same host without KVM: QEMU lists only `qemu` domains.
        assert!(!kvm_offered(&qemu.replace("<domain type='kvm'/>", "")));
        // KVM for i686 only does not count.
        let x86_64 = qemu.find("<arch name='x86_64'>").unwrap();
        let (head, tail) = qemu.split_at(x86_64);
        assert!(!kvm_offered(&format!("{head}{}", tail.replace("<domain type='kvm'/>", ""))));
        assert!(!kvm_offered("<capabilities><guest><arch name='x86_64'><domain type='kvm'"));
    }
}
