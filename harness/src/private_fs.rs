//! Files and directories only their owner may read: the lab's state holds SSH private keys
//! (kubelab's client key and the guests' host keys it generates and pins), so everything under
//! `<state_dir>/<lab>` is 0700 / 0600. libvirt relabels the disk images it hands to QEMU.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of every directory kubelab creates for a lab.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file kubelab writes that may hold a key or a token.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` (and missing parents, also 0700) and sets it to 0700 if it already existed.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
}

/// Writes `bytes` to `path`, readable by its owner only (also when the file existed before).
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    f.write_all(bytes.as_ref())
}

/// Restricts an existing file to its owner (for files other programs created, e.g. an ISO).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
}

/// Every path under `root` (itself included) that a group or others may read, list or traverse.
pub fn exposed(root: &Path) -> std::io::Result<Vec<(std::path::PathBuf, u32)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push((p.clone(), mode));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_kept_private() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        create_dir(&sub).unwrap();
        write(&sub.join("k"), "secret").unwrap();
        std::fs::set_permissions(sub.join("k"), std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&sub.join("k"), "secret2").unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(exposed(d.path()).unwrap(), vec![]);
        std::fs::write(sub.join("open"), "x").unwrap();
        std::fs::set_permissions(sub.join("open"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed(d.path()).unwrap(), vec![(sub.join("open"), 0o644)]);
    }
}
