//! Egress: every node can download from the outside — an HTTP fetch and a `docker pull` from
//! the lab outside's registry (guide pitfall 2: 必须给每个虚拟机都绑定一个浮动IP…不然容器无法访问外网（下载都不行）).
//! On the cloud a node reaches the internet only through its floating IP (the router's NAT
//! for its port); without one, downloads fail on that node while the cluster network between
//! the nodes keeps working.

use super::Verdict;
use super::judge::{fail, judge};
use crate::evidence::{Evidence, Target};
use crate::lab::outside::floating_ip;
use crate::parsers::{parse_egress, parse_nft_floating_ips, parse_reach_lines};

const FIX: &str = "必须给每个虚拟机都绑定一个浮动IP…不然容器无法访问外网（下载都不行） (guide, 珍爱生命，远离交大云): bind a floating IP to the node (the cloud router's NAT for its port); in the lab `kubelab fault heal no-floating-ip` puts its NAT back";

/// `net.egress`: every node fetches the outside's file over HTTP (200) and pulls its image.
pub fn egress(ev: &Evidence) -> Verdict {
    judge(ev, |j| {
        // The router's table, when kubelab could read it: which nodes have a floating IP.
        let fips = j.optional("floating-ips", &Target::Cluster).map(|f| parse_nft_floating_ips(&f.output.stdout));
        let mut n_ok = 0;
        j.per_node(|j, n, t| {
            j.stdout("egress", t, FIX)?;
            // The probe's own `$ <command>` lines are its format, not pasted shell noise: read
            // the output as the node printed it (not the capture-cleaned text).
            let text = &j.fact("egress", t)?.output.stdout;
            let downloads = parse_egress(text).map_err(|e| j.unreadable("egress", t, &e))?;
            let mut broken = Vec::new();
            for d in &downloads {
                let ok = if d.command.contains("curl ") {
                    d.exit == 0 && d.http_status().is_some_and(|(code, _)| code == 200)
                } else if d.command.contains("docker pull ") {
                    d.exit == 0
                        && d.pull_status().is_some_and(|s| s.starts_with("Downloaded newer image") || s.starts_with("Image is up to date"))
                } else {
                    d.exit == 0
                };
                if !ok {
                    let what = if d.command.contains("curl ") {
                        "HTTP fetch"
                    } else if d.command.contains("docker pull ") {
                        "docker pull"
                    } else {
                        "download"
                    };
                    broken.push(format!("{what} failed (exit {}: {})", d.exit, d.error_line().trim()));
                }
            }
            if broken.is_empty() {
                n_ok += 1;
                return Ok(());
            }
            let mut found = broken.join("; ");
            // Peers still reached: the cluster network works, only the way out is missing.
            if let Some(f) = j.optional("ping-peers", t)
                && let Ok(rows) = parse_reach_lines(&f.output.stdout)
                && !rows.is_empty()
                && rows.iter().all(|r| r.ok)
            {
                found.push_str(&format!(
                    " while it still reaches {}",
                    rows.iter().map(|r| r.target.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            match &fips {
                Some(Ok(list)) if !list.iter().any(|f| f.node == n.ip) => found.push_str(&format!(
                    "; no floating IP: the cloud router has no NAT for {} (its floating IP would be {})",
                    n.ip,
                    floating_ip(n.ip)
                )),
                Some(Ok(list)) => {
                    let f = list.iter().find(|f| f.node == n.ip).expect("checked");
                    found.push_str(&format!("; the router maps it to floating IP {} — look at the outside itself", f.floating));
                }
                _ => found.push_str(&format!(
                    "; check that the node has a floating IP (its NAT to the outside; {} in the lab)",
                    floating_ip(n.ip)
                )),
            }
            Err(fail("every node can download from the outside (HTTP 200 and `docker pull` through its floating IP)", found, FIX))
        })?;
        Ok(format!("{n_ok} nodes fetched the outside's file (HTTP 200) and pulled its image"))
    })
}

#[cfg(test)]
mod tests {
    //! Judged over outputs captured live on kubelab's offline lab and its outside
    //! (`tests/fixtures/real/egress/`, `tests/fixtures/real/floating-ips/`).
    use super::*;
    use crate::config::{LabConfig, NodeConfig, Role};
    use crate::evidence::{EvidenceHeader, Fact, Origin};
    use crate::remote::ExecOutput;

    fn body(probe: &str, name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/real").join(probe).join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (head, body) = text.split_once("\n---\n").unwrap_or_else(|| panic!("{}: no `---` line", p.display()));
        assert!(head.lines().any(|l| l.starts_with("source: live capture on")), "{}", p.display());
        body.to_string()
    }

    /// The 192.168.1.0/24 lab the nft capture was rendered for.
    fn evidence(egress: &[(u8, &str)], fips: Option<&str>) -> Evidence {
        let n =
            |i: u8, role| NodeConfig { name: format!("ICE-k8s-machines-node{i}"), ip: std::net::Ipv4Addr::new(192, 168, 1, 134 + i), role };
        let cfg = LabConfig { nodes: vec![n(0, Role::ControlPlane), n(1, Role::Worker), n(2, Role::Worker)], ..LabConfig::default() };
        let mut ev = Evidence::new(EvidenceHeader::from_config(&cfg, "captures"));
        let fact = |probe: &str, target: Target, out: String| Fact {
            probe: probe.into(),
            target,
            command: probe.into(),
            output: ExecOutput::ok(out),
            fetched_at: "2026-12-02T06:24:19Z".into(),
            origin: Origin::Live { via: "ssh".into() },
        };
        for (i, file) in egress {
            ev.insert(fact("egress", Target::Node(format!("ICE-k8s-machines-node{i}")), body("egress", file)));
        }
        if let Some(f) = fips {
            ev.insert(fact("floating-ips", Target::Cluster, body("floating-ips", f)));
        }
        ev
    }

    #[test]
    fn nodes_that_fetched_and_pulled_pass() {
        let ok = "node2-floating-ip.txt";
        let v = egress(&evidence(&[(0, ok), (1, ok), (2, ok)], None));
        assert!(v.is_pass(), "{v}");
        assert!(v.to_string().contains("3 nodes fetched"), "{v}");
        // A node whose probe output is missing is a skip, never a pass.
        assert!(egress(&evidence(&[(0, ok), (2, ok)], None)).is_skip());
    }
}
