//! The lab's outside: a segment standing for the internet, inside the lab's network namespace
//! only. Per lab, kubelab makes two network namespaces at `up` and removes them at `down`:
//!
//! * the **cloud router** (`<ns>-r`, think OpenStack's qrouter namespace): one leg on the lab
//!   bridge (host 254 of the lab subnet, the nodes' default gateway), one leg on the outside
//!   segment ([`OUTSIDE_NET`]); nftables gives each node a **floating IP** (SNAT out, DNAT in)
//!   and rejects traffic from a node that has none;
//! * the **outside** (`<ns>-o`): [`SERVER`] on the outside segment, with no route anywhere
//!   else, serving a file over HTTP (`python3 -m http.server`) and a container registry
//!   (Debian's `docker-registry`) holding one image kubelab builds from busybox-static
//!   ([`image`]).
//!
//! Every process (ip, nft, the daemons, curl for the pushes) goes through the process seam
//! [`CommandRunner`] ([`SystemRunner`](crate::process::SystemRunner) for real, the recording
//! [`FakeRunner`](crate::process::fake::FakeRunner) in tests).

pub mod image;
mod servers;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::Serialize;
use thiserror::Error;

use crate::config::{LabConfig, NodeConfig};
use crate::errors::LabError;
use crate::process::{CommandError, CommandOutput, CommandRunner, CommandSpec};

/// The outside segment (TEST-NET-3, RFC 5737: never routed anywhere).
pub const OUTSIDE_NET: &str = "203.0.113.0/24";
/// The router's address on the outside segment.
pub const ROUTER_OUT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The outside host (HTTP server and registry).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Port of the outside HTTP server.
pub const HTTP_PORT: u16 = 8080;
/// Port of the outside registry (plain HTTP: the nodes' Docker lists it in
/// `insecure-registries`, provisioning step `docker.outside-registry`).
pub const REGISTRY_PORT: u16 = 5000;
/// The file the HTTP server serves.
pub const FILE_NAME: &str = "kubelab-outside.txt";
/// Repository of the registry's image.
pub const IMAGE_REPO: &str = "kubelab/busybox";
/// Its tag (the busybox-static release it is built from, Debian 12).
pub const IMAGE_TAG: &str = "1.35";
/// The static busybox the image is built from (`busybox-static`, installed by `ci/labenv setup`).
pub const BUSYBOX: &str = "/bin/busybox";
/// nftables table of the router (in the router's own namespace).
pub const NFT_TABLE: &str = "kubelab_outside";
/// Router interface on the lab bridge.
pub const ROUTER_LAB_IF: &str = "lab0";
/// Router interface on the outside segment.
pub const ROUTER_OUT_IF: &str = "out0";

/// `http://203.0.113.2:8080/kubelab-outside.txt`.
pub fn file_url() -> String {
    format!("http://{SERVER}:{HTTP_PORT}/{FILE_NAME}")
}

/// `203.0.113.2:5000` (as Docker names the registry).
pub fn registry() -> String {
    format!("{SERVER}:{REGISTRY_PORT}")
}

/// `203.0.113.2:5000/kubelab/busybox:1.35`.
pub fn image_ref() -> String {
    format!("{}/{IMAGE_REPO}:{IMAGE_TAG}", registry())
}

/// The outside segment as a network.
pub fn outside_net() -> Ipv4Net {
    OUTSIDE_NET.parse().expect("static")
}

/// The router's address on the lab segment (the nodes' default gateway in the offline
/// profile): the last host address of the lab subnet.
pub fn router_lab_address(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
}

/// A node's floating IP: the outside host with the node address's last octet.
pub fn floating_ip(node: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = SERVER.octets();
    Ipv4Addr::new(a, b, c, node.octets()[3])
}

/// The content of the served file (names the lab, so a fetch proves it reached this outside).
pub fn file_body(lab: &str) -> String {
    format!("kubelab outside of lab {lab}: if a node printed this, it can download\n")
}

/// Whether a lab gets an outside: the offline profile on a local libvirt (`qemu:///…`), whose
/// bridges live in the namespace kubelab runs in. Remote, test and fake hypervisors get none.
pub fn wanted(cfg: &LabConfig, uri: &str) -> bool {
    cfg.profile == crate::config::Profile::Offline && uri.starts_with("qemu:///")
}

/// The bridge of a libvirt network, from its live XML (`<bridge name='virbr1' …/>`).
pub fn bridge_of(network_xml: &str) -> Option<String> {
    crate::hypervisor::parse::bridge_of(network_xml)
}

