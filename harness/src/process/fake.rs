//! [`FakeRunner`]: a recording [`CommandRunner`] with scripted replies.

use std::sync::Mutex;
use std::time::Duration;

use super::{CommandError, CommandOutput, CommandRunner, CommandSpec};

type Responder = Box<dyn Fn(&CommandSpec) -> Option<Result<CommandOutput, CommandError>> + Send + Sync>;

/// A fake [`CommandRunner`]: responders are tried in the order added (first `Some` wins);
/// a command no responder claims is "not installed" ([`CommandError::NotFound`]).
#[derive(Default)]
pub struct FakeRunner {
    responders: Mutex<Vec<Responder>>,
    calls: Mutex<Vec<CommandSpec>>,
}

impl FakeRunner {
    /// An empty fake: every program is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `out` to every command whose line (`program arg…`) starts with `prefix`.
    pub fn on(&self, prefix: &str, out: CommandOutput) -> &Self {
        let prefix = prefix.to_string();
        self.respond(move |spec| spec.line().starts_with(&prefix).then(|| Ok(out.clone())))
    }

    /// Answers exit 0 with `stdout` to every command whose line starts with `prefix`.
    pub fn ok(&self, prefix: &str, stdout: &str) -> &Self {
        self.on(prefix, CommandOutput { code: Some(0), stdout: stdout.into(), ..Default::default() })
    }

    /// Answers exit `code` with `stderr` to every command whose line starts with `prefix`.
    pub fn fail(&self, prefix: &str, code: i32, stderr: &str) -> &Self {
        self.on(prefix, CommandOutput { code: Some(code), stderr: stderr.into(), ..Default::default() })
    }

    /// Adds an arbitrary responder (it may also act, e.g. write a file into a [`FakeFs`]).
    pub fn respond(&self, f: impl Fn(&CommandSpec) -> Option<Result<CommandOutput, CommandError>> + Send + Sync + 'static) -> &Self {
        self.responders.lock().expect("poisoned").push(Box::new(f));
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<CommandSpec> {
        self.calls.lock().expect("poisoned").clone()
    }

    /// The command lines of every call so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(CommandSpec::line).collect()
    }
}

impl CommandRunner for FakeRunner {
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        self.calls.lock().expect("poisoned").push(spec.clone());
        let r = self.responders.lock().expect("poisoned");
        r.iter().find_map(|f| f(spec)).unwrap_or_else(|| Err(CommandError::NotFound { program: spec.program.clone() }))
    }
}

/// A timed-out reply (killed at `after`), for hanging programs.
pub fn timed_out(after: Duration) -> CommandOutput {
    CommandOutput { code: None, timed_out: true, elapsed: after, ..Default::default() }
}
