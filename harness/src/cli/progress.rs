//! [`Progress`]: lab events as progress bars on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kubelab::lab::LabEvent;

/// Renders lab events as progress bars on a terminal, as plain lines otherwise.
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Progress {
    /// Bars when stderr is a terminal.
    pub fn new() -> Self {
        Progress { multi: std::io::stderr().is_terminal().then(MultiProgress::new), bars: Default::default() }
    }

    /// Shows one event.
    pub fn event(&self, e: LabEvent) {
        let Some(multi) = &self.multi else {
            eprintln!("[{:>6.1}s] {:<24} {:<9} {}", e.elapsed, e.node, e.phase, e.message);
            return;
        };
        let mut bars = self.bars.lock().expect("poisoned");
        let bar = bars.entry(e.node.clone()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("{spinner} {prefix:<24} [{elapsed_precise}] {msg}").expect("template"));
            b.set_prefix(e.node.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(format!("{}: {}", e.phase, e.message));
        if e.phase == "ready" {
            bar.finish_with_message(format!("ready: {}", e.message));
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
