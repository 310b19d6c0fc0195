//! Documented process exit codes of the `kubelab` binary (also listed in README.md).

/// Everything asked for succeeded (for `check`: every selected scenario passed).
pub const OK: i32 = 0;
/// Unexpected internal error (a bug).
pub const INTERNAL: i32 = 1;
/// Command-line usage error (clap).
pub const USAGE: i32 = 2;
/// The lab config is unreadable or invalid.
pub const CONFIG_INVALID: i32 = 10;
/// libvirtd is unreachable.
pub const LIBVIRT_UNREACHABLE: i32 = 11;
/// The base image is missing or unreadable.
pub const BASE_IMAGE_MISSING: i32 = 12;
/// A lab of the same name already exists.
pub const LAB_EXISTS: i32 = 13;
/// The lab subnet is used by another libvirt network.
pub const SUBNET_IN_USE: i32 = 14;
/// Another libvirt call failed.
pub const LIBVIRT_FAILED: i32 = 15;
/// `up --labs`: a lab fits on no host of the hosts file (free memory); nothing was created.
pub const NO_HOST_FITS: i32 = 16;
/// A guest never booted (no serial-console progress).
pub const GUEST_NO_BOOT: i32 = 20;
/// SSH unreachable (connect refused / timed out, never came up).
pub const SSH_UNREACHABLE: i32 = 21;
/// SSH authentication failed.
pub const SSH_AUTH: i32 = 22;
/// A node's host key does not match the pinned one.
pub const HOST_KEY_MISMATCH: i32 = 23;
/// A provisioning step failed.
pub const PROVISION_FAILED: i32 = 30;
/// Building an image failed.
pub const IMAGE_BUILD_FAILED: i32 = 31;
/// At least one selected check scenario failed.
pub const CHECKS_FAILED: i32 = 40;
/// `explain` cannot tell which probe printed the given output (name it with `--probe`).
pub const PROBE_UNKNOWN: i32 = 55;
/// No lab of that name is up.
pub const LAB_NOT_UP: i32 = 41;
/// `--evidence` names a directory that is missing, unreadable or not an evidence bundle.
pub const EVIDENCE_UNREADABLE: i32 = 42;
/// The evidence bundle was written in another format version.
pub const EVIDENCE_FORMAT: i32 = 43;
/// `--tags` is not a valid Cucumber tag expression.
pub const BAD_TAGS: i32 = 44;
/// A feature file names a check or fault id kubelab does not have.
pub const UNKNOWN_ID: i32 = 45;
/// `--features` names a directory without valid feature files.
pub const FEATURES_INVALID: i32 = 46;
/// The lab's API server is unreachable through the control plane's SSH tunnel (refused,
/// closed, timed out).
pub const CLUSTER_API_UNREACHABLE: i32 = 47;
/// The API server's TLS certificate does not verify under the kubeconfig's CA for the
/// expected name.
pub const CLUSTER_API_CERTIFICATE: i32 = 48;
/// The API server refused the kubeconfig's credentials (401) or the request (403).
pub const CLUSTER_API_DENIED: i32 = 49;
/// The host cannot run a lab (`kubelab doctor`).
pub const HOST_UNFIT: i32 = 50;
/// A Kubernetes object or API a probe needs does not exist (404).
pub const CLUSTER_API_NOT_FOUND: i32 = 51;
/// Another API server error, or a response that does not decode as the expected object.
pub const CLUSTER_API_FAILED: i32 = 52;
/// Waiting for a cluster condition (nodes Ready, CSRs, APIService, LoadBalancer IP) timed out.
pub const CLUSTER_WAIT_TIMEOUT: i32 = 53;
/// The control plane's kubeconfig is missing or unusable.
pub const KUBECONFIG_INVALID: i32 = 54;
/// Local file or tool failure.
pub const LOCAL: i32 = 60;
/// Interrupted by SIGINT/SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;
