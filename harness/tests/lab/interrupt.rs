//! Interrupted runs on real VMs: SIGINT and SIGKILL to `up`, SIGINT to a fault check.

use super::*;

/// Ctrl-C (SIGINT) to `up` while the guests boot: `up` removes what it created itself and exits
/// 130; no `down` is needed.
fn interrupted_up_leaves_nothing(cfg: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubelab"))
        .arg("--config")
        .arg(cfg)
        .args(["up", "--no-provision"])
        .current_dir(workspace())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let at_signal = loop {
        assert!(child.try_wait().unwrap().is_none(), "`up` ended before it could be interrupted");
        let inv = inventory(Some(cfg));
        if inv["domains"].as_u64().unwrap_or(0) >= 3 {
            break inv;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "`up` created no domains within 120 s: {inv}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Mid-boot: the domains exist and run; the guests are not up yet.
    std::thread::sleep(Duration::from_secs(3));
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let left = inventory(Some(cfg));
    eprintln!(
        "SIGINT to `up` after {:.1} s (at the signal: {at_signal}); exit {:?}; left without `down`: {left}\n{err}",
        t.elapsed().as_secs_f64(),
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("everything it had created was removed"), "{err}");
    assert_empty(&left);
}

#[test]
fn killed_up_then_down_leaves_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = lab_config(dir.path(), "kl-kill", 2, None);
    ok(&["down"], Some(&cfg));
    // The kill must land while `up` is creating, not while it waits for an image: the image
    // exists first (ci/lab built it outside the namespace; this is a no-op then).
    ok(&["image", "build", "offline"], Some(&cfg));
    interrupted_up_leaves_nothing(&cfg);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubelab"))
        .arg("--config")
        .arg(&cfg)
        .args(["up", "--no-provision"])
        .current_dir(workspace())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has created part of the lab.
    let t = Instant::now();
    let at_kill = loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("`up` ended by itself ({st}) before it could be killed: {}", inventory(Some(&cfg)));
        }
        let inv = inventory(Some(&cfg));
        if inv["domains"].as_u64().unwrap_or(0) >= 1 {
            break inv;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "`up` created no domain within 120 s: {inv}");
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("killed `up` after {:.1} s with a partial lab: {at_kill}", t.elapsed().as_secs_f64());
    assert!(at_kill["networks"] == 1 && at_kill["domains"].as_u64().unwrap() >= 1, "resources existed at the kill: {at_kill}");
    let inv = inventory(Some(&cfg));
    assert!(inv["domains"].as_u64().unwrap() >= 1, "the kill left the partial lab for `down` to find: {inv}");
    ok(&["down"], Some(&cfg));
    assert_empty(&inventory(Some(&cfg)));
}

/// `events.jsonl` of a finished or cut run, parsed line by line (each line must be an event).
fn runner_events(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("events.jsonl line {}: {e}: {l}", i + 1)))
        .collect()
}

fn runner_at(e: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    e["at"].as_str().unwrap().parse().unwrap()
}

fn runner_kind(e: &serde_json::Value) -> &str {
    e["kind"]["type"].as_str().unwrap_or("")
}

