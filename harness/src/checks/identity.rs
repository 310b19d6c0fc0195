//! Identity checks: hostnames, per-clone identity that must differ (MAC, product_uuid,
//! machine-id, SSH host key), /etc/hosts and reachability by name.

use super::Verdict;
use super::judge::{R, distinct, fail, judge};
use crate::evidence::Evidence;
use crate::parsers::{parse_etc_hosts, parse_ip_link, parse_reach_lines};

fn parsed<T>(r: Result<T, crate::parsers::ParseError>, remediation: &str) -> R<T> {
    r.map_err(|e| fail("output in the tool's usual format", e.to_string(), remediation))
}

const HOSTNAME_FIX: &str = "give every node its own, stable hostname with `sudo hostnamectl set-hostname <name>` (guide tip: hostnamectl 可以修改主机名; the guide's ICE-k8s-machines-node0..2); the kubelet registers the Node under it";

/// Host names a pasted capture shows: `hostname`'s one word, `kubectl get nodes` NAMEs, `nmap`
/// `Nmap scan report for NAME (IP)` lines.
fn names_in(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for l in text.lines().map(str::trim) {
        if let Some(r) = l.strip_prefix("Nmap scan report for ") {
            let mut it = r.split_whitespace();
            let name = it.next().unwrap_or("").to_string();
            let ip = it.next().map(|i| i.trim_matches(['(', ')']).to_string());
            out.push((name, ip));
        }
    }
    if !out.is_empty() {
        return out;
    }
    if let Some(t) = crate::parsers::table_in(text, &["NAME", "STATUS"]) {
        return t.rows.iter().map(|r| (r[0].clone(), None)).collect();
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() == 1 {
        out.push((words[0].to_string(), None));
    }
    out
}

/// One pasted capture: the names must be distinct machines' and each machine's name stable
/// (a short name and its FQDN both registered means it changed, e.g. after a reboot).
fn hostnames_alone(j: &mut super::judge::Judge<'_>) -> R<String> {
    let Some(n) = j.ev.header.nodes.first() else { return Err(super::judge::Stop::Skip("no node".into())) };
    let t = crate::evidence::Target::Node(n.name.clone());
    let text = j.stdout("hostname", &t, HOSTNAME_FIX)?;
    let names = names_in(text);
    if names.is_empty() {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty output)");
        return Err(j.unreadable("hostname", &t, &crate::parsers::ParseError::at("hostname", first, "no host name")));
    }
    let mut bad = Vec::new();
    for (i, (a, ip_a)) in names.iter().enumerate() {
        for (b, ip_b) in &names[i + 1..] {
            if a == b && ip_a != ip_b {
                bad.push(format!("duplicate hostname {a} on {} and {}", ip_a.as_deref().unwrap_or("?"), ip_b.as_deref().unwrap_or("?")));
            } else if b.starts_with(&format!("{a}.")) || a.starts_with(&format!("{b}.")) {
                bad.push(format!(
                    "{a} and {b}: the same machine registered under its short name and its FQDN (hostname changed after reboot)"
                ));
            }
        }
    }
    bad.dedup();
    if !bad.is_empty() {
        return Err(fail("one stable, distinct hostname per node", bad.join("; "), HOSTNAME_FIX));
    }
    Ok(format!("{} distinct hostname(s) (hostname)", names.len()))
}

/// `identity.hostnames`
pub fn hostnames(ev: &Evidence) -> Verdict {
    if ev.single_capture().is_some() {
        return judge(ev, hostnames_alone);
    }
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let fix = format!("`sudo hostnamectl set-hostname {}` (guide tip: hostnamectl 可以修改主机名)", n.name);
            let got = j.stdout("hostname", t, &fix)?.trim();
            if got != n.name {
                return Err(fail(format!("hostname {}", n.name), format!("hostname {got}"), fix));
            }
            Ok(())
        })?;
        Ok(format!("all {} hostnames as configured (hostname)", ev.header.nodes.len()))
    })
}

const CLONE_NOTE: &str =
    "clones must regenerate identity (guide notes: 必须确保product_uuid的唯一性 / 复制的虚拟机必须确保MAC地址的唯一性)";

/// `identity.unique-macs`
pub fn unique_macs(ev: &Evidence) -> Verdict {
    let fix = format!("give every VM its own MAC address (libvirt: a fresh `<mac address=...>` per domain); {CLONE_NOTE}");
    judge(ev, |j| {
        distinct(j, "ip-link", "MAC address", &fix, |out| {
            Ok(parsed(parse_ip_link(out), &fix)?.into_iter().filter(|l| l.is_identity_nic()).map(|l| l.mac).collect())
        })
    })
}

/// `identity.unique-product-uuid`
pub fn unique_product_uuid(ev: &Evidence) -> Verdict {
    let fix = format!(
        "give every VM its own SMBIOS UUID (libvirt: a fresh domain `<uuid>`), check with `sudo cat /sys/class/dmi/id/product_uuid` (Xen paravirtual guests have no DMI product_uuid: use /sys/hypervisor/uuid); {CLONE_NOTE}"
    );
    judge(ev, |j| distinct(j, "product-uuid", "product_uuid", &fix, |o| Ok(vec![o.trim().to_ascii_lowercase()])))
}