/// Creates the outside of `cfg`'s lab on its (running) lab network; returns what was made.
pub fn create_for(cfg: &LabConfig, hv: &dyn crate::hypervisor::Hypervisor, run: &dyn CommandRunner) -> Result<String, LabError> {
    let net = cfg.network_name();
    let xml = hv.networks()?.into_iter().find(|n| n.name == net).map(|n| n.xml).unwrap_or_default();
    let bridge = bridge_of(&xml)
        .ok_or_else(|| LabError::local("outside", format!("network {net} has no bridge name in its XML: is it running?")))?;
    let o = Outside::new(cfg, run);
    let took = o.create(&bridge)?;
    Ok(format!(
        "outside made in {:.1} s: router {} on {bridge} at {} (the nodes' gateway), floating IPs {}, outside {} ({SERVER}: {} and registry {} holding {})",
        took.as_secs_f64(),
        o.router_ns(),
        router_lab_address(cfg.subnet),
        cfg.nodes.iter().map(|n| format!("{}→{}", n.ip, floating_ip(n.ip))).collect::<Vec<_>>().join(", "),
        o.outside_ns(),
        file_url(),
        registry(),
        image_ref()
    ))
}

/// The `floating-ips` fact (lab-wide): the router's table as nft prints it in JSON, read
/// through the process seam; a failed read is a fact with the failure (judged as such).
pub fn floating_ips_fact(o: &Outside<'_>) -> crate::evidence::Fact {
    use crate::evidence::{Fact, Origin, Target};
    use crate::remote::ExecOutput;
    let output = match o.floating_ips_json() {
        Ok(out) => ExecOutput::ok(out.stdout),
        Err(e) => ExecOutput { exit_status: 1, stdout: String::new(), stderr: e.to_string() },
    };
    Fact {
        probe: "floating-ips".into(),
        target: Target::Cluster,
        command: format!("ip netns exec {} nft -j list table ip {NFT_TABLE}", o.router_ns()),
        output,
        fetched_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        origin: Origin::Live { via: "the lab's cloud router".into() },
    }
}

/// An outside error: one line naming the thing and the fix.
#[derive(Debug, Error)]
pub enum OutsideError {
    /// A program could not be run at all.
    #[error("outside of lab `{lab}`: {what}: {hint}")]
    Spawn {
        /// Lab.
        lab: String,
        /// What was attempted.
        what: String,
        /// The fix.
        hint: String,
        /// Cause.
        #[source]
        source: CommandError,
    },
    /// A program ran and failed.
    #[error("outside of lab `{lab}`: {what} failed ({line}): {detail}")]
    Failed {
        /// Lab.
        lab: String,
        /// What was attempted.
        what: String,
        /// The command line.
        line: String,
        /// Its first message line.
        detail: String,
    },
    /// A local file could not be written or read.
    #[error("outside of lab `{lab}`: {what}")]
    File {
        /// Lab.
        lab: String,
        /// What was attempted.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A node's address gives it no usable floating IP.
    #[error(
        "outside of lab `{lab}`: node {node} ({ip}) would get floating IP {fip}, which the outside segment uses: give the node another address"
    )]
    FloatingIpClash {
        /// Lab.
        lab: String,
        /// Node.
        node: String,
        /// Its address.
        ip: Ipv4Addr,
        /// The clashing floating IP.
        fip: Ipv4Addr,
    },
}

impl From<OutsideError> for LabError {
    fn from(e: OutsideError) -> Self {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        LabError::local("outside", msg)
    }
}

/// What of a lab's outside exists (counted by `kubelab inventory`; 0 after `down`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct OutsideInventory {
    /// The lab's router and outside network namespaces.
    pub netns: usize,
    /// The router's veth leg in the lab namespace.
    pub links: usize,
    /// The router's nftables table.
    pub nft_tables: usize,
    /// Processes in the two namespaces (HTTP server, registry).
    pub processes: usize,
    /// The outside's directory (served file, registry storage, image, logs).
    pub files: usize,
}

/// A lab's outside, over a process seam.
pub struct Outside<'a> {
    lab: String,
    nodes: Vec<NodeConfig>,
    subnet: Ipv4Net,
    dir: PathBuf,
    run: &'a dyn CommandRunner,
}

fn spec(args: &[&str]) -> CommandSpec {
    CommandSpec::new(args[0], &args[1..])
}