/// SIGINT to `kubelab check --tags @fault` while the second pitfall is in place: the fault is
/// healed before exit (130), the reports are closed partial but valid (JUnit read by
/// quick-junit, events.jsonl line by line), and the events carry the times things happened:
/// the second scenario starts after the first one's steps took their time, and the cut
/// scenario ends after the signal the test sent.
fn runner_interrupted_fault_check() {
    let dir = workspace().join("reports/runner-interrupted");
    let _ = std::fs::remove_dir_all(&dir);
    let t_spawn = chrono::Utc::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubelab"))
        .args(["check", "--tags", "@fault", "--report-dir", dir.to_str().unwrap()])
        .current_dir(workspace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    // Wait for: one scenario finished, a second one started and its fault injected.
    let (injected, seen_at) = loop {
        assert!(child.try_wait().unwrap().is_none(), "`check` ended before it could be interrupted: {:?}", runner_events(&dir));
        assert!(t.elapsed() < Duration::from_secs(1200), "no second fault injected within 20 min");
        let evs = runner_events(&dir);
        let finished = evs.iter().filter(|e| runner_kind(e) == "scenario_finished").count();
        let last_start = evs.iter().rposition(|e| runner_kind(e) == "scenario_started");
        let inject = last_start.and_then(|s| {
            evs[s..].iter().find_map(|e| {
                let text = e["kind"]["text"].as_str()?;
                (runner_kind(e) == "step_finished" && text.ends_with("fault is injected") && e["kind"]["status"]["status"] == "passed")
                    .then(|| text.split('"').nth(1).unwrap_or("").to_string())
            })
        });
        if let (true, Some(k)) = (finished >= 1, inject) {
            break (k, chrono::Utc::now());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let t_signal = chrono::Utc::now();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("SIGINT to `check` after {:.1} s with `{injected}` in place; exit {:?}\n{err}", t.elapsed().as_secs_f64(), out.status.code());
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains(&format!("healed fault {injected}")), "the fault must be healed before exit: {err}");

    // Partial but valid reports.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&junit).unwrap_or_else(|e| panic!("partial junit.xml: {e}\n{junit}"));
    assert!(report.tests >= 2 && report.failures >= 1, "{junit}");
    let evs = runner_events(&dir);
    assert_eq!(runner_kind(&evs[0]), "run_started");
    assert!(!evs.iter().any(|e| runner_kind(e) == "run_finished"), "a cut run must not claim it finished");
    let last_end = evs.iter().rev().find(|e| runner_kind(e) == "scenario_finished").unwrap();
    assert!(last_end["kind"]["status"]["message"].as_str().unwrap_or("").contains("interrupted"), "{last_end}");

    // Times are when things happened: in order, inside the process's life, the cut after the signal.
    // (The provisioning timeline replayed after RunStarted keeps the times of `up`'s provisioning.)
    let evs: Vec<_> = evs.iter().filter(|e| runner_kind(e) != "provision_step_finished").cloned().collect();
    let ats: Vec<_> = evs.iter().map(runner_at).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "event times out of order");
    assert!(ats[0] >= t_spawn && *ats.last().unwrap() >= t_signal, "{t_spawn} {t_signal} {ats:?}");
    let starts: Vec<usize> = evs.iter().enumerate().filter(|(_, e)| runner_kind(e) == "scenario_started").map(|(i, _)| i).collect();
    let (s1, s2) = (starts[starts.len() - 2], starts[starts.len() - 1]);
    let steps_took: f64 = evs[s1..s2]
        .iter()
        .filter(|e| runner_kind(e) == "step_finished")
        .map(|e| {
            let d = &e["kind"]["duration"];
            d["secs"].as_f64().unwrap_or(0.0) + d["nanos"].as_f64().unwrap_or(0.0) / 1e9
        })
        .sum();
    let gap = (ats[s2] - ats[s1]).num_milliseconds() as f64 / 1000.0;
    eprintln!(
        "scenario `{}` started at {}, `{}` at {} ({gap:.1} s later; its steps took {steps_took:.1} s); inject seen at {seen_at}, signal at {t_signal}, cut closed at {}",
        evs[s1]["kind"]["scenario"]["name"],
        ats[s1],
        evs[s2]["kind"]["scenario"]["name"],
        ats[s2],
        runner_at(last_end)
    );
    assert!(
        steps_took > 5.0 && gap >= steps_took - 0.5,
        "start times must be when each scenario ran: gap {gap:.1} s, steps {steps_took:.1} s"
    );
    assert!(ats[s2] <= seen_at && runner_at(last_end) >= t_signal);

    // Healed for real: every host check passes live again.
    ok(&["check", "--tags", "not @fault", "--report-dir", workspace().join("reports/runner-after").to_str().unwrap()], None);
}

/// The runner on real VMs: a provisioned lab with a `provisioned` snapshot, then
/// [`runner_interrupted_fault_check`]; the lab is always torn down.
#[test]
fn runner_interrupted_check_heals_and_reports_live() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ok(&["image", "build", "offline"], None);
    ok(&["down"], None);
    ok(&["up"], None);
    ok(&["snapshot", "save", "provisioned"], None);
    let r = std::panic::catch_unwind(runner_interrupted_fault_check);
    ok(&["down"], None);
    assert_empty(&inventory(None));
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}
