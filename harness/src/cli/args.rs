//! clap argument definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kubelab: reproduce, check and explain the three-node kubeadm 1.23.6 guide on libvirt VMs.
#[derive(Debug, Parser)]
#[command(name = "kubelab", version = VERSION_LONG, about)]
pub struct Cli {
    /// Lab config (TOML). Default: ./kubelab.toml if present, else the guide's defaults.
    #[arg(long, short = 'c', global = true, env = "KUBELAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override the lab name.
    #[arg(long, global = true, env = "KUBELAB_LAB")]
    pub lab: Option<String>,
    /// Override the profile (`guide` or `offline`).
    #[arg(long, global = true, env = "KUBELAB_PROFILE")]
    pub profile: Option<String>,
    /// Override the accelerator (`auto`, `kvm`, `tcg`).
    #[arg(long, global = true, env = "KUBELAB_ACCEL")]
    pub accel: Option<String>,
    /// Override the libvirt URI.
    #[arg(long, global = true, env = "KUBELAB_LIBVIRT_URI")]
    pub uri: Option<String>,
    /// Override the base-image cache directory (absolute path).
    #[arg(long, global = true, env = "KUBELAB_IMAGE_CACHE")]
    pub image_cache: Option<std::path::PathBuf>,
    /// Hosts file (`[[hosts]]` with `name`, `uri`, optional `ssh_key`/`known_hosts`): where
    /// `up --labs`, `status --all` and `down --all` work. Default: the config's `libvirt_uri` alone.
    #[arg(long, global = true, env = "KUBELAB_HOSTS")]
    pub hosts: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Clone, boot and wait for SSH on all nodes (in parallel); then provision.
    Up {
        /// Do not provision after boot.
        #[arg(long)]
        no_provision: bool,
        /// Make N new labs (`<name>-1`, `<name>-2`, … on free subnets), each on the host of
        /// `--hosts` with the most free memory; refused with nothing made when one fits nowhere.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
        labs: Option<u32>,
    },
    /// Remove the lab's domains, overlays, seeds, network and state.
    Down {
        /// Also remove the cached base images.
        #[arg(long)]
        purge: bool,
        /// Every lab on every host of `--hosts` (and every lab with a state file), then count
        /// what is left on each host.
        #[arg(long, conflicts_with = "purge")]
        all: bool,
    },
    /// Per-node domain state and identity read inside the guests.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Every lab on every host of `--hosts` (and every lab with a state file).
        #[arg(long)]
        all: bool,
    },
    /// Count the lab's resources (domains, volumes, seeds, networks, pools, filters).
    Inventory {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Run a command (or print how to log in) on a node over the lab's pinned SSH.
    Ssh {
        /// Node name, `nodeN` suffix or index.
        node: String,
        /// Command to run as root.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Apply the guide's steps over SSH (idempotent; Kubernetes steps need the guide profile).
    Provision(ProvisionArgs),
    /// Judge the guide's outcomes (Cucumber features) from live or recorded evidence.
    Check(CheckArgs),
    /// Explain one pasted tool output: what was read, each check's verdict, the guide's fix.
    Explain(crate::cli::explain::ExplainArgs),
    /// Check whether this host can run a lab (libvirt, QEMU, whether KVM really boots, disk, subnet, namespaces).
    Doctor {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Skip booting the probe guest under KVM and TCG.
        #[arg(long)]
        no_boot_probe: bool,
    },
    /// Reboot nodes from inside the guests and wait until they are back.
    Reboot {
        /// Only this node (default: all).
        #[arg(long)]
        node: Option<String>,
    },
    /// Reproduce the guide's pitfalls on purpose.
    Fault {
        /// What to do.
        #[command(subcommand)]
        action: FaultAction,
    },
    /// Live snapshots of every node (the fault scenarios start from `provisioned`).
    Snapshot {
        /// What to do.
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// The guide profile's pinned artifacts (binaries, manifests) in a local, checksum-verified cache.
    Artifacts {
        /// What to do.
        #[command(subcommand)]
        action: ArtifactsAction,
    },
    /// Base images.
    Image {
        /// What to do.
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Print the lab config with defaults filled in (TOML).
    Config,
    /// Benchmarks (ratios against a baseline in the same run).
    Bench {
        /// Which benchmark.
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Shell completions.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// Image subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Build a base image (only `offline` can be built).
    Build {
        /// Profile.
        #[arg(value_enum)]
        which: Which,
        /// Rebuild even when cached.
        #[arg(long)]
        force: bool,
    },
    /// Download the guide image (needs internet).
    Fetch {
        /// Profile.
        #[arg(value_enum)]
        which: Which,
    },
    /// Print where the profile's image is cached.
    Path {
        /// Profile.
        #[arg(value_enum)]
        which: Which,
    },
}

/// An image profile.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// Debian 12 built by kubelab.
    Offline,
    /// Ubuntu 20.04 cloud image.
    Guide,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Linked clones vs `virt-clone` full copies for two base sizes.
    Clone(BenchClone),
    /// Re-judging a recorded bundle with N scenarios (cucumber) vs the raw checks.
    Check(BenchCheck),
    /// Per-command overhead: one reused russh connection vs an `ssh` process per command (needs a running lab).
    Ssh {
        /// Commands per side.
        #[arg(long, default_value_t = 20)]
        commands: u32,
    },
    /// Boot path per node: 1 node alone vs 3 in parallel, a baseline vs a candidate variant
    /// alternating in the same run, with the guests' own phases (throwaway labs).
    Boot(BenchBoot),
    /// Snapshot revert vs a fresh clone + boot + host provisioning (needs a running lab with a `provisioned` snapshot).
    Reset,
}

/// Options of `bench check`.
#[derive(Debug, Args)]
pub struct BenchCheck {
    /// Scenarios to judge (the real ones, cycled).
    #[arg(long, default_value_t = 100)]
    pub scenarios: usize,
    /// Iterations (median and min are reported).
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Evidence bundle to re-judge.
    #[arg(long, default_value = "tests/fixtures/bundles/guide-healthy")]
    pub evidence: PathBuf,
    /// Directory of .feature files to cycle (default: the ones built into kubelab).
    #[arg(long)]
    pub features: Option<PathBuf>,
}

/// Options of `bench boot`.
#[derive(Debug, Args)]
pub struct BenchBoot {
    /// Baseline variant: `image=DIR` (an offline image directory), `vcpus=N`, `cpu=MODEL`,
    /// comma-separated. Without it only the candidate boots.
    #[arg(long)]
    pub baseline: Option<kubelab::boot_bench::Variant>,
    /// Candidate variant (same keys; default: the config as it is).
    #[arg(long, default_value = "")]
    pub candidate: kubelab::boot_bench::Variant,
    /// Node counts to boot.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    pub nodes: Vec<usize>,
    /// Rounds (the baseline/candidate order alternates).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Where the raw guest outputs and samples.json go.
    #[arg(long, default_value = "reports/bench-boot")]
    pub save: PathBuf,
    /// Boot nothing: re-read the run saved in `--save` with the current parsers and print its report.
    #[arg(long)]
    pub reread: bool,
}

/// Options of `bench clone`.
#[derive(Debug, Args)]
pub struct BenchClone {
    /// Base sizes in GiB.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub sizes: Vec<u64>,
}

/// Options of `provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Run only these step ids (repeatable).
    #[arg(long)]
    pub only: Vec<String>,
    /// Start at this step id.
    #[arg(long)]
    pub from: Option<String>,
    /// Stop after this step id.
    #[arg(long)]
    pub until: Option<String>,
    /// Where to write per-node logs and the provisioning events (default: <state>/<lab>/provision).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
}

/// Options of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Judge the running lab (default when no other source is given).
    #[arg(long = "live", conflicts_with = "evidence")]
    pub live: bool,
    /// Judge a recorded evidence bundle directory.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// Judge an existing cluster over SSH, described by an inventory file (nodes, user, key, known_hosts).
    #[arg(long, conflicts_with = "evidence")]
    pub inventory: Option<PathBuf>,
    /// Cucumber tag expression, e.g. `@host and not @k8s`.
    #[arg(long)]
    pub tags: Option<String>,
    /// Only scenarios whose name contains this text.
    #[arg(long)]
    pub name: Option<String>,
    /// With `--name`: only the scenario whose name is exactly that text.
    #[arg(long, requires = "name")]
    pub exact: bool,
    /// Report directory (cucumber.json, junit.xml, report.html, events.jsonl, evidence/).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Directory of .feature files (default: the ones built into kubelab).
    #[arg(long)]
    pub features: Option<PathBuf>,
    /// How the guide profile reads cluster objects: `kube` (the default: the kube client through
    /// an SSH direct-tcpip tunnel to the API server, kubeconfig kept in memory) or `kubectl`
    /// (`kubectl … -o json` over SSH on the control plane).
    #[arg(long, value_enum, default_value_t = ClusterApiVia::Kube)]
    pub cluster_api: ClusterApiVia,
}

/// Transport of the cluster probes (`check --cluster-api`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterApiVia {
    /// kubectl on the control plane over SSH.
    Kubectl,
    /// The kube client over an SSH direct-tcpip tunnel.
    Kube,
}

