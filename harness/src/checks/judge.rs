//! The helper every check is written with: [`Judge`] reads facts (recording which), and turns
//! missing facts into skips and failed probes into failures; [`judge`] makes the verdict.

use serde_json::Value;

use super::{Outcome, Verdict};
use crate::config::NodeConfig;
use crate::evidence::{Evidence, Fact, FactRef, Target};
use crate::parsers::ParseError;

/// Why a check stopped early.
pub(crate) enum Stop {
    Skip(String),
    Fail {
        expected: String,
        found: String,
        remediation: String,
    },
}

pub(crate) type R<T> = Result<T, Stop>;

pub(crate) fn fail(
    expected: impl Into<String>,
    found: impl Into<String>,
    remediation: impl Into<String>,
) -> Stop {
    Stop::Fail {
        expected: expected.into(),
        found: found.into(),
        remediation: remediation.into(),
    }
}

pub(crate) struct Judge<'e> {
    pub ev: &'e Evidence,
    refs: Vec<FactRef>,
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

impl<'e> Judge<'e> {
    fn note(&mut self, f: &Fact) {
        if !self
            .refs
            .iter()
            .any(|r| r.probe == f.probe && r.target == f.target)
        {
            self.refs.push(f.to_ref());
        }
    }

    /// The fact, or a skip naming what is missing.
    pub fn fact(&mut self, probe: &str, target: &Target) -> R<&'e Fact> {
        let ev = self.ev;
        match ev.fact(probe, target) {
            Some(f) => {
                self.note(f);
                Ok(f)
            }
            None => Err(Stop::Skip(ev.missing_reason(probe, target))),
        }
    }

    /// The fact if present (recorded as read), without skipping when absent.
    pub fn optional(&mut self, probe: &str, target: &Target) -> Option<&'e Fact> {
        let f = self.ev.fact(probe, target)?;
        self.note(f);
        Some(f)
    }

    /// Stdout of a probe that must have exited 0; otherwise a failure quoting its error.
    pub fn stdout(&mut self, probe: &str, target: &Target, remediation: &str) -> R<&'e str> {
        let f = self.fact(probe, target)?;
        if !f.output.success() {
            let err = first_line(&f.output.stderr);
            let err = if err.is_empty() {
                first_line(&f.output.stdout)
            } else {
                err
            };
            return Err(fail(
                format!(
                    "`{}` to succeed on {}",
                    short(&f.command),
                    target.describe()
                ),
                format!("exit status {}: {err}", f.output.exit_status),
                remediation,
            ));
        }
        Ok(self.ev.stdout(probe, target).unwrap_or(&f.output.stdout))
    }

    /// `cannot read <probe> output on <node>: <line>`, with a remediation that only asks for a
    /// readable capture (nothing is concluded from output kubelab cannot read).
    pub fn unreadable(&self, probe: &str, target: &Target, e: &ParseError) -> Stop {
        let cmd = self
            .ev
            .fact(probe, target)
            .map_or_else(|| probe.to_string(), |f| short(&f.command));
        unreadable_stop(probe, target, e.what, e.culprit(), &cmd)
    }

    /// A cluster fact's cleaned text and its JSON when it parses as JSON (parsed once, cached in
    /// the evidence); the kubectl readers take the JSON first, else the text's other forms.
    pub fn doc(&mut self, probe: &str, remediation: &str) -> R<(Option<&'e Value>, &'e str)> {
        let text = self.stdout(probe, &Target::Cluster, remediation)?;
        let json = self.ev.json(probe, &Target::Cluster).and_then(|(_, v)| v.ok());
        Ok((json, text))
    }

    /// Runs `f` for every node, collecting per-node failures and skips: any failure fails the
    /// check (all failing nodes named), else any skip skips it, else it passes.
    pub fn per_node(
        &mut self,
        mut f: impl FnMut(&mut Self, &'e NodeConfig, &Target) -> R<()>,
    ) -> R<()> {
        let ev = self.ev;
        let mut fails: Vec<(String, String, String, String)> = Vec::new();
        let mut skips = Vec::new();
        for n in &ev.header.nodes {
            let t = Target::Node(n.name.clone());
            match f(self, n, &t) {
                Ok(()) => {}
                Err(Stop::Fail {
                    expected,
                    found,
                    remediation,
                }) => fails.push((n.name.clone(), expected, found, remediation)),
                Err(Stop::Skip(r)) => skips.push(r),
            }
        }
        if let Some((_, expected, _, remediation)) = fails.first().cloned() {
            let found = fails
                .iter()
                .map(|(n, _, found, _)| format!("{n}: {found}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(fail(expected, found, remediation));
        }
        if !skips.is_empty() {
            return Err(Stop::Skip(skips.join("; ")));
        }
        Ok(())
    }
}

/// See [`Judge::unreadable`].
pub(crate) fn unreadable_stop(probe: &str, target: &Target, what: &str, line: &str, cmd: &str) -> Stop {
    fail(
        format!("{what} output as the tool prints it"),
        format!("cannot read {probe} output on {}: {line}", target.describe()),
        format!(
            "nothing is judged from output kubelab cannot read: run `{cmd}` again on {} and give its complete, unedited output (cannot read {probe} output)",
            target.describe()
        ),
    )
}

/// Shortens long scripts for messages.
pub(crate) fn short(cmd: &str) -> String {
    let line = cmd.lines().next().unwrap_or("");
    if line.len() > 120 || cmd.contains('\n') {
        let mut end = 117.min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &line[..end])
    } else {
        line.to_string()
    }
}

/// Runs a check body and makes the verdict.
pub(crate) fn judge(ev: &Evidence, body: impl FnOnce(&mut Judge<'_>) -> R<String>) -> Verdict {
    let mut j = Judge {
        ev,
        refs: Vec::new(),
    };
    let outcome = match body(&mut j) {
        Ok(summary) => Outcome::Pass { summary },
        Err(Stop::Skip(reason)) => Outcome::Skip { reason },
        Err(Stop::Fail {
            expected,
            found,
            remediation,
        }) => Outcome::Fail {
            expected,
            found,
            remediation,
        },
    };
    Verdict {
        outcome,
        evidence: j.refs,
    }
}

/// Values gathered per node that must be pairwise distinct (identity checks).
pub(crate) fn distinct(
    j: &mut Judge<'_>,
    probe: &str,
    what: &str,
    remediation: &str,
    extract: impl Fn(&str) -> R<Vec<String>>,
) -> R<String> {
    let ev = j.ev;
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut skips = Vec::new();
    for n in &ev.header.nodes {
        let t = Target::Node(n.name.clone());
        match j.stdout(probe, &t, remediation).and_then(&extract) {
            Ok(vals) => seen.extend(vals.into_iter().map(|v| (n.name.clone(), v))),
            Err(Stop::Skip(r)) => skips.push(r),
            Err(e) => return Err(e),
        }
    }
    let mut dups = Vec::new();
    for (i, (na, va)) in seen.iter().enumerate() {
        for (nb, vb) in &seen[i + 1..] {
            if va == vb && na != nb {
                dups.push(format!("{na} and {nb} share {what} {va}"));
            }
        }
    }
    if !dups.is_empty() {
        return Err(fail(
            format!("a distinct {what} on every node"),
            dups.join("; "),
            remediation,
        ));
    }
    if !skips.is_empty() {
        return Err(Stop::Skip(skips.join("; ")));
    }
    Ok(format!(
        "{} distinct {what} values across {} nodes ({probe})",
        seen.len(),
        ev.header.nodes.len()
    ))
}
