//! `kubelab bench …`: each benchmark prints a ratio against a baseline measured in the same run.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kubelab::config::LabConfig;
use kubelab::hypervisor::{self, xml};

use super::errors::ExpectedError;

fn other(e: impl std::fmt::Display) -> ExpectedError {
    ExpectedError::Other(anyhow::anyhow!("{e}"))
}

/// Writes `gib` GiB of incompressible data as a qcow2 base image (a realistic, fully allocated base).
fn make_base(dir: &Path, gib: u64) -> Result<std::path::PathBuf, ExpectedError> {
    let raw = dir.join("base.raw");
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&raw).map_err(other)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ gib;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..gib * 1024 {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).map_err(other)?;
    }
    f.flush().map_err(other)?;
    drop(f);
    let qcow = dir.join("base.qcow2");
    let st = Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&qcow).status().map_err(other)?;
    if !st.success() {
        return Err(other("qemu-img convert failed"));
    }
    std::fs::remove_file(&raw).map_err(other)?;
    Ok(qcow)
}

/// Linked clones (kubelab) vs `virt-clone` full copies, 3 nodes each, for each base size.
pub async fn clone(cfg: &LabConfig, sizes: &[u64]) -> Result<(), ExpectedError> {
    let hv = hypervisor::open(&cfg.libvirt_uri)?;
    let root = cfg.image_cache.parent().unwrap_or(Path::new("/var/cache/kubelab")).join("bench-clone");
    println!("bench clone: 3 linked qcow2 overlays (kubelab) vs 3 virt-clone full copies, same base, same run");
    println!("{:>8} {:>14} {:>14} {:>10}", "base", "kubelab (ms)", "virt-clone (ms)", "ratio");
    for &gib in sizes {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(other)?;
        let base = make_base(&root, gib)?;
        let pool = "kubelab-bench-pool";
        let _ = hv.remove_pool(pool);
        hv.create_pool(&xml::pool_xml(pool, &root))?;
        let (size, fmt) = kubelab::image::qemu_img_info(&base)?;
        let t = Instant::now();
        for i in 0..3 {
            hv.create_volume(pool, &xml::overlay_volume_xml(&format!("linked{i}.qcow2"), &base, &fmt, size))?;
        }
        let linked = t.elapsed();
        // virt-clone needs an original domain (shut off) owning the base disk.
        let orig = "kubelab-bench-orig";
        let dom = format!(
            "<domain type='qemu'><name>{orig}</name><memory unit='MiB'>256</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
            base.display()
        );
        let _ = hv.undefine_domain(orig);
        hv.define_domain(&dom)?;
        let t = Instant::now();
        let mut failure = None;
        for i in 0..3 {
            let out = Command::new("virt-clone")
                .args(["--connect", &cfg.libvirt_uri, "--original", orig, "--name", &format!("kubelab-bench-full{i}"), "--file"])
                .arg(root.join(format!("full{i}.qcow2")))
                .args(["--check", "all=off"])
                .output()
                .map_err(|e| other(format!("run virt-clone (apt-get install virtinst): {e}")))?;
            if !out.status.success() {
                failure = Some(String::from_utf8_lossy(&out.stderr).into_owned());
                break;
            }
        }
        let full = t.elapsed();
        for i in 0..3 {
            let _ = hv.undefine_domain(&format!("kubelab-bench-full{i}"));
        }
        let _ = hv.undefine_domain(orig);
        for v in hv.volumes(pool).unwrap_or_default() {
            let _ = hv.delete_volume(pool, &v.name);
        }
        let _ = hv.remove_pool(pool);
        let _ = std::fs::remove_dir_all(&root);
        if let Some(f) = failure {
            return Err(other(format!("virt-clone failed: {f}")));
        }
        println!(
            "{:>6}GiB {:>14.1} {:>14.1} {:>9.0}x",
            gib,
            linked.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() / linked.as_secs_f64().max(1e-9)
        );
    }
    println!("goal: >= 50x on a 4 GiB base, and the kubelab column flat across sizes");
    Ok(())
}
