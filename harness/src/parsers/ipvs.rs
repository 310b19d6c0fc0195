//! `ipvsadm -Ln` (ipvsadm 1.2x–1.31) and kube-proxy's `/proxyMode` answer.

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

/// `ipvsadm` could not talk to the kernel (`Can't initialize ipvs: Protocol not available`):
/// the ip_vs module is not loaded.
pub const IPVS_NOT_LOADED: &str = "Can't initialize ipvs";

/// Parses `ipvsadm -Ln` (ipvsadm 1.2x–1.31; flags such as `persistent 10800` after the
/// scheduler). An error names the first line that is not part of the table; the
/// `Can't initialize ipvs` error comes back with [`IPVS_NOT_LOADED`] as its message prefix.
pub fn parse_ipvsadm(text: &str) -> Result<Vec<VirtualService>, ParseError> {
    const WHAT: &str = "ipvsadm -Ln";
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    match lines.next() {
        Some(l) if l.trim_start().starts_with("IP Virtual Server version") => {}
        Some(l) if l.contains(IPVS_NOT_LOADED) => {
            return Err(ParseError::at(WHAT, l, format!("{IPVS_NOT_LOADED}: {}", l.trim())));
        }
        other => {
            let l = other.unwrap_or("");
            return Err(ParseError::at(
                WHAT,
                if l.is_empty() { "(empty output)" } else { l },
                format!("expected the `IP Virtual Server version` banner, got `{}`", l.trim()),
            ));
        }
    }
    let mut out: Vec<VirtualService> = Vec::new();
    // `ip:port` or `[v6]:port`, numeric (`ipvsadm -L` without `-n` prints names, truncated).
    let numeric = |a: &str| {
        a.rsplit_once(':').is_some_and(|(h, p)| {
            p.parse::<u16>().is_ok() && (h.parse::<std::net::Ipv4Addr>().is_ok() || h.starts_with('[') && h.ends_with(']'))
        })
    };
    for line in lines {
        let t = line.trim();
        // Several nodes' tables pasted one after the other repeat the banner.
        if t.starts_with("Prot LocalAddress") || t.starts_with("-> RemoteAddress") || t.starts_with("IP Virtual Server version") {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f[0] == "->" {
            let Some(vs) = out.last_mut() else {
                return Err(ParseError::at(WHAT, t, format!("real server before any service: `{t}`")));
            };
            let weight = f.get(3).and_then(|w| w.parse().ok());
            let (Some(weight), true) = (weight, f.len() >= 4 && numeric(f[1])) else {
                return Err(ParseError::at(WHAT, t, format!("bad real-server row `{t}`")));
            };
            vs.reals.push(RealServer { address: f[1].into(), forward: f[2].into(), weight });
        } else if matches!(f[0], "TCP" | "UDP" | "SCTP") && f.len() >= 3 && numeric(f[1]) || f[0] == "FWM" && f.len() >= 3 {
            out.push(VirtualService { protocol: f[0].into(), address: f[1].into(), scheduler: f[2].into(), reals: Vec::new() });
        } else {
            return Err(ParseError::at(WHAT, t, format!("unexpected row `{t}`")));
        }
    }
    Ok(out)
}

/// Modes kube-proxy reports on `/proxyMode` (1.x: `iptables`, `ipvs`, `userspace`,
/// `kernelspace` on Windows, `nftables` from 1.29).
pub const PROXY_MODES: [&str; 5] = ["ipvs", "iptables", "userspace", "kernelspace", "nftables"];

/// The mode word of `curl 127.0.0.1:10249/proxyMode`: kube-proxy answers `text/plain` without a
/// trailing newline, so a pasted shell prompt is often glued to it (`ipvsroot@node1:~#`); curl's
/// progress meter, `-v`/`-i` headers and blank lines are skipped. Anything else is an error
/// naming the line (curl's own error, e.g. `curl: (7) Failed to connect`, included).
pub fn parse_proxy_mode(text: &str) -> Result<&str, ParseError> {
    const WHAT: &str = "curl /proxyMode";
    let mut mode = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with("% Total")
            || t.starts_with("Dload")
            || t.starts_with('*')
            || t.starts_with('<')
            || t.starts_with('>')
            || t.starts_with("HTTP/")
            || t.starts_with('{') && t.ends_with('}') && t.len() < 3
            || is_header(t)
            || is_progress(t)
        {
            continue;
        }
        let word = PROXY_MODES.iter().copied().find(|m| {
            t == *m
                || t.strip_prefix(m).is_some_and(|rest| {
                    super::prompt_command(rest).is_some() || rest.starts_with('%') || rest.starts_with('$') || rest.starts_with('#')
                })
        });
        match (word, mode) {
            (Some(w), None) => mode = Some(w),
            (Some(w), Some(m)) if w == m => {}
            _ => return Err(ParseError::at(WHAT, t, format!("not a kube-proxy mode: `{t}`"))),
        }
    }
    mode.ok_or_else(|| ParseError::at(WHAT, "(empty output)", "no mode in the answer"))
}

fn is_header(t: &str) -> bool {
    const HEADERS: [&str; 5] = ["Content-Type:", "Content-Length:", "Date:", "X-Content-Type-Options:", "Vary:"];
    HEADERS.iter().any(|h| t.starts_with(h))
}

fn is_progress(t: &str) -> bool {
    // `100     4  100     4    0     0   4000      0 --:--:-- --:--:-- --:--:--  4000`
    t.contains("--:--:--") && t.split_whitespace().next().is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
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
        assert!(parse_ipvsadm("IP Virtual Server version 1.2.1 (size=4096)\n  -> 1.2.3.4:80 Masq 1 0 0\n").is_err());
    }

    #[test]
    fn proxy_mode_words() {
        assert_eq!(parse_proxy_mode("ipvs"), Ok("ipvs"));
        assert_eq!(parse_proxy_mode("iptables\n"), Ok("iptables"));
        assert_eq!(parse_proxy_mode("ipvsroot@node1:~# "), Ok("ipvs"));
        assert_eq!(parse_proxy_mode("ipvs[root@master ~]#"), Ok("ipvs"));
        let v = "*   Trying 127.0.0.1:10249...\n< HTTP/1.1 200 OK\n< Content-Type: text/plain; charset=utf-8\n<\nipvs\n";
        assert_eq!(parse_proxy_mode(v), Ok("ipvs"));
        let e = parse_proxy_mode("curl: (7) Failed to connect to 127.0.0.1 port 10249: Connection refused\n").unwrap_err();
        assert!(e.culprit().starts_with("curl: (7)"));
        assert!(parse_proxy_mode("ipvsx\n").is_err());
        assert!(parse_proxy_mode("").is_err());
        assert!(parse_proxy_mode("404 page not found\n").is_err());
    }
}
