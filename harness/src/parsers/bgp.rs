//! BGP session tables: `calicoctl node status` (calico 3.22) and `birdc show protocols` (BIRD 2).

use std::net::Ipv4Addr;

use super::ParseError;

/// One BGP session, normalised across calicoctl and birdc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPeer {
    /// Peer address.
    pub address: Ipv4Addr,
    /// calicoctl's PEER TYPE (`node-to-node mesh`) or BIRD's protocol name (`Mesh_192_168_1_135`).
    pub kind: String,
    /// The BGP state machine state: `Established`, `Active`, `Connect`, `Idle`, `OpenSent`, ...
    pub bgp_state: String,
    /// Extra info after the state (e.g. `Socket: Connection refused`), possibly empty.
    pub info: String,
}

impl BgpPeer {
    /// The session is up.
    pub fn established(&self) -> bool {
        self.bgp_state == "Established"
    }
}

/// Parsed `calicoctl node status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoNodeStatus {
    /// `Calico process is running.` was printed.
    pub running: bool,
    /// IPv4 BGP peers.
    pub peers: Vec<BgpPeer>,
}

/// Parses `calicoctl node status` (calico 3.22; the guide's sample is the reference). INFO holds
/// the BGP state (`Established`) or the state plus a detail (`Active Socket: Connection refused`).
pub fn parse_calicoctl_node_status(text: &str) -> Result<CalicoNodeStatus, ParseError> {
    const WHAT: &str = "calicoctl node status";
    let running = text
        .lines()
        .any(|l| l.trim() == "Calico process is running.");
    if !running && !text.contains("Calico process is not running") {
        return Err(ParseError::new(WHAT, "no `Calico process is ...` line"));
    }
    let mut peers = Vec::new();
    let mut in_v4 = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("IPv4 BGP status") {
            in_v4 = true;
            continue;
        }
        if t.starts_with("IPv6 BGP status") {
            in_v4 = false;
        }
        if !in_v4 || !t.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 5 {
            return Err(ParseError::new(
                WHAT,
                format!("expected 5 table cells in `{t}`"),
            ));
        }
        if cells[0] == "PEER ADDRESS" {
            continue;
        }
        let address = cells[0]
            .parse()
            .map_err(|_| ParseError::new(WHAT, format!("bad peer address `{}`", cells[0])))?;
        let (bgp_state, info) = match cells[4].split_once(' ') {
            Some((s, rest)) => (s.to_string(), rest.trim().to_string()),
            None => (cells[4].to_string(), String::new()),
        };
        peers.push(BgpPeer {
            address,
            kind: cells[1].to_string(),
            bgp_state,
            info,
        });
    }
    Ok(CalicoNodeStatus { running, peers })
}

/// One row of `birdc show protocols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Protocol name, e.g. `Mesh_192_168_1_135`, `kernel1`.
    pub name: String,
    /// Protocol type: `BGP`, `Kernel`, `Device`, `Direct`, ...
    pub proto: String,
    /// Table (`---` for BGP in BIRD 2).
    pub table: String,
    /// Protocol state: `up`, `start`, `down`.
    pub state: String,
    /// Since (time or date).
    pub since: String,
    /// Info column: for BGP the session state plus detail.
    pub info: String,
}

/// Parses `birdc show protocols` (BIRD 2.0.x: banner `BIRD 2.0.12 ready.`, then
/// `Name Proto Table State Since Info`).
pub fn parse_birdc_protocols(text: &str) -> Result<Vec<BirdProtocol>, ParseError> {
    const WHAT: &str = "birdc show protocols";
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut header_seen = false;
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let t = line.trim();
        if t.starts_with("BIRD ") && t.ends_with("ready.") {
            continue;
        }
        if t.starts_with("Name") && t.contains("Proto") && t.contains("State") {
            header_seen = true;
            continue;
        }
        if !header_seen {
            return Err(ParseError::new(
                WHAT,
                format!("unexpected line before the header: `{t}`"),
            ));
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() < 5 {
            return Err(ParseError::new(WHAT, format!("short row `{t}`")));
        }
        // `timeformat protocol iso long` prints `2024-05-01 10:21:33`: two tokens.
        let (since, rest) = if f[4].len() == 10
            && f[4].as_bytes()[4] == b'-'
            && f.get(5).is_some_and(|s| s.contains(':'))
        {
            (format!("{} {}", f[4], f[5]), &f[6..])
        } else {
            (f[4].to_string(), &f[5..])
        };
        out.push(BirdProtocol {
            name: f[0].into(),
            proto: f[1].into(),
            table: f[2].into(),
            state: f[3].into(),
            since,
            info: rest.join(" "),
        });
    }
    if !header_seen {
        return Err(ParseError::new(
            WHAT,
            "no `Name Proto Table State Since Info` header",
        ));
    }
    Ok(out)
}

