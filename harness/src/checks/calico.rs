//! Calico checks: the BGP node-to-node mesh (calicoctl in the guide profile, BIRD in the offline
//! stand-in), tunl0 routes to the other nodes' pod blocks, and IPIP traffic between nodes.

use ipnet::Ipv4Net;

use super::Verdict;
use super::judge::{R, fail, judge};
use crate::config::Profile;
use crate::evidence::Evidence;
use crate::parsers::{
    BgpPeer, bird_bgp_peers, parse_birdc_protocols, parse_calicoctl_node_status, parse_ip_route, parse_reach_lines, parse_tunl0,
};

const BGP_FIX: &str = "BGP not established: check that the cloud security group (or firewall) allows TCP 179 (BGP) and IP protocol 4 (IPIP) between the nodes — clones get the `default` group (guide pitfall 3: 一定要检查虚拟机安全组); `nc -zv <peer> 179` from this node must connect";
const LISTEN_FIX: &str = "BIRD cannot listen on TCP 179 (`No listening socket`): another BGP daemon (bird, bgpd, quagga) holds port 179 on this node — find it with `ss -tlnp 'sport = :179'` and stop it, then restart calico-node";
const NO_PEERS_FIX: &str = "this node has no node-to-node mesh peers: check that calico-node runs on every node (`kubectl get pods -n kube-system -l k8s-app=calico-node -o wide`), that the mesh is on (`calicoctl get bgpconfig`), and each node's detected address (`calicoctl get nodes -o wide`)";
const NOT_RUNNING_FIX: &str = "calico-node is not running on this node (or calicoctl ran inside a container that cannot see it): `kubectl get pods -n kube-system -l k8s-app=calico-node -o wide` and its logs; run `sudo calicoctl node status` on the node itself";
const BIRD_SOCKET_FIX: &str = "calicoctl could not read BIRD's control socket: run it as root on the node (`sudo calicoctl node status`)";
const AUTODETECT_NOTE: &str = "; a peer address on a container bridge means calico autodetected the wrong interface: set IP_AUTODETECTION_METHOD (e.g. `interface=ens3`) in the calico-node DaemonSet";

/// A docker/bridge-looking address (`172.17.0.1`, `172.18.0.1`) among the peers.
fn bridge_address(p: &BgpPeer) -> bool {
    p.ip().is_some_and(|ip| {
        let o = ip.octets();
        o[0] == 172 && (16..32).contains(&o[1]) && o[2] == 0 && o[3] == 1
    })
}

/// Peers, unread lines and the node-level failure (not running, BIRD unreadable) of one table.
fn read_peers(j: &mut super::judge::Judge<'_>, probe: &str, t: &crate::evidence::Target) -> R<(Vec<BgpPeer>, bool, Vec<String>)> {
    let out = j.stdout(probe, t, BGP_FIX)?;
    if probe == "bgp-calicoctl" {
        let s = parse_calicoctl_node_status(out).map_err(|e| j.unreadable(probe, t, &e))?;
        if s.running == Some(false) {
            return Err(fail("calico-node running", "Calico process is not running.", NOT_RUNNING_FIX));
        }
        if !s.bird_errors.is_empty() {
            return Err(fail("calicoctl's BGP peer table", s.bird_errors.join(" "), BIRD_SOCKET_FIX));
        }
        Ok((s.peers, s.no_ipv4_peers, s.unread))
    } else {
        let p = parse_birdc_protocols(out).map_err(|e| j.unreadable(probe, t, &e))?;
        Ok((bird_bgp_peers(&p.rows), false, p.unread))
    }
}