/// `ip netns add|del NAME`. `ci/labenv exec` enters the lab namespace with `nsenter --net`
/// (the root mount namespace kept), so a name made here is seen by every later session; under
/// `ip netns exec kubelab` each session has a mount namespace of its own and a name made in one
/// is a stale file in the next (seen live), so `down` also removes stale names and stops the
/// daemons by their pid files.
fn netns_cmd(op: &str, name: &str) -> CommandSpec {
    spec(&["ip", "netns", op, name])
}

/// A short, stable tag for interface and namespace names (IFNAMSIZ is 16): `kl` and 6 hex
/// digits of the lab name's SHA-256.
pub fn short_tag(lab: &str) -> String {
    let h = image::sha256(lab.as_bytes());
    format!("kl{}", &h["sha256:".len().."sha256:".len() + 6])
}

impl<'a> Outside<'a> {
    /// The outside of the lab `cfg` describes (its files under `<lab_dir>/outside`).
    pub fn new(cfg: &LabConfig, run: &'a dyn CommandRunner) -> Self {
        Outside { lab: cfg.name.clone(), nodes: cfg.nodes.clone(), subnet: cfg.subnet, dir: cfg.lab_dir().join("outside"), run }
    }

    /// The router's network namespace.
    pub fn router_ns(&self) -> String {
        format!("{}-r", short_tag(&self.lab))
    }

    /// The outside's network namespace.
    pub fn outside_ns(&self) -> String {
        format!("{}-o", short_tag(&self.lab))
    }

    /// The router's veth end in the lab namespace (a port of the lab bridge).
    pub fn lab_leg(&self) -> String {
        format!("{}-rl", short_tag(&self.lab))
    }

