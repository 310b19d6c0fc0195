//! Shared rendering pieces: [`Ctx`] (what scripts are rendered from), [`Scripts`], templating.

use crate::config::{LabConfig, Mirror};
use crate::provision::{Pin, PinSet, PlanNode};

/// What every script is rendered from.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a LabConfig,
    /// `None` when the versions table has no pins (offline profile only; the steps are skipped).
    pub pins: Option<&'a PinSet>,
    pub nodes: &'a [PlanNode],
}

impl Ctx<'_> {
    pub fn aliyun(&self) -> bool {
        self.cfg.mirror == Mirror::Aliyun
    }
    pub fn control_plane(&self) -> &PlanNode {
        self.nodes.iter().find(|n| n.control_plane).unwrap_or(&self.nodes[0])
    }
}

/// A step's two scripts (bash bodies, run as root).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scripts {
    pub check: String,
    pub action: String,
}

impl Scripts {
    pub fn new(check: impl Into<String>, action: impl Into<String>) -> Self {
        Scripts { check: check.into(), action: action.into() }
    }
}

/// Replaces `@KEY@` by its value (templates are bash; `@` does not occur in them otherwise).
pub(crate) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("@{k}@"), v);
    }
    s
}

/// Single-quotes a value for bash.
pub(crate) fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `fetch_pinned URL DEST SHA256|""`: downloads with retries, refuses a checksum mismatch, and
/// prints the digest of unpinned artifacts so they can be pinned.
pub(crate) const FETCH_FN: &str = r#"fetch_pinned() {
  local url=$1 dest=$2 want=$3 got
  curl -fsSL --retry 5 --retry-delay 3 -o "$dest.part" "$url"
  got=$(sha256sum "$dest.part" | cut -d' ' -f1)
  if [ -n "$want" ] && [ "$got" != "$want" ]; then
    echo "sha256 mismatch for $url: pinned $want, downloaded $got; refusing it" >&2
    rm -f "$dest.part"
    return 1
  fi
  if [ -z "$want" ]; then
    echo "note: $url has no published checksum; trusting it on first use with sha256 $got (pin it)" >&2
  fi
  mv "$dest.part" "$dest"
}
"#;

/// `fetch_pinned` call for a pin.
pub(crate) fn fetch(pin: &Pin, dest: &str) -> String {
    format!("fetch_pinned {} {} {}", sq(&pin.url), dest, sq(pin.sha256.unwrap_or("")))
}

/// `sha256sum -c` line checking an installed file against a pin (pinned artifacts only).
pub(crate) fn verify(pin: &Pin, path: &str) -> String {
    match pin.sha256 {
        Some(sha) => format!(
            "echo '{sha}  {path}' | sha256sum -c --quiet - >/dev/null 2>&1 || {{ echo '{path} is missing or not the pinned {}'; exit 1; }}",
            pin.artifact
        ),
        None => format!("[ -x {path} ] || {{ echo '{path} is missing'; exit 1; }}"),
    }
}

/// Regex-escapes dots (IPv4 addresses in ERE).
pub(crate) fn ere(s: &str) -> String {
    s.replace('.', r"\.")
}

/// Pins, or a placeholder script explaining why there are none (offline profile only).
pub(crate) fn with_pins(ctx: &Ctx<'_>, f: impl FnOnce(&PinSet) -> Scripts) -> Scripts {
    match ctx.pins {
        Some(p) => f(p),
        None => {
            let s = "echo 'versions table has no pinned checksums for this step' >&2\nexit 1\n";
            Scripts::new(s, s)
        }
    }
}
