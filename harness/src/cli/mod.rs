//! Command-line interface: clap arguments ([`args`]), dispatch to one handler module per
//! command, and [`errors::ExpectedError`] → exit code.

mod args;
mod artifacts;
mod bench;
mod bench_boot;
mod check;
mod dispatch;
mod errors;
mod explain;
mod fault;
mod fleet;
mod image;
mod progress;
mod provision;
mod signals;

pub use dispatch::main_impl;
