//! Offline stand-ins for calico's dataplane: a BIRD 2 node-to-node BGP mesh (`bgp.bird-mesh`)
//! and point-to-point IPIP tunnels between the nodes' pod blocks (`net.ipip-tunnels`).

use std::net::Ipv4Addr;

use crate::provision::PlanNode;

use super::common::{Ctx, Scripts, fill};

/// calico's default AS number.
const AS: u32 = 64512;

/// `Mesh_192_168_1_135`: calico's protocol name for a mesh peer.
pub(crate) fn mesh_protocol(peer: Ipv4Addr) -> String {
    format!("Mesh_{}", peer.to_string().replace('.', "_"))
}

/// /etc/bird/bird.conf for one node.
pub(crate) fn bird_conf(me: &PlanNode, nodes: &[PlanNode]) -> String {
    let mut s = format!(
        "# kubelab bgp.bird-mesh: offline stand-in for calico's BGP node-to-node mesh (AS {AS}).\n\
         # Kernel routes to the other pod blocks are set by net.ipip-tunnels (calico: via tunl0).\n\
         log syslog all;\n\
         router id {ip};\n\n\
         protocol device {{\n  scan time 10;\n}}\n\n\
         # This node's pod block, held as calico IPAM would: a blackhole route, exported to the peers.\n\
         protocol static kubelab_pod_block {{\n  ipv4;\n  route {block} blackhole;\n}}\n",
        ip = me.ip,
        block = me.pod_block
    );
    for peer in nodes.iter().filter(|n| n.ip != me.ip) {
        s.push_str(&format!(
            "\nprotocol bgp {name} {{\n  description \"node-to-node mesh: {peer_name}\";\n  local as {AS};\n  neighbor {ip} as {AS};\n  direct;\n  connect retry time 5;\n  hold time 9;\n  keepalive time 3;\n  error wait time 2, 10;\n  ipv4 {{\n    import all;\n    export where proto = \"kubelab_pod_block\";\n  }};\n}}\n",
            name = mesh_protocol(peer.ip),
            peer_name = peer.name,
            ip = peer.ip,
        ));
    }
    s
}

/// `case "$KUBELAB_NODE_IP"` selecting a per-node heredoc body.
fn per_node_case(func: &str, nodes: &[PlanNode], body: impl Fn(&PlanNode) -> String) -> String {
    let mut s = format!("{func}() {{\n  case \"${{KUBELAB_NODE_IP:?}}\" in\n");
    for n in nodes {
        s.push_str(&format!("  {})\n    cat <<'EOF'\n{}EOF\n    ;;\n", n.ip, body(n)));
    }
    s.push_str("  *)\n    echo \"node address $KUBELAB_NODE_IP is not in the lab config\" >&2\n    return 1\n    ;;\n  esac\n}\n");
    s
}

/// `bgp.bird-mesh`: BIRD 2 (Debian bird2, in the offline image) configured like calico's mesh;
/// the action waits until the N-1 peers are Established.
pub(crate) fn bird_mesh(ctx: &Ctx<'_>) -> Scripts {
    let conf_fn = per_node_case("want_conf", ctx.nodes, |n| bird_conf(n, ctx.nodes));
    let peers_fn = per_node_case("want_peers", ctx.nodes, |me| {
        ctx.nodes.iter().filter(|n| n.ip != me.ip).map(|n| format!("{}\n", mesh_protocol(n.ip))).collect()
    });
    let head = format!(
        "{conf_fn}{peers_fn}{}",
        r#"established() {
  local protos p
  protos=$(birdc show protocols)
  while read -r p; do
    grep -qE "^${p}[[:space:]].*Established" <<<"$protos" || { echo "BGP session $p is not Established"; return 1; }
  done < <(want_peers)
}
"#
    );
    Scripts::new(
        format!(
            r#"{head}command -v birdc >/dev/null 2>&1 || {{ echo 'bird2 is not installed'; exit 1; }}
[ "$(cat /etc/bird/bird.conf 2>/dev/null)" = "$(want_conf)" ] || {{ echo '/etc/bird/bird.conf is not the mesh config'; exit 1; }}
systemctl is-enabled --quiet bird || {{ echo 'bird is not enabled'; exit 1; }}
systemctl is-active --quiet bird || {{ echo 'bird is not running'; exit 1; }}
established
"#
        ),
        format!(
            r#"{head}if ! command -v bird >/dev/null 2>&1; then
  echo 'bird2 is not installed and the offline profile downloads nothing: rebuild the offline image (kubelab image build offline)' >&2
  exit 1
fi
mkdir -p /etc/bird
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
want_conf > "$tmp"
bird -p -c "$tmp"
install -m 0640 "$tmp" /etc/bird/bird.conf
if getent group bird >/dev/null; then chown root:bird /etc/bird/bird.conf; fi
systemctl enable bird
systemctl restart bird
for _ in $(seq 1 60); do
  if established >/dev/null; then exit 0; fi
  sleep 2
done
echo 'BGP mesh not Established after 120 s; is TCP 179 open between the nodes (security group)?' >&2
birdc show protocols >&2
exit 1
"#
        ),
    )
}

