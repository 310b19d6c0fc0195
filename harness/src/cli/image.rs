//! `kubelab image …`.

use std::time::Instant;

use anyhow::Context;
use kubelab::config::{LabConfig, Profile};

use super::args::{ImageAction, Which};
use super::errors::ExpectedError;

/// `kubelab image …`.
pub fn image(cfg: &LabConfig, action: ImageAction) -> Result<(), ExpectedError> {
    match action {
        ImageAction::Build { which: Which::Offline, force } => {
            let t0 = Instant::now();
            let dir = kubelab::image::build_offline(cfg, force).map_err(ExpectedError::ImageBuild)?;
            eprintln!("offline image ready in {} ({:.0} s)", dir.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        ImageAction::Build { which: Which::Guide, .. } => Err(ExpectedError::Other(anyhow::anyhow!(
            "the guide profile uses Ubuntu's official 20.04 cloud image: run `kubelab image fetch guide`"
        ))),
        ImageAction::Fetch { which: Which::Guide } => {
            let p = kubelab::image::fetch_guide(cfg).context("fetch the guide image").map_err(ExpectedError::Other)?;
            eprintln!("guide image verified at {}", p.display());
            Ok(())
        }
        ImageAction::Fetch { which: Which::Offline } => {
            Err(ExpectedError::Other(anyhow::anyhow!("the offline image is built, not downloaded: run `kubelab image build offline`")))
        }
        ImageAction::Path { which } => {
            let c = LabConfig { profile: if matches!(which, Which::Guide) { Profile::Guide } else { Profile::Offline }, ..cfg.clone() };
            println!(
                "{}",
                if matches!(which, Which::Guide) { kubelab::image::guide_path(&c) } else { kubelab::image::offline_dir(&c) }.display()
            );
            Ok(())
        }
    }
}
