//! `kubelab explain [--probe ID] [--nodes N] [FILE|-]`: one pasted output (a file, or stdin) →
//! what was read, the verdict of every check reading that probe, and the guide's fix. The work is
//! [`kubelab::checks::explain`]; this module reads the input and prints.

use std::io::Read;
use std::path::PathBuf;

use kubelab::checks::{self, Outcome};

use super::errors::ExpectedError;

/// Options of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Probe id that printed the output (see docs/evidence.md); guessed from the text when absent.
    #[arg(long)]
    pub probe: Option<String>,
    /// Number of nodes in the cluster, when known (checks expecting N-1 peers use it).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// File holding the output; `-` or absent reads stdin.
    pub file: Option<PathBuf>,
}

/// Runs `explain`: Ok when every check passes (or skips), `ChecksFailed` when one fails.
pub fn run(args: &ExplainArgs) -> Result<(), ExpectedError> {
    let mut text = String::new();
    match args.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => std::fs::read_to_string(p).map(|t| text = t),
        _ => std::io::stdin().read_to_string(&mut text).map(drop),
    }
    .map_err(|e| ExpectedError::Other(anyhow::anyhow!("read the output to explain: {e}")))?;
    let x = checks::explain(&text, args.probe.as_deref(), args.nodes).map_err(ExpectedError::Explain)?;
    println!("probe: {}{}", x.probe, if x.guessed { " (guessed from the text; name it with --probe)" } else { "" });
    println!("read ({} lines after removing shell prompts and other commands' output):", x.read.lines().count());
    for l in x.read.lines().take(40) {
        println!("  | {l}");
    }
    if x.read.lines().count() > 40 {
        println!("  | ...");
    }
    let mut failed = 0;
    for (id, v) in &x.verdicts {
        match &v.outcome {
            Outcome::Pass { summary } => println!("PASS {id}: {summary}"),
            Outcome::Skip { reason } => println!("SKIP {id}: {reason}"),
            Outcome::Fail { expected, found, remediation } => {
                failed += 1;
                println!("FAIL {id}\n  expected: {expected}\n  found:    {found}\n  fix:      {remediation}");
            }
        }
    }
    if failed > 0 {
        return Err(ExpectedError::ChecksFailed(failed));
    }
    Ok(())
}
