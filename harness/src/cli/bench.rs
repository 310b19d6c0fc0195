//! `kubelab bench …`: each benchmark prints a ratio against a baseline measured in the same run.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use kubelab::config::LabConfig;
use kubelab::hypervisor::{self, Hypervisor, xml};
use kubelab::process::{CommandRunner, CommandSpec, SystemRunner};

use super::errors::ExpectedError;

fn other(e: impl std::fmt::Display) -> ExpectedError {
    ExpectedError::Other(anyhow::anyhow!("{e}"))
}

/// Runs an external tool through the process seam; a failure names the tool and its message.
fn tool(procs: &dyn CommandRunner, program: &str, args: &[&str], timeout: Duration) -> Result<(), String> {
    let spec = CommandSpec::new(program, args).with_timeout(timeout);
    match procs.run(&spec) {
        Ok(out) if out.success() => Ok(()),
        Ok(out) if out.timed_out => Err(format!("`{}` timed out after {} s", spec.line(), timeout.as_secs())),
        Ok(out) => Err(format!("`{}` failed: {}", spec.line(), out.first_message_line())),
        Err(e) => Err(format!("{e}")),
    }
}

/// Writes `gib` GiB of incompressible data as a qcow2 base image (a realistic, fully allocated base).
fn make_base(procs: &dyn CommandRunner, dir: &Path, gib: u64) -> Result<std::path::PathBuf, ExpectedError> {
    let raw = dir.join("base.raw");
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&raw).map_err(other)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ gib;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..gib * 1024 {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).map_err(other)?;
    }
    f.flush().map_err(other)?;
    drop(f);
    let qcow = dir.join("base.qcow2");
    let (r, q) = (raw.display().to_string(), qcow.display().to_string());
    tool(procs, "qemu-img", &["convert", "-f", "raw", "-O", "qcow2", &r, &q], Duration::from_secs(1800)).map_err(other)?;
    std::fs::remove_file(&raw).map_err(other)?;
    Ok(qcow)
}

/// Linked clones (kubelab) vs `virt-clone` full copies, 3 nodes each, for each base size. The
/// libvirt calls and tools block: the whole benchmark runs on a blocking thread.
pub async fn clone(cfg: &LabConfig, sizes: &[u64]) -> Result<(), ExpectedError> {
    let hv = hypervisor::open(&cfg.libvirt_uri)?;
    let (cfg, sizes) = (cfg.clone(), sizes.to_vec());
    tokio::task::spawn_blocking(move || clone_blocking(hv.as_ref(), &SystemRunner, &cfg, &sizes))
        .await
        .map_err(|e| other(format!("bench clone thread: {e}")))?
}

fn clone_blocking(hv: &dyn Hypervisor, procs: &dyn CommandRunner, cfg: &LabConfig, sizes: &[u64]) -> Result<(), ExpectedError> {
    let root = cfg.image_cache.parent().unwrap_or(Path::new("/var/cache/kubelab")).join("bench-clone");
    println!("bench clone: 3 linked qcow2 overlays (kubelab) vs 3 virt-clone full copies, same base, same run");
    println!("{:>8} {:>14} {:>14} {:>10}", "base", "kubelab (ms)", "virt-clone (ms)", "ratio");
    for &gib in sizes {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(other)?;
        let base = make_base(procs, &root, gib)?;
        let pool = "kubelab-bench-pool";
        let _ = hv.remove_pool(pool);
        hv.create_pool(&xml::pool_xml(pool, &root))?;
        let (size, fmt) = kubelab::image::qemu_img_info(&base)?;
        let t = Instant::now();
        for i in 0..3 {
            hv.create_volume(pool, &xml::overlay_volume_xml(&format!("linked{i}.qcow2"), &base, &fmt, size))?;
        }
        let linked = t.elapsed();
        // virt-clone needs an original domain (shut off) owning the base disk.
        let orig = "kubelab-bench-orig";
        let _ = hv.undefine_domain(orig);
        hv.define_domain(&xml::clone_source_domain_xml(orig, &base))?;
        let t = Instant::now();
        let mut failure = None;
        for i in 0..3 {
            let (name, file) = (format!("kubelab-bench-full{i}"), root.join(format!("full{i}.qcow2")).display().to_string());
            let args = ["--connect", &cfg.libvirt_uri, "--original", orig, "--name", &name, "--file", &file, "--check", "all=off"];
            if let Err(e) = tool(procs, "virt-clone", &args, Duration::from_secs(3600)) {
                failure = Some(format!("{e} (virt-clone is in apt package virtinst)"));
                break;
            }
        }
        let full = t.elapsed();
        for i in 0..3 {
            let _ = hv.undefine_domain(&format!("kubelab-bench-full{i}"));
        }
        let _ = hv.undefine_domain(orig);
        for v in hv.volumes(pool).unwrap_or_default() {
            let _ = hv.delete_volume(pool, &v.name);
        }
        let _ = hv.remove_pool(pool);
        let _ = std::fs::remove_dir_all(&root);
        if let Some(f) = failure {
            return Err(other(format!("virt-clone failed: {f}")));
        }
        println!(
            "{:>6}GiB {:>14.1} {:>14.1} {:>9.0}x",
            gib,
            linked.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() / linked.as_secs_f64().max(1e-9)
        );
    }
    println!("goal: >= 50x on a 4 GiB base, and the kubelab column flat across sizes");
    Ok(())
}

