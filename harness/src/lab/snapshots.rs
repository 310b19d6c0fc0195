//! Live internal snapshots of every node (save, revert).

use std::time::Duration;

use tokio::time::Instant;

use super::{Lab, LabState, blocking};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml;

impl Lab {
    /// Saves a live internal snapshot of every node (qcow2 overlay with memory; the raw,
    /// read-only seed disk is excluded). Replaces an existing snapshot of the same name.
    pub async fn snapshot_save(&self, state: &LabState, name: &str) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        let xml = xml::snapshot_xml(name);
        for n in &state.nodes {
            let (hv, d, x, nm) = (self.hv.clone(), n.domain.clone(), xml.clone(), name.to_string());
            blocking(move || -> Result<(), HypervisorError> {
                if hv.snapshots(&d)?.contains(&nm) {
                    hv.delete_snapshot(&d, &nm)?;
                }
                hv.create_snapshot(&d, &x)
            })
            .await?;
        }
        Ok(t0.elapsed())
    }

    /// Reverts every node to a snapshot (running, as saved). Open SSH sessions are stale after.
    pub async fn snapshot_revert(&self, state: &LabState, name: &str) -> Result<Duration, LabError> {
        let t0 = Instant::now();
        for n in &state.nodes {
            let (hv, d, nm) = (self.hv.clone(), n.domain.clone(), name.to_string());
            blocking(move || -> Result<(), HypervisorError> {
                if !hv.snapshots(&d)?.contains(&nm) {
                    return Err(HypervisorError::Call {
                        op: format!("revert {d} to {nm}"),
                        source: format!("no snapshot `{nm}`; run `kubelab snapshot save {nm}` first").into(),
                    });
                }
                hv.revert_snapshot(&d, &nm)
            })
            .await?;
        }
        let _ = std::fs::remove_file(self.cfg.lab_dir().join("faults.json"));
        Ok(t0.elapsed())
    }
}