/// `fault` subcommands.
#[derive(Debug, Subcommand)]
pub enum FaultAction {
    /// List the fault kinds, the guide's words, and the checks each must break.
    List,
    /// Inject a fault.
    Inject {
        /// Kind id (see `fault list`).
        kind: String,
        /// Node (default: the kind's usual victim).
        #[arg(long)]
        node: Option<String>,
    },
    /// Heal a fault the guide's way.
    Heal {
        /// Kind id.
        kind: String,
        /// Node (default: where it was injected).
        #[arg(long)]
        node: Option<String>,
    },
}

/// `snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Save a live snapshot of every node.
    Save {
        /// Snapshot name.
        name: String,
    },
    /// Revert every node to a snapshot.
    Revert {
        /// Snapshot name.
        name: String,
    },
}

/// `artifacts` subcommands.
#[derive(Debug, Subcommand)]
pub enum ArtifactsAction {
    /// List every pinned artifact with its URL and sha256.
    List,
    /// Download every pinned artifact into DIR (resumable; a checksum mismatch is refused).
    Fetch {
        /// Cache directory.
        #[arg(long, default_value = "/var/cache/kubelab/artifacts")]
        dir: PathBuf,
    },
    /// Copy the cached artifacts onto every node of the running lab (/var/cache/kubelab-artifacts).
    Push {
        /// Cache directory.
        #[arg(long, default_value = "/var/cache/kubelab/artifacts")]
        dir: PathBuf,
    },
}

/// `--version` text: the harness version and the pinned guide versions.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nguide: kubeadm/kubelet/kubectl 1.23.6, calico 3.22.2, metrics-server 0.6.1, MetalLB 0.12.1, Helm 3.8.0, cfssl 1.6.1, docker-ce 20.10.24"
);
