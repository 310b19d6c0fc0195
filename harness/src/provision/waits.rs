//! The cluster milestones a guide step waits for through the Kubernetes API instead of polling
//! in bash: seam [`ClusterWaits`] (one method, [`ClusterWaits::wait`]), implemented by
//! [`crate::kube_api::KubeClusterWaits`] (kube-runtime watches over the SSH tunnel) and by the
//! recording fake [`FakeClusterWaits`]. A [`Step`](super::Step) names its wait in
//! [`StepWait`]; [`Provisioner`](super::Provisioner) runs it after the step's action, before
//! the re-check.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::kube_api::ClusterApiError;
use crate::remote::BoxFuture;

/// A milestone of the guide's cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterWait {
    /// Every node's Ready condition is True (after the CNI is applied: `calico.apply`).
    NodesReady,
    /// Every node has a kubelet-serving CSR; the pending ones are approved through the CSR's
    /// `approval` subresource (what `kubectl certificate approve` does) and every node's
    /// certificate is issued (`csr.approve`).
    ServingCsrsApproved,
    /// APIService `v1beta1.metrics.k8s.io` is Available (`metrics-server.apply`).
    MetricsApiAvailable,
    /// Every Service of type LoadBalancer has an ingress address (`metallb.pool`).
    LoadBalancerIngress,
}

impl ClusterWait {
    /// What is awaited, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ClusterWait::NodesReady => "every node Ready",
            ClusterWait::ServingCsrsApproved => "a kubelet-serving CSR from every node, approved and issued",
            ClusterWait::MetricsApiAvailable => "APIService v1beta1.metrics.k8s.io Available",
            ClusterWait::LoadBalancerIngress => "an ingress address for every LoadBalancer Service",
        }
    }
}

/// A step's wait and its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StepWait {
    /// The milestone.
    pub wait: ClusterWait,
    /// Budget in seconds.
    pub timeout_secs: u64,
}

/// Waits for cluster milestones. `nodes` are the Kubernetes node names (lowercased hostnames).
/// `Ok` says what was seen when the milestone was reached (for the log).
pub trait ClusterWaits: Send + Sync {
    /// Waits for `wait`, at most `timeout`.
    fn wait<'a>(&'a self, wait: ClusterWait, nodes: &'a [String], timeout: Duration) -> BoxFuture<'a, Result<String, ClusterApiError>>;
}

/// One call a [`FakeClusterWaits`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitCall {
    /// The milestone.
    pub wait: ClusterWait,
    /// The node names passed.
    pub nodes: Vec<String>,
    /// The budget.
    pub timeout: Duration,
    /// When the call was made.
    pub at: Instant,
}

/// Recording fake: every milestone is reached at once unless [`FakeClusterWaits::time_out`]
/// made it time out, naming a last-seen state.
#[derive(Default)]
pub struct FakeClusterWaits {
    calls: Mutex<Vec<WaitCall>>,
    timeouts: Mutex<Vec<(ClusterWait, String)>>,
}

impl FakeClusterWaits {
    /// A fake that reaches every milestone.
    pub fn new() -> Self {
        Self::default()
    }
    /// `wait` times out, last seen `last_seen`.
    pub fn time_out(&self, wait: ClusterWait, last_seen: impl Into<String>) {
        self.timeouts.lock().expect("poisoned").push((wait, last_seen.into()));
    }
    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<WaitCall> {
        self.calls.lock().expect("poisoned").clone()
    }
}

impl ClusterWaits for FakeClusterWaits {
    fn wait<'a>(&'a self, wait: ClusterWait, nodes: &'a [String], timeout: Duration) -> BoxFuture<'a, Result<String, ClusterApiError>> {
        self.calls.lock().expect("poisoned").push(WaitCall { wait, nodes: nodes.to_vec(), timeout, at: Instant::now() });
        let timed_out = self.timeouts.lock().expect("poisoned").iter().find(|(w, _)| *w == wait).map(|(_, l)| l.clone());
        Box::pin(async move {
            match timed_out {
                Some(last_seen) => {
                    Err(ClusterApiError::WaitTimeout { awaited: wait.describe().into(), secs: timeout.as_secs(), last_seen })
                }
                None => Ok(format!("{} (fake)", wait.describe())),
            }
        })
    }
}
