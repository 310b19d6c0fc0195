//! The checks `kubelab doctor` runs: [`run`] on the real host, [`run_with`] on any
//! [`CommandRunner`] / [`HostFs`] (the fakes in the tests), each check a `Doctor` method.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::boot_probe::{self, BootOutcome, ProbeAccel};
use super::parse;
use super::report::{DoctorItem, DoctorReport, Status};
use super::runner::{HostFs, RealFs};
use crate::config::memory::{MEMINFO, mem_available_kib};
use crate::config::{Accel, LabConfig, Profile};
use crate::errors::HypervisorError;
use crate::hypervisor::Hypervisor;
use crate::process::{CommandError, CommandRunner, CommandSpec, SystemRunner};

/// Knobs of a doctor run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorOptions {
    /// How long each probe boot may take before it counts as hung.
    pub boot_timeout: Duration,
    /// Free space the image cache's file system needs.
    pub min_free_bytes: u64,
    /// Scratch directory for the probe image and serial logs.
    pub work_dir: PathBuf,
    /// Boot the probe sector (off: the boot items are skipped, saying so).
    pub boot_probe: bool,
    /// Create and delete a throw-away network namespace.
    pub netns_probe: bool,
    /// `:`-separated directories searched for the image tools.
    pub search_path: String,
}

/// Name of the namespace `ci/labenv start` creates (its bind mount lives in `/run/netns`).
pub const LAB_NETNS: &str = "kubelab";
/// Name of the throw-away namespace the namespace probe creates and deletes.
pub const PROBE_NETNS: &str = "kubelab-doctor-probe";
const GIB: u64 = 1 << 30;

impl Default for DoctorOptions {
    fn default() -> Self {
        let path = std::env::var("PATH").unwrap_or_default();
        DoctorOptions {
            boot_timeout: Duration::from_secs(20),
            min_free_bytes: 10 * GIB,
            work_dir: std::env::temp_dir().join(format!("kubelab-doctor-{}", std::process::id())),
            boot_probe: true,
            netns_probe: true,
            // debootstrap lives in /usr/sbin, which a non-root PATH may lack.
            search_path: format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"),
        }
    }
}

/// Runs every check on this host with the real runner and file system.
pub fn run(cfg: &LabConfig, opts: &DoctorOptions) -> DoctorReport {
    let hv = crate::hypervisor::open(&cfg.libvirt_uri);
    let report = run_with(cfg, opts, hv.as_deref(), &SystemRunner, &RealFs);
    // Best effort: the probe files are removed by the probe; the directory is ours.
    let _ = std::fs::remove_dir(&opts.work_dir);
    report
}

/// Runs every check through the given seams: `hv` is the hypervisor connection (or why it
/// could not be opened), `runner` starts programs, `fs` reads the host.
pub fn run_with(
    cfg: &LabConfig,
    opts: &DoctorOptions,
    hv: Result<&dyn Hypervisor, &HypervisorError>,
    runner: &dyn CommandRunner,
    fs: &dyn HostFs,
) -> DoctorReport {
    let d = Doctor { cfg, opts, hv, runner, fs, remote: parse::remote_host(&cfg.libvirt_uri) };
    let mut items = Vec::new();
    let libvirt = d.libvirt();
    let libvirt_up = libvirt.status == Status::Ok;
    items.push(libvirt);
    let qemu = d.qemu();
    let qemu_present = qemu.status == Status::Ok;
    items.push(qemu);
    items.extend(d.boots(qemu_present));
    items.push(d.disk());
    items.push(d.image());
    items.push(d.memory());
    items.push(d.subnet(libvirt_up));
    items.push(d.netns_support());
    items.push(d.netns_current());
    items.extend(d.tools());
    DoctorReport { lab: cfg.name.clone(), libvirt_uri: cfg.libvirt_uri.clone(), profile: cfg.profile, accel: cfg.accel, items }
}

pub(super) struct Doctor<'a> {
    pub(super) cfg: &'a LabConfig,
    pub(super) opts: &'a DoctorOptions,
    pub(super) hv: Result<&'a dyn Hypervisor, &'a HypervisorError>,
    pub(super) runner: &'a dyn CommandRunner,
    pub(super) fs: &'a dyn HostFs,
    pub(super) remote: Option<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

