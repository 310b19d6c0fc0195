//! Pure part of `kubelab bench boot`: from what was read inside a guest ([`GuestCapture`]) to a
//! phase breakdown ([`Breakdown`]), and from samples to the printed report ([`render`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::parsers::{
    ChainLink, CloudInitStage, ParseError, StartupTime, UnitTime, parse_cloud_init_blame, parse_cloud_init_dump, parse_cloud_init_show,
    parse_critical_chain, parse_systemctl_show, parse_systemd_analyze_time, parse_systemd_blame,
};

/// Units that are kubelab's own boot stack: cloud-init (its four stages) and the network wait
/// the static configuration does not need.
pub const STACK_UNITS: &[&str] = &[
    "cloud-init-local.service",
    "cloud-init.service",
    "cloud-config.service",
    "cloud-final.service",
    "systemd-networkd-wait-online.service",
];

/// Units whose activation times are read (`systemctl show`).
pub const TIMED_UNITS: &[&str] = &[
    "cloud-init-local.service",
    "cloud-init.service",
    "cloud-config.service",
    "cloud-final.service",
    "systemd-networkd-wait-online.service",
    "systemd-networkd.service",
    "ssh.service",
    "containerd.service",
    "docker.service",
    "multi-user.target",
];

/// Raw outputs read inside one guest once it finished booting (kept verbatim as evidence).
#[derive(Clone, Debug, Default, Serialize)]
pub struct GuestCapture {
    /// `systemd-analyze`.
    pub analyze: String,
    /// `systemd-analyze critical-chain ssh.service cloud-final.service multi-user.target`.
    pub critical_chain: String,
    /// `systemd-analyze blame`.
    pub blame: String,
    /// `cloud-init analyze show`.
    pub cloud_init_show: String,
    /// `cloud-init analyze blame`.
    pub cloud_init_blame: String,
    /// `cloud-init analyze dump` (JSON events: what the numbers are read from).
    pub cloud_init_dump: String,
    /// `systemctl show -p UserspaceTimestampMonotonic -p InitRDTimestampMonotonic` (the manager).
    pub manager: String,
    /// `systemctl show -p Id -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic` [`TIMED_UNITS`].
    pub units: String,
    /// `cloud-init status --long`.
    pub cloud_init_status: String,
}

impl GuestCapture {
    /// Reads the captures [`GuestCapture::files`] wrote into `dir` (a missing file reads as empty).
    pub fn read(dir: &std::path::Path) -> GuestCapture {
        let f = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        GuestCapture {
            analyze: f("systemd-analyze.txt"),
            critical_chain: f("systemd-analyze-critical-chain.txt"),
            blame: f("systemd-analyze-blame.txt"),
            cloud_init_show: f("cloud-init-analyze-show.txt"),
            cloud_init_blame: f("cloud-init-analyze-blame.txt"),
            cloud_init_dump: f("cloud-init-analyze-dump.json"),
            manager: f("systemctl-show-manager.txt"),
            units: f("systemctl-show-units.txt"),
            cloud_init_status: f("cloud-init-status.txt"),
        }
    }

    /// (file name, contents) of every capture, as saved next to the report.
    pub fn files(&self) -> [(&'static str, &str); 9] {
        [
            ("cloud-init-analyze-dump.json", &self.cloud_init_dump),
            ("systemd-analyze.txt", &self.analyze),
            ("systemd-analyze-critical-chain.txt", &self.critical_chain),
            ("systemd-analyze-blame.txt", &self.blame),
            ("cloud-init-analyze-show.txt", &self.cloud_init_show),
            ("cloud-init-analyze-blame.txt", &self.cloud_init_blame),
            ("systemctl-show-manager.txt", &self.manager),
            ("systemctl-show-units.txt", &self.units),
            ("cloud-init-status.txt", &self.cloud_init_status),
        ]
    }
}

/// Where one guest's boot-to-ready went, on the guest's monotonic clock (seconds since the
/// kernel started).
#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    /// `systemd-analyze`'s phases and total.
    pub startup: StartupTime,
    /// Kernel (until the initrd or, without one, userspace started).
    pub kernel: f64,
    /// initrd.
    pub initrd: f64,
    /// ssh.service active.
    pub ssh_active: f64,
    /// cloud-final.service active (cloud-init done).
    pub cloud_init_done: f64,
    /// Ready in the guest: the later of the two.
    pub ready: f64,
    /// Seconds of [kernel end, ready] during which a [`STACK_UNITS`] unit was starting.
    pub stack: f64,
    /// Of which systemd-networkd-wait-online.
    pub wait_online: f64,
    /// The rest of userspace until ready (systemd and every other unit).
    pub systemd_other: f64,
    /// Activation (start, active) per timed unit that ran.
    pub units: BTreeMap<String, (f64, f64)>,
    /// Critical chain of whichever of ssh.service / cloud-final.service was ready last.
    pub chain: Vec<ChainLink>,
    /// Slowest units (`systemd-analyze blame`).
    pub blame: Vec<UnitTime>,
    /// cloud-init stages of this boot (`init-local`, …, seconds).
    pub cloud_init_stages: Vec<(String, f64)>,
    /// cloud-init's events of this boot, slowest first (`stage/event`, seconds).
    pub cloud_init_blame: Vec<(String, f64)>,
    /// Why the cloud-init events could not be read, when they could not (the rest still counts).
    pub cloud_init_unreadable: Option<String>,
}

