//! Port checks: the cloud's anti-spoofing. A node's NIC sits behind a port that passes only
//! traffic from the address the cloud assigned (libvirt `clean-traffic` with its `IP`
//! parameter in the lab; OpenStack port security on JCloud). A node whose address was changed
//! inside the guest is silently cut off (guide, 珍爱生命，远离交大云).

use super::Verdict;
use super::judge::{R, fail, judge};
use crate::evidence::{Evidence, Target};
use crate::hypervisor::parse::port_binding;
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
                if let Some(f) = j.optional("ping-peers", &Target::Node(o.name.clone()))
                    && let Ok(rows) = parse_reach_lines(&f.output.stdout)
                        && let Some(r) = rows.iter().find(|r| r.target == n.name) {
                            peers.push(format!("{} {} it", o.name, if r.ok { "still reaches" } else { "cannot reach" }));
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

#[cfg(test)]
mod tests {
    //! Judged over outputs captured live on kubelab's offline lab (`tests/fixtures/real/`).
    use super::*;
    use crate::config::{LabConfig, NodeConfig, Role};
    use crate::evidence::{EvidenceHeader, Fact, Origin};
    use crate::remote::ExecOutput;

    /// Header (`key: value` lines up to `---`) and the capture after it.
    fn capture(probe: &str, name: &str) -> (Vec<(String, String)>, String) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/real").join(probe).join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (head, body) = text.split_once("\n---\n").unwrap_or_else(|| panic!("{}: no `---` line", p.display()));
        let head = head.lines().filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string()))).collect::<Vec<_>>();
        assert!(head.iter().any(|(k, v)| k == "source" && v.starts_with("live capture on kubelab's offline lab")), "{}", p.display());
        assert!(head.iter().any(|(k, v)| k == "probe" && v == probe), "{}", p.display());
        (head, body.to_string())
    }

    fn lab_nodes() -> LabConfig {
        let n =
            |i: u8, role| NodeConfig { name: format!("ICE-k8s-machines-node{i}"), ip: std::net::Ipv4Addr::new(192, 168, 3, 134 + i), role };
        LabConfig {
            name: "kl-jc".into(),
            nodes: vec![n(0, Role::ControlPlane), n(1, Role::Worker), n(2, Role::Worker)],
            ..LabConfig::default()
        }
    }

    /// Evidence from captures: (node index, probe, file).
    fn evidence(files: &[(u8, &str, &str)]) -> (Evidence, Vec<Vec<(String, String)>>) {
        let mut ev = Evidence::new(EvidenceHeader::from_config(&lab_nodes(), "captures"));
        let mut heads = Vec::new();
        for (i, probe, file) in files {
            let (head, body) = capture(probe, file);
            let via = head.iter().find(|(k, _)| k == "via").map(|(_, v)| v.clone()).unwrap_or_else(|| "ssh".into());
            ev.insert(Fact {
                probe: probe.to_string(),
                target: Target::Node(format!("ICE-k8s-machines-node{i}")),
                command: probe.to_string(),
                output: ExecOutput::ok(body),
                fetched_at: "2026-12-01T00:00:00Z".into(),
                origin: Origin::Live { via },
            });
            heads.push(head);
        }
        (ev, heads)
    }

    fn healthy(moved: bool) -> Vec<(u8, &'static str, &'static str)> {
        let mut v = vec![
            (0, "port-filter", "node0-bound.txt"),
            (1, "port-filter", "node1-bound.txt"),
            (2, "port-filter", "node2-bound.txt"),
            (0, "ip-addr", "node0.txt"),
            (2, "ip-addr", "node2.txt"),
        ];
        if moved {
            v.extend([
                (1, "ip-addr", "node1-moved-console.txt"),
                (0, "ping-peers", "node0-node1-cut-off.txt"),
                (2, "ping-peers", "node2-node1-cut-off.txt"),
            ]);
        } else {
            v.push((1, "ip-addr", "node1.txt"));
        }
        v
    }

    #[test]
    fn passes_when_every_node_uses_its_ports_address() {
        let (ev, _) = evidence(&healthy(false));
        let v = address_allowed(&ev);
        assert!(v.is_pass(), "{v}");
    }

    #[test]
    fn fails_naming_both_addresses_when_the_address_moved_inside_the_guest() {
        let (ev, heads) = evidence(&healthy(true));
        let v = address_allowed(&ev);
        let super::super::Outcome::Fail { found, remediation, .. } = &v.outcome else { panic!("{v}") };
        assert!(found.starts_with("ICE-k8s-machines-node1: the node uses 192.168.3.150/24 on eth0 (ip -o -4 addr, live via serial console) but its port allows only 192.168.3.135"), "{found}");
        assert!(found.contains("ICE-k8s-machines-node0 cannot reach it"), "{found}");
        assert!(
            remediation.contains("需要卸载网卡重新安装") && remediation.contains("re-create the node's NIC with the address fixed"),
            "{remediation}"
        );
        // Every capture's stated diagnosis words are in the verdict.
        for h in &heads {
            if let Some((_, d)) = h.iter().find(|(k, _)| k == "diagnosis") {
                for w in d.split(';').map(str::trim).filter(|w| !w.is_empty()) {
                    assert!(
                        format!("{found} {remediation}").to_lowercase().contains(&w.to_lowercase()),
                        "diagnosis word `{w}` missing: {found}"
                    );
                }
            }
        }
    }
}
