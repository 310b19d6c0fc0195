//! Where a lab's disks live on its hypervisor host. A local libvirt opens this machine's files
//! (the image cache, the lab's pool directory). A remote host sees none of them: the base image,
//! kernel and initrd are uploaded once over libvirt's storage stream API into the host's
//! [`IMAGE_POOL`] (the sha256 of each file in its volume name, so a later lab finds and reuses
//! it), the lab's pool is a directory on that host, and each seed ISO, built here, is uploaded
//! into it. Nothing assumes a shared filesystem.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{Lab, blocking};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml::{self, Boot};
use crate::image::BaseImage;

/// The storage pool on a remote host that keeps uploaded base images across labs (never removed
/// by `down`: it is that host's image cache, as `image_cache` is this machine's).
pub const IMAGE_POOL: &str = "kubelab-images";

/// Where [`IMAGE_POOL`] keeps its files on a remote host.
pub const IMAGE_POOL_DIR: &str = "/var/lib/libvirt/images/kubelab-images";

/// The base image as the hypervisor host sees it.
#[derive(Clone, Debug)]
pub struct HostImage {
    /// Backing store of every overlay (a path on the host).
    pub disk: PathBuf,
    /// How clones boot (kernel and initrd paths on the host).
    pub boot: Boot,
    /// What was done to get there, for the progress line.
    pub how: String,
}

/// The volume name a file gets in [`IMAGE_POOL`]: the first 16 hex digits of its sha256, then
/// its file name (`3f1c…-base.qcow2`). Equal names mean equal contents.
pub fn image_volume_name(sha256_hex: &str, file: &Path) -> String {
    let base = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{}-{base}", &sha256_hex[..16.min(sha256_hex.len())])
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

impl Lab {
    /// Whether the lab's libvirt is on another host (its URI names one).
    pub fn on_remote_host(&self) -> bool {
        crate::hypervisor::is_remote_uri(&self.hv.uri())
    }

    /// The lab pool's directory as its host sees it.
    pub(super) fn pool_target(&self) -> PathBuf {
        if self.on_remote_host() {
            PathBuf::from(format!("/var/lib/libvirt/images/kubelab-lab-{}", self.cfg.name))
        } else {
            self.pool_dir()
        }
    }

    /// The serial console log of a node as its host writes it (libvirt's `<log file>`): in the
    /// lab's state directory on a local host, in the host's own libvirt log directory on a remote
    /// one (read there through the console stream, see `readiness`).
    pub(super) fn console_log_on_host(&self, node: &str, domain: &str) -> PathBuf {
        if self.on_remote_host() { PathBuf::from(format!("/var/log/libvirt/qemu/{domain}-console.log")) } else { self.console_log(node) }
    }

    /// Where a node's seed ISO is built here: in the pool directory for a local host (libvirt
    /// opens it there), in the state directory for a remote one (uploaded by [`Lab::place_seed`]).
    pub(super) fn seed_build_path(&self, node: &str) -> PathBuf {
        if self.on_remote_host() {
            self.cfg.lab_dir().join("seeds").join(format!("{node}-seed.iso"))
        } else {
            self.pool_dir().join(format!("{node}-seed.iso"))
        }
    }

    /// The seed ISO as the host sees it: the local file itself, or the volume it was uploaded to
    /// in the lab's pool on a remote host.
    pub(super) async fn place_seed(&self, node: &str, iso: &Path) -> Result<PathBuf, LabError> {
        if !self.on_remote_host() {
            return Ok(iso.to_path_buf());
        }
        let (hv, pool, file, name) = (self.hv.clone(), self.pool_name(), iso.to_path_buf(), format!("{node}-seed.iso"));
        let vol = blocking(move || hv.upload_volume(&pool, &name, "raw", &file)).await?;
        // The local copy holds the node's private host key: the host has it now.
        std::fs::remove_file(iso).map_err(|e| LabError::local(format!("remove {}", iso.display()), e))?;
        Ok(PathBuf::from(vol.path))
    }

    /// The base image, kernel and initrd as the host sees them. A remote host gets each file
    /// uploaded into [`IMAGE_POOL`] unless a volume with its checksum's name is already there.
    pub(super) async fn host_image(&self, base: &BaseImage) -> Result<HostImage, LabError> {
        if !self.on_remote_host() {
            return Ok(HostImage { disk: base.disk.clone(), boot: base.boot.clone(), how: "local files".into() });
        }
        let hv = self.hv.clone();
        let pool_xml = xml::pool_xml(IMAGE_POOL, Path::new(IMAGE_POOL_DIR));
        blocking(move || -> Result<(), HypervisorError> {
            if !hv.pools()?.iter().any(|p| p == IMAGE_POOL) {
                hv.create_pool(&pool_xml)?;
            }
            Ok(())
        })
        .await?;
        let mut how = Vec::new();
        let disk = self.image_volume(&base.disk, &mut how).await?;
        let boot = match &base.boot {
            Boot::Kernel { kernel, initrd, cmdline } => Boot::Kernel {
                kernel: self.image_volume(kernel, &mut how).await?,
                initrd: self.image_volume(initrd, &mut how).await?,
                cmdline: cmdline.clone(),
            },
            Boot::Disk => Boot::Disk,
        };
        let uri = self.hv.uri();
        let host = uri.split('?').next().unwrap_or_default();
        Ok(HostImage { disk, boot, how: format!("{IMAGE_POOL} on {host}: {}", how.join(", ")) })
    }

    /// The path on the remote host of `file`'s volume in [`IMAGE_POOL`], uploaded unless a
    /// volume of the same name (the same checksum) is there; says which in `how`.
    async fn image_volume(&self, file: &Path, how: &mut Vec<String>) -> Result<PathBuf, LabError> {
        let t0 = Instant::now();
        let f = file.to_path_buf();
        let sum = blocking(move || sha256_file(&f)).await.map_err(|e| LabError::local(format!("read {}", file.display()), e))?;
        let name = image_volume_name(&sum, file);
        let (hv, n, f) = (self.hv.clone(), name.clone(), file.to_path_buf());
        let (vol, uploaded) = blocking(move || -> Result<_, HypervisorError> {
            if let Some(v) = hv.volumes(IMAGE_POOL)?.into_iter().find(|v| v.name == n) {
                return Ok((v, false));
            }
            let format = if n.ends_with(".qcow2") { "qcow2" } else { "raw" };
            Ok((hv.upload_volume(IMAGE_POOL, &n, format, &f)?, true))
        })
        .await?;
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let verb = if uploaded { "uploaded" } else { "reused" };
        how.push(format!("{name} {verb} in {:.1} s ({} MiB)", t0.elapsed().as_secs_f64(), size >> 20));
        Ok(PathBuf::from(vol.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_volume_names_carry_the_checksum_and_the_file_name() {
        let sum = sha256_file(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lab/host_storage.rs"))).unwrap();
        assert_eq!(sum.len(), 64);
        let n = image_volume_name(&sum, Path::new("/cache/offline-x/base.qcow2"));
        assert_eq!(n, format!("{}-base.qcow2", &sum[..16]));
        // Another content, another name.
        let other = sha256_file(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))).unwrap();
        assert_ne!(image_volume_name(&other, Path::new("base.qcow2")), image_volume_name(&sum, Path::new("base.qcow2")));
    }
}
