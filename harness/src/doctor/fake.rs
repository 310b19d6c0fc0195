//! Recording fake for the doctor's file-system seam: [`FakeFs`] (an in-memory file system shared
//! between clones). The process fake is [`crate::process::fake::FakeRunner`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::runner::HostFs;

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
