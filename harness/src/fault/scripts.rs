//! The guest scripts of the faults (bash, run as root through [`RemoteShell`](crate::remote::RemoteShell)).
//! Each is snapshot-tested and shellchecked, like the provisioning scripts.

use std::net::Ipv4Addr;

use crate::config::LabConfig;

/// `swap`: the swap line back in /etc/fstab (uncommented or added), a swap file if there is
/// none, `swapon -a`.
pub const SWAP_ON: &str = "set -e\nsed -i -E 's|^#+[[:space:]]*(/swap\\.img[[:space:]].*)$|\\1|' /etc/fstab\ngrep -qE '^/swap\\.img[[:space:]]' /etc/fstab || echo '/swap.img none swap sw 0 0' >> /etc/fstab\nif [ ! -s /swap.img ]; then fallocate -l 256M /swap.img; chmod 600 /swap.img; mkswap /swap.img >/dev/null; fi\nswapon -a\nswapon --show\n";

/// `br-netfilter`: the module unloaded.
pub const BR_NETFILTER_UNLOAD: &str = "set -e\nmodprobe -r br_netfilter\n! lsmod | grep -q '^br_netfilter '\n";

/// `port-6443`: a listener on 0.0.0.0:6443 in a transient unit, waited for.
pub const PORT_6443_OCCUPY: &str = "set -e\nsystemctl stop kubelab-fault-6443 2>/dev/null || true\nsystemd-run --unit=kubelab-fault-6443 --quiet python3 -m http.server 6443 --bind 0.0.0.0\nfor _ in $(seq 50); do ss -Htln 'sport = :6443' | grep -q . && exit 0; sleep 0.2; done\necho 'listener did not come up' >&2; exit 1\n";

/// `port-6443` healed: the listener's unit stopped, the port waited free.
pub const PORT_6443_FREE: &str = "systemctl stop kubelab-fault-6443 2>/dev/null || true\nfor _ in $(seq 50); do ss -Htln 'sport = :6443' | grep -q . || exit 0; sleep 0.2; done\nexit 1\n";

/// `cgroup-driver`: docker's `exec-opts` set to cgroupfs, docker restarted.
pub const DOCKER_CGROUPFS: &str = "set -e\npython3 - <<'PY'\nimport json, os\np = '/etc/docker/daemon.json'\nd = json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else {}\nd['exec-opts'] = ['native.cgroupdriver=cgroupfs']\njson.dump(d, open(p, 'w'), indent=2)\nPY\nsystemctl restart docker\ndocker info --format '{{.CgroupDriver}}'\n";

/// `network-manager`: NetworkManager installed from the image's offline .debs and started,
/// eth0 (the harness's SSH path) kept unmanaged.
pub const NETWORK_MANAGER_INSTALL: &str = "set -e\nmkdir -p /etc/NetworkManager/conf.d\n# keep the harness's SSH path (eth0) out of NM's hands; NM still takes every other interface\nprintf '[keyfile]\\nunmanaged-devices=interface-name:eth0\\n' > /etc/NetworkManager/conf.d/kubelab-keep-eth0.conf\nDEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold /var/cache/kubelab-debs/*.deb >/tmp/kubelab-nm-install.log 2>&1 || { tail -20 /tmp/kubelab-nm-install.log >&2; exit 1; }\nsystemctl enable --now NetworkManager\nsystemctl is-active NetworkManager\n";

/// `clone-identity`: read the source's machine-id.
pub const READ_MACHINE_ID: &str = "cat /etc/machine-id";

/// `clone-identity` healed: a fresh machine-id.
pub const REGENERATE_MACHINE_ID: &str = "set -e\nrm -f /etc/machine-id\nsystemd-machine-id-setup\n";

/// `clone-identity`: the source's machine-id written (and synced: a cold restart follows).
pub fn copy_machine_id(machine_id: &str) -> String {
    format!("set -e\nprintf '%s\\n' '{machine_id}' > /etc/machine-id\nsync\n")
}

