//! One step file per domain; each step judges one check by id.

mod addons;
mod calico;
mod cluster;
mod faults;
mod host;
mod identity;
mod ipvs;
mod outside;
mod tls;
