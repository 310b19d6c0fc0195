//! The process seam: [`CommandRunner`] runs an external program (no shell, with a timeout) and
//! returns what it left behind. Real sibling [`SystemRunner`]; recording fake `fake::FakeRunner`
//! (tests and feature `test-support`). Every external tool kubelab starts outside the guests
//! (virsh-free doctor probes, qemu-img, xorriso, virt-clone, QEMU itself) goes through it.

#[cfg(any(test, feature = "test-support"))]
pub mod fake;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

/// One program invocation: no shell, arguments passed as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Program name (looked up in `PATH`) or path.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Kill the program after this long.
    pub timeout: Duration,
}

impl CommandSpec {
    /// A spec with a 30 s timeout.
    pub fn new(program: &str, args: &[&str]) -> Self {
        CommandSpec { program: program.to_string(), args: args.iter().map(|a| a.to_string()).collect(), timeout: Duration::from_secs(30) }
    }

    /// Replaces the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line as a person would type it (for details and fakes).
    pub fn line(&self) -> String {
        std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// What a finished (or killed) program left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal (including our timeout kill).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// The program outlived its timeout and was killed.
    pub timed_out: bool,
    /// Wall time from spawn to exit (or kill).
    pub elapsed: Duration,
}

impl CommandOutput {
    /// Exit code 0 and not timed out.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The first non-empty line of stderr, else of stdout (for one-line details).
    pub fn first_message_line(&self) -> String {
        self.stderr.lines().chain(self.stdout.lines()).map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
    }
}

/// A program could not be started at all.
#[derive(Debug, Error)]
pub enum CommandError {
    /// The program is not installed (not in `PATH`).
    #[error("`{program}` not found")]
    NotFound {
        /// Program name.
        program: String,
    },
    /// Spawning or waiting failed for another reason.
    #[error("cannot run `{program}`")]
    Io {
        /// Program name.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs programs.
pub trait CommandRunner: Send + Sync {
    /// Runs `spec` to completion or until its timeout (then kills it and reports `timed_out`).
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError>;
}

/// [`CommandRunner`] over `std::process::Command`: stdin is `/dev/null`, output is captured.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let io_err = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CommandError::NotFound { program: spec.program.clone() }
            } else {
                CommandError::Io { program: spec.program.clone(), source }
            }
        };
        let started = Instant::now();
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err)?;
        // Drain both pipes on threads so a chatty program cannot block on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io_err)? {
                break status;
            }
            if started.elapsed() >= spec.timeout {
                timed_out = true;
                // The child may exit between try_wait and kill; either way wait() reaps it.
                let _ = child.kill();
                break child.wait().map_err(io_err)?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        Ok(CommandOutput {
            code: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            timed_out,
            elapsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_runner_captures_output_and_exit_code() {
        let out = SystemRunner.run(&CommandSpec::new("sh", &["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.timed_out && !out.success());
        assert_eq!(out.first_message_line(), "err");
    }

    #[test]
    fn system_runner_kills_at_timeout() {
        let spec = CommandSpec::new("sleep", &["30"]).with_timeout(Duration::from_millis(300));
        let out = SystemRunner.run(&spec).unwrap();
        assert!(out.timed_out);
        assert_eq!(out.code, None, "killed by a signal");
        assert!(out.elapsed >= Duration::from_millis(300) && out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = SystemRunner.run(&CommandSpec::new("kubelab-no-such-program", &[])).unwrap_err();
        assert!(matches!(err, CommandError::NotFound { .. }), "{err:?}");
    }
}