/// cloud-init's stages and events: from `analyze dump` when it was captured, else from
/// `analyze show` / `blame` (which cloud-init 22.4 cannot print when a stage runs no module).
/// (name, seconds) of cloud-init stages or events.
type Timed = Vec<(String, f64)>;

fn cloud_init_events(c: &GuestCapture) -> Result<(Timed, Timed), ParseError> {
    if !c.cloud_init_dump.trim().is_empty() {
        let ev = parse_cloud_init_dump(&c.cloud_init_dump)?;
        let stages = ev.iter().filter(|e| !e.name.contains('/')).map(|e| (e.name.clone(), e.secs)).collect();
        let events = ev.iter().filter(|e| e.name.contains('/')).map(|e| (e.name.clone(), e.secs)).collect();
        return Ok((stages, events));
    }
    let stages: Vec<CloudInitStage> = parse_cloud_init_show(&c.cloud_init_show)?.pop().unwrap_or_default();
    let events = parse_cloud_init_blame(&c.cloud_init_blame)?.pop().unwrap_or_default();
    Ok((stages.into_iter().map(|s| (s.name, s.secs)).collect(), events))
}

/// Seconds of `[lo, hi]` covered by the union of `intervals`.
pub fn covered(intervals: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let mut v: Vec<(f64, f64)> = intervals.iter().map(|&(a, b)| (a.max(lo), b.min(hi))).filter(|(a, b)| b > a).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut total, mut end) = (0.0, f64::NEG_INFINITY);
    for (a, b) in v {
        if b <= end {
            continue;
        }
        total += b - a.max(end);
        end = b;
    }
    total
}

fn micros(map: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    map.get(key).and_then(|v| v.parse::<u64>().ok()).filter(|&v| v > 0).map(|v| v as f64 / 1e6)
}

/// Reads a guest's captures into a [`Breakdown`].
pub fn breakdown(c: &GuestCapture) -> Result<Breakdown, ParseError> {
    let startup = parse_systemd_analyze_time(&c.analyze)?;
    let manager = parse_systemctl_show(&c.manager).into_iter().next().unwrap_or_default();
    let userspace = micros(&manager, "UserspaceTimestampMonotonic")
        .ok_or_else(|| ParseError::new("systemctl show (manager)", "no UserspaceTimestampMonotonic"))?;
    let initrd_at = micros(&manager, "InitRDTimestampMonotonic");
    let kernel = initrd_at.unwrap_or(userspace);
    let initrd = initrd_at.map(|i| userspace - i).unwrap_or(0.0);
    let mut units = BTreeMap::new();
    for b in parse_systemctl_show(&c.units) {
        let (Some(id), Some(start), Some(active)) =
            (b.get("Id"), micros(&b, "InactiveExitTimestampMonotonic"), micros(&b, "ActiveEnterTimestampMonotonic"))
        else {
            continue;
        };
        units.insert(id.clone(), (start, active));
    }
    let active =
        |u: &str| units.get(u).map(|&(_, a)| a).ok_or_else(|| ParseError::new("systemctl show", format!("{u} never became active")));
    let (ssh_active, cloud_init_done) = (active("ssh.service")?, active("cloud-final.service")?);
    let ready = ssh_active.max(cloud_init_done);
    let iv = |names: &[&str]| names.iter().filter_map(|n| units.get(*n).copied()).collect::<Vec<_>>();
    let stack = covered(&iv(STACK_UNITS), userspace, ready);
    let wait_online = covered(&iv(&["systemd-networkd-wait-online.service"]), userspace, ready);
    let last = if cloud_init_done >= ssh_active { "cloud-final.service" } else { "ssh.service" };
    let chain = parse_critical_chain(&c.critical_chain)?.into_iter().find(|ch| ch[0].unit == last).unwrap_or_default();
    let (cloud_init_stages, mut cloud_init_blame, cloud_init_unreadable) = match cloud_init_events(c) {
        Ok((s, e)) => (s, e, None),
        Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
    };
    cloud_init_blame.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Breakdown {
        startup,
        kernel,
        initrd,
        ssh_active,
        cloud_init_done,
        ready,
        stack,
        wait_online,
        systemd_other: (ready - userspace - stack).max(0.0),
        units,
        chain,
        blame: parse_systemd_blame(&c.blame)?,
        cloud_init_stages,
        cloud_init_blame,
        cloud_init_unreadable,
    })
}

