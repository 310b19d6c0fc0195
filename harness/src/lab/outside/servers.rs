//! The outside's servers: the HTTP server and the registry (started with start-stop-daemon in
//! the outside's namespace, under umask 077, their pid and log files restricted) and the push
//! of kubelab's image into the registry over its HTTP API.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{BUSYBOX, FILE_NAME, HTTP_PORT, IMAGE_REPO, IMAGE_TAG, Outside, OutsideError, SERVER, file_body, file_url, image, registry};
use crate::process::CommandSpec;

impl Outside<'_> {
    pub(super) fn daemon(&self, name: &str, chdir: &Path, exec: &str, args: &[&str]) -> Result<(), OutsideError> {
        let (pid, log) = (self.dir.join(format!("{name}.pid")), self.dir.join(format!("{name}.log")));
        let (pid, log, chdir) = (pid.display().to_string(), log.display().to_string(), chdir.display().to_string());
        let mut v = vec![
            "start-stop-daemon",
            "--start",
            "--background",
            // The outside's files sit under the lab's state dir, which holds keys: owner only.
            "--umask",
            "077",
            "--make-pidfile",
            "--pidfile",
            &pid,
            "--output",
            &log,
            "--chdir",
            &chdir,
            "--exec",
            exec,
            "--",
        ];
        v.extend_from_slice(args);
        self.exec(&format!("start the outside's {name}"), self.in_ns(&self.outside_ns(), &v))?;
        Ok(())
    }

    pub(super) fn start_http(&self) -> Result<(), OutsideError> {
        self.write(&self.www().join(FILE_NAME), file_body(&self.lab).as_bytes())?;
        let (port, bind) = (HTTP_PORT.to_string(), SERVER.to_string());
        self.daemon("http", &self.www(), "/usr/bin/python3", &["-m", "http.server", &port, "--bind", &bind])?;
        self.wait_http("the HTTP server", &file_url())?;
        self.restrict_daemon_files("http")
    }

    /// A daemon's pid and log files, which start-stop-daemon creates, to their owner (the
    /// daemon is up, so both exist; a file that is not there is left alone).
    pub(super) fn restrict_daemon_files(&self, name: &str) -> Result<(), OutsideError> {
        for ext in ["pid", "log"] {
            let path = self.dir.join(format!("{name}.{ext}"));
            match crate::private_fs::restrict(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(OutsideError::File { lab: self.lab.clone(), what: format!("restrict {}", path.display()), source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn start_registry(&self) -> Result<(), OutsideError> {
        let storage = self.dir.join("registry");
        // JSON is YAML: the registry reads this as its config.yml.
        let config = serde_json::json!({
            "version": "0.1",
            "log": { "level": "info", "fields": { "service": "registry" } },
            "storage": { "filesystem": { "rootdirectory": storage }, "delete": { "enabled": true } },
            "http": { "addr": registry() }
        });
        let path = self.dir.join("registry.yml");
        self.write(&path, serde_json::to_string_pretty(&config).expect("serialisable").as_bytes())?;
        crate::private_fs::create_dir(&storage).map_err(|source| OutsideError::File {
            lab: self.lab.clone(),
            what: format!("create {}", storage.display()),
            source,
        })?;
        let p = path.display().to_string();
        self.daemon("registry", &self.dir, "/usr/bin/docker-registry", &["serve", &p])?;
        self.wait_http("the registry", &format!("http://{}/v2/", registry()))?;
        self.restrict_daemon_files("registry")
    }

    pub(super) fn curl(&self, args: &[&str]) -> CommandSpec {
        let mut v = vec!["curl", "-sS", "--fail", "--connect-timeout", "2", "-m", "30"];
        v.extend_from_slice(args);
        self.in_ns(&self.outside_ns(), &v)
    }

    pub(super) fn wait_http(&self, what: &str, url: &str) -> Result<(), OutsideError> {
        let t0 = Instant::now();
        loop {
            let s = self.curl(&["-o", "/dev/null", url]);
            match self.run.run(&s) {
                Ok(o) if o.success() => return Ok(()),
                Ok(_) if t0.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(300)),
                _ => return self.exec(&format!("wait for {what} ({url})"), s).map(|_| ()),
            }
        }
    }

    /// Pushes the busybox image through the registry's HTTP API (blob uploads, then the
    /// manifest), with curl inside the outside namespace.
    pub(super) fn push_image(&self) -> Result<(), OutsideError> {
        let img = image::build(Path::new(BUSYBOX)).map_err(|source| OutsideError::File {
            lab: self.lab.clone(),
            what: format!("build the image from {BUSYBOX} (apt-get install busybox-static)"),
            source,
        })?;
        let base = format!("http://{}/v2/{IMAGE_REPO}", registry());
        for (name, blob) in [("layer", &img.layer), ("config", &img.config)] {
            let file = self.dir.join("image").join(name);
            self.write(&file, &blob.bytes)?;
            let loc = self.exec(
                &format!("start the {name} upload"),
                self.curl(&["-X", "POST", "-o", "/dev/null", "-w", "%header{location}", &format!("{base}/blobs/uploads/")]),
            )?;
            let loc = loc.stdout.trim();
            let sep = if loc.contains('?') { '&' } else { '?' };
            let url = format!("{loc}{sep}digest={}", blob.digest);
            let data = format!("@{}", file.display());
            self.exec(
                &format!("upload the {name} ({})", blob.digest),
                self.curl(&["-X", "PUT", "-o", "/dev/null", "-H", "Content-Type: application/octet-stream", "--data-binary", &data, &url]),
            )?;
        }
        let file = self.dir.join("image").join("manifest.json");
        self.write(&file, &img.manifest.bytes)?;
        let (ct, data) = (format!("Content-Type: {}", image::MANIFEST_MEDIA_TYPE), format!("@{}", file.display()));
        self.exec(
            "put the manifest",
            self.curl(&["-X", "PUT", "-o", "/dev/null", "-H", &ct, "--data-binary", &data, &format!("{base}/manifests/{IMAGE_TAG}")]),
        )?;
        Ok(())
    }
}
