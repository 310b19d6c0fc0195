//! Pure parsers for what the doctor reads: a libvirt network's XML, `ip -o addr`, `df -Pk`, and
//! libvirt URIs.

use ipnet::Ipv4Net;

/// The bridge name and IPv4 subnets of a libvirt network XML.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkFacts {
    /// `<bridge name='…'/>`, if any.
    pub bridge: Option<String>,
    /// Every `<ip address=… netmask=…|prefix=…>` that is IPv4, as host-address/prefix.
    pub ipv4: Vec<Ipv4Net>,
}

/// The bridge and IPv4 addresses of a libvirt network's XML (read with quick-xml, in
/// [`crate::hypervisor::parse`]).
pub fn network_facts(xml: &str) -> NetworkFacts {
    use crate::hypervisor::parse;
    NetworkFacts { bridge: parse::bridge_of(xml), ipv4: parse::network_addresses(xml) }
}

/// `(interface, address/prefix)` for every IPv4 line of `ip -o addr` output.
pub fn ip_addrs(stdout: &str) -> Vec<(String, Ipv4Net)> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.iter().position(|w| *w == "inet")?;
            let iface = f.get(1)?.trim_end_matches(':').split('@').next()?.to_string();
            Some((iface, f.get(at + 1)?.parse().ok()?))
        })
        .collect()
}

/// Free space reported by `df -Pk PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DfFree {
    /// Available KiB for unprivileged users.
    pub available_kib: u64,
    /// Mount point.
    pub mount: String,
}

/// Parses `df -Pk` output (POSIX format: header, then one line per file system).
pub fn df_free(stdout: &str) -> Option<DfFree> {
    let line = stdout.lines().skip(1).find(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Some(DfFree { available_kib: f.get(3)?.parse().ok()?, mount: f.get(5..)?.join(" ") })
}

/// Whether two subnets share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.trunc().contains(&b.network()) || b.trunc().contains(&a.network())
}

/// The remote host of a libvirt URI (`qemu+ssh://user@host/system` → `user@host`), `None`
/// for a local one (`qemu:///system`, `test:///default`, `qemu+unix:///system`).
pub fn remote_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    (!authority.is_empty()).then(|| authority.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_xml_netmask_prefix_and_ipv6() {
        let xml = r#"<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
  </ip>
  <ip family="ipv6" address="fd00::1" prefix="64"/>
  <ip address="10.9.0.1" prefix="16"/>
</network>"#;
        let f = network_facts(xml);
        assert_eq!(f.bridge.as_deref(), Some("virbr0"));
        assert_eq!(f.ipv4, vec!["192.168.122.1/24".parse().unwrap(), "10.9.0.1/16".parse().unwrap()]);
        assert_eq!(network_facts("<network><name>iso</name></network>"), NetworkFacts::default());
    }

    #[test]
    fn ip_o_addr_lines() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                   1: lo    inet6 ::1/128 scope host \\       valid_lft forever\n\
                   4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n\
                   7: veth1@if6    inet 192.168.1.5/24 scope global veth1\n";
        let got = ip_addrs(out);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], ("eth0".to_string(), "192.0.2.2/24".parse().unwrap()));
        assert_eq!(got[2].0, "veth1");
    }

    #[test]
    fn df_posix_output() {
        let out = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 14114048  81171840      15% /srv/my images\n";
        assert_eq!(df_free(out), Some(DfFree { available_kib: 81_171_840, mount: "/srv/my images".into() }));
        assert_eq!(df_free("Filesystem 1024-blocks\n"), None);
    }

    #[test]
    fn overlap_and_remote_host() {
        let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert!(overlaps(&n("192.168.1.1/24"), &n("192.168.1.0/24")));
        assert!(overlaps(&n("192.168.0.0/16"), &n("192.168.1.0/24")));
        assert!(!overlaps(&n("192.168.122.1/24"), &n("192.168.1.0/24")));
        assert_eq!(remote_host("qemu+ssh://speit@hv1.example/system").as_deref(), Some("speit@hv1.example"));
        assert_eq!(remote_host("qemu:///system"), None);
        assert_eq!(remote_host("test:///default"), None);
        assert_eq!(remote_host("qemu+tcp://10.0.0.2:16509/system?no_verify=1").as_deref(), Some("10.0.0.2:16509"));
    }
}
