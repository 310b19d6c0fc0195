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
    Fail { expected: String, found: String, remediation: String },
}

pub(crate) type R<T> = Result<T, Stop>;

pub(crate) fn fail(expected: impl Into<String>, found: impl Into<String>, remediation: impl Into<String>) -> Stop {
    Stop::Fail { expected: expected.into(), found: found.into(), remediation: remediation.into() }
}

pub(crate) struct Judge<'e> {
    pub ev: &'e Evidence,
    refs: Vec<FactRef>,
}

fn first_line(s: &str) -> &str {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

impl<'e> Judge<'e> {
    fn note(&mut self, f: &Fact) {
        if !self.refs.iter().any(|r| r.probe == f.probe && r.target == f.target) {
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
            let err = if err.is_empty() { first_line(&f.output.stdout) } else { err };
            return Err(fail(
                format!("`{}` to succeed on {}", short(&f.command), target.describe()),
                format!("exit status {}: {err}", f.output.exit_status),
                remediation,
            ));
        }
        Ok(self.ev.stdout(probe, target).unwrap_or(&f.output.stdout))
    }

    /// `cannot read <probe> output on <node>: <line>`, with a remediation that only asks for a
    /// readable capture (nothing is concluded from output kubelab cannot read).
    pub fn unreadable(&self, probe: &str, target: &Target, e: &ParseError) -> Stop {
        let cmd = self.ev.fact(probe, target).map_or_else(|| probe.to_string(), |f| short(&f.command));
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
    pub fn per_node(&mut self, mut f: impl FnMut(&mut Self, &'e NodeConfig, &Target) -> R<()>) -> R<()> {
        let ev = self.ev;
        let mut fails: Vec<(String, String, String, String)> = Vec::new();
        let mut skips = Vec::new();
        for n in &ev.header.nodes {
            let t = Target::Node(n.name.clone());
            match f(self, n, &t) {
                Ok(()) => {}
                Err(Stop::Fail { expected, found, remediation }) => fails.push((n.name.clone(), expected, found, remediation)),
                Err(Stop::Skip(r)) => skips.push(r),
            }
        }
        if let Some((_, expected, _, remediation)) = fails.first().cloned() {
            let found = fails.iter().map(|(n, _, found, _)| format!("{n}: {found}")).collect::<Vec<_>>().join("; ");
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
    let mut j = Judge { ev, refs: Vec::new() };
    let outcome = match body(&mut j) {
        Ok(summary) => Outcome::Pass { summary },
        Err(Stop::Skip(reason)) => Outcome::Skip { reason },
        Err(Stop::Fail { expected, found, remediation }) => Outcome::Fail { expected, found, remediation },
    };
    Verdict { outcome, evidence: j.refs }
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
    if ev.single_capture().is_some() {
        return distinct_in_capture(j, probe, what, remediation);
    }

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
        return Err(fail(format!("a distinct {what} on every node"), dups.join("; "), remediation));
    }
    if !skips.is_empty() {
        return Err(Stop::Skip(skips.join("; ")));
    }
    Ok(format!("{} distinct {what} values across {} nodes ({probe})", seen.len(), ev.header.nodes.len()))
}

/// One pasted capture may hold several machines' values (`for h in ...; do ssh $h cat
/// /etc/machine-id; done`, `kubectl get nodes -o custom-columns=...`): the same value twice is a
/// duplicate; a `No such file or directory` means the identity cannot be established.
fn distinct_in_capture(j: &mut Judge<'_>, probe: &str, what: &str, remediation: &str) -> R<String> {
    let Some(n) = j.ev.header.nodes.first() else {
        return Err(Stop::Skip("no node".into()));
    };
    let t = Target::Node(n.name.clone());
    let text = j.stdout(probe, &t, remediation)?;
    if let Some(l) = text.lines().map(str::trim).find(|l| l.contains("No such file or directory")) {
        return Err(fail(format!("a readable {what} on every node"), l.to_string(), remediation));
    }
    let values: Vec<String> = text.split_whitespace().filter_map(|w| identity_token(probe, w)).collect();
    if values.is_empty() {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty output)");
        return Err(j.unreadable(probe, &t, &ParseError::at("identity", first, format!("no {what} in the output"))));
    }
    // One machine's `ip link` lists bonds and VLANs sharing their parent's MAC: duplicates among
    // one machine's interfaces are normal; uniqueness needs the other machines' captures.
    if probe == "ip-link" {
        return Ok(format!("{} MAC address(es) of one machine read; uniqueness is judged across nodes ({probe})", values.len()));
    }
    let mut dups: Vec<&String> = values.iter().filter(|v| values.iter().filter(|x| x == v).count() > 1).collect();
    dups.dedup();
    if !dups.is_empty() {
        let count = values.iter().filter(|x| *x == dups[0]).count();
        return Err(fail(
            format!("a distinct {what} on every node"),
            format!("duplicate {what}: the same value {} on {count} machines", dups[0]),
            remediation,
        ));
    }
    Ok(format!("{} distinct {what} value(s) in the capture ({probe})", values.len()))
}

/// The identity value a whitespace-separated word is, for `probe`.
fn identity_token(probe: &str, w: &str) -> Option<String> {
    let w = w.trim_matches(|c: char| c == '"' || c == ',' || c == '`');
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    match probe {
        "machine-id" => (w.len() == 32 && hex(w)).then(|| w.to_string()),
        "product-uuid" => (w.len() == 36 && w.matches('-').count() == 4 && hex(&w.replace('-', ""))).then(|| w.to_ascii_lowercase()),
        "ssh-hostkey" => (w.starts_with("SHA256:") || w.starts_with("MD5:")).then(|| w.to_string()),
        "ip-link" => {
            let w = w.to_ascii_lowercase();
            let ok = w.len() == 17 && w.split(':').count() == 6 && w.split(':').all(|o| o.len() == 2 && hex(o));
            (ok && w != "00:00:00:00:00:00" && w != "ff:ff:ff:ff:ff:ff" && w != "ee:ee:ee:ee:ee:ee").then_some(w)
        }
        _ => None,
    }
}