/// Writes `n` scenarios into `dir` by cycling through the real scenarios of `features` (copy `k`
/// of a scenario keeps its tags and steps; its name gets ` #k`). Returns the number of check
/// judgments the set names (each scenario's `@check:` tags).
fn synthesise_features(features: &Path, dir: &Path, n: usize) -> Result<usize, ExpectedError> {
    use cucumber::gherkin::{Feature, GherkinEnv};
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(features)
        .map_err(|e| other(format!("read {}: {e}", features.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    let mut real = Vec::new();
    for f in &files {
        let feat = Feature::parse_path(f, GherkinEnv::default()).map_err(|e| other(format!("parse {}: {e}", f.display())))?;
        if feat.tags.iter().any(|t| t == "fault") {
            // The pitfall scenarios act on a live lab; re-judging evidence is what is measured.
            continue;
        }
        if feat.background.is_some() || !feat.rules.is_empty() {
            return Err(other(format!("{}: Background/Rule are not copied by the synthesiser", f.display())));
        }
        for sc in &feat.scenarios {
            if !sc.examples.is_empty() || sc.steps.iter().any(|s| s.docstring.is_some() || s.table.is_some()) {
                return Err(other(format!("{}: `{}` has examples/docstrings/tables the synthesiser does not copy", f.display(), sc.name)));
            }
            real.push((feat.clone(), sc.clone()));
        }
    }
    if real.is_empty() {
        return Err(other(format!("no scenarios in {}", features.display())));
    }
    // One file per (copy, source feature), as the real set is laid out.
    let mut out: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut judgments = 0;
    for i in 0..n {
        let (feat, sc) = &real[i % real.len()];
        let copy = i / real.len();
        let stem = feat.path.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = out.entry(format!("{copy:03}-{stem}.feature")).or_insert_with(|| {
            let tags: Vec<String> = feat.tags.iter().map(|t| format!("@{t}")).collect();
            format!("{}\nFeature: {} (copy {copy})\n", tags.join(" "), feat.name)
        });
        let tags: Vec<String> = sc.tags.iter().map(|t| format!("@{t}")).collect();
        text.push_str(&format!("\n  {}\n  Scenario: {} #{copy}\n", tags.join(" "), sc.name));
        for st in &sc.steps {
            text.push_str(&format!("    {} {}\n", st.keyword.trim(), st.value));
        }
        judgments += sc.tags.iter().filter(|t| t.starts_with("check:")).count();
    }
    std::fs::create_dir_all(dir).map_err(other)?;
    for (name, text) in out {
        std::fs::write(dir.join(name), text).map_err(other)?;
    }
    Ok(judgments)
}

fn median(v: &mut [std::time::Duration]) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

/// Re-judging a recorded bundle with `scenarios` scenarios through the Cucumber runner, against
/// the raw checks (`checks::rejudge`, no cucumber) and loading the bundle, `iterations` times.
///
/// The scenario set is synthesised from the real features (cycled and renamed), so every one is
/// a real scenario with real steps judged by the real step definitions: the cost measured is the
/// one `kubelab check --evidence` pays, scaled to `scenarios`.
pub async fn check(features: Option<&Path>, bundle: &Path, scenarios: usize, iterations: usize) -> Result<(), ExpectedError> {
    use kubelab::evidence::RecordedEvidence;

    use crate::conformance::scenarios::{self, CheckOptions};

    let scenarios = scenarios.max(1);
    let iterations = iterations.max(1);
    let tmp = std::env::temp_dir().join(format!("kubelab-bench-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let feature_dir = tmp.join("features");
    let source_features = crate::conformance::features::FeatureDir::resolve(features)?;
    let judgments = synthesise_features(source_features.path(), &feature_dir, scenarios)?;
    let load = || {
        RecordedEvidence::open(bundle)
            .map(RecordedEvidence::into_evidence)
            .map_err(|e| other(format!("open bundle {}: {e}", bundle.display())))
    };
    let source = format!("recorded bundle {}", bundle.display());
    let opts = CheckOptions { features: Some(feature_dir.clone()), ..CheckOptions::default() };
    let header = || kubelab::runner::RunHeader { lab: "bench".into(), profile: kubelab::config::Profile::Guide, source: source.clone() };
    let checks_per_round = kubelab::checks::CHECKS.len();
    let rounds = judgments.div_ceil(checks_per_round);
    println!("bench check: {scenarios} scenarios ({judgments} check judgments) over {}, {iterations} iterations", bundle.display());
    let (mut t_load, mut t_raw, mut t_cuke, mut t_full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    let result: Result<(), ExpectedError> = async {
        for it in 0..iterations {
            let t = Instant::now();
            let ev = load()?;
            t_load.push(t.elapsed());
            // Baseline: the same number of judgments, pure check functions, no cucumber.
            t_raw.push(kubelab::checks::rejudge(&ev, rounds).total);
            // Cucumber, no reports: plan + run + events.
            let t = Instant::now();
            let sum = scenarios::judge_recorded(header(), ev, &opts, None, true).await?;
            t_cuke.push(t.elapsed());
            // The full re-judge as `kubelab check --evidence` does it: load, judge, write reports.
            let reports = tmp.join(format!("reports-{it}"));
            let t = Instant::now();
            let ev = load()?;
            let full = scenarios::judge_recorded(header(), ev, &opts, Some(&reports), true).await?;
            t_full.push(t.elapsed());
            if sum != full || (sum.passed + sum.failed + sum.skipped) as usize != scenarios {
                return Err(other(format!("inconsistent runs: {sum:?} vs {full:?}, {scenarios} scenarios")));
            }
            last = Some(full);
        }
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let (load_m, raw_m, cuke_m, full_m) = (median(&mut t_load), median(&mut t_raw), median(&mut t_cuke), median(&mut t_full));
    println!("{:<44} {:>12} {:>12} {:>10}", "", "median (ms)", "min (ms)", "vs raw");
    for (label, m, min) in [
        ("load bundle from disk", load_m, t_load[0]),
        (&*format!("raw checks::rejudge ({rounds} rounds x {checks_per_round})"), raw_m, t_raw[0]),
        ("cucumber runner, no reports", cuke_m, t_cuke[0]),
        ("full re-judge: load + runner + reports", full_m, t_full[0]),
    ] {
        println!("{label:<44} {:>12.2} {:>12.2} {:>9.1}x", ms(m), ms(min), m.as_secs_f64() / raw_m.as_secs_f64().max(1e-9));
    }
    if let Some(s) = last {
        println!("outcome per run: {} passed, {} failed, {} skipped", s.passed, s.failed, s.skipped);
    }
    println!(
        "full re-judge / load = {:.1}x; target: full re-judge of {scenarios} scenarios < 1 s: {} ({:.0} ms)",
        full_m.as_secs_f64() / load_m.as_secs_f64().max(1e-9),
        if full_m.as_secs_f64() < 1.0 { "met" } else { "NOT met" },
        ms(full_m)
    );
    Ok(())
}

/// A throwaway lab derived from `cfg`: own name, own subnet (third octet), first `n` nodes.
fn throwaway(cfg: &LabConfig, name: &str, octet: u8, n: usize) -> LabConfig {
    let subnet: ipnet::Ipv4Net = format!("192.168.{octet}.0/24").parse().expect("static");
    let nodes = cfg
        .nodes
        .iter()
        .take(n)
        .map(|node| {
            let o = node.ip.octets();
            kubelab::config::NodeConfig { ip: std::net::Ipv4Addr::new(192, 168, octet, o[3]), ..node.clone() }
        })
        .collect();
    LabConfig {
        name: name.into(),
        subnet,
        gateway: std::net::Ipv4Addr::new(192, 168, octet, 1),
        metallb_pool: format!("192.168.{octet}.200-192.168.{octet}.220"),
        nodes,
        ..cfg.clone()
    }
}

async fn up_timed(cfg: &LabConfig) -> Result<(kubelab::lab::Lab, kubelab::lab::LabState, std::time::Duration), ExpectedError> {
    let lab = kubelab::lab::Lab::new(cfg.clone(), hypervisor::open(&cfg.libvirt_uri)?);
    let _ = lab.down(false).await;
    let t = Instant::now();
    let state = lab.up(&|_| {}).await?;
    Ok((lab, state, t.elapsed()))
}

/// Reused russh connection vs one `ssh` process per command, on the running lab's node0.
pub async fn ssh(cfg: &LabConfig, commands: u32) -> Result<(), ExpectedError> {
    let lab = kubelab::lab::Lab::new(cfg.clone(), hypervisor::open(&cfg.libvirt_uri)?);
    let state = lab.load_state()?;
    let node = &state.nodes[0];
    let shell = lab.shell(&state)?;
    shell.run(&node.name, "true").await?; // connect once (not measured: both sides pay one handshake per connection)
    let t = Instant::now();
    for _ in 0..commands {
        let o = shell.run(&node.name, "true").await?;
        if !o.success() {
            return Err(other("russh command failed"));
        }
    }
    let reused = t.elapsed() / commands;
    let kh = cfg.lab_dir().join("keys").join("bench_known_hosts");
    std::fs::write(&kh, format!("{} {}\n", node.ip, node.host_key)).map_err(other)?;
    let known = format!("UserKnownHostsFile={}", kh.display());
    let (key, login) = (state.key_path.display().to_string(), format!("{}@{}", state.user, node.ip));
    // One `ssh` process per command, on a blocking thread (the process seam blocks).
    let fresh = tokio::task::spawn_blocking(move || -> Result<Duration, ExpectedError> {
        let args = ["-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", &known, "-i", &key, &login, "sudo", "-n", "true"];
        let t = Instant::now();
        for _ in 0..commands {
            tool(&SystemRunner, "ssh", &args, Duration::from_secs(60))
                .map_err(|e| other(format!("{e} (ssh is in apt package openssh-client)")))?;
        }
        Ok(t.elapsed() / commands)
    })
    .await
    .map_err(|e| other(format!("bench ssh thread: {e}")))??;
    println!("bench ssh: {commands} commands on {} ({} guest)", node.name, if state.domain_type == "kvm" { "kvm" } else { "tcg" });
    println!("  reused russh connection : {:>8.1} ms/command", reused.as_secs_f64() * 1e3);
    println!("  ssh process per command : {:>8.1} ms/command", fresh.as_secs_f64() * 1e3);
    println!("  ratio                   : {:>8.1}x less per command (goal >= 5x)", fresh.as_secs_f64() / reused.as_secs_f64().max(1e-9));
    Ok(())
}

/// Snapshot revert of the running lab vs a fresh clone + boot + host provisioning of a second lab.
pub async fn reset(cfg: &LabConfig) -> Result<(), ExpectedError> {
    use kubelab::provision::{Plan, Provisioner};
    let lab = kubelab::lab::Lab::new(cfg.clone(), hypervisor::open(&cfg.libvirt_uri)?);
    let state = lab.load_state()?;
    let t = Instant::now();
    lab.snapshot_revert(&state, "provisioned").await?;
    let shell = lab.shell(&state)?;
    let fl = kubelab::fault::FaultLab::new(&lab, &state, shell.clone());
    for n in &state.nodes {
        fl.wait_ssh(&n.name, std::time::Duration::from_secs(120)).await?;
    }
    drop(shell);
    let revert = t.elapsed();
    let fresh_cfg = throwaway(cfg, "kl-bench-reset", 9, cfg.nodes.len());
    let t = Instant::now();
    let (flab, fstate, _) = up_timed(&fresh_cfg).await?;
    let fshell = flab.shell(&fstate)?;
    let plan = Plan::from_config(&fresh_cfg).map_err(other)?;
    let res = Provisioner::new(fshell.as_ref(), &plan).run().await;
    let fresh = t.elapsed();
    flab.down(false).await?;
    res.map_err(other)?;
    println!("bench reset: {} nodes", state.nodes.len());
    println!("  snapshot revert (+ ssh back)          : {:>7.1} s", revert.as_secs_f64());
    println!("  fresh clone + boot + host provisioning: {:>7.1} s", fresh.as_secs_f64());
    println!(
        "  ratio                                 : {:>7.1} % (goal <= 10 %)",
        100.0 * revert.as_secs_f64() / fresh.as_secs_f64().max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cucumber::gherkin::{Feature, GherkinEnv};

    use super::synthesise_features;

    #[test]
    fn synthesised_set_has_exactly_n_real_scenarios() {
        let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");
        let tmp = std::env::temp_dir().join(format!("kubelab-synth-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let judgments = synthesise_features(&features, &tmp, 40).unwrap();
        let mut names = Vec::new();
        let mut tags = 0;
        for e in std::fs::read_dir(&tmp).unwrap() {
            let f = Feature::parse_path(e.unwrap().path(), GherkinEnv::default()).unwrap();
            assert!(!f.tags.is_empty(), "feature tags are copied: {}", f.name);
            for sc in f.scenarios {
                assert!(!sc.steps.is_empty(), "{}", sc.name);
                tags += sc.tags.iter().filter(|t| t.starts_with("check:")).count();
                names.push(sc.name);
            }
        }
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(names.len(), 40);
        assert_eq!(tags, judgments);
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 40, "copies are renamed: {names:?}");
        for n in ["every node carries the guide's hostname #0", "Helm answers #0", "Helm answers #1"] {
            assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
        }
    }
}
