//! Self-contained HTML rendering ([`render`]): one file, inline CSS, no scripts and no external
//! resources; `<details>` collapses. Header (lab, profile, evidence source, totals), the
//! provisioning timeline (step × node), then per feature the scenario cards with each step's
//! verdict: expected vs found, remediation, and where the evidence came from. Every piece of
//! text is escaped with [`super::escape::html`].

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use super::escape::html as e;
use super::events::{ProvisionStatus, TestStatus, VerdictView};
use super::model::{FeatureRecord, RunRecord, ScenarioRecord, StepRecord};

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--skip:#9a6700;--chg:#0969da;--muted:#57606a;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 28px}
header h1{margin:0 0 8px;font-size:22px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 10px}
header dt{color:#afb8c1}header dd{margin:0}
main{padding:18px 28px;max-width:1400px}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px}
.pill{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;margin-right:6px;color:#fff}
.pill.passed{background:var(--pass)}.pill.failed{background:var(--fail)}.pill.skipped{background:var(--skip)}
.pill.total{background:#57606a}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px;margin:10px 0;color:#1f2328}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2}
.badge{font-size:12px;font-weight:600;text-transform:uppercase}
.s-changed{color:var(--chg)}.s-unchanged{color:var(--muted)}.s-failed{color:var(--fail)}.s-skipped{color:var(--skip)}
.s-passed{color:var(--pass)}
.bar{height:6px;border-radius:3px;background:var(--chg);margin-top:3px;min-width:2px}
.bar.failed{background:var(--fail)}.bar.skipped{background:var(--skip)}.bar.unchanged{background:#8c959f}
details.feature{background:#fff;border:1px solid var(--line);border-radius:8px;margin:12px 0;padding:6px 12px}
details.feature>summary{font-size:16px;font-weight:600;cursor:pointer;padding:4px 0}
.path{color:var(--muted);font-family:ui-monospace,monospace;font-size:12px;font-weight:400}
details.card{border:1px solid var(--line);border-left:6px solid var(--muted);border-radius:6px;margin:8px 0;padding:4px 10px}
details.card.passed{border-left-color:var(--pass);background:#f3fbf5}
details.card.failed{border-left-color:var(--fail);background:#fff5f5}
details.card.skipped{border-left-color:var(--skip);background:#fffbeb}
details.card>summary{cursor:pointer;font-weight:600;padding:3px 0}
.tag{display:inline-block;background:#ddf4ff;color:#0550ae;border-radius:10px;padding:0 7px;font-size:12px;margin-left:4px;font-weight:400}
.reason{margin:6px 0;font-style:italic}
ol.steps{list-style:none;padding:0;margin:6px 0}
ol.steps>li{border-top:1px dashed var(--line);padding:5px 0}
.kw{font-weight:700}.dur{color:var(--muted);font-size:12px;margin-left:6px}
.verdict{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 10px;margin:6px 0 2px 18px}
.verdict table td:first-child{width:130px;color:var(--muted);white-space:nowrap}
.found-bad{color:var(--fail);font-weight:600}
pre{background:#0d1117;color:#e6edf3;padding:8px 10px;border-radius:6px;overflow:auto;margin:4px 0;font-size:12px;white-space:pre-wrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
details.fact>summary{cursor:pointer;color:#0550ae}
footer{color:var(--muted);padding:12px 28px;font-size:12px}
"#;

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

/// Renders the run as one self-contained HTML page.
pub fn render(rec: &RunRecord, out: &mut dyn io::Write) -> io::Result<()> {
    out.write_all(to_string(rec).as_bytes())
}

/// Renders the run as an HTML string.
pub fn to_string(rec: &RunRecord) -> String {
    let mut h = String::new();
    let c = rec.counts();
    let lab = rec.lab();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>kubelab report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header>\n<h1>kubelab report: {}</h1>\n<dl>\n",
        e(lab),
        e(lab)
    );
    match &rec.info {
        Some(i) => {
            let _ = write!(
                h,
                "<dt>profile</dt><dd>{}</dd>\n<dt>evidence</dt><dd>{}</dd>\n<dt>started</dt><dd>{}</dd>\n",
                e(&i.profile),
                e(&i.evidence_source),
                e(&i.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            );
            for g in &i.gaps {
                let _ = writeln!(h, "<dt>gap</dt><dd>{}</dd>", e(g));
            }
        }
        None => h.push_str("<dt>run</dt><dd>no RunStarted event was recorded</dd>\n"),
    }
    let _ = writeln!(h, "<dt>duration</dt><dd>{}</dd>\n</dl>", fmt_dur(rec.duration()));
    let _ = writeln!(
        h,
        "<div class=\"totals\"><span class=\"pill total\">{} scenarios</span><span class=\"pill passed\">{} passed</span>\
         <span class=\"pill failed\">{} failed</span><span class=\"pill skipped\">{} skipped</span></div>",
        c.total(),
        c.passed,
        c.failed,
        c.skipped
    );
    match &rec.runner_totals {
        None => h.push_str(
            "<div class=\"warn\">The run did not finish: this report shows what happened until it stopped; \
             scenarios still running are reported as skipped.</div>\n",
        ),
        Some(t) if (t.passed, t.failed, t.skipped) != (c.passed, c.failed, c.skipped) => {
            let _ = writeln!(
                h,
                "<div class=\"warn\">The runner counted {} passed, {} failed, {} skipped; the recorded scenarios say \
                 otherwise (shown here).</div>",
                t.passed, t.failed, t.skipped
            );
        }
        Some(_) => {}
    }
    h.push_str("</header>\n<main>\n");
    timeline(&mut h, rec);
    h.push_str("<section>\n<h2>Scenarios</h2>\n");
    if rec.features.is_empty() {
        h.push_str("<p>No scenario ran.</p>\n");
    }
    for f in &rec.features {
        feature(&mut h, f);
    }
    h.push_str("</section>\n</main>\n<footer>Generated by kubelab from the run's event log (events.jsonl).</footer>\n</body>\n</html>\n");
    h
}

fn prov_class(s: &ProvisionStatus) -> &'static str {
    s.word()
}

fn timeline(h: &mut String, rec: &RunRecord) {
    h.push_str("<section>\n<h2>Provisioning timeline</h2>\n");
    if rec.provisioning.is_empty() {
        h.push_str("<p>No provisioning step was recorded in this run.</p>\n</section>\n");
        return;
    }
    let mut nodes: Vec<&str> = Vec::new();
    let mut steps: Vec<&str> = Vec::new();
    for p in &rec.provisioning {
        if !nodes.contains(&p.node.as_str()) {
            nodes.push(&p.node);
        }
        if !steps.contains(&p.step_id.as_str()) {
            steps.push(&p.step_id);
        }
    }
    let max = rec.provisioning.iter().map(|p| p.duration).max().unwrap_or_default().as_secs_f64().max(1e-9);
    h.push_str("<table class=\"timeline\">\n<tr><th>step</th>");
    for n in &nodes {
        let _ = write!(h, "<th>{}</th>", e(n));
    }
    h.push_str("</tr>\n");
    for s in &steps {
        let _ = write!(h, "<tr><td><code>{}</code></td>", e(s));
        for n in &nodes {
            // The last record wins when a step ran twice on a node (e.g. a retry).
            match rec.provisioning.iter().rev().find(|p| p.step_id == *s && p.node == *n) {
                None => h.push_str("<td class=\"s-none\">—</td>"),
                Some(p) => {
                    let cls = prov_class(&p.status);
                    let pct = (p.duration.as_secs_f64() / max * 100.0).clamp(0.0, 100.0);
                    let _ = write!(
                        h,
                        "<td><span class=\"badge s-{cls}\">{cls}</span><span class=\"dur\">{}</span>\
                         <div class=\"bar {cls}\" style=\"width:{pct:.1}%\"></div>",
                        fmt_dur(p.duration)
                    );
                    if let ProvisionStatus::Skipped { reason } = &p.status {
                        let _ = write!(h, "<div class=\"reason\">{}</div>", e(reason));
                    }
                    if !p.log_excerpt.is_empty() {
                        let _ = write!(h, "<details class=\"fact\"><summary>log</summary><pre>{}</pre></details>", e(&p.log_excerpt));
                    }
                    h.push_str("</td>");
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</section>\n");
}

fn feature(h: &mut String, f: &FeatureRecord) {
    let c = f.counts();
    let _ = writeln!(
        h,
        "<details class=\"feature\" open>\n<summary>{} <span class=\"path\">{}</span> \
         <span class=\"dur\">{} passed · {} failed · {} skipped · {}</span></summary>",
        e(&f.feature.name),
        e(&f.feature.path),
        c.passed,
        c.failed,
        c.skipped,
        fmt_dur(f.duration())
    );
    for s in &f.scenarios {
        scenario(h, s);
    }
    h.push_str("</details>\n");
}

fn scenario(h: &mut String, s: &ScenarioRecord) {
    let status = s.effective_status();
    let w = status.word();
    let open = if matches!(status, TestStatus::Passed) { "" } else { " open" };
    let _ = write!(
        h,
        "<details class=\"card {w}\"{open}>\n<summary><span class=\"badge s-{w}\">{w}</span> {} \
         <span class=\"path\">line {}</span><span class=\"dur\">{}</span>",
        e(&s.scenario.name),
        s.scenario.line,
        fmt_dur(s.duration())
    );
    for t in &s.tags {
        let _ = write!(h, "<span class=\"tag\">@{}</span>", e(t));
    }
    h.push_str("</summary>\n");
    match &status {
        TestStatus::Skipped { reason } => {
            let _ = writeln!(h, "<div class=\"reason\">Skipped: {}</div>", e(reason));
        }
        TestStatus::Failed { message } => {
            let _ = writeln!(h, "<div class=\"reason\">Failed: {}</div>", e(message));
        }
        TestStatus::Passed => {}
    }
    if !s.steps.is_empty() {
        h.push_str("<ol class=\"steps\">\n");
        for st in &s.steps {
            step(h, st);
        }
        h.push_str("</ol>\n");
    }
    h.push_str("</details>\n");
}

fn step(h: &mut String, st: &StepRecord) {
    let w = st.status.word();
    let _ = write!(
        h,
        "<li><span class=\"badge s-{w}\">{w}</span> <span class=\"kw\">{}</span> {}<span class=\"dur\">{}</span>",
        e(&st.keyword),
        e(&st.text),
        fmt_dur(st.duration)
    );
    match &st.status {
        TestStatus::Failed { message } => {
            let _ = write!(h, "<div class=\"reason\">{}</div>", e(message));
        }
        TestStatus::Skipped { reason } => {
            let _ = write!(h, "<div class=\"reason\">Skipped: {}</div>", e(reason));
        }
        TestStatus::Passed => {}
    }
    if let Some(n) = &st.note {
        let _ = write!(h, "<div class=\"reason\">Did: {}</div>", e(n));
    }
    if let Some(v) = &st.verdict {
        verdict(h, v, matches!(st.status, TestStatus::Failed { .. }));
    }
    h.push_str("</li>\n");
}

fn verdict(h: &mut String, v: &VerdictView, failed: bool) {
    let found_cls = if failed { " class=\"found-bad\"" } else { "" };
    let _ = write!(
        h,
        "<div class=\"verdict\"><table>\
         <tr><td>check</td><td><code>{}</code> — {}</td></tr>\
         <tr><td>expected</td><td>{}</td></tr>\
         <tr><td>found</td><td{found_cls}>{}</td></tr>",
        e(&v.check_id),
        e(&v.outcome),
        e(&v.expected),
        e(&v.found)
    );
    if let Some(r) = &v.remediation {
        let _ = write!(h, "<tr><td>remediation</td><td>{}</td></tr>", e(r));
    }
    let _ = write!(h, "<tr><td>evidence from</td><td>{}</td></tr></table>", e(&v.evidence_source));
    for f in &v.facts {
        let _ = write!(
            h,
            "<details class=\"fact\"{}><summary>{} · {} · {}</summary><code>$ {}</code><pre>{}</pre></details>",
            if failed { " open" } else { "" },
            e(&f.node),
            e(&f.probe),
            e(&f.origin),
            e(&f.command),
            e(&f.output_excerpt)
        );
    }
    h.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_run;

    fn sample() -> String {
        to_string(&RunRecord::from_events(&sample_run()).unwrap())
    }

    #[test]
    fn html_snapshot() {
        insta::assert_snapshot!(sample());
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let h = sample();
        for banned in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!h.contains(banned), "found {banned}");
        }
        assert!(h.contains("BGP sessions on TCP 179 are &lt;Established&gt; between all nodes"));
        assert!(h.contains("\\x1b[0m&lt;end of output &amp; &quot;quoted&quot;&gt;"));
        assert!(!h.contains('\u{1b}'));
    }

    #[test]
    fn html_shows_verdicts_skip_reasons_and_timeline() {
        let h = sample();
        assert!(h.contains("remediation</td><td>allow TCP 179"));
        assert!(h.contains("evidence from</td><td>recorded bundle fixtures/bundles/healthy-1.23.6"));
        assert!(h.contains("Skipped: needs a live Kubernetes API"));
        assert!(h.contains("<th>ICE-k8s-machines-node2</th>"));
        assert_eq!(h.matches("<details class=\"card ").count(), 4);
        assert!(h.contains("node1 failed this step"));
    }

    #[test]
    fn unfinished_run_is_flagged() {
        let events = sample_run();
        let h = to_string(&RunRecord::from_events(&events[..events.len() - 1]).unwrap());
        assert!(h.contains("The run did not finish"));
    }
}
