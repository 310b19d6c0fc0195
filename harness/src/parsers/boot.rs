//! Boot-path outputs read inside a guest by `kubelab bench boot`: `systemd-analyze` (time,
//! `blame`, `critical-chain`), `cloud-init analyze show` / `blame`, and `systemctl show`
//! properties. The shapes follow systemd 252's `analyze` sources and cloud-init 22.4's
//! `cloudinit/analyze/show.py`; the samples in the tests are captures from kubelab's offline
//! image (`tests/fixtures/real/boot/`).

use std::collections::BTreeMap;

use super::ParseError;

/// A systemd time span (`format_timespan`: `2min 11.234s`, `131ms`, `8.712s`, `1h 2min`) in seconds.
pub fn parse_timespan(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for part in s.split_whitespace() {
        let split = part.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, unit) = part.split_at(split);
        let n: f64 = num.parse().ok()?;
        let mult = match unit {
            "y" => 31_557_600.0,
            "month" => 2_629_800.0,
            "w" => 604_800.0,
            "d" => 86_400.0,
            "h" => 3_600.0,
            "min" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            _ => return None,
        };
        total += n * mult;
    }
    Some(total)
}

/// `systemd-analyze` (time): `Startup finished in … (kernel) + … (initrd) + … (userspace) = …`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StartupTime {
    /// Seconds per phase, in the order printed (`firmware`, `loader`, `kernel`, `initrd`, `userspace`).
    pub phases: Vec<(String, f64)>,
    /// The total after `=`.
    pub total: f64,
    /// `<target> reached after … in userspace`, when printed.
    pub target: Option<(String, f64)>,
}

impl StartupTime {
    /// Seconds of one phase (0 when it was not printed).
    pub fn phase(&self, name: &str) -> f64 {
        self.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s).unwrap_or(0.0)
    }
}

/// Parses `systemd-analyze` (the `time` verb).
pub fn parse_systemd_analyze_time(out: &str) -> Result<StartupTime, ParseError> {
    const W: &str = "systemd-analyze";
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("Startup finished in "))
        .ok_or_else(|| ParseError::new(W, "no `Startup finished in` line (boot not finished?)"))?;
    let body = line.trim().trim_start_matches("Startup finished in ");
    let (parts, total) = body.split_once(" = ").ok_or_else(|| ParseError::at(W, line, "no ` = total`"))?;
    let mut st = StartupTime { total: parse_timespan(total).ok_or_else(|| ParseError::at(W, line, "bad total"))?, ..Default::default() };
    for p in parts.split(" + ") {
        let (span, name) = p.trim().rsplit_once(" (").ok_or_else(|| ParseError::at(W, line, format!("phase `{p}` has no (name)")))?;
        let secs = parse_timespan(span).ok_or_else(|| ParseError::at(W, line, format!("bad time span `{span}`")))?;
        st.phases.push((name.trim_end_matches(')').to_string(), secs));
    }
    if let Some(l) = out.lines().find(|l| l.contains(" reached after ") && l.contains(" in userspace")) {
        let (unit, rest) = l.trim().split_once(" reached after ").expect("checked");
        let span = rest.trim_end_matches('.').trim_end_matches(" in userspace");
        if let Some(s) = parse_timespan(span) {
            st.target = Some((unit.to_string(), s));
        }
    }
    Ok(st)
}

/// One line of `systemd-analyze blame`: how long a unit took to start.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UnitTime {
    /// Unit name.
    pub unit: String,
    /// Seconds.
    pub secs: f64,
}

/// Parses `systemd-analyze blame` (`<time span> <unit>` per line, longest first).
pub fn parse_systemd_blame(out: &str) -> Result<Vec<UnitTime>, ParseError> {
    const W: &str = "systemd-analyze blame";
    let mut v = Vec::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (span, unit) = line.rsplit_once(char::is_whitespace).ok_or_else(|| ParseError::at(W, line, "expected `<time> <unit>`"))?;
        let secs = parse_timespan(span).ok_or_else(|| ParseError::at(W, line, format!("bad time span `{}`", span.trim())))?;
        v.push(UnitTime { unit: unit.to_string(), secs });
    }
    if v.is_empty() {
        return Err(ParseError::new(W, "no units"));
    }
    Ok(v)
}

/// One unit of a `systemd-analyze critical-chain` tree.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChainLink {
    /// Depth in the tree (0 = the unit asked about).
    pub depth: usize,
    /// Unit name.
    pub unit: String,
    /// When it became active, seconds after userspace start (`@`).
    pub at: Option<f64>,
    /// How long it took to start (`+`).
    pub took: Option<f64>,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `systemd-analyze critical-chain [UNIT…]`: one chain per unit asked about, each in
