//! Lab configuration: one TOML file, every value defaulting to the guide's. Main type: [`LabConfig`].
//! [`rules`] holds the syntax rules validation applies; [`memory`] the host-memory warning.

mod imp;
pub mod memory;
#[cfg(test)]
mod proptests;
pub mod rules;

pub use imp::*;
pub use memory::{memory_warning, read_mem_available_kib};
pub use rules::PoolRange;
