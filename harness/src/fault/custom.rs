//! The inject and heal steps that are more than one guest script: hypervisor calls (nwfilters,
//! link state, SMBIOS, port bindings) interleaved with guest scripts and reconnects. Each is an
//! [`ActionFn`](super::exec::ActionFn) named in the table ([`super::SPECS`]).

use std::time::Duration;

use tokio::time::Instant;

use super::exec::{FaultLab, assigned_port};
use super::scripts::{self, moved_address, static_ip_script};
use super::spec::FaultKind;
use crate::errors::{LabError, RemoteError};
use crate::hypervisor::{edit, xml};
use crate::lab::{NodeState, port};
use crate::remote::BoxFuture;
use crate::wait::{self, Attempt, WaitError};

type Done<'a> = BoxFuture<'a, Result<String, LabError>>;

/// `security-group` / `security-group-ipip`: the filter defined and attached to every node's
/// port on top of the anti-spoofing filter.
pub(super) fn inject_security_group<'a>(f: &'a FaultLab<'a>, kind: FaultKind, _: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let filter = f.filter_xml(kind);
        let fname = f.filter_name(kind);
        let net = f.cfg().network_name();
        let nodes: Vec<(String, String, xml::Port)> =
            f.state().nodes.iter().map(|n| (n.domain.clone(), n.mac.clone(), assigned_port(n).with_filter(&fname))).collect();
        f.hv(move |hv| {
            hv.define_nwfilter(&filter)?;
            for (dom, mac, port) in &nodes {
                hv.update_device(dom, &xml::interface_xml(mac, &net, port, true))?;
            }
            Ok(())
        })
        .await?;
        Ok(if kind == FaultKind::SecurityGroup {
            "nwfilter dropping TCP 179 and IP protocol 4 between the nodes attached to every node".to_string()
        } else {
            "nwfilter dropping IP protocol 4 between the nodes attached to every node".to_string()
        })
    })
}

/// The security group fixed: the filter detached from every port and undefined.
pub(super) fn heal_security_group<'a>(f: &'a FaultLab<'a>, kind: FaultKind, _: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let fname = f.filter_name(kind);
        let net = f.cfg().network_name();
        let nodes: Vec<(String, String, xml::Port)> =
            f.state().nodes.iter().map(|n| (n.domain.clone(), n.mac.clone(), assigned_port(n))).collect();
        f.hv(move |hv| {
            for (dom, mac, port) in &nodes {
                hv.update_device(dom, &xml::interface_xml(mac, &net, port, true))?;
            }
            hv.undefine_nwfilter(&fname)
        })
        .await?;
        Ok("filter detached from every node and undefined (the security group fixed)".into())
    })
}

/// `link-down`: the libvirt link of the node's lab NIC set down.
pub(super) fn inject_link_down<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let (dom, mac, net, port) = (target.domain.clone(), target.mac.clone(), f.cfg().network_name(), assigned_port(target));
        f.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &port, false))).await?;
        f.shell().forget(&target.name).await;
        Ok("libvirt link of the lab NIC set down".to_string())
    })
}

/// The guide's remedy: reboot the VM. The cloud's fault is modelled as the link state, which
/// the reboot (a fresh VM start on the cloud) clears.
pub(super) fn heal_link_down<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let (dom, mac, net, port) = (target.domain.clone(), target.mac.clone(), f.cfg().network_name(), assigned_port(target));
        f.hv(move |hv| {
            hv.update_device(&dom, &xml::interface_xml(&mac, &net, &port, true))?;
            hv.reset_domain(&dom)
        })
        .await?;
        f.shell().forget(&target.name).await;
        let t = f.wait_ssh(&target.name, Duration::from_secs(600)).await?;
        Ok(format!("rebooted {} (hard reset); ssh back after {:.0} s", target.name, t.as_secs_f64()))
    })
}

