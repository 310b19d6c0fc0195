//! Networking outputs: `ip route`, `ip -o link`, `ip -d addr show tunl0`, `/etc/hosts`, and the
//! `<target> ... ok|fail` lines our reachability probes print.

use std::net::Ipv4Addr;

use super::ParseError;

/// One `ip route` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Route type when not unicast (`blackhole`, `unreachable`), else empty.
    pub kind: String,
    /// Destination (`default`, `10.233.71.0/26`, `10.233.104.1`).
    pub dest: String,
    /// `via` gateway.
    pub via: Option<Ipv4Addr>,
    /// `via` as printed (redacted forms such as `x.x.0.1` kept).
    pub via_text: Option<String>,
    /// `dev`.
    pub dev: Option<String>,
    /// `proto` (`bird`, `kernel`, `static`).
    pub proto: Option<String>,
    /// Multipath `nexthop via <gw> dev <dev>` lines under the route, (gateway, device).
    pub nexthops: Vec<(String, String)>,
}

const ROUTE_KINDS: [&str; 6] = ["blackhole", "unreachable", "prohibit", "throw", "local", "broadcast"];

/// Parses `ip route` (iproute2 3.x–6.x: single- or double-spaced fields, multipath `nexthop`
/// continuation lines, markdown `**bold**` kept out of addresses) and `route -n` (net-tools:
/// `Destination Gateway Genmask Flags Metric Ref Use Iface`; Iface `*` = calico's blackhole).
pub fn parse_ip_route(text: &str) -> Result<Vec<Route>, ParseError> {
    let mut out: Vec<Route> = Vec::new();
    let mut route_n = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let clean = line.replace("**", "");
        let t = clean.trim();
        if t == "Kernel IP routing table" {
            continue;
        }
        if t.starts_with("Destination") && t.contains("Genmask") {
            route_n = true;
            continue;
        }
        if route_n {
            out.push(route_n_row(t).ok_or_else(|| ParseError::at("route -n", t, format!("unexpected row `{t}`")))?);
            continue;
        }
        let mut f = t.split_whitespace().peekable();
        if f.peek() == Some(&"nexthop") {
            f.next();
            let (mut via, mut dev) = (String::new(), String::new());
            while let Some(k) = f.next() {
                match k {
                    "via" => via = f.next().unwrap_or_default().to_string(),
                    "dev" => dev = f.next().unwrap_or_default().to_string(),
                    _ => {}
                }
            }
            match out.last_mut() {
                Some(r) => r.nexthops.push((via, dev)),
                None => return Err(ParseError::at("ip route", t, "nexthop before any route")),
            }
            continue;
        }
        let mut kind = String::new();
        if let Some(&k) = f.peek()
            && ROUTE_KINDS.contains(&k)
        {
            kind = k.into();
            f.next();
        }
        let dest = f.next().unwrap_or_default().to_string();
        let dest_ok = dest == "default" || dest.split('/').next().is_some_and(|a| a.parse::<Ipv4Addr>().is_ok() || a.contains('x'));
        if !dest_ok {
            return Err(ParseError::at("ip route", t, format!("unexpected row `{t}`")));
        }
        let (mut via_text, mut dev, mut proto) = (None, None, None);
        while let Some(k) = f.next() {
            match k {
                "via" => via_text = f.next().map(String::from),
                "dev" => dev = f.next().map(String::from),
                "proto" => proto = f.next().map(String::from),
                _ => {}
            }
        }
        out.push(Route { kind, dest, via: via_text.as_deref().and_then(|v| v.parse().ok()), via_text, dev, proto, nexthops: Vec::new() });
    }
    Ok(out)
}

fn route_n_row(t: &str) -> Option<Route> {
    let f: Vec<&str> = t.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let dest: Ipv4Addr = f[0].parse().ok()?;
    let mask: Ipv4Addr = f[2].parse().ok()?;
    let prefix = u32::from(mask).count_ones();
    let gw: Ipv4Addr = f[1].parse().ok()?;
    let iface = f[7];
    Some(Route {
        kind: if iface == "*" { "blackhole".into() } else { String::new() },
        dest: if prefix == 0 { "default".into() } else { format!("{dest}/{prefix}") },
        via: (!gw.is_unspecified()).then_some(gw),
        via_text: (!gw.is_unspecified()).then(|| gw.to_string()),
        dev: (iface != "*").then(|| iface.to_string()),
        // net-tools shows no protocol; calico's blocks are the /26 gateway routes.
        proto: (prefix == 26).then(|| "bird".to_string()),
        nexthops: Vec::new(),
    })
}

/// One interface from `ip -o link`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Name without the `@peer` suffix.
    pub name: String,
    /// Link type (`ether`, `loopback`, `ipip`, `none`).
    pub link_type: String,
    /// Hardware address.
    pub mac: String,
}