/// printed order (the unit first, then what it waited for, deepest last). Tree glyphs may be
/// UTF-8 (`└─`, `│ `) or ASCII (`` `- ``, `| `), as systemd picks by locale.
pub fn parse_critical_chain(out: &str) -> Result<Vec<Vec<ChainLink>>, ParseError> {
    const W: &str = "systemd-analyze critical-chain";
    const CHUNKS: [&str; 8] = ["  ", "│ ", "| ", "├─", "└─", "|-", "`-", "  "];
    let mut chains: Vec<Vec<ChainLink>> = Vec::new();
    for raw in out.lines() {
        let line = strip_ansi(raw);
        if line.trim().is_empty() || line.starts_with("The time ") {
            continue;
        }
        let mut rest = line.as_str();
        let mut depth = 0;
        while let Some(chunk) = CHUNKS.iter().find(|c| rest.starts_with(**c)) {
            rest = &rest[chunk.len()..];
            depth += 1;
            if matches!(*chunk, "├─" | "└─" | "|-" | "`-") {
                break;
            }
        }
        let rest = rest.trim();
        // The unit asked about is printed `unit +took`; the units below it `unit @at [+took]`.
        let (unit, times) = match rest.split_once(" @") {
            Some((u, t)) => (u.trim(), Some(t)),
            None => (rest, None),
        };
        let (unit, root_took) = match (times, unit.split_once(" +")) {
            (None, Some((u, t))) => {
                (u.trim(), Some(parse_timespan(t).ok_or_else(|| ParseError::at(W, raw, format!("bad time span `{t}`")))?))
            }
            _ => (unit, None),
        };
        if unit.is_empty() || unit.contains(char::is_whitespace) {
            return Err(ParseError::at(W, raw, "expected `<unit> [@<time> [+<time>]]`"));
        }
        let (at, took) = match times {
            Some(t) => {
                let (a, b) = match t.split_once(" +") {
                    Some((a, b)) => (a, Some(b)),
                    None => (t, None),
                };
                let at = parse_timespan(a).ok_or_else(|| ParseError::at(W, raw, format!("bad time span `{a}`")))?;
                let took =
                    b.map(|b| parse_timespan(b).ok_or_else(|| ParseError::at(W, raw, format!("bad time span `{b}`")))).transpose()?;
                (Some(at), took)
            }
            None => (None, root_took),
        };
        let link = ChainLink { depth, unit: unit.to_string(), at, took };
        match (depth, chains.last_mut()) {
            (0, _) | (_, None) => chains.push(vec![link]),
            (_, Some(c)) => c.push(link),
        }
    }
    if chains.is_empty() {
        return Err(ParseError::new(W, "no units"));
    }
    Ok(chains)
}

/// One cloud-init stage of one boot record (`cloud-init analyze show`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CloudInitStage {
    /// `init-local`, `init-network`, `modules-config`, `modules-final`.
    pub name: String,
    /// Seconds the stage took (`Finished stage: (…) N seconds`).
    pub secs: f64,
    /// Its events: description, seconds since the record's first event (`@`), duration (`+`).
    pub events: Vec<(String, f64, f64)>,
}

/// Parses `cloud-init analyze show`: per boot record, its stages (records are in log order;
/// the last is the current boot).
pub fn parse_cloud_init_show(out: &str) -> Result<Vec<Vec<CloudInitStage>>, ParseError> {
    const W: &str = "cloud-init analyze show";
    let mut records: Vec<Vec<CloudInitStage>> = Vec::new();
    let mut open: Option<CloudInitStage> = None;
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("-- Boot Record ") {
            records.push(Vec::new());
        } else if let Some(name) = t.strip_prefix("Starting stage: ") {
            open = Some(CloudInitStage { name: name.trim().to_string(), secs: 0.0, events: Vec::new() });
        } else if let Some(rest) = t.strip_prefix("Finished stage: (") {
            let (name, secs) = rest.split_once(") ").ok_or_else(|| ParseError::at(W, line, "expected `(stage) N seconds`"))?;
            let secs: f64 = secs.trim_end_matches("seconds").trim().parse().map_err(|_| ParseError::at(W, line, "bad stage duration"))?;
            let mut st = open.take().unwrap_or_else(|| CloudInitStage { name: name.into(), secs: 0.0, events: Vec::new() });
            st.secs = secs;
            records.last_mut().ok_or_else(|| ParseError::at(W, line, "stage outside a boot record"))?.push(st);
        } else if t.starts_with('|') && t.contains("->") {
            let desc_start = t.find("->").expect("checked") + 2;
            let (desc, times) = t[desc_start..].rsplit_once(" @").ok_or_else(|| ParseError::at(W, line, "event without `@`"))?;
            let (at, took) = times.split_once(" +").ok_or_else(|| ParseError::at(W, line, "event without `+`"))?;
            let num = |s: &str| s.trim().trim_end_matches('s').parse::<f64>().map_err(|_| ParseError::at(W, line, "bad event time"));
            if let Some(st) = open.as_mut() {
                st.events.push((desc.trim().to_string(), num(at)?, num(took)?));
            }
        }
    }
    if records.iter().all(Vec::is_empty) {
        return Err(ParseError::new(W, "no boot record with a finished stage"));
    }
    Ok(records)
}

