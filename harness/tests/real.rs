//! The real-capture corpus: one libtest-mimic trial per file under `tests/fixtures/real/<probe>/`
//! (format: /work/notes/corpus-format.md, summarised in docs/evidence.md), named
//! `real::<probe>::<file stem>`. Each trial reads the header, builds evidence holding just this
//! capture (single-capture mode, the same path `kubelab explain` takes), runs the checks the
//! header names and asserts the expert's verdict:
//!
//! * `pass` → the check passes;
//! * `fail` → it fails, and its diagnosis (found + remediation) contains every `diagnosis:`
//!   keyword, case-insensitively;
//! * `unreadable` → it fails saying `cannot read <probe> output`.
//!
//! It also runs the capture through `checks::explain` without naming the probe: the guess must be
//! the directory's probe. `real::corpus::docs table` checks the corpus table in docs/evidence.md
//! (`KUBELAB_REGEN_DOCS=1` rewrites it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubelab::checks::{self, Outcome};
use libtest_mimic::{Arguments, Failed, Trial};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn corpus_dir() -> PathBuf {
    repo().join("tests/fixtures/real")
}

/// One corpus file.
struct Capture {
    path: PathBuf,
    header: BTreeMap<String, String>,
    body: String,
}

impl Capture {
    fn read(path: &Path) -> Result<Capture, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let (head, body) = text.split_once("\n---\n").ok_or_else(|| format!("{}: no `---` line ending the header", path.display()))?;
        let mut header = BTreeMap::new();
        for l in head.lines() {
            let (k, v) = l.split_once(':').ok_or_else(|| format!("{}: header line without `key:`: {l}", path.display()))?;
            header.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(Capture { path: path.to_path_buf(), header, body: body.to_string() })
    }

    fn get(&self, k: &str) -> Result<&str, String> {
        self.header.get(k).map(String::as_str).ok_or_else(|| format!("{}: header has no `{k}:`", self.path.display()))
    }
}

fn files() -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let root = corpus_dir();
    let Ok(dirs) = std::fs::read_dir(&root) else { return Ok(out) };
    for d in dirs.filter_map(Result::ok).filter(|d| d.path().is_dir()) {
        let probe = d.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(d.path()).map_err(|e| e.to_string())?.filter_map(Result::ok) {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "txt") {
                out.push((probe.clone(), p));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn judge_file(probe: &str, path: &Path) -> Result<(), Failed> {
    let c = Capture::read(path)?;
    if c.get("probe")? != probe {
        return Err(format!("header probe `{}` but directory {probe}", c.get("probe")?).into());
    }
    let default_verdict = c.get("verdict")?;
    let nodes: Option<usize> = match c.header.get("nodes") {
        Some(n) => Some(n.parse().map_err(|_| format!("nodes: `{n}` is not a number"))?),
        None => None,
    };
    let words = |d: &str| -> Vec<String> { d.split(';').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect() };
    let default_keywords: Vec<String> = c.header.get("diagnosis").map(|d| words(d)).unwrap_or_default();
    let ev = checks::capture_evidence(probe, &c.body, nodes);
    let mut problems = Vec::new();
    for id in c.get("check")?.split(',').map(str::trim) {
        // One capture can decide several checks differently: `verdict.<check>` and
        // `diagnosis.<check>` override the shared `verdict` / `diagnosis` for that check.
        let verdict = c.header.get(&format!("verdict.{id}")).map(String::as_str).unwrap_or(default_verdict);
        let keywords = c.header.get(&format!("diagnosis.{id}")).map(|d| words(d)).unwrap_or_else(|| default_keywords.clone());
        let v = checks::run(id, &ev).map_err(|e| e.to_string())?;
        let text = match &v.outcome {
            Outcome::Fail { found, remediation, .. } => format!("{found} {remediation}"),
            _ => String::new(),
        };
        let lower = text.to_lowercase();
        match verdict {
            "pass" if !v.is_pass() => problems.push(format!("{id}: want pass, got {v}")),
            "fail" if !v.is_fail() => problems.push(format!("{id}: want fail, got {v}")),
            "fail" => {
                let missing: Vec<&String> = keywords.iter().filter(|k| !lower.contains(&k.to_lowercase())).collect();
                if !missing.is_empty() {
                    problems.push(format!("{id}: diagnosis lacks {missing:?}: {v}"));
                }
            }
            "unreadable" => {
                let want = format!("cannot read {probe} output");
                if !v.is_fail() || !lower.contains(&want) {
                    problems.push(format!("{id}: want a fail saying `{want}`, got {v}"));
                }
            }
            "pass" => {}
            other => problems.push(format!("unknown verdict `{other}`")),
        }
    }
    // The explain path guesses the probe from the text alone.
    match checks::explain(&c.body, None, nodes) {
        Ok(e) if e.probe == probe => {}
        Ok(e) => problems.push(format!("explain guessed probe {} for a {probe} capture", e.probe)),
        Err(e) => problems.push(format!("explain: {e}")),
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

const BEGIN: &str = "<!-- corpus-table:begin (generated by harness/tests/real.rs; KUBELAB_REGEN_DOCS=1 rewrites it) -->";
const END: &str = "<!-- corpus-table:end -->";

/// probe → number of real captures → `tool:` values (releases) covered.
fn corpus_table() -> Result<String, String> {
    let mut rows: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for (probe, p) in files()? {
        let c = Capture::read(&p)?;
        let e = rows.entry(probe).or_default();
        e.0 += 1;
        let tool = c.get("tool")?.replace('|', "\\|");
        if !e.1.contains(&tool) {
            e.1.push(tool);
        }
    }
    let mut s = String::from("| probe | real captures | tools / releases covered (`tool:` headers) |\n|---|---|---|\n");
    for (probe, (n, mut tools)) in rows {
        tools.sort();
        s.push_str(&format!("| `{probe}` | {n} | {} |\n", tools.join("; ")));
    }
    Ok(s)
}

fn docs_table() -> Result<(), Failed> {
    let path = repo().join("docs/evidence.md");
    let doc = std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let table = corpus_table()?;
    let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!("{} has no corpus-table markers", path.display()).into());
    };
    let current = &doc[a + BEGIN.len()..b];
    let want = format!("\n{table}");
    if current == want {
        return Ok(());
    }
    if std::env::var_os("KUBELAB_REGEN_DOCS").is_some() {
        let new = format!("{}{BEGIN}{want}{}", &doc[..a], &doc[b..]);
        std::fs::write(&path, new).map_err(|e| e.to_string())?;
        return Ok(());
    }
    Err("docs/evidence.md corpus table is stale: run `KUBELAB_REGEN_DOCS=1 cargo test -p kubelab --test real corpus`".into())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test("real::corpus::docs table", docs_table)];
    match files() {
        Ok(fs) => {
            for (probe, path) in fs {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                // `needs:` says what a verdict on this capture needs that the capture alone does not
                // show (another file, the thread's context, a lab-only probe judged with others):
                // the trial is reported ignored with that reason, never passed.
                let needs = Capture::read(&path).ok().and_then(|c| c.header.get("needs").cloned());
                let name = format!("real::{probe}::{stem}");
                if let Some(why) = &needs {
                    eprintln!("real: {name} is ignored: it needs {why}");
                }
                trials.push(Trial::test(name, move || judge_file(&probe, &path)).with_ignored_flag(needs.is_some()));
            }
        }
        Err(e) => {
            eprintln!("real: cannot list the corpus: {e}");
            std::process::exit(101);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
