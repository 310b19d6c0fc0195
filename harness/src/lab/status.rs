//! `kubelab status`: each node's domain state and the identity read inside the guest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Lab, LabState};
use crate::errors::LabError;
use crate::remote::RemoteShell;

impl Lab {
    /// Reads identity facts inside every guest plus the domain state (for `kubelab status`).
    pub async fn status(&self, state: &LabState, shell: &dyn RemoteShell) -> Result<Vec<NodeStatus>, LabError> {
        let domains = self.hv.domains()?;
        let others = |me: &str| state.nodes.iter().filter(|n| n.name != me).map(|n| n.name.clone()).collect::<Vec<_>>();
        let probes = state.nodes.iter().map(|n| {
            let script = identity_script(&others(&n.name));
            async move { (n, shell.run(&n.name, &script).await) }
        });
        let mut out = Vec::new();
        for (n, res) in futures::future::join_all(probes).await {
            let dom = domains.iter().find(|d| d.name == n.domain);
            let mut st = NodeStatus {
                name: n.name.clone(),
                domain: n.domain.clone(),
                domain_state: match dom {
                    Some(d) if d.active => "running".into(),
                    Some(_) => "shut off".into(),
                    None => "missing".into(),
                },
                domain_uuid: n.uuid.clone(),
                ip: n.ip.to_string(),
                pinned_host_key_fingerprint: n.host_key_fingerprint.clone(),
                reachable: false,
                error: None,
                hostname: None,
                product_uuid: None,
                machine_id: None,
                macs: Vec::new(),
                host_key_fingerprint: None,
                reaches: BTreeMap::new(),
            };
            match res {
                Ok(o) if o.success() => {
                    st.reachable = true;
                    parse_identity(&o.stdout, &mut st);
                }
                Ok(o) => st.error = Some(format!("identity probe exited {}: {}", o.exit_status, o.stderr.trim())),
                Err(e) => st.error = Some(e.to_string()),
            }
            out.push(st);
        }
        Ok(out)
    }
}
/// One node as `kubelab status` reports it; identity values are read inside the guest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// Domain name.
    pub domain: String,
    /// `running`, `shut off` or `missing`.
    pub domain_state: String,
    /// Domain UUID on the hypervisor.
    pub domain_uuid: String,
    /// Configured address.
    pub ip: String,
    /// Host key fingerprint kubelab pinned.
    pub pinned_host_key_fingerprint: String,
    /// SSH answered.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
    /// `hostname` in the guest.
    pub hostname: Option<String>,
    /// /sys/class/dmi/id/product_uuid in the guest.
    pub product_uuid: Option<String>,
    /// /etc/machine-id in the guest.
    pub machine_id: Option<String>,
    /// MACs of the guest's non-loopback interfaces.
    pub macs: Vec<String>,
    /// Fingerprint of /etc/ssh/ssh_host_ed25519_key.pub in the guest.
    pub host_key_fingerprint: Option<String>,
    /// Other node name → answered one ping by name.
    pub reaches: BTreeMap<String, bool>,
}

/// The script that reads a node's identity (`key=value` lines).
pub fn identity_script(others: &[String]) -> String {
    let mut s = String::from(
        "echo \"hostname=$(hostname)\"\n\
         echo \"product_uuid=$(cat /sys/class/dmi/id/product_uuid)\"\n\
         echo \"machine_id=$(cat /etc/machine-id)\"\n\
         for i in /sys/class/net/*; do n=${i##*/}; [ \"$n\" = lo ] && continue; case \"$n\" in tunl*|docker*|ip_vs*|kube-ipvs*|veth*|br-*) continue;; esac; echo \"mac=$(cat \"$i/address\")\"; done\n\
         echo \"host_key=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')\"\n",
    );
    for o in others {
        s.push_str(&format!("if ping -c1 -W3 {o} >/dev/null 2>&1; then echo 'reach={o}=yes'; else echo 'reach={o}=no'; fi\n"));
    }
    s
}

/// Parses [`identity_script`] output into a status.
pub fn parse_identity(out: &str, st: &mut NodeStatus) {
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().to_string();
        match k {
            "hostname" => st.hostname = Some(v),
            "product_uuid" => st.product_uuid = Some(v.to_ascii_lowercase()),
            "machine_id" => st.machine_id = Some(v),
            "mac" => st.macs.push(v.to_ascii_lowercase()),
            "host_key" => st.host_key_fingerprint = Some(v),
            "reach" => {
                if let Some((name, ok)) = v.split_once('=') {
                    st.reaches.insert(name.to_string(), ok == "yes");
                }
            }
            _ => {}
        }
    }
}
