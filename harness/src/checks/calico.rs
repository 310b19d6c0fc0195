//! Calico checks: the BGP node-to-node mesh (calicoctl in the guide profile, BIRD in the offline
//! stand-in), tunl0 routes to the other nodes' pod blocks, and IPIP traffic between nodes.

use ipnet::Ipv4Net;

use super::Verdict;
use super::judge::{fail, judge};
use crate::config::Profile;
use crate::evidence::Evidence;
use crate::parsers::{
    BgpPeer, bird_bgp_peers, parse_birdc_protocols, parse_calicoctl_node_status, parse_ip_route,
    parse_reach_lines,
};

const BGP_FIX: &str = "check that the cloud security group allows TCP 179 (BGP) and IP protocol 4 (IPIP) between the nodes — clones get the `default` group (guide pitfall 3: 一定要检查虚拟机安全组)";

/// `calico.bgp-mesh`
pub fn bgp_mesh(ev: &Evidence) -> Verdict {
    let (probe, tool) = match ev.header.profile {
        Profile::Guide => ("bgp-calicoctl", "calicoctl node status"),
        Profile::Offline => (
            "bgp-birdc",
            "birdc show protocols, BIRD stand-in for calico",
        ),
    };
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let out = j.stdout(probe, t, BGP_FIX)?;
            let peers: Vec<BgpPeer> = if probe == "bgp-calicoctl" {
                let s = parse_calicoctl_node_status(out)
                    .map_err(|e| fail("calicoctl's status table", e.to_string(), BGP_FIX))?;
                if !s.running {
                    return Err(fail(
                        "calico-node running",
                        "Calico process is not running",
                        "`kubectl get pods -n kube-system -l k8s-app=calico-node` and its logs",
                    ));
                }
                s.peers
            } else {
                bird_bgp_peers(
                    &parse_birdc_protocols(out)
                        .map_err(|e| fail("birdc's protocol table", e.to_string(), BGP_FIX))?,
                )
            };
            let mut bad = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                match peers.iter().find(|p| p.address == other.ip) {
                    Some(p) if p.established() => {}
                    Some(p) => bad.push(format!(
                        "peer {} {}{}",
                        other.ip,
                        p.bgp_state,
                        if p.info.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", p.info)
                        }
                    )),
                    None => bad.push(format!("peer {} absent", other.ip)),
                }
            }
            if !bad.is_empty() {
                return Err(fail(
                    format!(
                        "{} peers Established (from {tool})",
                        j.ev.header.nodes.len() - 1
                    ),
                    bad.join(", "),
                    BGP_FIX,
                ));
            }
            Ok(())
        })?;
        let n = j.ev.header.nodes.len();
        Ok(format!(
            "every node sees its {} peers Established (from {tool}; {probe})",
            n.saturating_sub(1)
        ))
    })
}

const ROUTE_FIX: &str = "tunl0 routes are installed by BIRD from the BGP mesh: fix calico.bgp-mesh first; check the IPPool has `ipipMode: Always` (calico.yaml CALICO_IPV4POOL_IPIP)";

/// `calico.tunl0-routes`
pub fn tunl0_routes(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let pod_cidr: Ipv4Net = j.ev.header.expect.pod_cidr.parse().map_err(|_| {
            fail(
                "a pod CIDR in the manifest",
                j.ev.header.expect.pod_cidr.clone(),
                "fix the bundle manifest",
            )
        })?;
        j.per_node(|j, n, t| {
            let routes = parse_ip_route(j.stdout("ip-route", t, ROUTE_FIX)?)
                .map_err(|e| fail("`ip route` rows", e.to_string(), ROUTE_FIX))?;
            let mut missing = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                let has = routes.iter().any(|r| {
                    r.kind.is_empty()
                        && r.dev.as_deref() == Some("tunl0")
                        && r.via == Some(other.ip)
                        && r.dest
                            .parse::<Ipv4Net>()
                            .is_ok_and(|d| pod_cidr.contains(&d))
                });
                if !has {
                    missing.push(format!(
                        "no route via {} dev tunl0 into {pod_cidr}",
                        other.ip
                    ));
                }
            }
            if !missing.is_empty() {
                return Err(fail(
                    "a tunl0 route to every other node's pod block",
                    missing.join(", "),
                    ROUTE_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("every node routes the other nodes' pod blocks via tunl0 (ip-route)".into())
    })
}

const IPIP_FIX: &str = "allow IP protocol 4 (IPIP) between the nodes in the security group (guide pitfall 3; kubespray docs/CNI/calico.md: `--protocol 4`); BGP can be up while IPIP is blocked";

/// `calico.ipip-traffic`
pub fn ipip_traffic(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let rows = parse_reach_lines(j.stdout("ipip-ping", t, IPIP_FIX)?)
                .map_err(|e| fail("probe rows", e.to_string(), IPIP_FIX))?;
            let mut bad = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                match rows.iter().find(|r| r.target == other.name) {
                    Some(r) if r.ok => {}
                    Some(r) => bad.push(format!(
                        "{} tunl0 {} unreachable",
                        other.name,
                        r.address.as_deref().unwrap_or("?")
                    )),
                    None => bad.push(format!("{} not probed", other.name)),
                }
            }
            if !bad.is_empty() {
                return Err(fail(
                    "every other node's tunl0 address answers ping over IPIP",
                    bad.join(", "),
                    IPIP_FIX,
                ));
            }
            Ok(())
        })?;
        Ok("IPIP traffic flows between every pair of nodes (ipip-ping)".into())
    })
}
