//! Fault injection: each of the guide's cloud pitfalls reproduced on purpose on a live lab,
//! and healed the way the guide says. The table [`SPECS`] holds one [`FaultSpec`] per
//! [`FaultKind`]; [`FaultLab`] carries them out.

mod custom;
mod exec;
mod scripts;
mod spec;
#[cfg(test)]
mod tests;

pub use exec::{ActionFn, ActiveFault, FaultLab};
pub use scripts::{moved_address, static_ip_script};
pub use spec::{ALL, Action, FaultKind, FaultSpec, SPECS};
