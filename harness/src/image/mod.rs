//! Base images: the offline Debian 12 image kubelab builds itself (recipe embedded in the
//! binary, cache keyed by the recipe's hash) and the guide profile's Ubuntu 20.04 cloud image
//! (downloaded and checksum-verified when online). Main type: [`BaseImage`].

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::{LabConfig, Profile};
use crate::errors::{HypervisorError, LabError};
use crate::hypervisor::xml::Boot;
use crate::process::{CommandRunner, CommandSpec, SystemRunner};

/// The offline image recipe, embedded so an installed binary can build the image.
pub const OFFLINE_RECIPE: &str = include_str!("../../../images/offline/recipe.sh");

/// Default kernel command line for the offline image (overridden by its manifest).
pub const OFFLINE_CMDLINE: &str = "root=/dev/vda rw console=ttyS0,115200n8 net.ifnames=0 biosdevname=0";

/// The guide profile's image: Ubuntu 20.04 release serial, pinned (see shared artifacts notes).
pub const GUIDE_IMAGE_URL: &str = "https://cloud-images.ubuntu.com/releases/focal/release-20250624/ubuntu-20.04-server-cloudimg-amd64.img";
/// sha256 of [`GUIDE_IMAGE_URL`].
pub const GUIDE_IMAGE_SHA256: &str = "18f2977d77dfea1b74aee14533bd21c34f789139e949c57023b7364894b7e5e9";

/// How long `kubelab image build` waits for the Debian archive before it gives up.
pub const ARCHIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The Debian archive the offline recipe downloads from (the recipe's `MIRROR=` line).
pub fn offline_archive() -> &'static str {
    OFFLINE_RECIPE.lines().find_map(|l| l.strip_prefix("MIRROR=")).map(str::trim).expect("recipe.sh sets MIRROR=")
}

/// `host:port` a download of `url` connects to first: the HTTP proxy when one is set
/// (`http_proxy` / `HTTP_PROXY`, as apt and debootstrap honour them), else the URL's host.
pub fn first_hop(url: &str) -> Option<(String, u16)> {
    let proxy = ["http_proxy", "HTTP_PROXY"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    first_hop_via(url, proxy.as_deref())
}

/// [`first_hop`] with the proxy given.
pub fn first_hop_via(url: &str, proxy: Option<&str>) -> Option<(String, u16)> {
    let target = proxy.unwrap_or(url);
    let (scheme, rest) = target.split_once("://").unwrap_or(("http", target));
    let authority = rest.split(['/', '?']).next()?.rsplit('@').next()?;
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (h, after) = bracketed.split_once(']')?;
        (
            h,
            match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None => default,
            },
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default),
        }
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// Whether `url`'s first hop accepts a TCP connection within `timeout` (name resolution
/// included). `Err` says what failed, in one line.
pub fn reachable(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let (host, port) = first_hop(url).ok_or_else(|| format!("cannot parse {url}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let h = host.clone();
    // getaddrinfo has no timeout of its own.
    std::thread::spawn(move || {
        let _ = tx.send((h.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(a)) if !a.is_empty() => a,
        Ok(Ok(_)) => return Err(format!("{host} resolves to no address")),
        Ok(Err(e)) => return Err(format!("cannot resolve {host}: {e}")),
        Err(_) => return Err(format!("resolving {host} took more than {} s", timeout.as_secs())),
    };
    let mut last = String::new();
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    Err(last)
}

/// Fails fast, with the cause and the fix, when the Debian archive cannot be reached from
/// where kubelab runs (e.g. inside the lab's network namespace, which has no way out).
pub fn check_archive_reachable() -> Result<(), LabError> {
    let url = offline_archive();
    reachable(url, ARCHIVE_TIMEOUT).map_err(|why| {
        LabError::local(
            "build offline image",
            format!(
                "the Debian archive {url} cannot be reached from here ({why}); build the image where it can: \
                 run `kubelab image build offline` outside the lab's network namespace (ci/lab does so before it enters it)"
            ),
        )
    })
}

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
    qemu_img_info_with(path, &SystemRunner)
}

/// [`qemu_img_info`] with `qemu-img` through `runner`.
pub fn qemu_img_info_with(path: &Path, runner: &dyn CommandRunner) -> Result<(u64, String), HypervisorError> {
    let spec = CommandSpec::new("qemu-img", &["info", "--output=json", "-U", &path.display().to_string()]);
    let out = runner.run(&spec).map_err(|e| base_err(path, format!("cannot run qemu-img (apt-get install qemu-utils): {e}")))?;
    if !out.success() {
        return Err(base_err(path, out.stderr.trim().to_string()));
    }
    let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| base_err(path, e.to_string()))?;
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
            readable(&disk).map_err(|_| base_err(&disk, "not downloaded; run `kubelab image fetch guide` on a machine with internet"))?;
            let (size, format) = qemu_img_info(&disk)?;
            // Ubuntu's 2.2 GiB image is too small for Docker images; clones get 20 GiB.
            Ok(BaseImage { disk, format, boot: Boot::Disk, virtual_size: size.max(20 << 30) })
        }
    }
}

