//! Lab configuration: one TOML file, every value defaulting to the guide's. Main type: [`LabConfig`].
//! [`rules`] holds the syntax rules validation applies; [`memory`] the host-memory warning.

mod imp;
pub mod memory;
pub mod rules;
#[cfg(test)]
mod proptests;

pub use imp::*;
pub use memory::{memory_warning, read_mem_available_kib};
pub use rules::PoolRange;