    /// The outside's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn www(&self) -> PathBuf {
        self.dir.join("www")
    }

    fn exec(&self, what: &str, s: CommandSpec) -> Result<CommandOutput, OutsideError> {
        let out = self.run.run(&s).map_err(|source| OutsideError::Spawn {
            lab: self.lab.clone(),
            what: what.into(),
            hint: format!("install `{}` (ci/labenv setup) and run as root inside the lab namespace", s.program),
            source,
        })?;
        if !out.success() {
            return Err(OutsideError::Failed {
                lab: self.lab.clone(),
                what: what.into(),
                line: s.line(),
                detail: if out.timed_out { format!("timed out after {:?}", s.timeout) } else { out.first_message_line() },
            });
        }
        Ok(out)
    }

    fn write(&self, path: &Path, body: &[u8]) -> Result<(), OutsideError> {
        let file = |source| OutsideError::File { lab: self.lab.clone(), what: format!("write {}", path.display()), source };
        if let Some(d) = path.parent() {
            crate::private_fs::create_dir(d).map_err(file)?;
        }
        crate::private_fs::write(path, body).map_err(file)
    }

    fn in_ns(&self, ns: &str, args: &[&str]) -> CommandSpec {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        spec(&v)
    }

    /// The router's nftables ruleset: a floating IP (DNAT in, SNAT out, forwarding allowed) for
    /// each node in `with_fip`; traffic to the outside from any other lab address is rejected.
    /// Loaded atomically (`nft -f`): the table is declared, deleted and defined in one go.
    pub fn ruleset(&self, with_fip: &[&NodeConfig]) -> String {
        let (lab_if, out_if) = (ROUTER_LAB_IF, ROUTER_OUT_IF);
        let (mut pre, mut post, mut fwd) = (String::new(), String::new(), String::new());
        for n in with_fip {
            let (ip, fip, name) = (n.ip, floating_ip(n.ip), &n.name);
            pre.push_str(&format!("\t\tiifname \"{out_if}\" ip daddr {fip} dnat to {ip} comment \"floating IP of {name}\"\n"));
            post.push_str(&format!("\t\toifname \"{out_if}\" ip saddr {ip} snat to {fip} comment \"floating IP of {name}\"\n"));
            fwd.push_str(&format!(
                "\t\tiifname \"{lab_if}\" oifname \"{out_if}\" ip saddr {ip} accept comment \"{name} has floating IP {fip}\"\n"
            ));
            fwd.push_str(&format!("\t\tiifname \"{out_if}\" oifname \"{lab_if}\" ip daddr {ip} ct status dnat accept\n"));
        }
        format!(
            "table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\ntable ip {NFT_TABLE} {{\n\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{pre}\t}}\n\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{post}\t}}\n\tchain forward {{\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established,related accept\n{fwd}\t\tiifname \"{lab_if}\" reject with icmp type admin-prohibited comment \"no floating IP: no way out\"\n\t}}\n}}\n"
        )
    }

    /// Loads the router's ruleset with floating IPs for every node except `without`.
    pub fn set_floating_ips(&self, without: &[&str]) -> Result<(), OutsideError> {
        let with: Vec<&NodeConfig> = self.nodes.iter().filter(|n| !without.contains(&n.name.as_str())).collect();
        let file = self.dir.join("router.nft");
        self.write(&file, self.ruleset(&with).as_bytes())?;
        let f = file.display().to_string();
        self.exec("load the router's floating IPs", self.in_ns(&self.router_ns(), &["nft", "-f", &f]))?;
        Ok(())
    }

    /// The router's table as nftables prints it (JSON, `nft -j list table`): the
    /// `floating-ips` fact.
    pub fn floating_ips_json(&self) -> Result<CommandOutput, OutsideError> {
        self.exec("read the router's floating IPs", self.in_ns(&self.router_ns(), &["nft", "-j", "list", "table", "ip", NFT_TABLE]))
    }

    /// Creates the outside of a lab whose network's bridge is `bridge`: namespaces, veths,
    /// addresses, the router's floating IPs, the served file, the registry with its image.
    /// On failure, whatever was made is removed again.
    pub fn create(&self, bridge: &str) -> Result<Duration, OutsideError> {
        let t0 = Instant::now();
        for n in &self.nodes {
            let fip = floating_ip(n.ip);
            if fip == ROUTER_OUT || fip == SERVER || fip == outside_net().network() || fip == outside_net().broadcast() {
                return Err(OutsideError::FloatingIpClash { lab: self.lab.clone(), node: n.name.clone(), ip: n.ip, fip });
            }
        }
        let r = self.try_create(bridge);
        if r.is_err() {
            let _ = self.teardown();
        }
        r.map(|()| t0.elapsed())
    }

    fn try_create(&self, bridge: &str) -> Result<(), OutsideError> {
        let (rns, ons, leg) = (self.router_ns(), self.outside_ns(), self.lab_leg());
        let router_lab = format!("{}/{}", router_lab_address(self.subnet), self.subnet.prefix_len());
        let out_prefix = outside_net().prefix_len();
        let (router_out, server) = (format!("{ROUTER_OUT}/{out_prefix}"), format!("{SERVER}/{out_prefix}"));
        let steps: Vec<(&str, CommandSpec)> = vec![
            ("create the router namespace", netns_cmd("add", &rns)),
            ("create the outside namespace", netns_cmd("add", &ons)),
            (
                "create the router's lab leg",
                spec(&["ip", "link", "add", &leg, "type", "veth", "peer", "name", ROUTER_LAB_IF, "netns", &rns]),
            ),
            ("plug the router into the lab bridge", spec(&["ip", "link", "set", &leg, "master", bridge, "up"])),
            (
                "create the outside segment",
                spec(&["ip", "-n", &rns, "link", "add", ROUTER_OUT_IF, "type", "veth", "peer", "name", "eth0", "netns", &ons]),
            ),
            ("router lo up", spec(&["ip", "-n", &rns, "link", "set", "lo", "up"])),
            ("router lab address", spec(&["ip", "-n", &rns, "addr", "add", &router_lab, "dev", ROUTER_LAB_IF])),
            ("router lab leg up", spec(&["ip", "-n", &rns, "link", "set", ROUTER_LAB_IF, "up"])),
            ("router outside address", spec(&["ip", "-n", &rns, "addr", "add", &router_out, "dev", ROUTER_OUT_IF])),
            ("router outside leg up", spec(&["ip", "-n", &rns, "link", "set", ROUTER_OUT_IF, "up"])),
            ("router forwards", self.in_ns(&rns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])),
            ("outside lo up", spec(&["ip", "-n", &ons, "link", "set", "lo", "up"])),
            ("outside address", spec(&["ip", "-n", &ons, "addr", "add", &server, "dev", "eth0"])),
            ("outside leg up", spec(&["ip", "-n", &ons, "link", "set", "eth0", "up"])),
        ];
        for (what, s) in steps {
            self.exec(what, s)?;
        }
        // The floating IPs live on the router's outside leg (so it answers ARP for them).
        for n in &self.nodes {
            let fip = format!("{}/32", floating_ip(n.ip));
            self.exec(&format!("floating IP of {}", n.name), spec(&["ip", "-n", &rns, "addr", "add", &fip, "dev", ROUTER_OUT_IF]))?;
        }
        self.set_floating_ips(&[])?;
        self.start_http()?;
        self.start_registry()?;
        self.push_image()?;
        Ok(())
    }

    fn netns_present(&self) -> Result<Vec<String>, OutsideError> {
        let out = self.exec("list network namespaces", spec(&["ip", "netns", "list"]))?;
        let mine = [self.router_ns(), self.outside_ns()];
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| mine.iter().any(|m| m == n))
            .map(String::from)
            .collect())
    }

    /// The processes of `ns`; `None` when the name is stale (a file under /run/netns that no
    /// longer holds a namespace: nothing can run in it, only the name is left to remove).
    fn pids(&self, ns: &str) -> Result<Option<Vec<String>>, OutsideError> {
        let s = spec(&["ip", "netns", "pids", ns]);
        match self.run.run(&s) {
            Ok(o) if o.success() => Ok(Some(o.stdout.split_whitespace().map(String::from).collect())),
            Ok(o) if o.stderr.contains("setting the network namespace") || o.stderr.contains("Invalid argument") => Ok(None),
            _ => {
                self.exec(&format!("list the processes of {ns}"), s).map(|o| Some(o.stdout.split_whitespace().map(String::from).collect()))
            }
        }
    }

    /// Counts what of the outside exists.
    pub fn inventory(&self) -> Result<OutsideInventory, OutsideError> {
        let present = self.netns_present()?;
        let mut inv = OutsideInventory { netns: present.len(), files: usize::from(self.dir.exists()), ..Default::default() };
        for ns in &present {
            inv.processes += self.pids(ns)?.map_or(0, |p| p.len());
        }
        let links = self.exec("list links", spec(&["ip", "-o", "link", "show"]))?;
        inv.links = links
            .stdout
            .lines()
            .filter(|l| l.split(':').nth(1).is_some_and(|n| n.trim().split('@').next() == Some(&self.lab_leg())))
            .count();
        if present.contains(&self.router_ns()) {
            let s = self.in_ns(&self.router_ns(), &["nft", "list", "tables"]);
            match self.run.run(&s) {
                // A stale name (seen live: `ip netns pids` succeeds on it, entering it fails).
                Ok(o) if !o.success() && o.stderr.contains("setting the network namespace") => {}
                _ => {
                    let t = self.exec("list the router's tables", s)?;
                    inv.nft_tables = t.stdout.lines().filter(|l| l.trim() == format!("table ip {NFT_TABLE}")).count();
                }
            }
        }
        Ok(inv)
    }

    /// Removes the outside: stops every process in its namespaces, deletes the router's lab
    /// leg and both namespaces (their veths and nftables table go with them) and its directory.
    pub fn teardown(&self) -> Result<(), OutsideError> {
        let present = self.netns_present()?;
        for ns in &present {
            let pids = self.pids(ns)?.unwrap_or_default();
            if pids.is_empty() {
                continue;
            }
            let mut kill = vec!["kill", "-TERM"];
            kill.extend(pids.iter().map(String::as_str));
            let _ = self.run.run(&spec(&kill));
            let t0 = Instant::now();
            while !self.pids(ns)?.unwrap_or_default().is_empty() {
                if t0.elapsed() > Duration::from_secs(10) {
                    let left = self.pids(ns)?.unwrap_or_default();
                    let mut kill = vec!["kill", "-KILL"];
                    kill.extend(left.iter().map(String::as_str));
                    let _ = self.run.run(&spec(&kill));
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // Daemons whose namespace name went stale are still found by their pid files.
        for name in ["http", "registry"] {
            if let Some(pid) = std::fs::read_to_string(self.dir.join(format!("{name}.pid"))).ok().and_then(|p| p.trim().parse::<u32>().ok())
            {
                let _ = self.run.run(&spec(&["kill", "-TERM", &pid.to_string()]));
            }
        }
        let leg = self.lab_leg();
        let links = self.exec("list links", spec(&["ip", "-o", "link", "show"]))?;
        if links.stdout.lines().any(|l| l.split(':').nth(1).is_some_and(|n| n.trim().split('@').next() == Some(leg.as_str()))) {
            self.exec("delete the router's lab leg", spec(&["ip", "link", "del", &leg]))?;
        }
        for ns in &present {
            self.exec(&format!("delete namespace {ns}"), netns_cmd("del", ns))?;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|source| OutsideError::File {
                lab: self.lab.clone(),
                what: format!("remove {}", self.dir.display()),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
