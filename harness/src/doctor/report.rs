//! What `kubelab doctor` reports: [`DoctorReport`] of [`DoctorItem`]s, each with a [`Status`] and the fix.

use std::time::Duration;

use serde::Serialize;

use crate::config::{Accel, Profile};

/// Verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine for a lab.
    Ok,
    /// A lab runs, but slower, less isolated, or only after the fix.
    Warn,
    /// A lab cannot run (or would break something) until fixed.
    Fail,
    /// The check did not run here; `detail` says why.
    Skip,
}

impl Status {
    /// Fixed-width tag for the text report.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => " ok ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DoctorItem {
    /// Stable id (`libvirt`, `kvm-boot`, …).
    pub id: String,
    /// What was checked, as a person would ask it.
    pub title: String,
    /// Verdict.
    pub status: Status,
    /// What was observed, and where from.
    pub detail: String,
    /// What to do about it (`None` when nothing is needed).
    pub fix: Option<String>,
    /// Measured wall time, for checks that time something (the boot probes).
    pub duration_ms: Option<u64>,
}

impl DoctorItem {
    pub(super) fn new(id: &str, title: &str, status: Status, detail: impl Into<String>) -> Self {
        DoctorItem { id: id.into(), title: title.into(), status, detail: detail.into(), fix: None, duration_ms: None }
    }
    pub(super) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    pub(super) fn took(mut self, d: Duration) -> Self {
        self.duration_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// The whole doctor run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// Lab name from the config.
    pub lab: String,
    /// libvirt URI checked.
    pub libvirt_uri: String,
    /// Profile from the config.
    pub profile: Profile,
    /// Accelerator from the config.
    pub accel: Accel,
    /// Every check, in the order run.
    pub items: Vec<DoctorItem>,
}

impl DoctorReport {
    /// No check failed (warnings and skips allowed).
    pub fn fit_for_lab(&self) -> bool {
        self.items.iter().all(|i| i.status != Status::Fail)
    }

    /// The failed items.
    pub fn failures(&self) -> impl Iterator<Item = &DoctorItem> {
        self.items.iter().filter(|i| i.status == Status::Fail)
    }

    /// The item with `id`.
    pub fn item(&self, id: &str) -> Option<&DoctorItem> {
        self.items.iter().find(|i| i.id == id)
    }
}
