//! The doctor's network checks: the lab subnet is free (libvirt networks through the
//! [`Hypervisor`](crate::hypervisor::Hypervisor) seam, this namespace's addresses through `ip`),
//! and network namespaces work here (the lab runs inside one).

use std::path::{Path, PathBuf};

use super::checks::{Doctor, LAB_NETNS, PROBE_NETNS};
use super::parse;
use super::report::{DoctorItem, Status};
use crate::process::{CommandError, CommandOutput, CommandSpec};

impl Doctor<'_> {
    pub(super) fn subnet(&self, libvirt_up: bool) -> DoctorItem {
        const TITLE: &str = "lab subnet not already in use";
        let want = self.cfg.subnet;
        let own = self.cfg.network_name();
        let mut conflicts = Vec::new();
        let mut notes = Vec::new();
        let mut own_bridge = None;
        if libvirt_up && let Ok(hv) = self.hv {
            match hv.networks() {
                Ok(nets) => {
                    for n in &nets {
                        let facts = parse::network_facts(&n.xml);
                        if n.name == own {
                            own_bridge = facts.bridge.clone();
                            notes.push(format!("`{own}` already defined (an earlier `kubelab up`; `kubelab down` removes it)"));
                            continue;
                        }
                        for net in facts.ipv4.iter().filter(|x| parse::overlaps(x, &want)) {
                            conflicts.push(format!("libvirt network `{}` has {net}", n.name));
                        }
                    }
                    notes.push(format!("{} libvirt network(s) read", nets.len()));
                }
                Err(e) => notes.push(format!("libvirt networks not listed ({e})")),
            }
        } else {
            notes.push("libvirt networks not checked: libvirtd unreachable".into());
        }
        if self.remote.is_none() {
            match self.runner.run(&CommandSpec::new("ip", &["-o", "-4", "addr", "show"])) {
                Ok(out) if out.success() => {
                    for (iface, net) in parse::ip_addrs(&out.stdout) {
                        if parse::overlaps(&net, &want) && own_bridge.as_deref() != Some(iface.as_str()) {
                            conflicts.push(format!("interface {iface} has {net} in this namespace"));
                        }
                    }
                }
                _ => notes.push("`ip -o -4 addr` unavailable".into()),
            }
        }
        let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
        if !conflicts.is_empty() {
            return DoctorItem::new("subnet", TITLE, Status::Fail, format!("{want} collides: {}{notes}", conflicts.join(", "))).fix(
                "choose another `subnet` (with matching `gateway`, node IPs and `metallb_pool`) in lab.toml, \
                 or remove the conflicting network/address",
            );
        }
        let status = if libvirt_up { Status::Ok } else { Status::Warn };
        DoctorItem::new("subnet", TITLE, status, format!("nothing uses {want}{notes}"))
    }

    fn ip_netns(&self, verb: &str) -> Result<CommandOutput, CommandError> {
        self.runner.run(&CommandSpec::new("ip", &["netns", verb, PROBE_NETNS]))
    }

    pub(super) fn netns_support(&self) -> DoctorItem {
        const TITLE: &str = "network namespaces can be created";
        if let Some(skip) = self.remote_skip("netns", TITLE, "the lab network's namespace") {
            return skip;
        }
        if !self.opts.netns_probe {
            return DoctorItem::new("netns", TITLE, Status::Skip, "namespace probe disabled by the caller");
        }
        let mut add = self.ip_netns("add");
        if matches!(&add, Ok(o) if !o.success() && o.stderr.contains("File exists")) {
            // A probe namespace left by an interrupted run: remove it and try once more.
            let _ = self.ip_netns("delete");
            add = self.ip_netns("add");
        }
        match add {
            Err(CommandError::NotFound { .. }) => {
                DoctorItem::new("netns", TITLE, Status::Fail, "`ip` is not installed").fix("apt-get install iproute2")
            }
            Err(e) => DoctorItem::new("netns", TITLE, Status::Fail, e.to_string()),
            Ok(out) if !out.success() => {
                DoctorItem::new("netns", TITLE, Status::Fail, format!("`ip netns add {PROBE_NETNS}` failed: {}", out.first_message_line()))
                    .fix("run as root (CAP_SYS_ADMIN); in a container, allow unshare/mount of /run/netns")
            }
            Ok(_) => match self.ip_netns("delete") {
                Ok(del) if del.success() => {
                    DoctorItem::new("netns", TITLE, Status::Ok, format!("created and deleted namespace {PROBE_NETNS}"))
                }
                Ok(del) => DoctorItem::new(
                    "netns",
                    TITLE,
                    Status::Warn,
                    format!("created {PROBE_NETNS} but could not delete it: {}", del.first_message_line()),
                )
                .fix(format!("ip netns delete {PROBE_NETNS}")),
                Err(e) => DoctorItem::new("netns", TITLE, Status::Warn, format!("created {PROBE_NETNS}; delete failed: {e}"))
                    .fix(format!("ip netns delete {PROBE_NETNS}")),
            },
        }
    }

    pub(super) fn netns_current(&self) -> DoctorItem {
        const TITLE: &str = "running inside the `kubelab` namespace";
        if let Some(skip) = self.remote_skip("netns-current", TITLE, "the namespace of the lab network") {
            return skip;
        }
        let lab_ns = PathBuf::from("/run/netns").join(LAB_NETNS);
        let self_ns = Path::new("/proc/self/ns/net");
        let link = self.fs.read_link(self_ns).map(|p| p.display().to_string()).unwrap_or_else(|_| "unknown".into());
        let via = "ci/labenv exec -- kubelab …";
        let gw = self.cfg.gateway;
        if !self.fs.exists(&lab_ns) {
            return DoctorItem::new(
                "netns-current",
                TITLE,
                Status::Warn,
                format!(
                    "{} does not exist; the lab bridge would take {gw} in the namespace libvirtd runs in (this one is {link})",
                    lab_ns.display()
                ),
            )
            .fix(format!("`ci/labenv setup && ci/labenv start`, then run `{via}`"));
        }
        match (self.fs.inode(self_ns), self.fs.inode(&lab_ns)) {
            (Ok(a), Ok(b)) if a == b => DoctorItem::new("netns-current", TITLE, Status::Ok, format!("{link} is {}", lab_ns.display())),
            (Ok(_), Ok(b)) => DoctorItem::new(
                "netns-current",
                TITLE,
                Status::Warn,
                format!(
                    "this process is in {link}, not in {} (net:[{b}]): it cannot reach the lab's {} addresses",
                    lab_ns.display(),
                    self.cfg.subnet
                ),
            )
            .fix(format!("run `{via}`")),
            (Err(e), _) | (_, Err(e)) => {
                DoctorItem::new("netns-current", TITLE, Status::Warn, format!("cannot compare namespaces ({}): {e}", lab_ns.display()))
            }
        }
    }
}