fn not_read() -> Result<Breakdown, String> {
    Err("not read yet".into())
}

/// One node of one booted lab.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeSample {
    /// Node name.
    pub node: String,
    /// Host: domain started → sshd answered with the pinned host key (s).
    pub ssh: f64,
    /// Host: domain started → `cloud-init status` reported done (s).
    pub ready: f64,
    /// `cloud-init status` as read when ready.
    pub status: String,
    /// TCG threads of its QEMU process (`CPU 0/TCG`, … or `ALL CPUs/TCG`), read from /proc.
    pub tcg_threads: Vec<String>,
    /// The guest's own account, or why it could not be read (re-read from the saved captures).
    #[serde(skip_deserializing, default = "not_read")]
    pub guest: Result<Breakdown, String>,
}

impl NodeSample {
    /// Host-side time not spent in the guest's boot-to-ready: QEMU start, and kubelab's polling
    /// (ssh retries, `cloud-init status --wait`).
    pub fn host_slack(&self) -> Option<f64> {
        self.guest.as_ref().ok().map(|g| self.ready - g.ready)
    }

    /// Share of boot-to-ready (host) in kubelab's stack: cloud-init, the network wait and the
    /// host's polling slack.
    pub fn stack_share(&self) -> Option<f64> {
        let g = self.guest.as_ref().ok()?;
        Some((g.stack + (self.ready - g.ready).max(0.0)) / self.ready.max(1e-9))
    }
}

/// One lab booted by the bench.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabSample {
    /// Round (1-based).
    pub round: usize,
    /// Variant label (`baseline` / `candidate`).
    pub variant: String,
    /// What the variant changes (its spec).
    pub spec: String,
    /// Node count.
    pub nodes: usize,
    /// vCPUs per guest.
    pub vcpus: u32,
    /// `up` as a user sees it: create (clones, keys, seeds) + boot + ready on every node (s).
    pub up: f64,
    /// Host `/proc/loadavg` before and after.
    pub load: (String, String),
    /// Per node.
    pub per_node: Vec<NodeSample>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 })
}

fn load1(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("?")
}

