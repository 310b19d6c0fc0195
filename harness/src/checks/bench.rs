//! Re-judging: run every check over one loaded [`Evidence`] many times (`kubelab bench check`).

use std::time::{Duration, Instant};

use super::CHECKS;
use crate::evidence::Evidence;

/// Timing of [`rejudge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejudgeStats {
    /// Rounds run.
    pub rounds: usize,
    /// Checks per round.
    pub checks_per_round: usize,
    /// Wall time of all rounds.
    pub total: Duration,
    /// Slowest round.
    pub slowest_round: Duration,
    /// (pass, fail, skip) of the last round (every round judges the same evidence).
    pub last_counts: (usize, usize, usize),
}

/// Runs every check `rounds` times over `ev` (which the caller loads once).
pub fn rejudge(ev: &Evidence, rounds: usize) -> RejudgeStats {
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut counts = (0, 0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        counts = (0, 0, 0);
        for c in CHECKS {
            let v = (c.judge)(ev);
            match v.label() {
                "pass" => counts.0 += 1,
                "fail" => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
        slowest = slowest.max(t.elapsed());
    }
    RejudgeStats { rounds, checks_per_round: CHECKS.len(), total: start.elapsed(), slowest_round: slowest, last_counts: counts }
}
