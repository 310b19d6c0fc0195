//! Bash check/action scripts of every step, rendered from the lab config (pure; snapshot-tested).
//! Main type: [`Scripts`].

mod common;
mod host;
mod kube;
mod mesh;

pub(crate) use common::{Ctx, Scripts, sq};
pub(crate) use host::{
    br_netfilter, docker_cgroup, docker_install, docker_outside_registry, firewall_off, hosts_file, ipvs_modules, network_manager,
    swap_off, sysctl,
};
pub(crate) use kube::*;
pub(crate) use mesh::{bird_mesh, ipip_tunnels};
