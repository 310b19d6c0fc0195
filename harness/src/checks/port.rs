//! Port checks: the cloud's anti-spoofing. A node's NIC sits behind a port that passes only
//! traffic from the address the cloud assigned (libvirt `clean-traffic` with its `IP`
//! parameter in the lab; OpenStack port security on JCloud). A node whose address was changed
//! inside the guest is silently cut off (guide, 珍爱生命，远离交大云).

use super::Verdict;
use super::judge::{R, fail, judge};
use crate::evidence::{Evidence, Target};
use crate::hypervisor::xml::port_binding;
use crate::parsers::{parse_ip_addr_o4, parse_reach_lines};

const FIX: &str = "克隆的虚拟机内编辑/etc/network/interface修改为固定IP后，需要卸载网卡重新安装，并在安装时固定IP (guide): re-create the node's NIC with the address fixed, so its port allows the address the node uses (`kubelab fault heal static-ip` re-binds the port), or set the address back to the one the port allows";

fn parsed<T>(r: Result<T, crate::parsers::ParseError>) -> R<T> {
    r.map_err(|e| fail("output in the tool's usual format", e.to_string(), FIX))
}

/// `port.address-allowed`: every node uses, on the lab segment, an address its port allows.
pub fn address_allowed(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        let mut bound = 0;
        j.per_node(|j, n, t| {
            let iface = j.stdout("port-filter", t, FIX)?;
            // No filter on the port: nothing is dropped for its source address.
            let Some((filter, allowed)) = port_binding(iface) else { return Ok(()) };
            bound += 1;
            let addrs = j.fact("ip-addr", t)?;
            let via = addrs.origin.to_string();
            let addrs = parsed(parse_ip_addr_o4(j.stdout("ip-addr", t, FIX)?))?;
            // The lab segment: addresses on the network of the node's configured address.
            let used: Vec<_> = addrs.iter().filter(|a| a.ifname != "lo" && a.same_network(n.ip)).collect();
            if used.iter().any(|a| allowed.contains(&a.addr)) {
                return Ok(());
            }
            let mut peers = Vec::new();
            for o in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                if let Some(f) = j.optional("ping-peers", &Target::Node(o.name.clone())) {
                    if let Ok(rows) = parse_reach_lines(&f.output.stdout) {
                        if let Some(r) = rows.iter().find(|r| r.target == n.name) {
                            peers.push(format!("{} {} it", o.name, if r.ok { "still reaches" } else { "cannot reach" }));
                        }
                    }
                }
            }
            let used_s = if used.is_empty() {
                "no address on the lab segment".to_string()
            } else {
                used.iter().map(|a| format!("{}/{} on {}", a.addr, a.prefix, a.ifname)).collect::<Vec<_>>().join(", ")
            };
            let allowed_s = allowed.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
            Err(fail(
                "every node uses an address its port allows (the port drops traffic from any other source address)",
                format!(
                    "the node uses {used_s} (ip -o -4 addr, {via}) but its port allows only {allowed_s} ({filter} IP={allowed_s}): address/port mismatch, the node is cut off{}",
                    if peers.is_empty() { String::new() } else { format!("; {}", peers.join(", ")) }
                ),
                FIX,
            ))
        })?;
        Ok(format!("every node uses the address its port allows ({bound} ports with an anti-spoofing filter)"))
    })
}
