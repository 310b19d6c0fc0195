//! Counting and removing a lab's resources: by tag, or by the exact names the lab gives them,
//! so it works after a crash, with or without the state file, and never takes another lab's.

use super::{Footprint, Lab, blocking, owned_by};
use crate::errors::{HypervisorError, LabError};

impl Lab {
    /// Counts what of this lab exists on the host (`kubelab inventory`).
    pub fn footprint(&self) -> Result<Footprint, LabError> {
        let (lab, names) = (&self.cfg.name, self.own_names());
        let pool_dir = self.pool_dir();
        let seeds_on_disk = std::fs::read_dir(&pool_dir)
            .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with("-seed.iso")).count())
            .unwrap_or(0);
        Ok(Footprint {
            domains: self.hv.domains()?.iter().filter(|d| owned_by(lab, &names, &d.lab, &d.name)).count(),
            volumes: self.hv.volumes(&self.pool_name())?.len(),
            seeds: seeds_on_disk,
            networks: self.hv.networks()?.iter().filter(|n| owned_by(lab, &names, &n.lab, &n.name)).count(),
            pools: self.hv.pools()?.iter().filter(|p| **p == self.pool_name()).count(),
            nwfilters: self.hv.nwfilters()?.iter().filter(|f| owned_by(lab, &names, &None, f)).count(),
            state_dir: self.cfg.lab_dir().exists(),
            outside: self.outside().map(|o| o.inventory()).transpose()?.unwrap_or_default(),
        })
    }

    /// `kubelab down`: removes every resource of the lab found by tag or name (works after a
    /// crash, with or without the state file). `purge` also removes the cached base images.
    pub async fn down(&self, purge: bool) -> Result<Footprint, LabError> {
        let before = self.footprint()?;
        if let Some(run) = self.outside.clone() {
            let cfg = self.cfg.clone();
            blocking(move || super::outside::Outside::new(&cfg, run.as_ref()).teardown()).await?;
        }
        let hv = self.hv.clone();
        let cfg = self.cfg.clone();
        let (pool, names) = (self.pool_name(), self.own_names());
        blocking(move || -> Result<(), HypervisorError> {
            let lab = &cfg.name;
            for d in hv.domains()?.into_iter().filter(|d| owned_by(lab, &names, &d.lab, &d.name)) {
                hv.undefine_domain(&d.name)?;
            }
            for f in hv.nwfilters()?.into_iter().filter(|f| owned_by(lab, &names, &None, f)) {
                hv.undefine_nwfilter(&f)?;
            }
            if hv.pools()?.contains(&pool) {
                for v in hv.volumes(&pool)? {
                    hv.delete_volume(&pool, &v.name)?;
                }
                hv.remove_pool(&pool)?;
            }
            for n in hv.networks()?.into_iter().filter(|n| owned_by(lab, &names, &n.lab, &n.name)) {
                hv.remove_network(&n.name)?;
            }
            Ok(())
        })
        .await?;
        let dir = self.cfg.lab_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| LabError::local(format!("remove {}", dir.display()), e))?;
        }
        if purge && self.cfg.image_cache.exists() {
            std::fs::remove_dir_all(&self.cfg.image_cache).map_err(|e| LabError::local("purge image cache", e))?;
        }
        Ok(before)
    }
}