impl Doctor<'_> {
    pub(super) fn remote_skip(&self, id: &str, title: &str, what: &str) -> Option<DoctorItem> {
        self.remote.as_ref().map(|host| {
            DoctorItem::new(
                id,
                title,
                Status::Skip,
                format!("the lab's hypervisor is {host} ({}); {what} is a fact of that host, not this one", self.cfg.libvirt_uri),
            )
            .fix(format!("run `kubelab doctor` on {host} to check it there"))
        })
    }

    fn libvirt(&self) -> DoctorItem {
        const TITLE: &str = "libvirtd reachable";
        let uri = &self.cfg.libvirt_uri;
        let fix = || match &self.remote {
            Some(host) => {
                format!(
                    "on {host}: install libvirt-daemon-system and start libvirtd; from here `ssh {host} true` must work without a password"
                )
            }
            None => "start libvirtd: `ci/labenv setup && ci/labenv start` (or `systemctl start libvirtd`); \
                     if it is missing: apt-get install libvirt-daemon-system libvirt-clients"
                .to_string(),
        };
        match self.hv.map(|hv| hv.version()) {
            Ok(Ok(v)) => {
                DoctorItem::new("libvirt", TITLE, Status::Ok, format!("libvirt at {uri}: {}, hypervisor {}", v.library, v.hypervisor))
            }
            Ok(Err(e)) => {
                DoctorItem::new("libvirt", TITLE, Status::Fail, format!("libvirt at {uri} answers but not its version: {e}")).fix(fix())
            }
            Err(HypervisorError::Unreachable { source, .. }) => DoctorItem::new(
                "libvirt",
                TITLE,
                Status::Fail,
                format!("cannot connect to libvirt at {uri}: {}", source.to_string().lines().next().unwrap_or_default()),
            )
            .fix(fix()),
            Err(e) => DoctorItem::new("libvirt", TITLE, Status::Fail, format!("cannot connect to libvirt at {uri}: {e}")).fix(fix()),
        }
    }

    fn qemu(&self) -> DoctorItem {
        const TITLE: &str = "QEMU present";
        if let Some(skip) = self.remote_skip("qemu", TITLE, "QEMU") {
            return skip;
        }
        match self.runner.run(&CommandSpec::new("qemu-system-x86_64", &["--version"])) {
            Ok(out) if out.success() => DoctorItem::new("qemu", TITLE, Status::Ok, out.stdout.lines().next().unwrap_or("").trim()),
            Ok(out) => {
                DoctorItem::new("qemu", TITLE, Status::Fail, format!("`qemu-system-x86_64 --version` failed: {}", out.first_message_line()))
                    .fix("apt-get install --reinstall qemu-system-x86")
            }
            Err(CommandError::NotFound { .. }) => {
                DoctorItem::new("qemu", TITLE, Status::Fail, "`qemu-system-x86_64` is not installed").fix("apt-get install qemu-system-x86")
            }
            Err(e) => DoctorItem::new("qemu", TITLE, Status::Fail, format!("cannot run qemu-system-x86_64: {e}")),
        }
    }

    /// The KVM and TCG boot items.
    fn boots(&self, qemu_present: bool) -> Vec<DoctorItem> {
        const KVM: &str = "KVM really boots a guest";
        const TCG: &str = "TCG (software emulation) boots a guest";
        if let (Some(a), Some(b)) =
            (self.remote_skip("kvm-boot", KVM, "whether KVM boots"), self.remote_skip("tcg-boot", TCG, "whether TCG boots"))
        {
            return vec![a, b];
        }
        let why_not = if !qemu_present {
            Some("qemu-system-x86_64 is not usable (see `qemu`)")
        } else if !self.opts.boot_probe {
            Some("boot probe disabled by the caller")
        } else {
            None
        };
        if let Some(why) = why_not {
            return vec![DoctorItem::new("kvm-boot", KVM, Status::Skip, why), DoctorItem::new("tcg-boot", TCG, Status::Skip, why)];
        }
        let timeout = self.opts.boot_timeout;
        let probe = |accel| boot_probe::probe(self.runner, self.fs, &self.opts.work_dir, accel, timeout);
        let have_kvm_dev = self.fs.exists(Path::new("/dev/kvm"));
        let kvm = if have_kvm_dev { Some(probe(ProbeAccel::Kvm)) } else { None };
        let tcg = probe(ProbeAccel::Tcg);
        let t = timeout.as_secs();
        let tcg_time = match &tcg {
            BootOutcome::Booted { elapsed } => format!("; TCG booted it in {}", secs(*elapsed)),
            _ => String::new(),
        };

        // How bad an unusable KVM is depends on what the config asks for.
        let (kvm_bad, kvm_fix) = match self.cfg.accel {
            Accel::Kvm => (Status::Fail, Some("set accel = \"tcg\" in lab.toml, or enable (nested) KVM on this host".to_string())),
            Accel::Auto => (
                Status::Warn,
                Some(format!(
                    "set accel = \"tcg\" in lab.toml: `auto` also works: it falls back to tcg when a KVM domain fails to start or shows no boot progress within kvm_probe_secs ({} s)",
                    self.cfg.kvm_probe().as_secs()
                )),
            ),
            Accel::Tcg => (Status::Warn, None),
        };
        // `unusable`: KVM was tried (or is absent) and did not run the guest.
        let (kvm_item, unusable) = match kvm {
            None => (DoctorItem::new("kvm-boot", KVM, kvm_bad, format!("/dev/kvm does not exist on this host{tcg_time}")), true),
            Some(BootOutcome::Booted { elapsed }) => (
                DoctorItem::new(
                    "kvm-boot",
                    KVM,
                    Status::Ok,
                    format!("probe sector printed the marker under -accel kvm in {}{tcg_time}", secs(elapsed)),
                )
                .took(elapsed),
                false,
            ),
            Some(BootOutcome::Hung { elapsed, serial_bytes: 0 }) => (
                DoctorItem::new(
                    "kvm-boot",
                    KVM,
                    kvm_bad,
                    format!("no guest code ran under KVM within {t} s (nested KVM hangs on this host); use accel = \"tcg\"{tcg_time}"),
                )
                .took(elapsed),
                true,
            ),
            Some(BootOutcome::Hung { elapsed, serial_bytes }) => (
                DoctorItem::new(
                    "kvm-boot",
                    KVM,
                    kvm_bad,
                    format!(
                        "under KVM the firmware printed {serial_bytes} bytes but the boot sector did not finish within {t} s; \
                         use accel = \"tcg\"{tcg_time}"
                    ),
                )
                .took(elapsed),
                true,
            ),
            Some(BootOutcome::Failed { message, elapsed, .. }) => {
                (DoctorItem::new("kvm-boot", KVM, kvm_bad, format!("QEMU refused -accel kvm: {message}{tcg_time}")).took(elapsed), true)
            }
            Some(BootOutcome::QemuMissing) => (DoctorItem::new("kvm-boot", KVM, Status::Skip, "qemu-system-x86_64 vanished"), false),
            Some(BootOutcome::ProbeError { message }) => (DoctorItem::new("kvm-boot", KVM, Status::Warn, message), false),
        };
        let kvm_item = match kvm_fix {
            Some(fix) if unusable => kvm_item.fix(fix),
            _ => kvm_item,
        };
        let kvm_ok = kvm_item.status == Status::Ok;
        // TCG failing matters unless KVM works and the config insists on KVM.
        let tcg_bad = if kvm_ok && self.cfg.accel == Accel::Kvm { Status::Warn } else { Status::Fail };
        let tcg_item = match tcg {
            BootOutcome::Booted { elapsed } => DoctorItem::new(
                "tcg-boot",
                TCG,
                Status::Ok,
                format!("probe sector printed the marker under -accel tcg in {}", secs(elapsed)),
            )
            .took(elapsed),
            BootOutcome::Hung { elapsed, serial_bytes } => {
                DoctorItem::new("tcg-boot", TCG, tcg_bad, format!("no boot marker under TCG within {t} s ({serial_bytes} serial bytes)"))
                    .fix("check `qemu-system-x86_64 -accel tcg` by hand; reinstall qemu-system-x86")
                    .took(elapsed)
            }
            BootOutcome::Failed { message, elapsed, .. } => {
                DoctorItem::new("tcg-boot", TCG, tcg_bad, format!("QEMU failed under -accel tcg: {message}"))
                    .fix("apt-get install --reinstall qemu-system-x86 seabios")
                    .took(elapsed)
            }
            BootOutcome::QemuMissing => DoctorItem::new("tcg-boot", TCG, Status::Skip, "qemu-system-x86_64 vanished"),
            BootOutcome::ProbeError { message } => DoctorItem::new("tcg-boot", TCG, Status::Warn, message),
        };
        vec![kvm_item, tcg_item]
    }

    /// Is the profile's base image cached, and if not, can it be had from where kubelab runs?
    fn image(&self) -> DoctorItem {
        const TITLE: &str = "base image for the profile";
        use crate::config::Profile;
        let (cached, path, source, how) = match self.cfg.profile {
            Profile::Offline => {
                let dir = crate::image::offline_dir(self.cfg);
                (dir.join("manifest.json"), dir, crate::image::offline_archive(), "kubelab image build offline")
            }
            Profile::Guide => {
                let p = crate::image::guide_path(self.cfg);
                (p.clone(), p, crate::image::GUIDE_IMAGE_URL, "kubelab image fetch guide")
            }
        };
        let profile = self.cfg.profile.as_str();
        if self.fs.exists(&cached) {
            return DoctorItem::new("image", TITLE, Status::Ok, format!("{profile} image cached in {}", path.display()));
        }
        match self.fs.reachable(source) {
            Ok(()) => DoctorItem::new(
                "image",
                TITLE,
                Status::Warn,
                format!("no {profile} image in {} yet; {source} is reachable from here", path.display()),
            )
            .fix(format!("`{how}` before `kubelab up`, which needs it")),
            Err(why) => DoctorItem::new(
                "image",
                TITLE,
                Status::Fail,
                format!("no {profile} image in {}, and {source} cannot be reached from here: {why}", path.display()),
            )
            .fix(format!("run `{how}` where {source} is reachable (outside the lab's network namespace), into the same image_cache")),
        }
    }

    fn disk(&self) -> DoctorItem {
        const TITLE: &str = "free disk for the image cache";
        let cache = &self.cfg.image_cache;
        // df needs an existing path: the nearest existing ancestor holds the future cache.
        let probe_path = cache.ancestors().find(|p| self.fs.exists(p)).unwrap_or(Path::new("/"));
        let need = self.opts.min_free_bytes;
        let where_ = if self.remote.is_some() { " (on this host)" } else { "" };
        let out = match self.runner.run(&CommandSpec::new("df", &["-Pk", &probe_path.display().to_string()])) {
            Ok(out) if out.success() => out,
            Ok(out) => {
                return DoctorItem::new(
                    "disk",
                    TITLE,
                    Status::Warn,
                    format!("`df -Pk {}` failed: {}", probe_path.display(), out.first_message_line()),
                );
            }
            Err(e) => {
                return DoctorItem::new("disk", TITLE, Status::Warn, format!("cannot measure free space: {e}"))
                    .fix("apt-get install coreutils");
            }
        };
        let Some(free) = parse::df_free(&out.stdout) else {
            return DoctorItem::new("disk", TITLE, Status::Warn, format!("unreadable `df -Pk` output: {:?}", out.stdout));
        };
        let free_bytes = free.available_kib.saturating_mul(1024);
        let detail = format!(
            "{:.1} GiB free on {} for image_cache {}{where_}; need ≥ {} GiB",
            free_bytes as f64 / GIB as f64,
            free.mount,
            cache.display(),
            need / GIB
        );
        if free_bytes >= need {
            DoctorItem::new("disk", TITLE, Status::Ok, detail)
        } else {
            DoctorItem::new("disk", TITLE, Status::Fail, detail).fix(format!(
                "free space on {} or point image_cache at a file system with ≥ {} GiB free",
                free.mount,
                need / GIB
            ))
        }
    }

    fn memory(&self) -> DoctorItem {
        const TITLE: &str = "free memory for the guests";
        if let Some(skip) = self.remote_skip("memory", TITLE, "free memory") {
            return skip;
        }
        let need = self.cfg.memory_needed_mib();
        let meminfo = self.fs.read(Path::new(MEMINFO)).map(|b| String::from_utf8_lossy(&b).into_owned());
        let Some(available) = meminfo.ok().as_deref().and_then(mem_available_kib) else {
            return DoctorItem::new("memory", TITLE, Status::Skip, format!("no MemAvailable in {MEMINFO}; the lab needs {need} MiB"));
        };
        match self.cfg.memory_warning(available) {
            None => DoctorItem::new(
                "memory",
                TITLE,
                Status::Ok,
                format!(
                    "{} MiB available ({MEMINFO} MemAvailable); the lab needs {need} MiB ({} node(s) × memory_mib = {})",
                    available / 1024,
                    self.cfg.nodes.len(),
                    self.cfg.memory_mib
                ),
            ),
            Some(warning) => DoctorItem::new("memory", TITLE, Status::Warn, warning)
                .fix("lower `memory_mib` (or the number of nodes) in lab.toml, or stop what uses the host's memory"),
        }
    }

    fn tools(&self) -> Vec<DoctorItem> {
        // (tool, package, needed by the offline profile only, what for)
        let tools: [(&str, &str, bool, &str); 4] = [
            ("debootstrap", "debootstrap", true, "builds the offline Debian 12 image"),
            ("qemu-img", "qemu-utils", true, "converts the offline image to qcow2"),
            ("xorriso", "xorriso", false, "packs the cloud-init seed ISO"),
            ("ssh-keygen", "openssh-client", false, "makes the lab's SSH keys"),
        ];
        tools
            .iter()
            .map(|&(tool, package, offline_only, what)| {
                let id = format!("tool-{tool}");
                let title = format!("{tool} present ({what})");
                let found =
                    self.opts.search_path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(tool)).find(|p| self.fs.exists(p));
                match found {
                    Some(p) => DoctorItem::new(&id, &title, Status::Ok, p.display().to_string()),
                    None if offline_only && self.cfg.profile != Profile::Offline => DoctorItem::new(
                        &id,
                        &title,
                        Status::Skip,
                        format!("not found, and not needed by the {} profile", self.cfg.profile.as_str()),
                    ),
                    None => DoctorItem::new(&id, &title, Status::Fail, format!("`{tool}` not found in PATH"))
                        .fix(format!("apt-get install {package} (or `ci/labenv setup`)")),
                }
            })
            .collect()
    }
}
