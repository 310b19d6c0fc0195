//! `ipvsadm -Ln` (ipvsadm 1.31).

use super::ParseError;

/// One real server behind an IPVS virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// `address:port`.
    pub address: String,
    /// `Masq`, `Route`, `Tunnel`, `Local`.
    pub forward: String,
    /// Weight.
    pub weight: u32,
}

/// One IPVS virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    /// `TCP`, `UDP`, `SCTP`.
    pub protocol: String,
    /// `address:port`.
    pub address: String,
    /// Scheduler, e.g. `rr`.
    pub scheduler: String,
    /// Real servers.
    pub reals: Vec<RealServer>,
}

/// Parses `ipvsadm -Ln`.
pub fn parse_ipvsadm(text: &str) -> Result<Vec<VirtualService>, ParseError> {
    const WHAT: &str = "ipvsadm -Ln";
    let mut lines = text.lines();
    match lines.next() {
        Some(l) if l.starts_with("IP Virtual Server version") => {}
        other => {
            return Err(ParseError::new(
                WHAT,
                format!(
                    "expected the `IP Virtual Server version` banner, got `{}`",
                    other.unwrap_or("")
                ),
            ));
        }
    }
    let mut out: Vec<VirtualService> = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.is_empty() || t.starts_with("Prot LocalAddress") || t.starts_with("-> RemoteAddress") {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f[0] == "->" {
            let vs = out.last_mut().ok_or_else(|| {
                ParseError::new(WHAT, format!("real server before any service: `{t}`"))
            })?;
            if f.len() < 4 {
                return Err(ParseError::new(
                    WHAT,
                    format!("short real-server row `{t}`"),
                ));
            }
            let weight = f[3]
                .parse()
                .map_err(|_| ParseError::new(WHAT, format!("bad weight in `{t}`")))?;
            vs.reals.push(RealServer {
                address: f[1].into(),
                forward: f[2].into(),
                weight,
            });
        } else if matches!(f[0], "TCP" | "UDP" | "SCTP" | "FWM") && f.len() >= 3 {
            out.push(VirtualService {
                protocol: f[0].into(),
                address: f[1].into(),
                scheduler: f[2].into(),
                reals: Vec::new(),
            });
        } else {
            return Err(ParseError::new(WHAT, format!("unexpected row `{t}`")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ipvsadm v1.31 on a kubeadm 1.23 node in IPVS mode (kube-proxy programs rr services).
    const SAMPLE: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.1:443 rr
  -> 192.168.1.134:6443           Masq    1      3          0         
TCP  10.96.0.10:53 rr
  -> 10.233.104.1:53              Masq    1      0          0         
  -> 10.233.104.2:53              Masq    1      0          0         
UDP  10.96.0.10:53 rr
";

    #[test]
    fn services_and_reals() {
        let v = parse_ipvsadm(SAMPLE).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].address, "10.96.0.1:443");
        assert_eq!(v[0].reals[0].address, "192.168.1.134:6443");
        assert_eq!(v[1].reals.len(), 2);
        assert!(v[2].reals.is_empty());
    }

    #[test]
    fn empty_table_and_errors() {
        let empty = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
        assert!(parse_ipvsadm(empty).unwrap().is_empty());
        assert!(parse_ipvsadm("Can't initialize ipvs: Protocol not available\n").is_err());
        assert!(
            parse_ipvsadm(
                "IP Virtual Server version 1.2.1 (size=4096)\n  -> 1.2.3.4:80 Masq 1 0 0\n"
            )
            .is_err()
        );
    }
}
