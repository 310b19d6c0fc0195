//! [`ArtifactCache`]: pinned downloads kept in a local directory, verified by sha256
//! (a mismatch is refused, an interrupted download resumes from its `.part` file), and pushed to
//! nodes over a [`RemoteShell`] in base64 chunks. Downloads go through the [`Downloader`] seam
//! ([`CurlDownloader`] for real).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::remote::RemoteShell;

use super::Pin;

/// Bytes of file content per remote command when pushing.
pub const PUSH_CHUNK: usize = 48 * 1024;

/// An artifact could not be fetched, verified or pushed.
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// The pin has no checksum; the cache stores verified artifacts only.
    #[error("{artifact} has no pinned sha256; the cache only holds verified artifacts")]
    Unpinned {
        /// Artifact name.
        artifact: String,
    },
    /// The downloaded bytes do not match the pin (the file was removed).
    #[error("sha256 mismatch for {artifact} from {url}: pinned {want}, got {got}; refused and removed")]
    Mismatch {
        /// Artifact name.
        artifact: String,
        /// Source URL.
        url: String,
        /// Pinned digest.
        want: String,
        /// Digest of what arrived.
        got: String,
    },
    /// The download failed (a `.part` file may remain and is resumed next time).
    #[error("download of {url} failed: {message}")]
    Download {
        /// Source URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// Local file-system error.
    #[error("{path}: {message}")]
    Io {
        /// File.
        path: String,
        /// OS error.
        message: String,
    },
    /// Pushing to a node failed.
    #[error("push of {artifact} to {node}:{dest} failed: {message}")]
    Push {
        /// Artifact name.
        artifact: String,
        /// Node.
        node: String,
        /// Remote path.
        dest: String,
        /// Cause.
        message: String,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Io { path: path.display().to_string(), message: e.to_string() }
}

/// Appends the bytes of `url` after the first `offset` bytes to `part` (resume).
pub trait Downloader: Send + Sync {
    /// Downloads `url` into `part`, continuing after `offset` bytes already there.
    fn download(&self, url: &str, part: &Path, offset: u64) -> Result<(), String>;
}

/// `curl -fL --retry 5 -C <offset>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurlDownloader;

impl Downloader for CurlDownloader {
    fn download(&self, url: &str, part: &Path, offset: u64) -> Result<(), String> {
        let out = std::process::Command::new("curl")
            .args(["-fsSL", "--retry", "5", "-C", &offset.to_string(), "-o"])
            .arg(part)
            .arg(url)
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
    }
}

/// A directory of sha256-verified artifacts, one file per pin (`<sha256>-<artifact>`).
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first fetch).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ArtifactCache { dir: dir.into() }
    }

    /// Where a pinned artifact lives in the cache.
    pub fn path_of(&self, pin: &Pin) -> Result<PathBuf, ArtifactError> {
        let sha = pin.sha256.ok_or_else(|| ArtifactError::Unpinned { artifact: pin.artifact.into() })?;
        Ok(self.dir.join(format!("{sha}-{}", pin.artifact)))
    }

    /// Returns the cached, verified file; downloads (resuming a `.part`) when absent.
    pub fn fetch(&self, pin: &Pin, downloader: &dyn Downloader) -> Result<PathBuf, ArtifactError> {
        let path = self.path_of(pin)?;
        let want = pin.sha256.unwrap_or_default();
        if path.exists() {
            if sha256_file(&path)? == want {
                return Ok(path);
            }
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let part = path.with_file_name(format!("{}.part", path.file_name().unwrap_or_default().to_string_lossy()));
        let offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        downloader.download(&pin.url, &part, offset).map_err(|message| ArtifactError::Download { url: pin.url.clone(), message })?;
        let got = sha256_file(&part)?;
        if got != want {
            std::fs::remove_file(&part).map_err(|e| io(&part, e))?;
            return Err(ArtifactError::Mismatch { artifact: pin.artifact.into(), url: pin.url.clone(), want: want.into(), got });
        }
        std::fs::rename(&part, &path).map_err(|e| io(&path, e))?;
        Ok(path)
    }

    /// Copies a cached artifact to `dest` on `node` (base64 chunks into `dest.part`, then
    /// `sha256sum -c` and a rename); a node that already has the file is left alone.
    pub async fn push(&self, pin: &Pin, shell: &dyn RemoteShell, node: &str, dest: &str) -> Result<(), ArtifactError> {
        let path = self.path_of(pin)?;
        let sha = pin.sha256.unwrap_or_default();
        let err = |message: String| ArtifactError::Push { artifact: pin.artifact.into(), node: node.into(), dest: dest.into(), message };
        let run = |script: String| async move {
            let out = shell.run(node, &script).await.map_err(|e| e.to_string())?;
            if out.success() { Ok(out) } else { Err(format!("exit {}: {}", out.exit_status, out.stderr.trim())) }
        };
        let q = super::scripts::sq(dest);
        let present = run(format!("echo '{sha}  '{q} | sha256sum -c --quiet - >/dev/null 2>&1")).await;
        if present.is_ok() {
            return Ok(());
        }
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        run(format!("set -euo pipefail\nmkdir -p \"$(dirname {q})\"\n: > {q}.part\n")).await.map_err(err)?;
        for chunk in bytes.chunks(PUSH_CHUNK) {
            run(format!("set -euo pipefail\nbase64 -d >> {q}.part <<'KUBELAB_B64'\n{}\nKUBELAB_B64\n", base64(chunk)))
                .await
                .map_err(err)?;
        }
        run(format!(
            "set -euo pipefail\necho '{sha}  '{q}.part | sha256sum -c --quiet - || {{ echo 'pushed bytes do not match the pin' >&2; rm -f {q}.part; exit 1; }}\nmv {q}.part {q}\n"
        ))
        .await
        .map_err(err)?;
        Ok(())
    }
}

/// Lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ArtifactError> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Standard base64 with padding (the `base64` crate), wrapped at 76 columns (what `base64 -d` reads).
fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    s.as_bytes().chunks(76).map(|l| std::str::from_utf8(l).expect("base64 is ASCII")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::remote::ExecOutput;
    use crate::remote::fake::FakeShell;

    /// Serves locally made bytes for a URL; optionally stops after `cut` bytes once (interruption).
    struct LocalBytes {
        bytes: Vec<u8>,
        cut: Mutex<Option<usize>>,
        offsets: Mutex<Vec<u64>>,
    }

    impl Downloader for LocalBytes {
        fn download(&self, _url: &str, part: &Path, offset: u64) -> Result<(), String> {
            self.offsets.lock().unwrap().push(offset);
            let end = self.cut.lock().unwrap().take().unwrap_or(self.bytes.len());
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(part).map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut f, &self.bytes[offset as usize..end]).map_err(|e| e.to_string())?;
            if end < self.bytes.len() { Err("connection reset".into()) } else { Ok(()) }
        }
    }

    /// A test artifact made here (not a real download), pinned by its own digest.
    fn local_artifact(len: usize) -> (Vec<u8>, &'static str) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let sha: &'static str = Box::leak(hex::encode(Sha256::digest(&bytes)).into_boxed_str());
        (bytes, sha)
    }

    #[test]
    fn fetch_resumes_an_interrupted_download_and_verifies_it() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, sha) = local_artifact(100_000);
        let pin = Pin { artifact: "test-local-artifact", url: "https://example.invalid/a".into(), sha256: Some(sha) };
        let dl = LocalBytes { bytes: bytes.clone(), cut: Mutex::new(Some(40_000)), offsets: Mutex::default() };
        let cache = ArtifactCache::new(dir.path());
        assert!(matches!(cache.fetch(&pin, &dl), Err(ArtifactError::Download { .. })));
        let path = cache.fetch(&pin, &dl).unwrap();
        assert_eq!(*dl.offsets.lock().unwrap(), vec![0, 40_000]);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        // Cached: no further download.
        cache.fetch(&pin, &dl).unwrap();
        assert_eq!(dl.offsets.lock().unwrap().len(), 2);
    }

    #[test]
    fn fetch_refuses_a_checksum_mismatch_and_unpinned_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = local_artifact(1000);
        let (_, other_sha) = local_artifact(999);
        let pin = Pin { artifact: "test-local-artifact", url: "https://example.invalid/b".into(), sha256: Some(other_sha) };
        let dl = LocalBytes { bytes, cut: Mutex::new(None), offsets: Mutex::default() };
        let cache = ArtifactCache::new(dir.path());
        let e = cache.fetch(&pin, &dl).unwrap_err().to_string();
        assert!(e.contains("sha256 mismatch") && e.contains("refused"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "mismatching bytes were kept");
        let unpinned = Pin { sha256: None, ..pin };
        assert!(matches!(cache.fetch(&unpinned, &dl), Err(ArtifactError::Unpinned { .. })));
    }

    #[test]
    fn base64_matches_the_coreutils_tool() {
        let (bytes, _) = local_artifact(1000);
        let ours = base64(&bytes);
        let out = std::process::Command::new("base64")
            .arg("-w76")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                std::io::Write::write_all(c.stdin.as_mut().unwrap(), &bytes)?;
                drop(c.stdin.take());
                c.wait_with_output()
            })
            .expect("base64 (coreutils) is required");
        assert_eq!(ours, String::from_utf8(out.stdout).unwrap().trim_end());
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[tokio::test]
    async fn push_sends_chunks_then_verifies_on_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, sha) = local_artifact(PUSH_CHUNK * 2 + 10);
        let pin = Pin { artifact: "test-local-artifact", url: "https://example.invalid/c".into(), sha256: Some(sha) };
        let dl = LocalBytes { bytes, cut: Mutex::new(None), offsets: Mutex::default() };
        let cache = ArtifactCache::new(dir.path());
        cache.fetch(&pin, &dl).unwrap();
        let shell = FakeShell::new();
        shell.on("*", "sha256sum -c --quiet - >/dev/null 2>&1", ExecOutput::failed(1, ""));
        cache.push(&pin, &shell, "ICE-k8s-machines-node1", "/var/cache/kubelab/a.bin").await.unwrap();
        let calls = shell.calls();
        assert_eq!(calls.len(), 1 + 1 + 3 + 1);
        assert_eq!(calls.iter().filter(|c| c.script.contains("base64 -d >> '/var/cache/kubelab/a.bin'.part")).count(), 3);
        assert!(calls.last().unwrap().script.contains(&format!("echo '{sha}  ''/var/cache/kubelab/a.bin'.part | sha256sum -c")));
        // Already on the node: only the presence check runs.
        let present = FakeShell::new();
        cache.push(&pin, &present, "n", "/x").await.unwrap();
        assert_eq!(present.calls().len(), 1);
    }
}