/// The BGP sessions among `birdc show protocols` rows whose name encodes the peer address
/// (`Mesh_192_168_1_135`, calico's own naming, which our BIRD stand-in copies).
pub fn bird_bgp_peers(rows: &[BirdProtocol]) -> Vec<BgpPeer> {
    rows.iter()
        .filter(|r| r.proto == "BGP")
        .filter_map(|r| {
            let addr = r
                .name
                .strip_prefix("Mesh_")?
                .replace('_', ".")
                .parse()
                .ok()?;
            let (bgp_state, info) = match r.info.split_once(' ') {
                Some((s, rest)) => (s.to_string(), rest.trim().to_string()),
                None => (r.info.clone(), String::new()),
            };
            let bgp_state = if bgp_state.is_empty() {
                r.state.clone()
            } else {
                bgp_state
            };
            Some(BgpPeer {
                address: addr,
                kind: r.name.clone(),
                bgp_state,
                info,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verbatim from the guide (calicoctl 3.22.2 on node0).
    const GUIDE: &str = "Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 10.64.13.11  | node-to-node mesh | up    | 07:39:33 | Established |
| 10.64.13.12  | node-to-node mesh | up    | 07:39:32 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.
";

    #[test]
    fn calicoctl_guide_sample() {
        let s = parse_calicoctl_node_status(GUIDE).unwrap();
        assert!(s.running);
        assert_eq!(s.peers.len(), 2);
        assert_eq!(s.peers[0].address, Ipv4Addr::new(10, 64, 13, 11));
        assert_eq!(s.peers[1].kind, "node-to-node mesh");
        assert!(s.peers.iter().all(BgpPeer::established));
    }

    #[test]
    fn calicoctl_active_peer_keeps_detail() {
        // calico 3.x prints `start` / `Active Socket: ...` for a peer it cannot reach (calico#2255).
        let t = GUIDE.replace(
            "| 10.64.13.12  | node-to-node mesh | up    | 07:39:32 | Established |",
            "| 10.64.13.12  | node-to-node mesh | start | 07:39:32 | Active Socket: Connection refused |",
        );
        let s = parse_calicoctl_node_status(&t).unwrap();
        assert_eq!(s.peers[1].bgp_state, "Active");
        assert_eq!(s.peers[1].info, "Socket: Connection refused");
        assert!(!s.peers[1].established());
    }

    #[test]
    fn calicoctl_not_running_and_garbage() {
        let s = parse_calicoctl_node_status("Calico process is not running.\n").unwrap();
        assert!(!s.running && s.peers.is_empty());
        assert!(parse_calicoctl_node_status("command not found").is_err());
    }

    // BIRD 2.0.12 (Debian 12 bird2), default `timeformat protocol`.
    const BIRD: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     10:21:33.129  
direct1    Direct     ---        up     10:21:33.129  
kernel1    Kernel     master4    up     10:21:33.129  
Mesh_192_168_1_135 BGP        ---        up     10:21:37.553  Established   
Mesh_192_168_1_136 BGP        ---        start  10:21:33.129  Active        Socket: Connection refused
";

    #[test]
    fn birdc_rows_and_peers() {
        let rows = parse_birdc_protocols(BIRD).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[2].table, "master4");
        let peers = bird_bgp_peers(&rows);
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].address, Ipv4Addr::new(192, 168, 1, 135));
        assert!(peers[0].established());
        assert_eq!(peers[1].bgp_state, "Active");
        assert_eq!(peers[1].info, "Socket: Connection refused");
    }

    #[test]
    fn birdc_idle_connect_and_iso_long_time() {
        let t = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n\
Mesh_192_168_1_134 BGP        ---        start  2024-05-01 10:21:33  Connect\n\
Mesh_192_168_1_136 BGP        ---        down   2024-05-01 10:21:33  Idle\n";
        let rows = parse_birdc_protocols(t).unwrap();
        assert_eq!(rows[0].since, "2024-05-01 10:21:33");
        let p = bird_bgp_peers(&rows);
        assert_eq!(
            (p[0].bgp_state.as_str(), p[1].bgp_state.as_str()),
            ("Connect", "Idle")
        );
        assert!(parse_birdc_protocols("Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n").is_err());
    }
}
