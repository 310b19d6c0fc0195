//! libvirt's streams for a host that shares no filesystem with kubelab: uploading a file into a
//! storage volume (`virStorageVolUpload`) and reading a domain's serial console
//! (`virDomainOpenConsole`) in the background.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use virt::connect::Connect;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use super::libvirt::{LibvirtError, err};
use super::{HvResult, VolumeInfo, xml};
use crate::errors::{HypervisorError, context};

/// How much of the file one `virStreamSend` carries.
const CHUNK: usize = 4 << 20;

/// Creates `name` in `pool` and fills it from `file` over a blocking stream; deletes the volume
/// again when anything fails.
pub(super) fn upload(conn: &Connect, pool: &str, name: &str, format: &str, file: &std::path::Path) -> HvResult<VolumeInfo> {
    let op = format!("upload {} to volume {pool}/{name}", file.display());
    let local = |e: std::io::Error| HypervisorError::Call { op: op.clone(), source: context(format!("read {}", file.display()), e) };
    let mut f = std::fs::File::open(file).map_err(local)?;
    let len = f.metadata().map_err(local)?.len();
    let p = conn.lookup_storage_pool_by_name(pool).map_err(err(format!("lookup pool {pool}")))?;
    let vol =
        StorageVol::create_xml(&p, &xml::upload_volume_xml(name, format, len), 0).map_err(err(format!("create volume {pool}/{name}")))?;
    let filled = (|| -> HvResult<()> {
        let stream = Stream::new(conn, 0).map_err(err(op.clone()))?;
        vol.upload(&stream, 0, len, 0).map_err(err(op.clone()))?;
        let mut buf = vec![0u8; CHUNK];
        let sent = (|| -> HvResult<()> {
            loop {
                let n = f.read(&mut buf).map_err(local)?;
                if n == 0 {
                    return Ok(());
                }
                let mut off = 0;
                while off < n {
                    let w = stream.send(&buf[off..n]).map_err(err(op.clone()))?;
                    off += usize::try_from(w).unwrap_or(0).max(1).min(n - off);
                }
            }
        })();
        match sent {
            Ok(()) => stream.finish().map_err(err(op.clone())),
            Err(e) => {
                let _ = stream.abort();
                Err(e)
            }
        }
    })();
    if let Err(e) = filled {
        let _ = vol.delete(0);
        return Err(e);
    }
    Ok(VolumeInfo { name: vol.name().map_err(err("volume name"))?, path: vol.path().map_err(err("volume path"))? })
}

/// One domain's console, read by a thread until the stream ends.
struct Reader {
    bytes: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

/// The consoles being read, by domain name.
#[derive(Default)]
pub(super) struct Consoles {
    readers: Mutex<HashMap<String, Reader>>,
}

impl Consoles {
    /// Bytes read so far from `domain`'s console; opens it (and starts its reader) when no
    /// reader runs for it.
    pub(super) fn bytes(&self, conn: &Connect, domain: &str) -> HvResult<u64> {
        let mut readers = self.readers.lock().expect("poisoned");
        if let Some(r) = readers.get(domain)
            && !r.done.load(Ordering::SeqCst)
        {
            return Ok(r.bytes.load(Ordering::SeqCst));
        }
        let d = conn.lookup_domain_by_name(domain).map_err(err(format!("lookup domain {domain}")))?;
        let stream = Stream::new(conn, 0).map_err(err(format!("open the console of {domain}")))?;
        // FORCE: take the console over from a reader left by an earlier call or a `virsh console`.
        d.open_console(None, &stream, virt::sys::VIR_DOMAIN_CONSOLE_FORCE).map_err(err(format!("open the console of {domain}")))?;
        let (bytes, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (b, fin, name) = (bytes.clone(), done.clone(), domain.to_string());
        std::thread::Builder::new()
            .name(format!("console-{domain}"))
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.recv(&mut buf) {
                        Ok(n) if n > 0 => {
                            b.fetch_add(n as u64, Ordering::SeqCst);
                        }
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(domain = %name, error = %LibvirtError::from(e), "console stream ended");
                            break;
                        }
                    }
                }
                let _ = stream.abort();
                fin.store(true, Ordering::SeqCst);
            })
            .map_err(|e| HypervisorError::Call { op: format!("read the console of {domain}"), source: Box::new(e) })?;
        readers.insert(domain.to_string(), Reader { bytes, done });
        Ok(0)
    }

    /// Forgets `domain`'s reader (its domain stopped or went away): the next call opens anew.
    pub(super) fn forget(&self, domain: &str) {
        self.readers.lock().expect("poisoned").remove(domain);
    }
}