impl Link {
    /// A NIC whose MAC identifies the machine (not loopback, docker, calico, veth, IPVS dummy,
    /// tunnels or bridges, whose MACs are either fixed — calico's `ee:ee:ee:ee:ee:ee` — or random).
    pub fn is_identity_nic(&self) -> bool {
        const VIRTUAL: [&str; 12] =
            ["lo", "docker", "cali", "veth", "kube-ipvs", "br-", "virbr", "vxlan", "flannel", "cni", "tunl", "dummy"];
        self.link_type == "ether" && !VIRTUAL.iter().any(|p| self.name.starts_with(p))
    }
}

/// Parses `ip -o link` (one line per interface, `\` separating the wrapped part).
pub fn parse_ip_link(text: &str) -> Result<Vec<Link>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ": ");
        let (_idx, name, rest) = match (parts.next(), parts.next(), parts.next()) {
            (Some(i), Some(n), Some(r)) => (i, n, r),
            _ => {
                return Err(ParseError::new("ip -o link", format!("unexpected row `{line}`")));
            }
        };
        let name = name.split('@').next().unwrap_or(name).to_string();
        let mut f = rest.split_whitespace();
        let Some(lt) = f.find(|t| t.starts_with("link/")) else {
            return Err(ParseError::new("ip -o link", format!("no link/ field in `{line}`")));
        };
        let mac = f.next().unwrap_or_default().to_string();
        out.push(Link { name, link_type: lt.trim_start_matches("link/").into(), mac });
    }
    Ok(out)
}

/// The state of calico's `tunl0` from `ip -d addr show tunl0`, `ip addr` or `ifconfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelDevice {
    /// It is an IPIP device (`link/ipip`, or ifconfig's `IPIP Tunnel`).
    pub ipip: bool,
    /// Flags contain `UP`.
    pub up: bool,
    /// Its `inet` address (calico assigns one from the node's block).
    pub address: Option<Ipv4Addr>,
    /// ifconfig's `RX packets` / `TX packets` counters, when shown.
    pub packets: Option<(u64, u64)>,
}

fn is_ip_header(l: &str) -> bool {
    // `6: tunl0@NONE: <NOARP,UP,LOWER_UP> ...`
    l.split_once(": ").is_some_and(|(n, rest)| n.trim().chars().all(|c| c.is_ascii_digit()) && !n.trim().is_empty() && rest.contains(": <"))
}

fn is_ifconfig_header(l: &str) -> bool {
    // `tunl0: flags=193<UP,RUNNING,NOARP>  mtu 1440` / `tunl0     Link encap:IPIP Tunnel`
    !l.starts_with(' ') && (l.contains(": flags=") || l.contains("Link encap:"))
}

/// Parses the `tunl0` block of `ip [-d] addr [show tunl0]` or `ifconfig [tunl0]` (whole-system
/// listings are searched for the tunl0 block; lost indentation is tolerated).
pub fn parse_tunl0(text: &str) -> Result<TunnelDevice, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim_start();
        (is_ip_header(t) && t.split(": ").nth(1).is_some_and(|n| n.split('@').next() == Some("tunl0")))
            || (is_ifconfig_header(t) && t.starts_with("tunl0"))
    });
    let Some(start) = start else {
        let first = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("(empty output)");
        return Err(ParseError::at("ip -d addr show tunl0", first, format!("no tunl0 header: `{first}`")));
    };
    let first = lines[start].trim_start();
    let block: Vec<&str> = std::iter::once(first)
        .chain(
            lines[start + 1..]
                .iter()
                .map(|l| l.trim_start())
                .take_while(|l| !is_ip_header(l) && (!is_ifconfig_header(l) || l.starts_with("tunl0"))),
        )
        .collect();
    let flags = first.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(fl, _)| fl).unwrap_or("");
    let up = flags.split(',').any(|x| x == "UP") || block.iter().any(|l| l.starts_with("UP ") && l.contains("RUNNING"));
    let ipip = block.iter().any(|l| l.starts_with("link/ipip") || l.contains("IPIP Tunnel"));
    let address = block
        .iter()
        .find_map(|l| l.strip_prefix("inet "))
        .and_then(|r| r.trim_start().trim_start_matches("addr:").split(['/', ' ']).next())
        .and_then(|a| a.parse().ok());
    let count = |key: &str| {
        block.iter().find_map(|l| {
            let r = l.strip_prefix(key)?.trim_start().trim_start_matches(':');
            r.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let packets = match (count("RX packets"), count("TX packets")) {
        (Some(r), Some(t)) => Some((r, t)),
        _ => None,
    };
    Ok(TunnelDevice { ipip, up, address, packets })
}

/// Parses `/etc/hosts` into (address, names) pairs, comments dropped.
pub fn parse_etc_hosts(text: &str) -> Vec<(&str, Vec<&str>)> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = f.next()?;
            Some((addr, f.collect()))
        })
        .collect()
}

