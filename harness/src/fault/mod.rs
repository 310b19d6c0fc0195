//! Fault injection: each of the guide's cloud pitfalls reproduced on purpose on a live lab,
//! and healed the way the guide says. Main types: [`FaultKind`], [`FaultLab`].

mod imp;

pub use imp::*;
