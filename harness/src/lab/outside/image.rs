//! The one image the outside registry holds: a real Docker image manifest v2 (schema 2) made by
//! kubelab from the host's static busybox — one gzip'd layer tar (`bin/busybox`, `bin/sh` →
//! busybox), an image config and the manifest naming both by digest.

use std::io::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Media type of the manifest (Docker distribution manifest v2, schema 2).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of the config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.container.image.v1+json";
/// Media type of the layer blob.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A blob with its digest (`sha256:<hex>`).
#[derive(Clone, Debug)]
pub struct Blob {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Self {
        Blob { digest: sha256(&bytes), bytes }
    }
}

/// The image: layer, config and manifest.
#[derive(Clone, Debug)]
pub struct Image {
    /// gzip'd layer tar.
    pub layer: Blob,
    /// Image config JSON.
    pub config: Blob,
    /// Manifest JSON (its digest is the image's content address in the registry).
    pub manifest: Blob,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Builds the image from a statically linked busybox binary at `busybox` (Debian's
/// `busybox-static`: /bin/busybox). Deterministic: the same binary gives the same digests.
pub fn build(busybox: &Path) -> std::io::Result<Image> {
    let bin = std::fs::read(busybox)?;
    if !bin.starts_with(b"\x7fELF") {
        return Err(std::io::Error::other(format!("{} is not an ELF binary", busybox.display())));
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    tar.append_data(&mut dir, "bin/", std::io::empty())?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bin.len() as u64);
    h.set_mtime(0);
    tar.append_data(&mut h, "bin/busybox", bin.as_slice())?;
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_mode(0o777);
    l.set_size(0);
    l.set_mtime(0);
    tar.append_link(&mut l, "bin/sh", "busybox")?;
    let raw = tar.into_inner()?;
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)?;
    let layer = Blob::new(gz.finish()?);
    let config = Blob::new(
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["/bin/sh"], "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
            "history": [{ "created_by": "kubelab: busybox-static as /bin/busybox, /bin/sh -> busybox" }]
        }))
        .expect("serialisable"),
    );
    let manifest = Blob::new(
        serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": { "mediaType": CONFIG_MEDIA_TYPE, "size": config.bytes.len(), "digest": config.digest },
            "layers": [{ "mediaType": LAYER_MEDIA_TYPE, "size": layer.bytes.len(), "digest": layer.digest }]
        }))
        .expect("serialisable"),
    );
    Ok(Image { layer, config, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_image_is_a_layer_a_config_and_a_manifest_naming_them_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let fake_bin = dir.path().join("busybox");
        std::fs::write(&fake_bin, b"\x7fELF not really busybox").unwrap();
        let a = build(&fake_bin).unwrap();
        let b = build(&fake_bin).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest, "deterministic");
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.bytes).unwrap();
        assert_eq!(m["config"]["digest"], a.config.digest.as_str());
        assert_eq!(m["layers"][0]["digest"], a.layer.digest.as_str());
        assert_eq!(m["layers"][0]["size"], a.layer.bytes.len());
        // The layer unpacks to bin/busybox (the bytes given) and bin/sh -> busybox, and the
        // config's diff_id is the digest of the uncompressed tar.
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(a.layer.bytes.as_slice()).read_to_end(&mut raw).unwrap();
        let c: serde_json::Value = serde_json::from_slice(&a.config.bytes).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"][0], sha256(&raw).as_str());
        let mut ar = tar::Archive::new(raw.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            seen.push((path, link, body.len()));
        }
        assert_eq!(seen, vec![("bin/".into(), None, 0), ("bin/busybox".into(), None, 23), ("bin/sh".into(), Some("busybox".into()), 0)]);
        std::fs::write(&fake_bin, b"#!/bin/sh\n").unwrap();
        assert!(build(&fake_bin).is_err(), "a script is not a static binary");
    }
}
