//! Lab configuration: one TOML file, every value defaulting to the guide's. Main type: [`LabConfig`].
//! `model.rs` the types and defaults, `parse.rs` TOML → [`LabConfig`] with errors naming the key,
//! `validate.rs` the rules; [`rules`] holds the syntax rules validation applies; [`memory`] the
//! host-memory warning.

pub mod memory;
mod model;
mod parse;
#[cfg(test)]
mod proptests;
pub mod rules;
#[cfg(test)]
mod tests;
mod validate;

pub use memory::{memory_warning, read_mem_available_kib};
pub use model::{
    Accel, DEFAULT_SERVICE_CIDR, LabConfig, MEMORY_MIB_MAX, MEMORY_MIB_MIN, Mirror, NodeConfig, Profile, Role, TIMEOUT_SECS_MAX, VCPUS_MAX,
    Versions,
};
pub(crate) use parse::parse_error;
pub use rules::PoolRange;
