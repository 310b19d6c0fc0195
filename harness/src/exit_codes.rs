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
pub const PROBE_UNKNOWN: i32 = 42;
/// No lab of that name is up.
pub const LAB_NOT_UP: i32 = 41;
/// The host cannot run a lab (`kubelab doctor`).
pub const HOST_UNFIT: i32 = 50;
/// Local file or tool failure.
pub const LOCAL: i32 = 60;
