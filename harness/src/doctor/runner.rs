//! The file-system seam of `kubelab doctor`: [`HostFs`] (the few file-system facts the checks
//! need) with its real sibling [`RealFs`]; the recording fake is in `super::fake`. Programs are
//! started through the process seam ([`crate::process::CommandRunner`]).

use std::path::{Path, PathBuf};

/// The file-system facts and scratch files the checks need.
pub trait HostFs {
    /// Whether `path` exists (following symlinks).
    fn exists(&self, path: &Path) -> bool;
    /// The target of a symlink (e.g. `/proc/self/ns/net` → `net:[4026531840]`).
    fn read_link(&self, path: &Path) -> std::io::Result<PathBuf>;
    /// Creates `path` and its parents.
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()>;
    /// Writes a whole file.
    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// Removes a file; a missing file is not an error.
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
    /// Inode number of `path` after following symlinks (namespace files compare by inode).
    fn inode(&self, path: &Path) -> std::io::Result<u64>;
    /// Whether a download of `url` could start from here (its first hop accepts TCP);
    /// `Err` says why not.
    fn reachable(&self, url: &str) -> Result<(), String>;
}

/// [`HostFs`] over `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl HostFs for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn read_link(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::read_link(path)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(path, bytes)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    fn inode(&self, path: &Path) -> std::io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map(|m| m.ino())
    }
    fn reachable(&self, url: &str) -> Result<(), String> {
        crate::image::reachable(url, crate::image::ARCHIVE_TIMEOUT)
    }
}