/// The printed report: one line per node, then medians and ratios (candidate / baseline for
/// the same node count, 3 nodes / 1 node for the same variant), then what the baseline spent
/// on its way to ready that the candidate no longer does.
pub fn render(samples: &[LabSample]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<3} {:<10} {:>2} {:<24} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} | {:>5} {:>5}",
        "rnd",
        "variant",
        "n",
        "node",
        "up",
        "ssh",
        "ready",
        "kernel",
        "initrd",
        "systemd",
        "c-init",
        "wait",
        "host",
        "stack",
        "load",
        "tcg"
    );
    for s in samples {
        for n in &s.per_node {
            let (k, i, sy, st, w, h, share) = match &n.guest {
                Ok(g) => (
                    format!("{:.1}", g.kernel),
                    format!("{:.1}", g.initrd),
                    format!("{:.1}", g.systemd_other),
                    format!("{:.1}", g.stack - g.wait_online),
                    format!("{:.1}", g.wait_online),
                    format!("{:.1}", n.host_slack().unwrap_or_default()),
                    format!("{:.0}%", 100.0 * n.stack_share().unwrap_or_default()),
                ),
                Err(_) => Default::default(),
            };
            let tcg = match n.tcg_threads.iter().filter(|t| t.ends_with("/TCG")).count() {
                0 => "?".to_string(),
                c if n.tcg_threads.iter().any(|t| t.starts_with("ALL CPUs")) => format!("1x{c}"),
                c => format!("mt{c}"),
            };
            let _ = writeln!(
                o,
                "{:<3} {:<10} {:>2} {:<24} {:>6.1} {:>6.1} {:>6.1} | {:>6} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} | {:>5} {:>5}",
                s.round,
                s.variant,
                s.nodes,
                n.node,
                s.up,
                n.ssh,
                n.ready,
                k,
                i,
                sy,
                st,
                w,
                h,
                share,
                load1(&s.load.0),
                tcg
            );
            if let Err(e) = &n.guest {
                let _ = writeln!(o, "    guest phases unreadable: {e}");
            }
        }
    }
    let _ = writeln!(o, "\ncolumns: up = create+boot+ready of the lab; ssh/ready = host, from the node's domain start;");
    let _ =
        writeln!(o, "kernel..stack = the guest's own clock (systemd/cloud-init); c-init = cloud-init units; wait = networkd-wait-online;");
    let _ = writeln!(o, "host = ready(host) - ready(guest): QEMU start + kubelab's polling; stack = (c-init + wait + host) / ready(host)");
    let mut keys: Vec<(String, usize)> = samples.iter().map(|s| (s.variant.clone(), s.nodes)).collect();
    keys.sort();
    keys.dedup();
    let med = |v: &str, n: usize, f: &dyn Fn(&LabSample) -> Vec<f64>| {
        median(samples.iter().filter(|s| s.variant == v && s.nodes == n).flat_map(f).collect())
    };
    let _ = writeln!(o, "\nmedians {:<20} {:>7} {:>9} {:>7}", "", "up (s)", "ready (s)", "stack");
    for (v, n) in &keys {
        let spec = samples.iter().find(|s| &s.variant == v).map(|s| s.spec.as_str()).unwrap_or("");
        let up = med(v, *n, &|s| vec![s.up]).unwrap_or_default();
        let ready = med(v, *n, &|s| s.per_node.iter().map(|x| x.ready).collect()).unwrap_or_default();
        let share = med(v, *n, &|s| s.per_node.iter().filter_map(|x| x.stack_share()).collect());
        let share = share.map(|x| format!("{:.0}%", 100.0 * x)).unwrap_or_else(|| "?".into());
        let _ = writeln!(o, "  {v:<10} {n} node(s)          {up:>7.1} {ready:>9.1} {share:>7}   {spec}");
    }
    let variants: Vec<String> = {
        let mut v: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        v.dedup();
        v
    };
    let counts: Vec<usize> = {
        let mut c: Vec<usize> = keys.iter().map(|k| k.1).collect();
        c.sort();
        c.dedup();
        c
    };
    let _ = writeln!(o, "\nratios (same run)");
    if variants.iter().any(|v| v == "baseline") && variants.iter().any(|v| v == "candidate") {
        for n in &counts {
            if let (Some(b), Some(c)) = (med("baseline", *n, &|s| vec![s.up]), med("candidate", *n, &|s| vec![s.up])) {
                let _ = writeln!(o, "  {n} node(s): candidate / baseline up = {:.2}x ({:+.1} s)", c / b.max(1e-9), c - b);
            }
        }
    }
    for v in &variants {
        if let (Some(one), Some(three)) = (med(v, 1, &|s| vec![s.up]), med(v, 3, &|s| vec![s.up])) {
            let _ = writeln!(o, "  {v}: 3 nodes / 1 node up = {:.2}x", three / one.max(1e-9));
        }
    }
    o.push_str(&dropped(samples));
    o
}