/// `calico.bgp-mesh`
pub fn bgp_mesh(ev: &Evidence) -> Verdict {
    let single = ev.single_capture().cloned();
    let birdc_capture = single.is_some() && ev.facts().iter().any(|f| f.probe == "bgp-birdc");
    let (probe, tool) = match ev.header.profile {
        _ if birdc_capture => ("bgp-birdc", "birdc show protocols"),
        Profile::Guide => ("bgp-calicoctl", "calicoctl node status"),
        Profile::Offline => ("bgp-birdc", "birdc show protocols, BIRD stand-in for calico"),
    };
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let (peers, no_v4, unread) = read_peers(j, probe, t)?;
            let mut bad = Vec::new();
            let expected = match &single {
                // One pasted table: every peer it lists must be up, and as many as the cluster
                // has other nodes when its size is known.
                Some(mode) => {
                    for p in peers.iter().filter(|p| !p.established()) {
                        bad.push(format!("peer {} {}", p.address, p.describe()));
                    }
                    let want = mode.expected_nodes.map(|n| n.saturating_sub(1));
                    if let Some(w) = want
                        && peers.len() < w
                    {
                        bad.push(format!("{} of {w} peers listed", peers.len()));
                    }
                    want.map_or_else(|| format!("all {} listed", peers.len()), |w| w.to_string())
                }
                None => {
                    for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                        let ip = other.ip.to_string();
                        match peers.iter().find(|p| p.address == ip) {
                            Some(p) if p.established() => {}
                            Some(p) => bad.push(format!("peer {ip} {}", p.describe())),
                            None => bad.push(format!("peer {ip} absent")),
                        }
                    }
                    (j.ev.header.nodes.len() - 1).to_string()
                }
            };
            if no_v4 {
                bad.push("No IPv4 peers found".into());
            } else if peers.is_empty() && unread.is_empty() && bad.is_empty() {
                bad.push("no IPv4 BGP peers listed".into());
            }
            if !bad.is_empty() {
                let fix = if peers.iter().any(|p| p.info.contains("No listening socket")) {
                    LISTEN_FIX.to_string()
                } else if peers.is_empty() {
                    NO_PEERS_FIX.to_string()
                } else if peers.iter().any(bridge_address) {
                    format!("{BGP_FIX}{AUTODETECT_NOTE}")
                } else {
                    BGP_FIX.to_string()
                };
                let mut found = format!("BGP not established: {}", bad.join(", "));
                if let Some(l) = unread.first() {
                    found.push_str(&format!(" (also cannot read {probe} output on {}: {l})", t.describe()));
                }
                return Err(fail(format!("{expected} peers Established (from {tool})"), found, fix));
            }
            if let Some(l) = unread.first() {
                return Err(super::judge::unreadable_stop(probe, t, tool, l, tool));
            }
            Ok(())
        })?;
        let n = j.ev.header.nodes.len();
        Ok(match &single {
            Some(_) => format!("every BGP peer listed is Established (from {tool}; {probe})"),
            None => format!("every node sees its {} peers Established (from {tool}; {probe})", n.saturating_sub(1)),
        })
    })
}

const ROUTE_FIX: &str = "tunl0 routes are installed by BIRD from the BGP mesh: fix calico.bgp-mesh first; check the IPPool has `ipipMode: Always` (calico.yaml CALICO_IPV4POOL_IPIP, `calicoctl get ippool -o yaml`; ipipMode Never or CrossSubnet routes pod blocks via eth0), then restart calico-node so BIRD reprograms the routes via tunl0 onlink";

/// One pasted routing table: every calico route to a remote pod block (`proto bird`, or a /26
/// gateway route in `route -n`) goes via tunl0, and there is at least one (as many gateways as
/// other nodes when the cluster size is known).
fn routes_alone(j: &mut super::judge::Judge<'_>, t: &crate::evidence::Target, nodes: Option<usize>) -> R<()> {
    let routes = parse_ip_route(j.stdout("ip-route", t, ROUTE_FIX)?).map_err(|e| j.unreadable("ip-route", t, &e))?;
    let remote: Vec<_> = routes.iter().filter(|r| r.proto.as_deref() == Some("bird") && r.kind != "blackhole").collect();
    let mut bad = Vec::new();
    for r in &remote {
        if r.kind == "unreachable" {
            bad.push(format!("unreachable {} proto bird (no route via tunl0)", r.dest));
        } else if !r.nexthops.is_empty() {
            let hops: Vec<String> = r.nexthops.iter().map(|(v, d)| format!("nexthop via {v} dev {d}")).collect();
            bad.push(format!("{} proto bird multipath {} (not via tunl0)", r.dest, hops.join(", ")));
        } else if r.dev.as_deref() != Some("tunl0") {
            bad.push(format!(
                "{} via {} dev {} proto bird (gateway route, not via tunl0: IPIP bypassed)",
                r.dest,
                r.via_text.as_deref().unwrap_or("?"),
                r.dev.as_deref().unwrap_or("?")
            ));
        }
    }
    let mut gateways: Vec<&str> =
        remote.iter().filter(|r| r.dev.as_deref() == Some("tunl0")).filter_map(|r| r.via_text.as_deref()).collect();
    gateways.sort_unstable();
    gateways.dedup();
    if remote.is_empty() || gateways.is_empty() && bad.is_empty() {
        bad.push("no route via tunl0 to another node's pod block".into());
    }
    if let Some(n) = nodes
        && bad.is_empty()
        && gateways.len() < n.saturating_sub(1)
    {
        bad.push(format!("tunl0 routes to {} of {} other nodes", gateways.len(), n - 1));
    }
    if !bad.is_empty() {
        return Err(fail("a tunl0 route (proto bird onlink) to every other node's pod block", bad.join(", "), ROUTE_FIX));
    }
    Ok(())
}

