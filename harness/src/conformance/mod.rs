//! Cucumber conformance run (bin-only: World and steps must live next to the runner, see the
//! cucumber inventory linker pitfall). Scenarios carry `@check:<id>` tags naming the pure checks
//! they judge; steps are thin adapters over [`kubelab::runner::Run`]. Main entry:
//! [`scenarios::run`].

pub mod features;
pub mod scenarios;
mod steps;
pub mod world;
