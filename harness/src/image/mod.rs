//! Base images: the offline Debian 12 image kubelab builds itself (recipe embedded in the
//! binary, cache keyed by the recipe's hash) and the guide profile's Ubuntu 20.04 cloud image
//! (downloaded and checksum-verified when online). Main type: [`BaseImage`].

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::config::{LabConfig, Profile};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml::Boot;

/// The offline image recipe, embedded so an installed binary can build the image.
pub const OFFLINE_RECIPE: &str = include_str!("../../../images/offline/recipe.sh");

/// Default kernel command line for the offline image (overridden by its manifest).
pub const OFFLINE_CMDLINE: &str = "root=/dev/vda rw console=ttyS0,115200n8 net.ifnames=0 biosdevname=0";

/// The guide profile's image: Ubuntu 20.04 release serial, pinned (see shared artifacts notes).
pub const GUIDE_IMAGE_URL: &str =
    "https://cloud-images.ubuntu.com/releases/focal/release-20250624/ubuntu-20.04-server-cloudimg-amd64.img";
/// sha256 of [`GUIDE_IMAGE_URL`].
pub const GUIDE_IMAGE_SHA256: &str = "18f2977d77dfea1b74aee14533bd21c34f789139e949c57023b7364894b7e5e9";

/// A base image ready to be cloned.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// Disk image (backing store of every clone).
    pub disk: PathBuf,
    /// Its format (`qcow2`).
    pub format: String,
    /// How clones boot.
    pub boot: Boot,
    /// Virtual size in bytes (capacity of each overlay).
    pub virtual_size: u64,
}

/// First 12 hex digits of sha256(recipe): the offline image's cache key.
pub fn offline_recipe_hash() -> String {
    hex::encode(Sha256::digest(OFFLINE_RECIPE.as_bytes()))[..12].to_string()
}

/// Cache directory of the offline image for this recipe.
pub fn offline_dir(cfg: &LabConfig) -> PathBuf {
    cfg.image_cache.join(format!("offline-{}", offline_recipe_hash()))
}

/// Cache directory of the guide image.
pub fn guide_path(cfg: &LabConfig) -> PathBuf {
    cfg.image_cache.join("ubuntu-20.04").join("ubuntu-20.04-server-cloudimg-amd64.img")
}

fn base_err(path: &Path, message: impl Into<String>) -> HypervisorError {
    HypervisorError::BaseImage { path: path.display().to_string(), message: message.into() }
}