/// /usr/local/sbin/kubelab-ipip-up for one node: calico's IPIP layout — the kernel's catch-all
/// `tunl0` device with the node's tunnel address, and one `onlink` route per other node's pod
/// block via that node's address (what calico's BIRD programs, `proto bird`).
pub(crate) fn ipip_up(me: &PlanNode, nodes: &[PlanNode]) -> String {
    let mut s = format!(
        "#!/bin/bash\n# kubelab net.ipip-tunnels on {name}: pod block {block}, tunl0 address {addr}\nset -euo pipefail\nmodprobe ipip\n\
         ip link set tunl0 mtu 1480 up\nip addr replace {addr}/32 dev tunl0\nip route replace blackhole {block}\n",
        name = me.name,
        block = me.pod_block,
        addr = me.tunnel_addr,
    );
    for peer in nodes.iter().filter(|n| n.ip != me.ip) {
        s.push_str(&format!("ip route replace {pblock} via {pip} dev tunl0 onlink\n", pip = peer.ip, pblock = peer.pod_block));
    }
    s
}

const IPIP_UNIT: &str = "[Unit]
Description=kubelab net.ipip-tunnels: calico-style tunl0 and onlink routes to the other nodes' pod blocks
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/kubelab-ipip-up

[Install]
WantedBy=multi-user.target
";

/// `net.ipip-tunnels`: one IPIP tunnel per other node, tunnel address inside the own pod block,
/// routes to the others' blocks through the tunnels; persisted as a oneshot systemd unit.
pub(crate) fn ipip_tunnels(ctx: &Ctx<'_>) -> Scripts {
    let up_fn = per_node_case("want_up", ctx.nodes, |n| ipip_up(n, ctx.nodes));
    let live_fn = per_node_case("want_live", ctx.nodes, |me| {
        ctx.nodes.iter().filter(|n| n.ip != me.ip).map(|n| format!("{} {} {}\n", n.ip, me.tunnel_addr, n.pod_block)).collect()
    });
    let head = fill(
        r#"@UP@@LIVE@want_unit() {
  cat <<'EOF'
@UNIT@EOF
}
"#,
        &[("UP", &up_fn), ("LIVE", &live_fn), ("UNIT", IPIP_UNIT)],
    );
    Scripts::new(
        format!(
            r#"{head}[ "$(cat /usr/local/sbin/kubelab-ipip-up 2>/dev/null)" = "$(want_up)" ] || {{ echo 'kubelab-ipip-up is missing or stale'; exit 1; }}
[ "$(cat /etc/systemd/system/kubelab-ipip.service 2>/dev/null)" = "$(want_unit)" ] || {{ echo 'kubelab-ipip.service is missing or stale'; exit 1; }}
systemctl is-enabled --quiet kubelab-ipip || {{ echo 'kubelab-ipip is not enabled'; exit 1; }}
link=$(ip -d link show dev tunl0 2>/dev/null || true)
grep -q ',UP' <<<"$link" || {{ echo 'tunl0 is missing or down'; exit 1; }}
while read -r remote addr block; do
  ip -4 -o addr show dev tunl0 | grep -q "inet $addr/32" || {{ echo "tunl0 lacks $addr"; exit 1; }}
  ip route show "$block" | grep -q "via $remote dev tunl0" || {{ echo "no route to $block via $remote dev tunl0"; exit 1; }}
done < <(want_live)
"#
        ),
        format!(
            r#"{head}want_up > /usr/local/sbin/kubelab-ipip-up
chmod 0755 /usr/local/sbin/kubelab-ipip-up
want_unit > /etc/systemd/system/kubelab-ipip.service
systemctl daemon-reload
systemctl enable kubelab-ipip
systemctl restart kubelab-ipip
"#
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;
    use crate::provision::Plan;

    #[test]
    fn bird_conf_peers_with_the_other_nodes_only() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let conf = bird_conf(&plan.nodes[0], &plan.nodes);
        assert!(conf.contains("router id 192.168.1.134;"), "{conf}");
        assert!(conf.contains("route 10.233.0.0/26 blackhole;"), "{conf}");
        assert!(conf.contains("protocol bgp Mesh_192_168_1_135 {"), "{conf}");
        assert!(conf.contains("  neighbor 192.168.1.136 as 64512;"), "{conf}");
        assert!(!conf.contains("Mesh_192_168_1_134"), "{conf}");
        assert_eq!(conf.matches("local as 64512;").count(), 2);
    }

    #[test]
    fn ipip_up_tunnels_to_each_peer_inside_the_pod_block() {
        let plan = Plan::from_config(&LabConfig::default()).unwrap();
        let up = ipip_up(&plan.nodes[1], &plan.nodes);
        assert!(up.contains("ip link set tunl0 mtu 1480 up"), "{up}");
        assert!(up.contains("ip addr replace 10.233.0.65/32 dev tunl0"), "{up}");
        assert!(up.contains("ip route replace 10.233.0.0/26 via 192.168.1.134 dev tunl0 onlink"), "{up}");
        assert!(up.contains("ip route replace 10.233.0.128/26 via 192.168.1.136 dev tunl0 onlink"), "{up}");
        assert!(!up.contains("10.233.0.64/26 via"), "no route to its own block: {up}");
    }
}
