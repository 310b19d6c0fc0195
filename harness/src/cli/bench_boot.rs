//! `kubelab bench boot`: prints each lab as it is read, then the report of
//! [`kubelab::boot_bench`] (ratios against the baseline booted in the same run).

use kubelab::boot_bench::{self, Options};
use kubelab::config::LabConfig;

use super::args::BenchBoot;
use super::errors::ExpectedError;

pub async fn boot(cfg: &LabConfig, o: BenchBoot) -> Result<(), ExpectedError> {
    if o.reread {
        let samples = boot_bench::reread(&o.save)?;
        println!("bench boot: re-read {} (recorded run, nothing booted)", o.save.display());
        print!("{}", boot_bench::render(&samples));
        return Ok(());
    }
    let opts = Options { baseline: o.baseline, candidate: o.candidate, nodes: o.nodes, rounds: o.rounds, save: o.save };
    println!(
        "bench boot: {} round(s) x {:?} node(s); baseline: {}; candidate: {}; raw guest outputs in {}",
        opts.rounds,
        opts.nodes,
        opts.baseline.as_ref().map_or("none".to_string(), |b| b.to_string()),
        opts.candidate,
        opts.save.display()
    );
    let progress = |s: &boot_bench::LabSample| {
        let ready: Vec<String> = s.per_node.iter().map(|n| format!("{:.1}", n.ready)).collect();
        eprintln!(
            "[bench boot] round {} {} ({}), {} node(s): up {:.1} s, ready per node {} s, load {} -> {}",
            s.round,
            s.variant,
            s.spec,
            s.nodes,
            s.up,
            ready.join(" / "),
            s.load.0,
            s.load.1
        );
    };
    let samples = boot_bench::run(cfg, &opts, &progress).await?;
    print!("{}", boot_bench::render(&samples));
    let bad = boot_bench::not_ready(&samples);
    if !bad.is_empty() {
        return Err(ExpectedError::Other(anyhow::anyhow!("cloud-init did not report done on: {}", bad.join("; "))));
    }
    Ok(())
}
