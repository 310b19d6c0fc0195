//! Command-line interface: clap arguments, dispatch, and [`errors::ExpectedError`] → exit code.

mod args;
mod bench;
mod bench_boot;
mod errors;
mod explain;
mod run;

pub use run::main_impl;
