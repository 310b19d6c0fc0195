//! A recording [`FaultDriver`] for the tests: it logs every call in order, answers `gather` with
//! recorded bundles from `tests/fixtures/bundles` (one per call, the last one repeated), and
//! can be told to fail healing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{BoxFuture, LocalBoxFuture};

use crate::config::Profile;
use crate::errors::LabError;
use crate::evidence::{Evidence, RecordedEvidence};
use crate::fault::FaultKind;

use super::RunnerError;
use super::faults::FaultDriver;

pub fn bundle(name: &str) -> Evidence {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bundles").join(name);
    RecordedEvidence::open(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).into_evidence()
}

pub struct FakeFaults {
    pub profile: Profile,
    pub calls: Mutex<Vec<String>>,
    bundles: Mutex<VecDeque<&'static str>>,
    pub heal_fails: bool,
}

impl FakeFaults {
    pub fn new(profile: Profile, bundles: &[&'static str]) -> Self {
        FakeFaults { profile, calls: Mutex::new(Vec::new()), bundles: Mutex::new(bundles.iter().copied().collect()), heal_fails: false }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
}

impl FaultDriver for FakeFaults {
    fn profile(&self) -> Profile {
        self.profile
    }

    fn nodes(&self) -> Vec<String> {
        (0..3).map(|i| format!("ICE-k8s-machines-node{i}")).collect()
    }

    fn revert<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, RunnerError>> {
        self.log(format!("revert {name}"));
        Box::pin(async move { Ok(format!("reverted to {name}")) })
    }

    fn inject(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>> {
        self.log(format!("inject {}", kind.id()));
        Box::pin(async move { Ok(format!("{} in place", kind.id())) })
    }

    fn heal(&self, kind: FaultKind) -> BoxFuture<'_, Result<String, RunnerError>> {
        self.log(format!("heal {}", kind.id()));
        let fails = self.heal_fails;
        Box::pin(async move {
            if fails {
                Err(LabError::Interrupted(format!("cannot heal {}", kind.id())).into())
            } else {
                Ok(format!("{} healed", kind.id()))
            }
        })
    }

    fn gather<'a>(&'a self, checks: &'a [&'a str]) -> LocalBoxFuture<'a, Result<Evidence, RunnerError>> {
        let name = {
            let mut q = self.bundles.lock().unwrap();
            if q.len() > 1 { q.pop_front().unwrap() } else { *q.front().expect("a bundle to answer gather with") }
        };
        self.log(format!("gather {} from {name}", checks.join(",")));
        Box::pin(async move { Ok(bundle(name)) })
    }

    fn wait_ssh<'a>(&'a self, node: &'a str, _budget: Duration) -> BoxFuture<'a, Result<Duration, RunnerError>> {
        self.log(format!("wait_ssh {node}"));
        Box::pin(async move { Ok(Duration::from_secs(1)) })
    }
}