/// `calico.tunl0-routes`
pub fn tunl0_routes(ev: &Evidence) -> Verdict {
    if let Some(mode) = ev.single_capture().cloned() {
        return judge(ev, |j| {
            j.per_node(|j, _n, t| routes_alone(j, t, mode.expected_nodes))?;
            Ok("every calico route to a remote pod block goes via tunl0 (ip-route)".into())
        });
    }
    judge(ev, |j| {
        let pod_cidr: Ipv4Net =
            j.ev.header
                .expect
                .pod_cidr
                .parse()
                .map_err(|_| fail("a pod CIDR in the manifest", j.ev.header.expect.pod_cidr.clone(), "fix the bundle manifest"))?;
        j.per_node(|j, n, t| {
            let routes =
                parse_ip_route(j.stdout("ip-route", t, ROUTE_FIX)?).map_err(|e| fail("`ip route` rows", e.to_string(), ROUTE_FIX))?;
            let mut missing = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                let has = routes.iter().any(|r| {
                    r.kind.is_empty()
                        && r.dev.as_deref() == Some("tunl0")
                        && r.via == Some(other.ip)
                        && r.dest.parse::<Ipv4Net>().is_ok_and(|d| pod_cidr.contains(&d))
                });
                if !has {
                    missing.push(format!("no route via {} dev tunl0 into {pod_cidr}", other.ip));
                }
            }
            if !missing.is_empty() {
                return Err(fail("a tunl0 route to every other node's pod block", missing.join(", "), ROUTE_FIX));
            }
            Ok(())
        })?;
        Ok("every node routes the other nodes' pod blocks via tunl0 (ip-route)".into())
    })
}

const IPIP_FIX: &str = "allow IP protocol 4 (IPIP) between the nodes in the security group (guide pitfall 3; kubespray docs/CNI/calico.md: `--protocol 4`); BGP can be up while IPIP is blocked";

const TUNL0_FIX: &str = "felix creates tunl0 and gives it an address from the node's block: check the calico-node pod on this node (`kubectl logs -n kube-system <calico-node> -c calico-node`, felix errors), the IPPool's `ipipMode: Always` (CALICO_IPV4POOL_IPIP), and that IP protocol 4 (IPIP) is allowed between the nodes in the security group (guide pitfall 3)";

/// One pasted `tunl0` capture: the tunnel must be an UP IPIP device with an address, and, when
/// ifconfig shows counters, have carried packets.
fn tunl0_alone(j: &mut super::judge::Judge<'_>, t: &crate::evidence::Target) -> R<()> {
    let out = j.stdout("tunl0", t, TUNL0_FIX)?;
    let d = parse_tunl0(out).map_err(|e| j.unreadable("tunl0", t, &e))?;
    let mut bad = Vec::new();
    if !d.ipip {
        bad.push("tunl0 is not an IPIP device".to_string());
    }
    if !d.up {
        bad.push("tunl0 is down (no UP flag)".into());
    }
    if d.address.is_none() {
        bad.push("tunl0 has no address (no IP address on tunl0)".into());
    }
    if d.packets == Some((0, 0)) {
        bad.push("tunl0 RX packets 0, TX packets 0: no IPIP traffic".into());
    }
    if !bad.is_empty() {
        let fix = if d.packets == Some((0, 0)) && d.up && d.address.is_some() { IPIP_FIX } else { TUNL0_FIX };
        return Err(fail("an UP IPIP tunl0 with an address, carrying traffic", bad.join("; "), fix));
    }
    Ok(())
}

/// `calico.ipip-traffic`
pub fn ipip_traffic(ev: &Evidence) -> Verdict {
    if ev.single_capture().is_some() && ev.facts().iter().all(|f| f.probe == "tunl0") {
        return judge(ev, |j| {
            j.per_node(|j, _n, t| tunl0_alone(j, t))?;
            Ok("tunl0 is an UP IPIP device with an address (tunl0)".into())
        });
    }
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let rows = parse_reach_lines(j.stdout("ipip-ping", t, IPIP_FIX)?).map_err(|e| fail("probe rows", e.to_string(), IPIP_FIX))?;
            let mut bad = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                match rows.iter().find(|r| r.target == other.name) {
                    Some(r) if r.ok => {}
                    Some(r) => bad.push(format!("{} tunl0 {} unreachable", other.name, r.address.as_deref().unwrap_or("?"))),
                    None => bad.push(format!("{} not probed", other.name)),
                }
            }
            if !bad.is_empty() {
                return Err(fail("every other node's tunl0 address answers ping over IPIP", bad.join(", "), IPIP_FIX));
            }
            Ok(())
        })?;
        Ok("IPIP traffic flows between every pair of nodes (ipip-ping)".into())
    })
}