/// `clone-identity`: the target takes the first node's machine-id, SMBIOS product_uuid and MAC,
/// as a clone that was never sysprepped.
pub(super) fn inject_clone_identity<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let source = &f.state().nodes[0];
        if source.name == target.name {
            return Err(LabError::local("inject clone-identity", "pick a node other than the first (the clone's source)"));
        }
        let mid = f.sh(&source.name, "read machine-id", scripts::READ_MACHINE_ID).await?.stdout.trim().to_string();
        // Duplicate product_uuid: the clone's SMBIOS system UUID is the source's. This is a
        // hardware property, so the domain is redefined and cold-restarted.
        let (dom, src_uuid, mac_src) = (target.domain.clone(), source.uuid.clone(), source.mac.clone());
        let own_mac = target.mac.clone();
        f.hv(move |hv| {
            let xml = hv.domains()?.into_iter().find(|d| d.name == dom).map(|d| d.xml).unwrap_or_default();
            let xml = edit::with_smbios_uuid(&xml, Some(&src_uuid))?;
            hv.stop_domain(&dom)?;
            hv.define_domain(&xml)?;
            hv.start_domain(&dom)
        })
        .await?;
        f.shell().forget(&target.name).await;
        f.wait_ssh(&target.name, Duration::from_secs(600)).await?;
        // After the cold restart (a power cut would lose an unsynced write): the shared
        // machine-id, then the duplicate MAC, which makes the bridge see one MAC behind two ports.
        f.sh(&target.name, "copy machine-id", &scripts::copy_machine_id(&mid)).await?;
        // The clone's port carries the source's MAC too (the cloud's port for a clone that kept
        // its MAC); without this, the anti-spoofing filter would drop the clone's frames.
        // The MAC changes 2 s after this returns (detached), the port follows at once; the SSH
        // session is reopened afterwards.
        f.sh(&target.name, "copy MAC", &scripts::copy_mac_detached(&mac_src)).await?;
        let (dom, mac, net, p) = (
            target.domain.clone(),
            target.mac.clone(),
            f.cfg().network_name(),
            xml::Port { mac: Some(mac_src.clone()), ..assigned_port(target) },
        );
        f.hv(move |hv| hv.update_device(&dom, &xml::interface_xml(&mac, &net, &p, true))).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        f.shell().forget(&target.name).await;
        f.wait_ssh(&target.name, Duration::from_secs(120)).await?;
        f.sh(&target.name, "check the copied MAC", &scripts::check_mac(&mac_src)).await?;
        Ok(format!(
            "machine-id of {src} copied, SMBIOS product_uuid set to {src}'s ({uuid}), eth0 MAC {own_mac} replaced by {src}'s {mac_src}",
            src = source.name,
            uuid = source.uuid
        ))
    })
}

/// Identity regenerated: own MAC and product_uuid back (cold restart), new machine-id.
pub(super) fn heal_clone_identity<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let (dom, mac, p) = (target.domain.clone(), target.mac.clone(), assigned_port(target));
        // Detached: once the MAC is back, the port (still bound to the source's MAC) drops the
        // reply until the cold restart below restores the port.
        let _ = f.shell().run(&target.name, &scripts::restore_mac_detached(&mac)).await;
        f.hv(move |hv| {
            let xml = hv.domains()?.into_iter().find(|d| d.name == dom).map(|d| d.xml).unwrap_or_default();
            hv.stop_domain(&dom)?;
            hv.define_domain(&edit::with_port(&edit::with_smbios_uuid(&xml, None)?, &mac, &p))?;
            hv.start_domain(&dom)
        })
        .await?;
        f.shell().forget(&target.name).await;
        f.wait_ssh(&target.name, Duration::from_secs(600)).await?;
        f.sh(&target.name, "regenerate machine-id", scripts::REGENERATE_MACHINE_ID).await?;
        Ok("identity regenerated: own MAC and product_uuid back (cold restart), new machine-id".into())
    })
}

/// The guide's mistake: the clone's address changed inside the guest (its netplan file, where
/// the guide edited /etc/network/interfaces), the NIC and its port left as they are.
pub(super) fn inject_static_ip<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let (old, new, prefix) = (target.ip, moved_address(f.cfg()), f.cfg().subnet.prefix_len());
        // The path that survives the cut: the guest prints its addresses on its serial console.
        f.sh(&target.name, "start the console address report", &port::console_report_start()).await?;
        let out = f.sh(&target.name, "change the address in netplan", &static_ip_script(old, new, prefix)).await?;
        f.shell().forget(&target.name).await;
        f.wait_console(&target.name, new, old, Duration::from_secs(120)).await?;
        Ok(format!(
            "{}: {old}/{prefix} → {new}/{prefix}, `netplan apply` (the guide edited /etc/network/interfaces); NIC and port left as they are ({} IP={old}); the node's serial console reports {new}",
            out.stdout.trim(),
            xml::PORT_FILTER
        ))
    })
}

