//! The Cucumber features as one test per (evidence bundle, scenario), so that nextest lists,
//! runs, retries and reports each diagnosis on its own (libtest-mimic harness; see
//! shared/reference/crates.md §4 "Workaround B").
//!
//! Every trial runs one scenario of `features/*.feature` through the built binary
//! (`kubelab check --evidence <bundle> --name <scenario> --exact`, so the conformance runner and
//! cucumber's step inventory are the shipped ones) over one recorded bundle of
//! `tests/fixtures/bundles/`, reads the run's `events.jsonl`, and asserts the
//! outcome [`EXPECTED`] writes down for that bundle: on `guide-healthy` everything passes; on a
//! fault bundle the scenarios its README names fail *on the check that diagnoses the fault*, the
//! scenarios whose facts the fault left ungathered are skipped with the reason, and every other
//! scenario passes. Names: `<bundle>::<feature file stem>::<scenario name>`.
//!
//! Reports of each trial are written under `$CARGO_TARGET_TMPDIR/features/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cucumber::gherkin::{self, GherkinEnv};
use kubelab::report::{RunEvent, RunEventKind, TestStatus};
use kubelab::runner::Summary;
use libtest_mimic::{Arguments, Failed, Trial};

/// What a scenario must do over a bundle.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Every step judges its check and the check passes.
    Pass,
    /// The scenario fails, and the first failing step is this check's verdict.
    Fail(&'static str),
    /// The scenario is not run; its skip reason contains this text.
    Skip(&'static str),
}
use Expect::{Fail, Skip};

/// Per bundle, the scenarios that must not pass (all others must pass). From each bundle's
/// README ("Differs from `guide-healthy` only in") and `harness/src/checks/tests.rs`.
const EXPECTED: &[(&str, &[(&str, Expect)])] = &[
    ("guide-healthy", &[]),
    // Security group drops TCP 179 between node0 and node2; their calico-node pods go 0/1.
    (
        "bgp-peer-active",
        &[
            ("the BGP mesh is Established", Fail("calico.bgp-mesh")),
            ("pod blocks are routed through the tunnel", Fail("calico.tunl0-routes")),
            ("cross-node traffic over IPIP works", Fail("calico.ipip-traffic")),
            ("kube-system is healthy", Fail("cluster.kube-system-pods")),
        ],
    ),
    // Serving CSRs never approved: no serving certs, metrics-server cannot scrape.
    (
        "csr-pending",
        &[
            ("serving CSRs are approved", Fail("tls.no-pending-csr")),
            ("metrics-server serves node metrics", Fail("metrics.apiservice-available")),
            ("kube-system is healthy", Fail("cluster.kube-system-pods")),
        ],
    ),
    // node1's join used an expired token; the run stopped there: only host facts exist.
    (
        "join-token-expired",
        &[
            ("the workers joined with a valid token", Fail("kubeadm.join")),
            ("metrics-server serves node metrics", Skip("no evidence for probe k8s-apiservice-metrics")),
            ("strictARP is on for MetalLB in IPVS mode", Skip("no evidence for probe k8s-kube-proxy-cm")),
            ("a LoadBalancer Service gets an address from the pool", Skip("no evidence for probe k8s-services")),
            ("Helm answers", Skip("no evidence for probe helm-version")),
            ("the BGP mesh is Established", Skip("no evidence for probe bgp-calicoctl")),
            ("pod blocks are routed through the tunnel", Skip("no evidence for probe ip-route")),
            ("cross-node traffic over IPIP works", Skip("no evidence for probe ipip-ping")),
            ("the API server runs v1.23.6", Skip("no evidence for probe k8s-version")),
            ("three nodes are Ready", Skip("no evidence for probe k8s-nodes")),
            ("kube-system is healthy", Skip("no evidence for probe k8s-pods-kube-system")),
            ("the kube-proxy ConfigMap selects ipvs", Skip("no evidence for probe k8s-kube-proxy-cm")),
            ("kube-proxy runs in ipvs mode", Skip("no evidence for probe proxy-mode")),
            ("IPVS serves the kubernetes Service", Skip("no evidence for probe ipvsadm")),
            ("every kubelet asks for a serving certificate", Skip("has no /var/lib/kubelet/config.yaml yet")),
            ("serving CSRs are approved", Skip("no evidence for probe k8s-csr")),
        ],
    ),
    // 开启IPVS skipped: kube-proxy in iptables mode, empty IPVS table, no kube-ipvs0.
    (
        "kube-proxy-iptables",
        &[
            ("the kube-proxy ConfigMap selects ipvs", Fail("ipvs.configmap-mode")),
            ("kube-proxy runs in ipvs mode", Fail("ipvs.proxy-mode")),
            ("IPVS serves the kubernetes Service", Fail("ipvs.kubernetes-service")),
        ],
    ),
    // No MetalLB pool: the LoadBalancer Service stays <pending> (nothing to curl: that step
    // would skip, but the missing IP is the diagnosis and fails the scenario).
    ("lb-no-ip", &[("a LoadBalancer Service gets an address from the pool", Fail("metallb.lb-ingress-ip"))]),
    // node2's kubelet stopped: Ready=Unknown, its pods unready, no metrics for it.
    (
        "node-notready",
        &[
            ("three nodes are Ready", Fail("cluster.nodes-ready")),
            ("kube-system is healthy", Fail("cluster.kube-system-pods")),
            ("metrics-server serves node metrics", Fail("metrics.node-metrics")),
        ],
    ),
    // strictARP left false in IPVS mode.
    ("strictarp-false", &[("strictARP is on for MetalLB in IPVS mode", Fail("metallb.strict-arp"))]),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn features_dir() -> PathBuf {
    repo().join("features")
}

fn bundles_dir() -> PathBuf {
    repo().join("tests/fixtures/bundles")
}

/// (feature file stem, scenario name) of every scenario, in file order.
fn scenarios() -> Result<Vec<(String, String)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(features_dir())
        .map_err(|e| format!("read {}: {e}", features_dir().display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let feat = gherkin::Feature::parse_path(&f, GherkinEnv::default()).map_err(|e| format!("parse {}: {e}", f.display()))?;
        // Scenario Outlines as cucumber runs them: one scenario per Examples row.
        let feat = cucumber::feature::Ext::expand_examples(feat).map_err(|e| format!("expand {}: {e}", f.display()))?;
        let stem = f.file_stem().expect("feature file").to_string_lossy().into_owned();
        out.extend(feat.scenarios.iter().map(|s| (stem.clone(), s.name.clone())));
    }
    Ok(out)
}

fn bundles() -> Result<Vec<String>, String> {
    let mut v: Vec<String> = std::fs::read_dir(bundles_dir())
        .map_err(|e| format!("read {}: {e}", bundles_dir().display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Scenarios over facts only a kubelab lab has (read from libvirt): they skip in every bundle.
const LAB_ONLY: &[(&str, Expect)] = &[
    ("every node uses the address its port allows", Skip("no evidence for probe port-filter")),
    ("every node fetches a file and pulls an image from the outside", Skip("no evidence for probe egress")),
];

fn expected(bundle: &str, scenario: &str) -> Expect {
    EXPECTED
        .iter()
        .find(|(b, _)| *b == bundle)
        .and_then(|(_, rows)| rows.iter().find(|(s, _)| *s == scenario))
        .or_else(|| LAB_ONLY.iter().find(|(s, _)| *s == scenario))
        .map_or(Expect::Pass, |(_, e)| *e)
}

/// The table itself: every bundle on disk has a row, every row names a real bundle and a real,
/// unambiguous scenario, and every fault bundle fails at least one scenario.
fn table_is_consistent() -> Result<(), Failed> {
    let on_disk: BTreeSet<String> = bundles()?.into_iter().collect();
    let listed: BTreeSet<String> = EXPECTED.iter().map(|(b, _)| b.to_string()).collect();
    if on_disk != listed {
        return Err(format!("bundles on disk {on_disk:?} != bundles in EXPECTED {listed:?}").into());
    }
    let all = scenarios()?;
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (stem, name) in &all {
        if let Some(other) = seen.insert(name, stem) {
            return Err(format!("scenario name `{name}` is in both {other}.feature and {stem}.feature: trials select by exact name").into());
        }
    }
    for (bundle, rows) in EXPECTED {
        for (name, _) in *rows {
            if !seen.contains_key(name) {
                return Err(format!("{bundle}: no scenario named `{name}` in features/").into());
            }
        }
        let names: BTreeSet<&str> = rows.iter().map(|(n, _)| *n).collect();
        if names.len() != rows.len() {
            return Err(format!("{bundle}: a scenario is listed twice").into());
        }
        if *bundle != "guide-healthy" && !rows.iter().any(|(_, e)| matches!(e, Fail(_))) {
            return Err(format!("{bundle}: a fault bundle must fail at least one scenario").into());
        }
    }
    Ok(())
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// One line per step for failure messages.
fn describe(events: &[RunEvent]) -> String {
    let mut s = String::new();
    for e in events {
        match &e.kind {
            RunEventKind::StepFinished { keyword, text, status, verdict, .. } => {
                s.push_str(&format!("\n  {keyword} {text}: {status:?}"));
                if let Some(v) = verdict {
                    s.push_str(&format!(" [{} {}: expected {}; found {}]", v.check_id, v.outcome, v.expected, v.found));
                }
            }
            RunEventKind::ScenarioFinished { status } => s.push_str(&format!("\n  scenario: {status:?}")),
            _ => {}
        }
    }
    s
}

/// Runs `kubelab check --evidence <bundle>` with `extra` arguments, reports in `report_dir` (emptied
/// first), and returns the summary counted from `events.jsonl` after checking the exit code agrees
/// with it (40 when a scenario failed, 0 otherwise).
fn run_check(bundle: &Path, features: &Path, report_dir: &Path, extra: &[&str]) -> Result<(Summary, Vec<RunEvent>), Failed> {
    let _ = std::fs::remove_dir_all(report_dir);
    std::fs::create_dir_all(report_dir).map_err(|e| format!("create {}: {e}", report_dir.display()))?;
    // Run from the (empty) report dir so no ./kubelab.toml is picked up: the default config.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubelab"))
        .current_dir(report_dir)
        .arg("check")
        .arg("--evidence")
        .arg(bundle)
        .arg("--features")
        .arg(features)
        .arg("--report-dir")
        .arg(report_dir)
        .args(extra)
        .output()
        .map_err(|e| format!("run kubelab: {e}"))?;
    let jsonl = report_dir.join("events.jsonl");
    let text = std::fs::read_to_string(&jsonl)
        .map_err(|e| format!("read {}: {e}; kubelab said: {}", jsonl.display(), String::from_utf8_lossy(&out.stderr)))?;
    let events: Vec<RunEvent> =
        text.lines().map(serde_json::from_str).collect::<Result<_, _>>().map_err(|e| format!("parse {}: {e}", jsonl.display()))?;
    let mut sum = Summary { passed: 0, failed: 0, skipped: 0 };
    for e in &events {
        match &e.kind {
            RunEventKind::ScenarioFinished { status: TestStatus::Passed } => sum.passed += 1,
            RunEventKind::ScenarioFinished { status: TestStatus::Failed { .. } } => sum.failed += 1,
            RunEventKind::ScenarioFinished { status: TestStatus::Skipped { .. } } => sum.skipped += 1,
            _ => {}
        }
    }
    let want_code = if sum.failed > 0 { kubelab::exit_codes::CHECKS_FAILED } else { kubelab::exit_codes::OK };
    if out.status.code() != Some(want_code) {
        return Err(format!(
            "kubelab check exited {:?} for {sum:?}, want {want_code}; it said: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok((sum, events))
}

fn run_scenario(bundle: &str, stem: &str, scenario: &str, want: Expect) -> Result<(), Failed> {
    let dir = bundles_dir().join(bundle);
    let source = format!("recorded bundle {}", dir.display());
    let report_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("features").join(bundle).join(stem).join(slug(scenario));
    let (sum, events) = run_check(&dir, &features_dir(), &report_dir, &["--name", scenario, "--exact"])?;

    let started: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            RunEventKind::ScenarioStarted { feature, scenario, .. } => Some((feature.path.as_str(), scenario.name.as_str())),
            _ => None,
        })
        .collect();
    let feature_path = format!("features/{stem}.feature");
    if started != [(feature_path.as_str(), scenario)] {
        return Err(format!("expected exactly {feature_path} › {scenario} to run, ran {started:?}").into());
    }
    let steps: Vec<(&TestStatus, Option<&kubelab::report::VerdictView>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            RunEventKind::StepFinished { status, verdict, .. } => Some((status, verdict.as_ref())),
            _ => None,
        })
        .collect();
    let status = events
        .iter()
        .find_map(|e| match &e.kind {
            RunEventKind::ScenarioFinished { status } => Some(status),
            _ => None,
        })
        .ok_or("no ScenarioFinished event")?;
    let context = || format!("\nbundle {bundle}, reports in {}:{}", report_dir.display(), describe(&events));
    // Every verdict says where its evidence came from: this bundle.
    for (_, v) in &steps {
        if let Some(v) = v {
            if v.evidence_source != source {
                return Err(format!("{}: evidence source `{}`, want `{source}`{}", v.check_id, v.evidence_source, context()).into());
            }
            if let Some(f) = v.facts.iter().find(|f| !(f.origin.starts_with("recorded in bundle ") && f.origin.ends_with(bundle))) {
                return Err(format!("{}: fact {} on {} has origin `{}`{}", v.check_id, f.probe, f.node, f.origin, context()).into());
            }
        }
    }
    match want {
        Expect::Pass => {
            if sum != (Summary { passed: 1, failed: 0, skipped: 0 }) || *status != TestStatus::Passed {
                return Err(format!("expected a pass, got {sum:?}{}", context()).into());
            }
            if steps.is_empty() || !steps.iter().all(|(s, v)| **s == TestStatus::Passed && v.is_some_and(|v| v.outcome == "pass")) {
                return Err(format!("every step must judge a passing check{}", context()).into());
            }
        }
        Expect::Fail(check) => {
            let ok_status = matches!(status, TestStatus::Failed { message } if message.starts_with(&format!("{check}: expected")));
            if sum != (Summary { passed: 0, failed: 1, skipped: 0 }) || !ok_status {
                return Err(format!("expected a failure diagnosed by {check}, got {sum:?}{}", context()).into());
            }
            let first_fail = steps.iter().position(|(s, _)| matches!(s, TestStatus::Failed { .. }));
            let Some(i) = first_fail else {
                return Err(format!("no failed step{}", context()).into());
            };
            if !steps[..i].iter().all(|(s, _)| **s == TestStatus::Passed)
                || !steps[i].1.is_some_and(|v| v.check_id == check && v.outcome == "fail")
            {
                return Err(format!("the first failing step must be {check}'s failed verdict{}", context()).into());
            }
            if steps[i].1.is_none_or(|v| v.remediation.as_deref().is_none_or(str::is_empty)) {
                return Err(format!("{check} failed without a remediation{}", context()).into());
            }
        }
        Expect::Skip(why) => {
            let ok_status = matches!(status, TestStatus::Skipped { reason } if reason.contains(why));
            if sum != (Summary { passed: 0, failed: 0, skipped: 1 }) || !ok_status {
                return Err(format!("expected a skip mentioning `{why}`, got {sum:?}{}", context()).into());
            }
            // Each step ran and found its check could not be judged (or, for a pitfall, that there
            // is no lab to act on): no step passed, none claims a verdict.
            if steps.iter().any(|(s, v)| v.is_some_and(|v| !v.outcome.starts_with("skip")) || !matches!(s, TestStatus::Skipped { .. })) {
                return Err(format!("a skipped scenario must not pass any step or claim a verdict{}", context()).into());
            }
        }
    }
    Ok(())
}

/// Runs the one feature `text` over guide-healthy (no live lab) and returns the scenarios' end
/// statuses.
fn run_feature(name: &str, text: &str) -> Result<Vec<TestStatus>, Failed> {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("features-adhoc").join(name);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("features")).map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("features").join(format!("{name}.feature")), text).map_err(|e| e.to_string())?;
    let (_, events) = run_check(&bundles_dir().join("guide-healthy"), &tmp.join("features"), &tmp.join("reports"), &[])?;
    Ok(events
        .into_iter()
        .filter_map(|e| match e.kind {
            RunEventKind::ScenarioFinished { status } => Some(status),
            _ => None,
        })
        .collect())
}

/// A pitfall row whose `breaks` column is not what the fault breaks fails, even without a lab
/// (the right row next to it is skipped: there is no lab to act on).
fn wrong_examples_row_fails() -> Result<(), Failed> {
    let st = run_feature(
        "rows",
        "@fault\nFeature: rows\n  Scenario Outline: <fault> row\n    When the \"<fault>\" fault is injected\n    \
         Then it breaks <breaks> with a fix that quotes \"<fix>\"\n\n    Examples:\n      | fault | breaks | fix |\n      \
         | swap | host.swap-off | swapoff -a |\n      | port-6443 | host.swap-off | grep 6443 |\n",
    )?;
    match st.as_slice() {
        [TestStatus::Skipped { reason }, TestStatus::Failed { message }]
            if reason.contains("needs a live lab") && message.contains("fix the Examples row") =>
        {
            Ok(())
        }
        other => Err(format!("want [skipped, failed: fix the Examples row], got {other:?}").into()),
    }
}

/// `fail_on_skipped` is real: a step no definition matches fails its scenario.
fn unmatched_step_fails() -> Result<(), Failed> {
    let st = run_feature(
        "unmatched",
        "Feature: unmatched\n  @check:host.swap-off\n  Scenario: a step nobody defined\n    \
         Then swap is off and no swap line is active in /etc/fstab\n    And the moon is made of cheese\n",
    )?;
    match st.as_slice() {
        [TestStatus::Failed { message }] if message.contains("no step definition matches `the moon is made of cheese`") => Ok(()),
        other => Err(format!("want [failed: no step definition matches], got {other:?}").into()),
    }
}

fn trials() -> Result<Vec<Trial>, String> {
    let mut out = vec![
        Trial::test("expectations::table matches the bundles and features", table_is_consistent),
        Trial::test("gherkin::a wrong Examples row fails", wrong_examples_row_fails),
        Trial::test("gherkin::an unmatched step fails the scenario", unmatched_step_fails),
    ];
    let scenarios = scenarios()?;
    for bundle in bundles()? {
        for (stem, name) in &scenarios {
            // The pitfall scenarios act on a running lab: over a bundle they must say so, never pass.
            let want = if stem == "faults" { Expect::Skip("needs a live lab") } else { expected(&bundle, name) };
            let (b, s, n) = (bundle.clone(), stem.clone(), name.clone());
            out.push(Trial::test(format!("{bundle}::{stem}::{name}"), move || run_scenario(&b, &s, &n, want)));
        }
    }
    Ok(out)
}

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("features: cannot list the trials: {e}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}
