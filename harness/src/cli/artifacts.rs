//! `kubelab artifacts …`.

use kubelab::config::LabConfig;
use kubelab::errors::BoxError;
use kubelab::lab::Lab;

use super::args::ArtifactsAction;
use super::dispatch::open_hv;
use super::errors::ExpectedError;

/// `kubelab artifacts …`.
pub async fn artifacts(cfg: &LabConfig, action: ArtifactsAction) -> Result<(), ExpectedError> {
    use kubelab::provision::artifacts::{ArtifactCache, CurlDownloader};
    let pins = kubelab::provision::PinSet::for_versions(&cfg.versions).map_err(|e| ExpectedError::Provision(e.into()))?;
    match action {
        ArtifactsAction::List => {
            for p in pins.all() {
                println!("{:<28} {}  {}", p.artifact, p.sha256.unwrap_or("(no published checksum: trust on first use)"), p.url);
            }
            Ok(())
        }
        ArtifactsAction::Fetch { dir } => {
            let cache = ArtifactCache::new(dir.clone());
            let mut failed = Vec::new();
            for p in pins.all() {
                match cache.fetch(p, &CurlDownloader) {
                    Ok(path) => eprintln!("ok       {:<28} {}", p.artifact, path.display()),
                    Err(e) => {
                        eprintln!("FAILED   {:<28} {e}", p.artifact);
                        failed.push(p.artifact);
                    }
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(ExpectedError::Provision(BoxError::from(format!(
                    "{} artifact(s) not fetched: {}; the guide profile needs internet (or a copied cache in {})",
                    failed.len(),
                    failed.join(", "),
                    dir.display()
                ))))
            }
        }
        ArtifactsAction::Push { dir } => {
            let cache = ArtifactCache::new(dir);
            let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
            let state = lab.load_state()?;
            let shell = lab.shell(&state)?;
            for n in &state.nodes {
                for p in pins.all() {
                    let file = cache.path_of(p).map_err(|e| ExpectedError::Provision(e.into()))?;
                    if !file.exists() {
                        return Err(ExpectedError::Provision(BoxError::from(format!(
                            "{} is not in the cache; run `kubelab artifacts fetch` first",
                            p.artifact
                        ))));
                    }
                    let name = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    cache
                        .push(p, shell.as_ref(), &n.name, &format!("/var/cache/kubelab-artifacts/{name}"))
                        .await
                        .map_err(|e| ExpectedError::Provision(e.into()))?;
                }
                eprintln!("pushed {} artifacts to {}", pins.all().len(), n.name);
            }
            Ok(())
        }
    }
}