/// Virtual size and format of an image (`qemu-img info`).
pub fn qemu_img_info(path: &Path) -> Result<(u64, String), HypervisorError> {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .map_err(|e| base_err(path, format!("cannot run qemu-img (apt-get install qemu-utils): {e}")))?;
    if !out.status.success() {
        return Err(base_err(path, String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| base_err(path, e.to_string()))?;
    let size = v["virtual-size"].as_u64().ok_or_else(|| base_err(path, "qemu-img reported no virtual-size"))?;
    Ok((size, v["format"].as_str().unwrap_or("raw").to_string()))
}

fn readable(path: &Path) -> Result<(), HypervisorError> {
    std::fs::File::open(path).map(|_| ()).map_err(|e| base_err(path, e.to_string()))
}

/// Finds the base image for the config's profile and checks it is usable (no side effects).
pub fn resolve(cfg: &LabConfig) -> Result<BaseImage, HypervisorError> {
    match cfg.profile {
        Profile::Offline => {
            let dir = match &cfg.base_image {
                Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
                None => offline_dir(cfg),
            };
            let disk = cfg.base_image.clone().unwrap_or_else(|| dir.join("base.qcow2"));
            readable(&disk)?;
            let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
            readable(&kernel)?;
            readable(&initrd)?;
            let cmdline = std::fs::read_to_string(dir.join("manifest.json"))
                .ok()
                .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
                .and_then(|m| m["cmdline"].as_str().map(str::to_string))
                .unwrap_or_else(|| OFFLINE_CMDLINE.to_string());
            let (virtual_size, format) = qemu_img_info(&disk)?;
            Ok(BaseImage { disk, format, boot: Boot::Kernel { kernel, initrd, cmdline }, virtual_size })
        }
        Profile::Guide => {
            let disk = cfg.base_image.clone().unwrap_or_else(|| guide_path(cfg));
            readable(&disk).map_err(|_| {
                base_err(&disk, "not downloaded; run `kubelab image fetch guide` on a machine with internet")
            })?;
            let (size, format) = qemu_img_info(&disk)?;
            // Ubuntu's 2.2 GiB image is too small for Docker images; clones get 20 GiB.
            Ok(BaseImage { disk, format, boot: Boot::Disk, virtual_size: size.max(20 << 30) })
        }
    }
}

/// Builds the offline image into its cache directory (no-op when already built unless `force`).
/// Returns the directory. The recipe runs from a temporary copy; the result is moved into place
/// only when complete, so an interrupted build never leaves a half image in the cache.
pub fn build_offline(cfg: &LabConfig, force: bool) -> Result<PathBuf, LabError> {
    let dir = offline_dir(cfg);
    if dir.join("manifest.json").exists() && !force {
        return Ok(dir);
    }
    std::fs::create_dir_all(&cfg.image_cache).map_err(|e| LabError::local(format!("create {}", cfg.image_cache.display()), e))?;
    let tmp = cfg.image_cache.join(format!(".offline-{}.building", offline_recipe_hash()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| LabError::local("create build dir", e))?;
    let recipe = tmp.join("recipe.sh");
    std::fs::write(&recipe, OFFLINE_RECIPE).map_err(|e| LabError::local("write recipe", e))?;
    let out_dir = tmp.join("out");
    let status = Command::new("bash")
        .arg(&recipe)
        .arg(&out_dir)
        .status()
        .map_err(|e| LabError::local("run image recipe", e))?;
    if !status.success() {
        return Err(LabError::local("build offline image", format!("recipe exited with {status}; see the [recipe] lines above")));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| LabError::local(format!("remove old {}", dir.display()), e))?;
    }
    std::fs::rename(&out_dir, &dir).map_err(|e| LabError::local(format!("move image into {}", dir.display()), e))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(dir)
}

/// Downloads and verifies the guide profile's Ubuntu image (needs internet).
pub fn fetch_guide(cfg: &LabConfig) -> Result<PathBuf, LabError> {
    let dest = guide_path(cfg);
    if dest.exists() && sha256_file(&dest)? == GUIDE_IMAGE_SHA256 {
        return Ok(dest);
    }
    let parent = dest.parent().expect("has parent");
    std::fs::create_dir_all(parent).map_err(|e| LabError::local("create image cache", e))?;
    let part = dest.with_extension("img.part");
    let status = Command::new("curl")
        .args(["-fL", "--retry", "3", "-C", "-", "-o"])
        .arg(&part)
        .arg(GUIDE_IMAGE_URL)
        .status()
        .map_err(|e| LabError::local("run curl (apt-get install curl)", e))?;
    if !status.success() {
        return Err(LabError::local(format!("download {GUIDE_IMAGE_URL}"), format!("curl exited with {status}; the guide profile needs internet")));
    }
    let got = sha256_file(&part)?;
    if got != GUIDE_IMAGE_SHA256 {
        let _ = std::fs::remove_file(&part);
        return Err(LabError::local("verify guide image", format!("sha256 {got} != pinned {GUIDE_IMAGE_SHA256}")));
    }
    std::fs::rename(&part, &dest).map_err(|e| LabError::local("move guide image", e))?;
    Ok(dest)
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, LabError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| LabError::local(format!("open {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| LabError::local(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_follows_the_recipe() {
        let h = offline_recipe_hash();
        assert_eq!(h.len(), 12);
        assert!(offline_dir(&LabConfig::default()).ends_with(format!("offline-{h}")));
    }

    #[test]
    fn missing_image_names_the_path_and_the_fix() {
        let d = tempfile::tempdir().unwrap();
        let cfg = LabConfig { image_cache: d.path().to_path_buf(), ..LabConfig::default() };
        let e = resolve(&cfg).unwrap_err().to_string();
        assert!(e.contains("base.qcow2") && e.contains("kubelab image build offline"), "{e}");
        let cfg = LabConfig { profile: Profile::Guide, ..cfg };
        let e = resolve(&cfg).unwrap_err().to_string();
        assert!(e.contains("kubelab image fetch guide"), "{e}");
    }
}
