//! [`FakeShell`]: a recording [`RemoteShell`] with scripted replies, for unit tests.

use std::sync::Mutex;
use std::time::Instant;

use super::{BoxFuture, ExecOutput, RemoteShell};
use crate::errors::RemoteError;

/// One recorded call.
#[derive(Clone, Debug)]
pub struct FakeCall {
    /// Node the script ran on.
    pub node: String,
    /// The script.
    pub script: String,
    /// When the call started (relative order and overlap for concurrency assertions).
    pub started: Instant,
    /// When it returned.
    pub finished: Instant,
}

type Responder = Box<dyn Fn(&str, &str) -> Option<ExecOutput> + Send + Sync>;

/// A fake shell: replies come from responders tried in order (first `Some` wins);
/// with no match it answers exit 0 and empty output. Every call is recorded.
#[derive(Default)]
pub struct FakeShell {
    responders: Mutex<Vec<Responder>>,
    calls: Mutex<Vec<FakeCall>>,
    /// Simulated latency of each call.
    pub latency: std::time::Duration,
}

impl FakeShell {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replies `out` to any script on `node` (or any node for `"*"`) that contains `needle`.
    pub fn on(&self, node: &str, needle: &str, out: ExecOutput) -> &Self {
        let (node, needle) = (node.to_string(), needle.to_string());
        self.respond(move |n, s| ((node == "*" || node == n) && s.contains(&needle)).then(|| out.clone()))
    }

    /// Adds an arbitrary responder.
    pub fn respond(&self, f: impl Fn(&str, &str) -> Option<ExecOutput> + Send + Sync + 'static) -> &Self {
        self.responders.lock().expect("poisoned").push(Box::new(f));
        self
    }

    /// All calls so far, in start order.
    pub fn calls(&self) -> Vec<FakeCall> {
        let mut c = self.calls.lock().expect("poisoned").clone();
        c.sort_by_key(|c| c.started);
        c
    }
}

impl RemoteShell for FakeShell {
    fn run<'a>(&'a self, node: &'a str, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, RemoteError>> {
        Box::pin(async move {
            let started = Instant::now();
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let out = {
                let r = self.responders.lock().expect("poisoned");
                r.iter().find_map(|f| f(node, script)).unwrap_or_default()
            };
            self.calls.lock().expect("poisoned").push(FakeCall {
                node: node.to_string(),
                script: script.to_string(),
                started,
                finished: Instant::now(),
            });
            Ok(out)
        })
    }
}
