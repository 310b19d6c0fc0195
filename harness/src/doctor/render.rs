//! Renderers for a [`DoctorReport`]: plain text (`Display`) with each item's fix, and JSON.

use std::fmt;

use super::report::{DoctorReport, Status};

/// Version of the JSON document [`DoctorReport::to_json`] writes.
pub const JSON_SCHEMA_VERSION: u32 = 1;

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kubelab doctor: lab `{}`, {} profile, accel {:?}, libvirt {}",
            self.lab,
            self.profile.as_str(),
            self.accel,
            self.libvirt_uri
        )?;
        let width = self.items.iter().map(|i| i.id.len()).max().unwrap_or(0);
        for i in &self.items {
            writeln!(f, "[{}] {:width$}  {}", i.status.tag(), i.id, i.title)?;
            writeln!(f, "       {:width$}  {}", "", i.detail)?;
            if let Some(fix) = &i.fix {
                writeln!(f, "       {:width$}  fix: {fix}", "")?;
            }
        }
        let count = |s| self.items.iter().filter(|i| i.status == s).count();
        let failed: Vec<&str> = self.failures().map(|i| i.id.as_str()).collect();
        let summary = format!(
            "{} ok, {} warn, {} failed, {} skipped",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip)
        );
        if failed.is_empty() {
            writeln!(f, "fit for a lab: {summary}")
        } else {
            writeln!(f, "NOT fit for a lab ({}): {summary}", failed.join(", "))
        }
    }
}

impl DoctorReport {
    /// The report as pretty JSON: `{"schema_version":1,"fit_for_lab":…,"lab":…,"items":[…]}`.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("schema_version".into(), JSON_SCHEMA_VERSION.into());
            obj.insert("fit_for_lab".into(), self.fit_for_lab().into());
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}