/// One result line of our reachability probes: `<target> [<address>] ok|fail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Node name pinged.
    pub target: String,
    /// Address pinged, if the probe names one.
    pub address: Option<String>,
    /// The ping answered.
    pub ok: bool,
}

/// Parses the output of the `ping-peers` / `ipip-ping` / `lb-http`-style probes (format defined by
/// kubelab's catalog: one line per target, the verdict last).
pub fn parse_reach_lines(text: &str) -> Result<Vec<Reach>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ok = match f.last() {
            Some(&"ok") => true,
            Some(&"fail") => false,
            _ => {
                return Err(ParseError::new("reachability probe", format!("row `{line}` does not end in ok|fail")));
            }
        };
        let (target, address) = match f.len() {
            2 => (f[0], None),
            3 => (f[0], Some(f[1].to_string())),
            _ => {
                return Err(ParseError::new("reachability probe", format!("unexpected row `{line}`")));
            }
        };
        out.push(Reach { target: target.into(), address, ok });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // iproute2 5.5 on a calico 3.22 node (BIRD-programmed IPIP routes, `proto bird onlink`).
    const ROUTES: &str = "default via 192.168.1.1 dev ens3 proto static 
10.233.71.0/26 via 192.168.1.135 dev tunl0 proto bird onlink 
blackhole 10.233.104.0/26 proto bird 
10.233.104.1 dev cali5d2f2c7a3b1 scope link 
10.233.113.128/26 via 192.168.1.136 dev tunl0 proto bird onlink 
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown 
192.168.1.0/24 dev ens3 proto kernel scope link src 192.168.1.134 
";

    #[test]
    fn routes() {
        let r = parse_ip_route(ROUTES).unwrap();
        assert_eq!(r.len(), 7);
        assert_eq!(r[1].via, Some(Ipv4Addr::new(192, 168, 1, 135)));
        assert_eq!(r[1].dev.as_deref(), Some("tunl0"));
        assert_eq!(r[2].kind, "blackhole");
        assert_eq!(r[2].dest, "10.233.104.0/26");
        assert_eq!(r[6].proto.as_deref(), Some("kernel"));
        assert!(parse_ip_route("garbage row\n").is_err());
    }

    #[test]
    fn links() {
        // iproute2 5.5 `ip -o link` on a calico + IPVS node.
        let t = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: ens3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:6b:3c:01 brd ff:ff:ff:ff:ff:ff
5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ipip 0.0.0.0 brd 0.0.0.0
7: cali5d2f2c7a3b1@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP mode DEFAULT group default \\    link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns cni-4e0b
";
        let l = parse_ip_link(t).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[2].name, "tunl0");
        let ids: Vec<_> = l.iter().filter(|x| x.is_identity_nic()).map(|x| x.mac.as_str()).collect();
        assert_eq!(ids, vec!["52:54:00:6b:3c:01"]);
        assert!(parse_ip_link("garbage\n").is_err());
    }

    #[test]
    fn tunl0() {
        // iproute2 5.5 `ip -d addr show tunl0` with calico IPIP.
        let t = "5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN group default qlen 1000
    link/ipip 0.0.0.0 brd 0.0.0.0 promiscuity 0 minmtu 0 maxmtu 0 
    ipip any remote any local any ttl inherit nopmtudisc addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 
    inet 10.233.104.0/32 scope global tunl0
       valid_lft forever preferred_lft forever
";
        let d = parse_tunl0(t).unwrap();
        assert!(d.ipip && d.up);
        assert_eq!(d.address, Some(Ipv4Addr::new(10, 233, 104, 0)));
        assert!(parse_tunl0("Device \"tunl0\" does not exist.\n").is_err());
    }

    #[test]
    fn hosts_guide_sample() {
        // The guide's /etc/hosts on node0.
        let t = "127.0.0.1       localhost\n127.0.1.1       ICE-k8s-machines-node0\n\n192.168.1.134   ICE-k8s-machines-node0\n192.168.1.135   ICE-k8s-machines-node1\n192.168.1.136   ICE-k8s-machines-node2\n# comment\n";
        let h = parse_etc_hosts(t);
        assert_eq!(h.len(), 5);
        assert_eq!(h[3], ("192.168.1.135", vec!["ICE-k8s-machines-node1"]));
    }

    #[test]
    fn reach_lines() {
        let r = parse_reach_lines("ICE-k8s-machines-node1 ok\nICE-k8s-machines-node2 10.233.113.128 fail\n").unwrap();
        assert!(r[0].ok && r[0].address.is_none());
        assert_eq!(r[1].address.as_deref(), Some("10.233.113.128"));
        assert!(!r[1].ok);
        assert!(parse_reach_lines("node1 maybe\n").is_err());
    }
}
