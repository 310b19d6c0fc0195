//! Lab configuration: one TOML file, every value defaulting to the guide's. Main type: [`LabConfig`].
//! [`rules`] holds the syntax rules validation applies; [`memory`] the host-memory warning.

mod imp;
pub mod memory;
#[cfg(test)]
mod proptests;
pub mod rules;

pub(crate) use imp::parse_error;
pub use imp::{
    Accel, DEFAULT_SERVICE_CIDR, LabConfig, MEMORY_MIB_MAX, MEMORY_MIB_MIN, Mirror, NodeConfig, Profile, Role, TIMEOUT_SECS_MAX, VCPUS_MAX,
    Versions,
};
pub use memory::{memory_warning, read_mem_available_kib};
pub use rules::PoolRange;
