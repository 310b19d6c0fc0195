//! The lab's ports (each node's NIC behind libvirt's anti-spoofing filter, like a cloud port
//! with port security) as evidence: the port binding read from libvirt, and — for a node that
//! is cut off — its addresses read from its serial console.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Lab, LabState, NodeState};
use crate::errors::LabError;
use crate::evidence::{Evidence, Fact, Origin, Target};
use crate::hypervisor::parse;
use crate::remote::{ExecOutput, RemoteShell};

/// First line of one console report block.
pub const CONSOLE_BEGIN: &str = "kubelab-console: ip -o -4 addr show: begin";
/// Last line of one console report block.
pub const CONSOLE_END: &str = "kubelab-console: end";
/// The transient unit that prints the node's addresses to its serial console.
pub const CONSOLE_UNIT: &str = "kubelab-console-report";
/// A console report older than this is not evidence of the node's current addresses.
pub const CONSOLE_FRESH: Duration = Duration::from_secs(30);

/// The guest-side loop (run as [`CONSOLE_UNIT`]): every 3 s, `ip -o -4 addr show` between
/// markers on /dev/ttyS0, which libvirt logs to the node's console file.
pub fn console_report_loop() -> String {
    format!("while :; do {{ echo '{CONSOLE_BEGIN}'; ip -o -4 addr show; echo '{CONSOLE_END}'; }} >/dev/ttyS0 2>&1; sleep 3; done")
}

/// Starts (or restarts) [`CONSOLE_UNIT`] in the guest.
pub fn console_report_start() -> String {
    format!(
        "set -e\nsystemctl stop {CONSOLE_UNIT} 2>/dev/null || true\nsystemctl reset-failed {CONSOLE_UNIT} 2>/dev/null || true\nsystemd-run --unit={CONSOLE_UNIT} --quiet sh -c \"{}\"\nsystemctl is-active {CONSOLE_UNIT}\n",
        console_report_loop().replace('"', "\\\"")
    )
}

/// Stops [`CONSOLE_UNIT`].
pub fn console_report_stop() -> String {
    format!("systemctl stop {CONSOLE_UNIT} 2>/dev/null || true\n")
}

/// The last complete report block of a console log (`\r` removed), the markers excluded.
pub fn last_console_addrs(log: &str) -> Option<String> {
    let log = log.replace('\r', "");
    let mut rest = log.as_str();
    let mut last = None;
    while let Some(i) = rest.find(CONSOLE_BEGIN) {
        let after = &rest[i + CONSOLE_BEGIN.len()..];
        let after = after.strip_prefix('\n').unwrap_or(after);
        match after.find(CONSOLE_END) {
            Some(j) => {
                last = Some(after[..j].to_string());
                rest = &after[j..];
            }
            None => break,
        }
    }
    last
}

/// Facts read outside the nodes' SSH: `floating-ips` from the lab's cloud router (when it has
/// an outside), `port-filter` for every node (its `<interface>` element
/// as libvirt prints it), and `ip-addr` from the serial console for each node that `ev` has no
/// `ip-addr` fact for (SSH failed) and whose console shows a fresh report.
pub async fn port_facts(lab: &Lab, state: &LabState, ev: &Evidence) -> Result<Vec<Fact>, LabError> {
    let hv = lab.hypervisor().clone();
    let domains = tokio::task::spawn_blocking(move || hv.domains()).await.expect("blocking task")?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for n in &state.nodes {
        let t = Target::Node(n.name.clone());
        if let Some(el) = domains.iter().find(|d| d.name == n.domain).and_then(|d| parse::interface_of(&d.xml, &n.mac)) {
            out.push(Fact {
                probe: "port-filter".into(),
                target: t.clone(),
                command: format!("virsh -c {} dumpxml {}: <interface> with mac {}", state.uri, n.domain, n.mac),
                output: ExecOutput::ok(format!("{el}\n")),
                fetched_at: now.clone(),
                origin: Origin::Live { via: "libvirt".into() },
            });
        }
        if ev.fact("ip-addr", &t).is_none() {
            let log = lab.console_log(&n.name);
            let fresh = std::fs::metadata(&log)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age < CONSOLE_FRESH);
            let text = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if let (true, Some(block)) = (fresh, last_console_addrs(&text)) {
                out.push(Fact {
                    probe: "ip-addr".into(),
                    target: t,
                    command: format!("{} (unit {CONSOLE_UNIT}), last block of {}", console_report_loop(), log.display()),
                    output: ExecOutput::ok(block),
                    fetched_at: now.clone(),
                    origin: Origin::Live { via: "serial console".into() },
                });
            }
        }
    }
    // The cloud router's floating IPs (guide pitfall 2), read in the router's namespace.
    if let Some(o) = lab.outside() {
        out.push(super::outside::floating_ips_fact(&o));
    }
    Ok(out)
}

/// A shell to `node` alone at address `ip` (its pinned host key still required): reaching a
/// node whose address moved. Opened through the lab's [`ShellOpener`](super::ShellOpener).
pub fn shell_at(lab: &Lab, state: &LabState, node: &str, ip: Ipv4Addr) -> Result<Arc<dyn RemoteShell>, LabError> {
    let n = state.nodes.iter().find(|n| n.name == node).ok_or_else(|| LabError::local("shell", format!("unknown node {node}")))?;
    let moved = LabState { nodes: vec![NodeState { ip, ..n.clone() }], ..state.clone() };
    lab.shell(&moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_blocks_are_read_last_complete_first() {
        let log = format!(
            "[  OK  ] Started ssh.service\r\n{CONSOLE_BEGIN}\r\n2: eth0    inet 192.168.1.135/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever preferred_lft forever\r\n{CONSOLE_END}\r\n{CONSOLE_BEGIN}\r\n2: eth0    inet 192.168.1.150/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever preferred_lft forever\r\n{CONSOLE_END}\r\n{CONSOLE_BEGIN}\r\n1: lo"
        );
        let b = last_console_addrs(&log).unwrap();
        assert!(b.starts_with("2: eth0    inet 192.168.1.150/24") && !b.contains('\r'), "{b}");
        assert_eq!(last_console_addrs("no report"), None);
        assert!(console_report_start().contains("systemd-run --unit=kubelab-console-report"));
    }
}