/// `clone-identity`: eth0's MAC set to the source's 2 s after this returns (detached, so the
/// session that runs it returns first).
pub fn copy_mac_detached(mac: &str) -> String {
    format!("set -e\nsystemd-run --on-active=2 --quiet ip link set dev eth0 address {mac}\n")
}

/// `clone-identity` healed: eth0's own MAC back 1 s after this returns (detached; the reply is
/// lost once the MAC changes, so the caller does not wait for it).
pub fn restore_mac_detached(mac: &str) -> String {
    format!("systemd-run --on-active=1 --quiet ip link set dev eth0 address {mac}")
}

/// `clone-identity`: the copied MAC is on eth0.
pub fn check_mac(mac: &str) -> String {
    format!("ip -o link show eth0 | grep -qi 'link/ether {mac}'")
}

/// `static-ip`: the node's IPv4 addresses on eth0.
pub const ETH0_ADDRS: &str = "ip -o -4 addr show dev eth0";

/// The address the `static-ip` fault moves a node to: host 150 of the lab subnet.
pub fn moved_address(cfg: &LabConfig) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cfg.subnet.network()) + 150)
}

/// Moves the node's address from `from` to `to` the way an operator does it in the guest: the
/// static address edited in its netplan file, then `netplan apply` (detached, so the SSH
/// session that runs this returns before the address goes). Prints the file it edited.
pub fn static_ip_script(from: Ipv4Addr, to: Ipv4Addr, prefix: u8) -> String {
    let re = from.to_string().replace('.', "\\.");
    format!(
        "set -e\nf=$(grep -l -F -- '{from}/{prefix}' /etc/netplan/*.yaml | head -n1)\nif [ -z \"$f\" ]; then echo 'no netplan file holds {from}/{prefix}' >&2; exit 1; fi\nsed -i 's|{re}/{prefix}|{to}/{prefix}|' \"$f\"\necho \"$f\"\nsystemd-run --on-active=2 --quiet netplan apply\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::port;

    fn shellcheck(name: &str, script: &str) {
        let mut child = std::process::Command::new("shellcheck")
            .args(["-s", "bash", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("shellcheck is required: apt-get install shellcheck (ci/labenv setup)");
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(format!("#!/bin/bash\n{script}").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: {}\n{script}", String::from_utf8_lossy(&out.stdout));
    }

    /// Every fault script, named: what the snapshots and shellcheck cover.
    fn all() -> Vec<(&'static str, String)> {
        let (a, b) = (Ipv4Addr::new(192, 168, 1, 135), Ipv4Addr::new(192, 168, 1, 150));
        vec![
            ("swap_on", SWAP_ON.into()),
            ("br_netfilter_unload", BR_NETFILTER_UNLOAD.into()),
            ("port_6443_occupy", PORT_6443_OCCUPY.into()),
            ("port_6443_free", PORT_6443_FREE.into()),
            ("docker_cgroupfs", DOCKER_CGROUPFS.into()),
            ("network_manager_install", NETWORK_MANAGER_INSTALL.into()),
            ("read_machine_id", READ_MACHINE_ID.into()),
            ("regenerate_machine_id", REGENERATE_MACHINE_ID.into()),
            ("copy_machine_id", copy_machine_id("0123456789abcdef0123456789abcdef")),
            ("copy_mac_detached", copy_mac_detached("52:54:00:aa:bb:cc")),
            ("restore_mac_detached", restore_mac_detached("52:54:00:aa:bb:cc")),
            ("check_mac", check_mac("52:54:00:aa:bb:cc")),
            ("eth0_addrs", ETH0_ADDRS.into()),
            ("static_ip", static_ip_script(a, b, 24)),
            ("console_report_start", port::console_report_start()),
            ("console_report_stop", port::console_report_stop()),
        ]
    }

    #[test]
    fn scripts_snapshot_and_shellcheck() {
        for (name, script) in all() {
            insta::assert_snapshot!(name, script);
            shellcheck(name, &script);
        }
        assert_eq!(moved_address(&LabConfig::default()), Ipv4Addr::new(192, 168, 1, 150));
    }
}