/// What the baseline's node0 (first sample per node count) waited for on its way to ready, or
/// ran in cloud-init, that the candidate's does not: the per-change savings, read in the guests.
fn dropped(samples: &[LabSample]) -> String {
    let mut o = String::new();
    let first = |v: &str, n: usize| samples.iter().find(|s| s.variant == v && s.nodes == n).and_then(|s| s.per_node[0].guest.as_ref().ok());
    let mut counts: Vec<usize> = samples.iter().map(|s| s.nodes).collect();
    counts.sort();
    counts.dedup();
    for n in counts {
        let (Some(b), Some(c)) = (first("baseline", n), first("candidate", n)) else { continue };
        let _ = writeln!(o, "\nbaseline node0 of {n}, on its chain to ready but not on the candidate's (unit +took):");
        for l in b.chain.iter().filter(|l| !c.chain.iter().any(|x| x.unit == l.unit)) {
            if let Some(t) = l.took.filter(|t| *t >= 0.05) {
                let _ = writeln!(o, "  {:<44} {:>7.1} s", l.unit, t);
            }
        }
        let _ = writeln!(o, "baseline node0 of {n}, cloud-init events the candidate no longer runs:");
        if let Some(why) = b.cloud_init_unreadable.as_ref().or(c.cloud_init_unreadable.as_ref()) {
            let _ = writeln!(o, "  (not compared: {why})");
        }
        let comparable = b.cloud_init_unreadable.is_none() && c.cloud_init_unreadable.is_none();
        for (name, secs) in b.cloud_init_blame.iter().filter(|(name, _)| comparable && !c.cloud_init_blame.iter().any(|x| &x.0 == name)) {
            if *secs >= 0.05 {
                let _ = writeln!(o, "  {name:<44} {secs:>7.1} s");
            }
        }
        let _ = writeln!(o, "guest phases, baseline -> candidate (node0 of {n}):");
        for (label, x, y) in [
            ("kernel", b.kernel, c.kernel),
            ("initrd", b.initrd, c.initrd),
            ("ssh.service active", b.ssh_active, c.ssh_active),
            ("cloud-init done", b.cloud_init_done, c.cloud_init_done),
            ("kubelab stack (cloud-init + wait-online)", b.stack, c.stack),
            (
                "multi-user.target (systemd-analyze)",
                b.startup.target.as_ref().map(|t| t.1).unwrap_or_default(),
                c.startup.target.as_ref().map(|t| t.1).unwrap_or_default(),
            ),
        ] {
            let _ = writeln!(o, "  {label:<44} {x:>7.1} -> {y:>6.1} s");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(dir: &str) -> GuestCapture {
        GuestCapture::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/boot").join(dir))
    }

    /// Before the trims (real capture, 1 node under TCG): cloud-final waited for multi-user and
    /// docker; kubelab's stack was cloud-init's four units plus networkd-wait-online.
    #[test]
    fn breakdown_before_the_trims() {
        let b = breakdown(&fixture("offline-4da12621f281-1-node")).unwrap();
        assert_eq!((b.kernel, b.initrd), (4.635568, 0.0));
        assert_eq!((b.ssh_active, b.cloud_init_done, b.ready), (37.697998, 52.156281, 52.156281));
        assert!((b.wait_online - 13.202744).abs() < 1e-6, "{}", b.wait_online);
        // cloud-init-local + wait-online + cloud-init + cloud-config + cloud-final, disjoint here.
        let want =
            (17.914068 - 7.185997) + (31.689377 - 18.486633) + (36.481060 - 31.742860) + (45.296288 - 36.590384) + (52.156281 - 47.594793);
        assert!((b.stack - want).abs() < 1e-6, "{} vs {want}", b.stack);
        assert!((b.systemd_other - (b.ready - b.kernel - b.stack)).abs() < 1e-9);
        let chain: Vec<&str> = b.chain.iter().map(|l| l.unit.as_str()).collect();
        assert_eq!(&chain[..3], ["cloud-final.service", "multi-user.target", "docker.service"]);
        assert_eq!(b.cloud_init_stages.len(), 4, "from analyze show: {:?}", b.cloud_init_stages);
        assert_eq!(b.cloud_init_blame[0], ("modules-config/config-grub-dpkg".to_string(), 1.855));
        assert_eq!(b.cloud_init_unreadable, None);
    }

    /// After them: no docker, no wait-online; `cloud-init analyze show` crashed in the guest
    /// (no dump was captured by that run), which leaves the units' account intact.
    #[test]
    fn breakdown_after_the_trims_without_cloud_init_events() {
        let b = breakdown(&fixture("offline-7f85cb160c87-1-node")).unwrap();
        assert_eq!((b.ssh_active, b.ready, b.wait_online), (19.330074, 24.339378, 0.0));
        assert!(!b.units.contains_key("docker.service") && !b.units.contains_key("systemd-networkd-wait-online.service"));
        assert_eq!(b.chain[1].unit, "cloud-config.service", "{:?}", b.chain);
        assert!(b.cloud_init_unreadable.as_deref().is_some_and(|e| e.contains("cloud-init analyze")), "{:?}", b.cloud_init_unreadable);
    }

    #[test]
    fn covered_merges_overlaps_and_clips() {
        assert_eq!(covered(&[(1.0, 3.0), (2.0, 4.0), (6.0, 7.0)], 0.0, 10.0), 4.0);
        assert_eq!(covered(&[(1.0, 3.0), (2.0, 4.0), (6.0, 7.0)], 2.5, 6.5), 2.0);
        assert_eq!(covered(&[(5.0, 6.0), (1.0, 2.0)], 0.0, 1.5), 0.5);
        assert_eq!(covered(&[], 0.0, 1.0), 0.0);
    }
}
