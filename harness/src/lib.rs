//! kubelab: clone a three-node lab from one base image, provision it after the guide
//! (kubeadm 1.23.6, Docker, calico, IPVS, metrics-server, MetalLB), judge the guide's outcomes
//! from evidence, inject the guide's cloud pitfalls, and report.
//!
//! Pipeline: [`config`] → [`lab`] (over [`hypervisor`] and [`remote`]) → [`provision`] →
//! [`evidence`] → [`checks`] (pure) → [`report`] (driven by [`report::events`]).
#![warn(missing_docs)]

pub mod boot_bench;
pub mod checks;
pub mod config;
pub mod doctor;
pub mod errors;
pub mod evidence;
pub mod exit_codes;
pub mod fault;
pub mod fleet;
pub mod hypervisor;
pub mod image;
pub mod inventory;
pub mod kube_api;
pub mod lab;
pub mod parsers;
pub mod private_fs;
pub mod process;
pub mod provision;
pub mod remote;
pub mod report;
pub mod runner;
pub mod seed;
pub mod wait;