/// How long the offline recipe (debootstrap and the image assembly) may run.
pub const RECIPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3 * 3600);
/// How long the guide image download may take.
pub const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// Builds the offline image into its cache directory (no-op when already built unless `force`).
/// Returns the directory. Refuses early when the Debian archive is unreachable, then runs
/// [`build_offline_with`] on the real host.
pub fn build_offline(cfg: &LabConfig, force: bool) -> Result<PathBuf, LabError> {
    if offline_dir(cfg).join("manifest.json").exists() && !force {
        return Ok(offline_dir(cfg));
    }
    check_archive_reachable()?;
    build_offline_with(cfg, force, &SystemRunner)
}

/// [`build_offline`] with its tools (`bash recipe.sh`, which runs debootstrap, qemu-img, …)
/// through `runner`. The recipe runs from a temporary copy and writes into a temporary
/// directory; the result is moved into place only when complete, and the temporary directory
/// is removed whatever happens, so a failed build never leaves a half image in the cache. The
/// recipe's output is printed when it ends (the runner captures it).
pub fn build_offline_with(cfg: &LabConfig, force: bool, runner: &dyn CommandRunner) -> Result<PathBuf, LabError> {
    let dir = offline_dir(cfg);
    if dir.join("manifest.json").exists() && !force {
        return Ok(dir);
    }
    std::fs::create_dir_all(&cfg.image_cache).map_err(|e| LabError::local(format!("create {}", cfg.image_cache.display()), e))?;
    let tmp = cfg.image_cache.join(format!(".offline-{}.building", offline_recipe_hash()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = build_in(&tmp, &dir, runner);
    let _ = std::fs::remove_dir_all(&tmp);
    built.map(|()| dir)
}

fn build_in(tmp: &Path, dir: &Path, runner: &dyn CommandRunner) -> Result<(), LabError> {
    std::fs::create_dir_all(tmp).map_err(|e| LabError::local("create build dir", e))?;
    let recipe = tmp.join("recipe.sh");
    std::fs::write(&recipe, OFFLINE_RECIPE).map_err(|e| LabError::local("write recipe", e))?;
    let out_dir = tmp.join("out");
    let spec = CommandSpec {
        program: "bash".into(),
        args: vec![recipe.display().to_string(), out_dir.display().to_string()],
        timeout: RECIPE_TIMEOUT,
    };
    eprintln!("[image] building the offline image with {} (debootstrap; minutes; its output follows when it ends)", recipe.display());
    let out = runner.run(&spec).map_err(|e| LabError::local("run image recipe", e))?;
    eprint!("{}{}", out.stdout, out.stderr);
    if !out.success() {
        let how =
            if out.timed_out { format!("timed out after {} s", RECIPE_TIMEOUT.as_secs()) } else { format!("exited with {:?}", out.code) };
        return Err(LabError::local("build offline image", format!("recipe {how}: {}", out.first_message_line())));
    }
    if !out_dir.join("manifest.json").exists() {
        return Err(LabError::local("build offline image", format!("the recipe wrote no {}", out_dir.join("manifest.json").display())));
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| LabError::local(format!("remove old {}", dir.display()), e))?;
    }
    std::fs::rename(&out_dir, dir).map_err(|e| LabError::local(format!("move image into {}", dir.display()), e))
}

/// Downloads and verifies the guide profile's Ubuntu image (needs internet).
pub fn fetch_guide(cfg: &LabConfig) -> Result<PathBuf, LabError> {
    fetch_guide_with(cfg, &SystemRunner)
}

/// [`fetch_guide`] with `curl` through `runner`.
pub fn fetch_guide_with(cfg: &LabConfig, runner: &dyn CommandRunner) -> Result<PathBuf, LabError> {
    let dest = guide_path(cfg);
    if dest.exists() && sha256_file(&dest)? == GUIDE_IMAGE_SHA256 {
        return Ok(dest);
    }
    let parent = dest.parent().expect("has parent");
    std::fs::create_dir_all(parent).map_err(|e| LabError::local("create image cache", e))?;
    let part = dest.with_extension("img.part");
    let spec = CommandSpec {
        program: "curl".into(),
        args: ["-fL", "--retry", "3", "-C", "-", "-o", &part.display().to_string(), GUIDE_IMAGE_URL].map(String::from).to_vec(),
        timeout: DOWNLOAD_TIMEOUT,
    };
    let out = runner.run(&spec).map_err(|e| LabError::local("run curl (apt-get install curl)", e))?;
    if !out.success() {
        return Err(LabError::local(
            format!("download {GUIDE_IMAGE_URL}"),
            format!("curl exited with {:?}: {}; the guide profile needs internet", out.code, out.first_message_line()),
        ));
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
    use crate::process::fake::FakeRunner;
    use crate::process::{CommandError, CommandOutput};

    fn cache_cfg(dir: &Path) -> LabConfig {
        LabConfig { image_cache: dir.join("images"), ..LabConfig::default() }
    }

    /// What the cache holds besides the finished image: nothing may be left of a build.
    fn leftovers(cfg: &LabConfig) -> Vec<String> {
        std::fs::read_dir(&cfg.image_cache)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn build_runs_the_recipe_through_the_runner_then_moves_its_output_into_place() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cache_cfg(t.path());
        let r = FakeRunner::new();
        // The recipe's effect: its output directory with a manifest.
        r.respond(|spec| {
            let out = PathBuf::from(&spec.args[1]);
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("manifest.json"), "{}").unwrap();
            Some(Ok(CommandOutput { code: Some(0), stdout: "[recipe] done\n".into(), ..Default::default() }))
        });
        let dir = build_offline_with(&cfg, false, &r).unwrap();
        assert_eq!(dir, offline_dir(&cfg));
        let tmp = cfg.image_cache.join(format!(".offline-{}.building", offline_recipe_hash()));
        let want = vec![format!("bash {} {}", tmp.join("recipe.sh").display(), tmp.join("out").display())];
        assert_eq!(r.lines(), want);
        assert_eq!(r.calls()[0].timeout, RECIPE_TIMEOUT);
        assert!(dir.join("manifest.json").exists());
        assert_eq!(leftovers(&cfg), vec![dir.file_name().unwrap().to_string_lossy().into_owned()]);
        // Built already: nothing runs again unless forced.
        build_offline_with(&cfg, false, &r).unwrap();
        assert_eq!(r.lines().len(), 1);
        build_offline_with(&cfg, true, &r).unwrap();
        assert_eq!(r.lines().len(), 2);
    }

    #[test]
    fn a_failing_recipe_is_an_error_naming_it_and_leaves_no_half_image() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cache_cfg(t.path());
        let r = FakeRunner::new();
        // debootstrap fails half-way: the output directory exists but is incomplete.
        r.respond(|spec| {
            std::fs::create_dir_all(PathBuf::from(&spec.args[1]).join("rootfs")).unwrap();
            Some(Ok(CommandOutput {
                code: Some(1),
                stderr: "E: debootstrap failed: couldn't download packages\n".into(),
                ..Default::default()
            }))
        });
        let e = build_offline_with(&cfg, false, &r).unwrap_err();
        assert!(matches!(e, LabError::Local { .. }), "{e:?}");
        let line = crate::errors::error_chain(&e);
        assert!(line.starts_with("build offline image: recipe exited with Some(1): E: debootstrap failed"), "{line}");
        assert_eq!(leftovers(&cfg), Vec::<String>::new(), "the half-built dir is removed");
        assert!(!offline_dir(&cfg).exists());
    }

    #[test]
    fn a_missing_tool_or_an_empty_result_leaves_no_half_image() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cache_cfg(t.path());
        let r = FakeRunner::new();
        r.respond(|spec| Some(Err(CommandError::NotFound { program: spec.program.clone() })));
        let e = build_offline_with(&cfg, false, &r).unwrap_err();
        let src = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<CommandError>());
        assert!(matches!(src, Some(CommandError::NotFound { program }) if program == "bash"), "{e:?}");
        assert_eq!(leftovers(&cfg), Vec::<String>::new());
        // A recipe that exits 0 without writing its manifest is no image either.
        let r = FakeRunner::new();
        r.ok("bash", "");
        let e = build_offline_with(&cfg, false, &r).unwrap_err();
        assert!(e.to_string().contains("the recipe wrote no"), "{e}");
        assert_eq!(leftovers(&cfg), Vec::<String>::new());
    }

    #[test]
    fn fetch_guide_downloads_with_curl_and_a_failed_download_says_so() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cache_cfg(t.path());
        let r = FakeRunner::new();
        r.fail("curl", 6, "curl: (6) Could not resolve host: cloud-images.ubuntu.com");
        let e = fetch_guide_with(&cfg, &r).unwrap_err();
        let part = guide_path(&cfg).with_extension("img.part");
        assert_eq!(r.lines(), vec![format!("curl -fL --retry 3 -C - -o {} {GUIDE_IMAGE_URL}", part.display())]);
        assert!(e.to_string().contains("Could not resolve host") && e.to_string().contains("needs internet"), "{e}");
        assert!(!guide_path(&cfg).exists());
    }

    #[test]
    fn qemu_img_info_reads_size_and_format_through_the_runner() {
        let r = FakeRunner::new();
        r.ok("qemu-img info --output=json -U /x/base.qcow2", r#"{"virtual-size": 4294967296, "format": "qcow2"}"#);
        assert_eq!(qemu_img_info_with(Path::new("/x/base.qcow2"), &r).unwrap(), (4 << 30, "qcow2".to_string()));
        let r = FakeRunner::new();
        r.fail("qemu-img", 1, "qemu-img: Could not open '/x/b': No such file");
        let e = qemu_img_info_with(Path::new("/x/b"), &r).unwrap_err();
        assert!(matches!(e, HypervisorError::BaseImage { ref message, .. } if message.contains("Could not open")), "{e}");
    }

    #[test]
    fn cache_key_follows_the_recipe() {
        let h = offline_recipe_hash();
        assert_eq!(h.len(), 12);
        assert!(offline_dir(&LabConfig::default()).ends_with(format!("offline-{h}")));
    }

    #[test]
    fn archive_comes_from_the_recipe() {
        assert_eq!(offline_archive(), "http://deb.debian.org/debian");
    }

    #[test]
    fn first_hop_of_urls() {
        assert_eq!(first_hop_via("http://deb.debian.org/debian", None), Some(("deb.debian.org".into(), 80)));
        assert_eq!(first_hop_via("https://u:p@mirror.example:8443/x", None), Some(("mirror.example".into(), 8443)));
        assert_eq!(first_hop_via("http://[::1]:3142/debian", None), Some(("::1".into(), 3142)));
        assert_eq!(first_hop_via("http://[::1]/debian", None), Some(("::1".into(), 80)));
        assert_eq!(first_hop_via("http:///nohost", None), None);
        assert_eq!(first_hop_via("http://deb.debian.org/debian", Some("http://proxy.lan:3128")), Some(("proxy.lan".into(), 3128)));
    }

    #[test]
    fn unreachable_archive_fails_fast_with_the_cause() {
        // A port on loopback nobody listens on: refused at once.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let t = std::time::Instant::now();
        let e = reachable(&format!("http://127.0.0.1:{port}/debian"), ARCHIVE_TIMEOUT).unwrap_err();
        assert!(e.contains("connect 127.0.0.1") && t.elapsed() < ARCHIVE_TIMEOUT, "{e}");
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(reachable(&format!("http://127.0.0.1:{port}/debian"), ARCHIVE_TIMEOUT), Ok(()));
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
