//! The `kubelab` binary: CLI dispatch, exit codes, and (bin-only, because of the cucumber
//! inventory linker pitfall) the Cucumber World and steps.

mod cli;
mod conformance;

fn main() {
    std::process::exit(cli::main_impl());
}
