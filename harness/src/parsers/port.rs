//! `ip -o -4 addr show` (iproute2): the IPv4 addresses a node uses, one per line.

use std::net::Ipv4Addr;

use super::ParseError;

/// One `inet` line of `ip -o -4 addr show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetAddr {
    /// Interface name (`eth0`; an `@peer` suffix is dropped).
    pub ifname: String,
    /// Address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl InetAddr {
    /// Whether `ip` is on this address's network.
    pub fn same_network(&self, ip: Ipv4Addr) -> bool {
        ipnet::Ipv4Net::new(self.addr, self.prefix).map(|n| n.contains(&ip)).unwrap_or(false)
    }
}

/// Parses `ip -o -4 addr show` (lines like `2: eth0    inet 192.168.1.135/24 brd … scope
/// global eth0\       valid_lft forever preferred_lft forever`). A serial console adds `\r`.
pub fn parse_ip_addr_o4(text: &str) -> Result<Vec<InetAddr>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || ParseError::new("ip -o -4 addr show", format!("unexpected line `{line}`"));
        if f.len() < 4 || !f[0].ends_with(':') || f[2] != "inet" {
            return Err(bad());
        }
        let (a, p) = f[3].split_once('/').ok_or_else(bad)?;
        out.push(InetAddr {
            ifname: f[1].split('@').next().unwrap_or(f[1]).to_string(),
            addr: a.parse().map_err(|_| bad())?,
            prefix: p.parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iproute2_one_line_output() {
        // iproute2 6.1 (Debian 12), `ip -o -4 addr show` on a lab node.
        let t = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n2: eth0    inet 192.168.1.135/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever preferred_lft forever\r\n";
        let a = parse_ip_addr_o4(t).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1], InetAddr { ifname: "eth0".into(), addr: Ipv4Addr::new(192, 168, 1, 135), prefix: 24 });
        assert!(a[1].same_network(Ipv4Addr::new(192, 168, 1, 150)));
        assert!(parse_ip_addr_o4("eth0 UP 192.168.1.135/24").is_err());
        assert_eq!(parse_ip_addr_o4("").unwrap(), vec![]);
    }
}