/// Parses `cloud-init analyze blame`: per boot record, `(stage/event, seconds)`, longest first.
pub fn parse_cloud_init_blame(out: &str) -> Result<Vec<Vec<(String, f64)>>, ParseError> {
    const W: &str = "cloud-init analyze blame";
    let mut records: Vec<Vec<(String, f64)>> = Vec::new();
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("-- Boot Record ") {
            records.push(Vec::new());
        } else if t.ends_with(')') && t.contains("s (") {
            let (secs, name) = t.split_once("s (").expect("checked");
            let secs: f64 = secs.trim().parse().map_err(|_| ParseError::at(W, line, "bad duration"))?;
            records
                .last_mut()
                .ok_or_else(|| ParseError::at(W, line, "event outside a boot record"))?
                .push((name.trim_end_matches(')').to_string(), secs));
        }
    }
    if records.is_empty() {
        return Err(ParseError::new(W, "no boot record"));
    }
    Ok(records)
}

/// One cloud-init event of `cloud-init analyze dump` (a start paired with its finish).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CloudInitEvent {
    /// `stage` or `stage/event` (e.g. `init-network/config-ssh`).
    pub name: String,
    /// Start, Unix seconds.
    pub start: f64,
    /// Seconds it took.
    pub secs: f64,
    /// `SUCCESS`, `FAIL`, … (empty when the finish carried none).
    pub result: String,
}

/// Parses `cloud-init analyze dump` (a JSON list of start/finish events from cloud-init.log)
/// into the events of the last boot: each start paired with the next finish of the same name.
/// (`analyze show` and `blame` of cloud-init 22.4 crash with `IndexError` when a stage runs no
/// module; `dump` only converts the log.)
pub fn parse_cloud_init_dump(out: &str) -> Result<Vec<CloudInitEvent>, ParseError> {
    const W: &str = "cloud-init analyze dump";
    #[derive(serde::Deserialize)]
    struct Raw {
        name: String,
        event_type: String,
        timestamp: f64,
        #[serde(default)]
        result: Option<String>,
    }
    let start = out.find('[').ok_or_else(|| ParseError::new(W, "no JSON list"))?;
    let raw: Vec<Raw> = serde_json::from_str(&out[start..]).map_err(|e| ParseError::new(W, e.to_string()))?;
    // The last boot starts at the last `init-local` start (or the first event).
    let from = raw.iter().rposition(|e| e.name == "init-local" && e.event_type == "start").unwrap_or(0);
    let mut open: Vec<&Raw> = Vec::new();
    let mut v = Vec::new();
    for e in &raw[from..] {
        match e.event_type.as_str() {
            "start" => open.push(e),
            "finish" => {
                if let Some(i) = open.iter().rposition(|s| s.name == e.name) {
                    let s = open.remove(i);
                    v.push(CloudInitEvent {
                        name: e.name.clone(),
                        start: s.timestamp,
                        secs: e.timestamp - s.timestamp,
                        result: e.result.clone().unwrap_or_default(),
                    });
                }
            }
            _ => {}
        }
    }
    if v.is_empty() {
        return Err(ParseError::new(W, "no finished event"));
    }
    v.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(v)
}

/// Parses `systemctl show -p … UNIT…`: one `Key=value` map per unit (blocks separated by blank lines).
pub fn parse_systemctl_show(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut blocks = vec![BTreeMap::new()];
    for line in out.lines() {
        match line.split_once('=') {
            Some((k, v)) => {
                blocks.last_mut().expect("non-empty").insert(k.to_string(), v.to_string());
            }
            None if line.trim().is_empty() && !blocks.last().expect("non-empty").is_empty() => blocks.push(BTreeMap::new()),
            None => {}
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

#[cfg(test)]
#[path = "boot_tests.rs"]
mod tests;