/// The guide's fix — the NIC re-created with the address fixed: the port is re-bound to the
/// node's new address and the node answers there (pinned host key); then the lab's own
/// address is restored in the guest and the port re-bound to it, so the lab is as planned.
pub(super) fn heal_static_ip<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move {
        let (old, new, prefix) = (target.ip, moved_address(f.cfg()), f.cfg().subnet.prefix_len());
        let t0 = Instant::now();
        f.rebind_port(target, new).await?;
        let at_new = port::shell_at(f.lab(), f.state(), &target.name, new)?;
        let budget = Duration::from_secs(120);
        let (shell, node) = (at_new.as_ref(), target.name.as_str());
        let back = wait::until(t0, budget, Duration::from_secs(2), || async move {
            match shell.run(node, scripts::ETH0_ADDRS).await {
                Ok(o) if o.success() && o.stdout.contains(&format!("inet {new}/")) => Attempt::Done(t0.elapsed()),
                Err(e @ RemoteError::HostKeyMismatch { .. }) => Attempt::Fatal(e),
                Ok(o) => Attempt::Retry(format!("{new} not on eth0 yet: {}", o.stdout.trim())),
                Err(e) => Attempt::Retry(e.to_string()),
            }
        })
        .await
        .map_err(|e| match e {
            WaitError::Fatal(e) => LabError::Remote(e),
            WaitError::TimedOut { .. } => LabError::local(
                format!("heal static-ip on {}", target.name),
                format!("no ssh at {new} within {} s after the port was re-bound", budget.as_secs()),
            ),
        })?;
        let out = at_new.run(&target.name, &static_ip_script(new, old, prefix)).await?;
        if !out.success() {
            return Err(LabError::local(
                format!("restore the address in netplan on {}", target.name),
                format!("exit {}: {}", out.exit_status, out.stderr.trim()),
            ));
        }
        f.wait_console(&target.name, old, new, Duration::from_secs(120)).await?;
        f.rebind_port(target, old).await?;
        f.shell().forget(&target.name).await;
        f.wait_ssh(&target.name, Duration::from_secs(120)).await?;
        f.sh(&target.name, "stop the console address report", &port::console_report_stop()).await?;
        Ok(format!(
            "port re-bound to {new} ({} IP={new}, `update-device --live`: the guide's fix, NIC re-created with the address fixed); ssh to {new} answered with the pinned host key after {:.0} s; then {old} restored in netplan and the port re-bound to {old}; all in {:.0} s",
            xml::PORT_FILTER,
            back.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        ))
    })
}

/// Pitfall 2: the node's floating IP removed — the cloud router's ruleset reloaded without
/// the node's NAT, so its traffic to the outside is rejected while the lab network is intact.
pub(super) fn remove_floating_ip<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move { floating_ip(f, target, false) })
}

/// The fix: the node's floating IP bound again (its SNAT/DNAT back on the router).
pub(super) fn bind_floating_ip<'a>(f: &'a FaultLab<'a>, _: FaultKind, target: &'a NodeState) -> Done<'a> {
    Box::pin(async move { floating_ip(f, target, true) })
}

fn floating_ip(f: &FaultLab<'_>, target: &NodeState, bind: bool) -> Result<String, LabError> {
    let o = f.lab().outside().ok_or_else(|| {
        LabError::local("no-floating-ip", "this lab has no outside (offline profile on a local qemu:///system libvirt only)")
    })?;
    let fip = crate::lab::outside::floating_ip(target.ip);
    let without: Vec<&str> = if bind { Vec::new() } else { vec![target.name.as_str()] };
    o.set_floating_ips(&without)?;
    Ok(if bind {
        format!("floating IP {fip} bound to {} again (the router's SNAT/DNAT for {} reloaded)", target.name, target.ip)
    } else {
        format!(
            "floating IP {fip} of {} removed: the cloud router ({}) has no NAT for {} and rejects its traffic to the outside",
            target.name,
            o.router_ns(),
            target.ip
        )
    })
}
