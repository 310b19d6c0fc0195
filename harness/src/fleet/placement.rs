//! Where `up --labs N` puts each lab (pure): on the host with the most free memory left once
//! the labs placed before it are counted, refusing the whole request when one does not fit;
//! and each lab's config derived from the base one (its own name and subnet).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::FleetError;
use crate::config::LabConfig;
use crate::config::rules::overlaps;

/// A host's free memory as libvirt reports it (`virNodeGetFreeMemory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFree {
    /// Host name (hosts file).
    pub host: String,
    /// Free memory in MiB.
    pub free_mib: u64,
}

/// Hosts for labs needing `need_mib` each, in order: the host with the most memory left (ties:
/// the earlier host), each placement taking its need off that host. Returns the host index of
/// every lab, or [`FleetError::NoHostFits`] naming the first lab that fits nowhere.
pub fn place(names: &[String], need_mib: u64, nodes: usize, memory_mib: u64, hosts: &[HostFree]) -> Result<Vec<usize>, FleetError> {
    let mut left: Vec<u64> = hosts.iter().map(|h| h.free_mib).collect();
    let mut out = Vec::new();
    for name in names {
        // max_by_key keeps the last maximum: walk in reverse so a tie goes to the earlier host.
        let best = (0..hosts.len()).rev().max_by_key(|&i| left[i]);
        match best {
            Some(i) if left[i] >= need_mib => {
                left[i] -= need_mib;
                out.push(i);
            }
            _ => {
                let free = hosts.iter().zip(&left).map(|(h, l)| format!("{} {l} MiB", h.host)).collect::<Vec<_>>().join(", ");
                return Err(FleetError::NoHostFits { lab: name.clone(), need_mib, nodes, memory_mib, placed: out.len(), free });
            }
        }
    }
    Ok(out)
}

/// The `k`-th subnet after `base` of the same size (`k = 0` is `base`), and the offset in
/// addresses; `None` past 255.255.255.255.
fn shifted(base: Ipv4Net, k: u32) -> Option<(Ipv4Net, u32)> {
    let size = 1u32.checked_shl(32 - u32::from(base.prefix_len()))?;
    let off = size.checked_mul(k)?;
    let start = u32::from(base.network()).checked_add(off)?;
    Some((Ipv4Net::new(Ipv4Addr::from(start), base.prefix_len()).ok()?, off))
}

fn add(a: Ipv4Addr, off: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a).wrapping_add(off))
}

/// Lab `name`'s config on `uri`: the base config with the subnet moved to the first one of the
/// base's size at or after it that overlaps none of `taken` (networks on the host and subnets of
/// labs placed before), its gateway, nodes and MetalLB pool moved with it. Validated.
pub fn derive(base: &LabConfig, name: &str, uri: &str, taken: &[Ipv4Net]) -> Result<LabConfig, FleetError> {
    let (subnet, off) = (0..256)
        .filter_map(|k| shifted(base.subnet, k))
        .find(|(s, _)| !taken.iter().any(|t| overlaps(s, t)))
        .ok_or_else(|| FleetError::NoSubnet { lab: name.into(), subnet: base.subnet.to_string() })?;
    let mut cfg = base.clone();
    cfg.name = name.into();
    cfg.libvirt_uri = uri.into();
    cfg.subnet = subnet;
    cfg.gateway = add(base.gateway, off);
    for n in &mut cfg.nodes {
        n.ip = add(n.ip, off);
    }
    cfg.metallb_pool = match base.metallb_pool.split_once('-') {
        Some((a, b)) => match (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>()) {
            (Ok(a), Ok(b)) => format!("{}-{}", add(a, off), add(b, off)),
            _ => base.metallb_pool.clone(),
        },
        None => match base.metallb_pool.parse::<Ipv4Net>() {
            Ok(n) => {
                Ipv4Net::new(add(n.network(), off), n.prefix_len()).map(|n| n.to_string()).unwrap_or_else(|_| base.metallb_pool.clone())
            }
            Err(_) => base.metallb_pool.clone(),
        },
    };
    cfg.validate().map_err(|e| FleetError::Derive { lab: name.into(), source: e })?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(free: &[(&str, u64)]) -> Vec<HostFree> {
        free.iter().map(|(h, f)| HostFree { host: h.to_string(), free_mib: *f }).collect()
    }
    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("lab-{i}")).collect()
    }

    #[test]
    fn each_lab_goes_to_the_host_with_the_most_memory_left() {
        // Two hosts with the same free memory (h2 shares this machine's kernel): the labs alternate.
        assert_eq!(place(&names(4), 6144, 3, 2048, &hosts(&[("here", 20000), ("h2", 20000)])).unwrap(), [0, 1, 0, 1]);
        // A bigger host takes labs until it is no bigger.
        assert_eq!(place(&names(3), 6144, 3, 2048, &hosts(&[("small", 8000), ("big", 25000)])).unwrap(), [1, 1, 1]);
        assert_eq!(place(&names(4), 6144, 3, 2048, &hosts(&[("small", 8000), ("big", 25000)])).unwrap(), [1, 1, 1, 0]);
    }

    #[test]
    fn a_lab_that_fits_nowhere_refuses_the_whole_request_naming_what_is_free() {
        let e = place(&names(3), 6144, 3, 2048, &hosts(&[("here", 7000), ("h2", 6500)])).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, FleetError::NoHostFits { placed: 2, .. }), "{e:?}");
        assert!(text.contains("lab `lab-3` fits on no host: it needs 6144 MiB (3 node(s) × memory_mib = 2048)"), "{text}");
        assert!(text.contains("here 856 MiB, h2 356 MiB"), "{text}");
        assert!(place(&names(1), 6144, 3, 2048, &[]).is_err());
    }

    #[test]
    fn a_derived_lab_moves_its_subnet_past_the_ones_taken_with_its_nodes_gateway_and_pool() {
        let base = LabConfig::default();
        let taken: Vec<Ipv4Net> = vec!["192.168.1.0/24".parse().unwrap(), "192.168.2.0/23".parse().unwrap()];
        let c = derive(&base, "kubelab-2", "qemu+libssh2://root@h2/system", &taken).unwrap();
        assert_eq!(c.subnet.to_string(), "192.168.4.0/24");
        assert_eq!(c.gateway.to_string(), "192.168.4.1");
        assert_eq!(c.nodes.iter().map(|n| n.ip.to_string()).collect::<Vec<_>>(), ["192.168.4.134", "192.168.4.135", "192.168.4.136"]);
        assert_eq!(c.metallb_pool, "192.168.4.200-192.168.4.220");
        assert_eq!((c.name.as_str(), c.libvirt_uri.as_str()), ("kubelab-2", "qemu+libssh2://root@h2/system"));
        // Nothing taken: the base subnet itself.
        assert_eq!(derive(&base, "kubelab-1", "qemu:///system", &[]).unwrap().subnet, base.subnet);
        // A CIDR pool moves too.
        let cidr = LabConfig { metallb_pool: "192.168.1.192/28".into(), ..LabConfig::default() };
        assert_eq!(derive(&cidr, "x", "qemu:///system", &taken[..1]).unwrap().metallb_pool, "192.168.2.192/28");
        // Every subnet after the base taken.
        let all: Vec<Ipv4Net> = vec!["192.168.0.0/16".parse().unwrap(), "192.169.0.0/16".parse().unwrap()];
        assert!(matches!(derive(&base, "x", "qemu:///system", &all), Err(FleetError::NoSubnet { .. })));
    }
}
