//! Lab configuration: one TOML file, every value defaulting to the guide's. Main type: [`LabConfig`].

mod imp;

pub use imp::*;
