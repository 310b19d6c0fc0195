//! Cancellation of a run: when `cancel` completes before the work, the work is dropped at its
//! next await point, the faults the run injected are healed, and the reports are closed.

use std::future::Future;

use crate::fault::FaultKind;

use super::run::{Run, Summary};

/// What an interrupted run did before returning.
#[derive(Debug)]
pub struct Interrupted {
    /// Faults healed, with what was done.
    pub healed: Vec<(FaultKind, String)>,
    /// Faults that could not be healed, with why.
    pub unhealed: Vec<(FaultKind, String)>,
    /// Scenario counts up to the cut (the open one counted failed).
    pub summary: Summary,
    /// The reports could not be closed.
    pub report_error: Option<String>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted: the reports were closed ({} passed, {} failed, {} skipped so far)",
            self.summary.passed, self.summary.failed, self.summary.skipped
        )?;
        if let Some(e) = &self.report_error {
            write!(f, " except: {e}")?;
        }
        for (k, d) in &self.healed {
            write!(f, "; healed fault {}: {d}", k.id())?;
        }
        for (k, why) in &self.unhealed {
            write!(f, "; fault {} is STILL IN PLACE ({why}): run `kubelab fault heal {}`", k.id(), k.id())?;
        }
        Ok(())
    }
}

/// Runs `work`; if `cancel` completes first, heals the run's faults and closes its reports.
pub async fn until_cancelled<T>(run: &Run, work: impl Future<Output = T>, cancel: impl Future<Output = ()>) -> Result<T, Interrupted> {
    tokio::select! {
        biased;
        () = cancel => {}
        t = work => return Ok(t),
    }
    let mut healed = Vec::new();
    let mut unhealed = Vec::new();
    for (k, r) in run.heal_injected().await {
        match r {
            Ok(d) => healed.push((k, d)),
            Err(e) => unhealed.push((k, e)),
        }
    }
    let why = match healed.iter().map(|(k, _)| k.id()).collect::<Vec<_>>() {
        h if h.is_empty() => "interrupted (SIGINT/SIGTERM) while this scenario ran".to_string(),
        h => format!("interrupted (SIGINT/SIGTERM) while this scenario ran; fault healed: {}", h.join(", ")),
    };
    let (summary, report_error) = match run.close_interrupted(&why) {
        Ok(s) => (s, None),
        Err(e) => (Summary::default(), Some(e.to_string())),
    };
    Err(Interrupted { healed, unhealed, summary, report_error })
}