/// `identity.unique-machine-id`
pub fn unique_machine_id(ev: &Evidence) -> Verdict {
    let fix = format!(
        "regenerate on each clone: `sudo rm /etc/machine-id /var/lib/dbus/machine-id && sudo systemd-machine-id-setup` (otherwise the cloned dbus machine-id in /var/lib/dbus/machine-id is copied back); {CLONE_NOTE}"
    );
    judge(ev, |j| distinct(j, "machine-id", "machine-id", &fix, |o| Ok(vec![o.trim().to_string()])))
}

/// `identity.unique-host-keys`
pub fn unique_host_keys(ev: &Evidence) -> Verdict {
    let fix = format!(
        "regenerate on each clone: `sudo rm /etc/ssh/ssh_host_* && sudo ssh-keygen -A` (or `dpkg-reconfigure openssh-server`) — a host key shipped in the image is shared by every machine built from it; {CLONE_NOTE}"
    );
    judge(ev, |j| {
        distinct(j, "ssh-hostkey", "SSH host key fingerprint", &fix, |o| {
            o.split_whitespace()
                .nth(1)
                .map(|fp| vec![fp.to_string()])
                .ok_or_else(|| fail("`256 SHA256:... comment (ED25519)`", o.trim().to_string(), fix.clone()))
        })
    })
}

/// One pasted /etc/hosts: every host name on it (other than `localhost*`) must also map to a
/// non-loopback address, and more than one machine should be listed.
fn etc_hosts_alone(j: &mut super::judge::Judge<'_>) -> R<String> {
    let fix = "map every node's hostname to its node IP in /etc/hosts on every node, as the guide does (令服务器互相连接: `192.168.1.134 ICE-k8s-machines-node0` ...); a hostname only on 127.0.0.1 makes the kubelet fail to find the node IP";
    let Some(n) = j.ev.header.nodes.first() else { return Err(super::judge::Stop::Skip("no node".into())) };
    let t = crate::evidence::Target::Node(n.name.clone());
    let hosts = parse_etc_hosts(j.stdout("etc-hosts", &t, fix)?);
    let loopback = |a: &str| a.starts_with("127.") || a == "::1" || a.starts_with("fe00::") || a.starts_with("ff0");
    let mut bad = Vec::new();
    for (addr, names) in hosts.iter().filter(|(a, _)| loopback(a)) {
        for name in names.iter().filter(|n| !n.starts_with("localhost") && !n.starts_with("ip6-")) {
            if !hosts.iter().any(|(a, ns)| !loopback(a) && ns.contains(name)) {
                bad.push(format!("hostname {name} maps only to {addr} (no line with its node IP)"));
            }
        }
    }
    let machines = hosts.iter().filter(|(a, _)| !loopback(a)).count();
    if machines < 2 {
        bad.push(format!("{machines} non-loopback host line(s): the other cluster nodes are not listed"));
    }
    if !bad.is_empty() {
        return Err(fail("every node name mapped to its node IP", bad.join("; "), fix));
    }
    Ok(format!("{machines} hosts mapped to non-loopback addresses (etc-hosts)"))
}

/// `identity.etc-hosts`
pub fn etc_hosts(ev: &Evidence) -> Verdict {
    if ev.single_capture().is_some() {
        return judge(ev, etc_hosts_alone);
    }
    let lines: String = ev.header.nodes.iter().map(|n| format!("{}   {}\n", n.ip, n.name)).collect();
    let fix = format!("add every node to /etc/hosts as the guide does (令服务器互相连接):\n{lines}");
    judge(ev, |j| {
        j.per_node(|j, _n, t| {
            let text = j.stdout("etc-hosts", t, &fix)?;
            let hosts = parse_etc_hosts(text);
            let mut wrong = Vec::new();
            for other in &j.ev.header.nodes {
                let ip = other.ip.to_string();
                // The first address listed for a name is the one the resolver returns; the
                // guide's `127.0.1.1 <own name>` line is fine only if a real line follows.
                let listed: Vec<&str> = hosts.iter().filter(|(_, names)| names.contains(&other.name.as_str())).map(|(a, _)| *a).collect();
                if !listed.contains(&ip.as_str()) {
                    wrong.push(format!("{} -> {}", other.name, if listed.is_empty() { "absent".into() } else { listed.join(",") }));
                }
            }
            if !wrong.is_empty() {
                return Err(fail("every node name mapped to its configured address", wrong.join(", "), fix.clone()));
            }
            Ok(())
        })?;
        Ok("every /etc/hosts maps all node names to their addresses (etc-hosts)".into())
    })
}

/// `identity.reach-by-name`
pub fn reach_by_name(ev: &Evidence) -> Verdict {
    let fix = "make the nodes reach each other by name: /etc/hosts entries (guide) and one L2 segment; test with `ping <name>` (guide tip)";
    judge(ev, |j| {
        j.per_node(|j, n, t| {
            let out = j.stdout("ping-peers", t, fix)?;
            let rows = parsed(parse_reach_lines(out), fix)?;
            let mut bad = Vec::new();
            for other in j.ev.header.nodes.iter().filter(|o| o.name != n.name) {
                match rows.iter().find(|r| r.target == other.name) {
                    Some(r) if r.ok => {}
                    Some(_) => bad.push(format!("{} unreachable", other.name)),
                    None => bad.push(format!("{} not probed", other.name)),
                }
            }
            if !bad.is_empty() {
                return Err(fail("every other node answers `ping -c1 -W2 <name>`", bad.join(", "), fix));
            }
            Ok(())
        })?;
        Ok("every node reaches the others by name (ping-peers)".into())
    })
}
