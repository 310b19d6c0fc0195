//! Parsers for the real outputs the checks read: one submodule per tool family. Each parser is
//! pure (`&str` in, typed value out) and unit-tested on authentic samples whose origin is named
//! beside the sample. Main error type: [`ParseError`].

mod bgp;
mod boot;
mod capture;
mod component_config;
mod egress;
mod error;
mod host;
mod ipvs;
mod kube;
mod kubeadm;
mod kubetext;
mod net;
mod port;

pub use bgp::*;
pub use boot::*;
pub use capture::*;
pub use component_config::*;
pub use egress::*;
pub use error::*;
pub use host::*;
pub use ipvs::*;
pub use kube::*;
pub use kubeadm::*;
pub use kubetext::*;
pub use net::*;
pub use port::*;
