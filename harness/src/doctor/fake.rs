//! Recording fakes for the doctor seams: [`FakeRunner`] (scripted replies, every call kept)
//! and [`FakeFs`] (an in-memory file system shared between clones).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::runner::{CommandError, CommandOutput, CommandRunner, CommandSpec, HostFs};

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

#[derive(Default)]
struct FsState {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
    links: BTreeMap<PathBuf, PathBuf>,
    inodes: BTreeMap<PathBuf, u64>,
    reachable: BTreeSet<String>,
}

/// An in-memory [`HostFs`]; clones share one state, so a [`FakeRunner`] responder can write
/// the files a real program would.
#[derive(Clone, Default)]
pub struct FakeFs {
    state: Arc<Mutex<FsState>>,
}

impl FakeFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn add_file(&self, path: impl Into<PathBuf>, bytes: &[u8]) -> &Self {
        self.state.lock().expect("poisoned").files.insert(path.into(), bytes.to_vec());
        self
    }

    /// Adds a directory.
    pub fn add_dir(&self, path: impl Into<PathBuf>) -> &Self {
        self.state.lock().expect("poisoned").dirs.insert(path.into());
        self
    }

    /// Adds a symlink `path` → `target`.
    pub fn add_link(&self, path: impl Into<PathBuf>, target: impl Into<PathBuf>) -> &Self {
        self.state.lock().expect("poisoned").links.insert(path.into(), target.into());
        self
    }

    /// Gives `path` an inode number (it then also exists).
    pub fn add_inode(&self, path: impl Into<PathBuf>, inode: u64) -> &Self {
        self.state.lock().expect("poisoned").inodes.insert(path.into(), inode);
        self
    }

    /// Removes whatever `path` is (file, directory, link, inode entry).
    pub fn remove(&self, path: &Path) -> &Self {
        let mut s = self.state.lock().expect("poisoned");
        s.files.remove(path);
        s.dirs.remove(path);
        s.links.remove(path);
        s.inodes.remove(path);
        drop(s);
        self
    }

    /// Makes downloads of `url` possible from this fake host.
    pub fn add_reachable(&self, url: &str) -> &Self {
        self.state.lock().expect("poisoned").reachable.insert(url.to_string());
        self
    }

    /// The content of a file, if present.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        self.state.lock().expect("poisoned").files.get(path).cloned()
    }
}

impl HostFs for FakeFs {
    fn reachable(&self, url: &str) -> Result<(), String> {
        let s = self.state.lock().expect("poisoned");
        if s.reachable.contains(url) { Ok(()) } else { Err("connection refused (fake host)".into()) }
    }
    fn exists(&self, path: &Path) -> bool {
        let s = self.state.lock().expect("poisoned");
        s.files.contains_key(path)
            || s.links.contains_key(path)
            || s.inodes.contains_key(path)
            || s.dirs.iter().any(|d| d.starts_with(path))
            || s.files.keys().any(|f| f.starts_with(path))
    }
    fn read_link(&self, path: &Path) -> std::io::Result<PathBuf> {
        let s = self.state.lock().expect("poisoned");
        s.links.get(path).cloned().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.state.lock().expect("poisoned").dirs.insert(path.to_path_buf());
        Ok(())
    }
    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.state.lock().expect("poisoned").files.insert(path.to_path_buf(), bytes.to_vec());
        Ok(())
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let s = self.state.lock().expect("poisoned");
        s.files.get(path).cloned().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.state.lock().expect("poisoned").files.remove(path);
        Ok(())
    }
    fn inode(&self, path: &Path) -> std::io::Result<u64> {
        let s = self.state.lock().expect("poisoned");
        s.inodes.get(path).copied().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
}
