//! The hosts file: the libvirt hosts labs may be placed on (`kubelab --hosts hosts.toml`).
//!
//! ```toml
//! [[hosts]]
//! name = "here"
//! uri = "qemu:///system"
//!
//! [[hosts]]
//! name = "h2"
//! uri = "qemu+libssh2://root@10.255.3.2/system"
//! ssh_key = "/etc/kubelab/h2.key"            # keyfile= of the URI, and the key the guests are reached through
//! known_hosts = "/etc/kubelab/h2.known_hosts" # the host's pinned key (known_hosts_verify=normal)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FleetError;
use crate::config::rules::check_libvirt_uri;
use crate::remote::jump::JumpHost;

/// One libvirt host.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// Short name used in messages and `status --all` (letters, digits, `-`, `_`).
    pub name: String,
    /// libvirt URI. A remote one must reach the host over SSH with its host key pinned (through
    /// `keyfile=`/`known_hosts=` in the URI or `ssh_key`/`known_hosts` here).
    pub uri: String,
    /// Private key for the host's sshd (added to the URI as `keyfile=`).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file pinning the host's key (added as `known_hosts=` with `known_hosts_verify=normal`).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    hosts: Vec<HostEntry>,
}

/// The hosts labs may be placed on, in file order (ties in free memory go to the earlier host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsFile {
    /// The hosts, each with its full libvirt URI (SSH parameters folded in).
    pub hosts: Vec<HostEntry>,
}

impl HostsFile {
    /// The single host of a lab config (no hosts file given): named `local` or after its URI's host.
    pub fn single(uri: &str) -> Self {
        let name = url::Url::parse(uri).ok().and_then(|u| u.host_str().filter(|h| !h.is_empty()).map(str::to_string));
        HostsFile {
            hosts: vec![HostEntry { name: name.unwrap_or_else(|| "local".into()), uri: uri.into(), ssh_key: None, known_hosts: None }],
        }
    }

    /// Reads and validates a hosts file.
    pub fn load(path: &Path) -> Result<Self, FleetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FleetError::hosts(path, format!("cannot read it ({e}); pass an existing file to --hosts"), Some(e.into())))?;
        Self::parse(&text, path)
    }

    /// Parses and validates the text of a hosts file (`origin` names it in errors).
    pub fn parse(text: &str, origin: &Path) -> Result<Self, FleetError> {
        let file: File = toml::from_str(text).map_err(|e| FleetError::hosts(origin, e.message().to_string(), None))?;
        if file.hosts.is_empty() {
            return Err(FleetError::hosts(origin, "no [[hosts]] entry; list at least one libvirt host".into(), None));
        }
        let mut hosts = Vec::new();
        for (i, h) in file.hosts.into_iter().enumerate() {
            let at = |m: String| FleetError::hosts(origin, format!("hosts[{i}] (`{}`): {m}", h.name), None);
            if h.name.is_empty() || !h.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(at("`name` must be letters, digits, `-` or `_`".into()));
            }
            if hosts.iter().any(|o: &HostEntry| o.name == h.name) {
                return Err(at("a second host with this name; give each host its own `name`".into()));
            }
            let uri = with_ssh(&h).map_err(at)?;
            check_libvirt_uri(&uri).map_err(at)?;
            // A remote host's guests are reached through its sshd: its key must be pinned now.
            JumpHost::from_libvirt_uri(&uri)
                .map_err(|e| at(format!("{} (or set `ssh_key` and `known_hosts` in this entry)", crate::errors::error_chain(&e))))?;
            if hosts.iter().any(|o: &HostEntry| o.uri == uri) {
                return Err(at("the same URI as an earlier host; list each host once".into()));
            }
            hosts.push(HostEntry { uri, ..h });
        }
        Ok(HostsFile { hosts })
    }
}

/// The URI with `ssh_key`/`known_hosts` folded into its query, as libvirt's SSH transports read them.
fn with_ssh(h: &HostEntry) -> Result<String, String> {
    let mut params = Vec::new();
    let has = |k: &str| h.uri.split_once('?').is_some_and(|(_, q)| q.split('&').any(|kv| kv.split('=').next() == Some(k)));
    for (key, path, uri_key) in [("ssh_key", &h.ssh_key, "keyfile"), ("known_hosts", &h.known_hosts, "known_hosts")] {
        let Some(p) = path else { continue };
        if has(uri_key) {
            return Err(format!("`{key}` and the URI's `{uri_key}=` both set it; keep one"));
        }
        let s = p.to_str().filter(|s| p.is_absolute() && !s.contains(['&', '=', '#', '%', '?', ' '])).ok_or_else(|| {
            format!("`{key}` = {} must be an absolute path without spaces or `&=#%?` (it goes into the libvirt URI)", p.display())
        })?;
        params.push(format!("{uri_key}={s}"));
        if uri_key == "known_hosts" && !has("known_hosts_verify") {
            params.push("known_hosts_verify=normal".into());
        }
        if uri_key == "keyfile" && !has("sshauth") {
            params.push("sshauth=privkey".into());
        }
    }
    if params.is_empty() {
        return Ok(h.uri.clone());
    }
    let sep = if h.uri.contains('?') { '&' } else { '?' };
    Ok(format!("{}{sep}{}", h.uri, params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_hosts(dir: &Path) -> PathBuf {
        let p = dir.join("h2.known_hosts");
        // A fresh host key, in the line ssh-keyscan prints.
        let key = crate::seed::generate_ed25519(&dir.join("hostkey"), "h2").unwrap().1;
        std::fs::write(&p, format!("10.255.3.2 {key}\n")).unwrap();
        p
    }

    #[test]
    fn ssh_fields_fold_into_the_uri_and_the_key_must_be_pinned() {
        let d = tempfile::tempdir().unwrap();
        let kh = known_hosts(d.path());
        let text = format!(
            "[[hosts]]\nname = \"here\"\nuri = \"qemu:///system\"\n[[hosts]]\nname = \"h2\"\nuri = \"qemu+libssh2://root@10.255.3.2/system\"\nssh_key = \"/k/h2.key\"\nknown_hosts = \"{}\"\n",
            kh.display()
        );
        let f = HostsFile::parse(&text, Path::new("hosts.toml")).unwrap();
        assert_eq!(f.hosts[0].uri, "qemu:///system");
        assert_eq!(
            f.hosts[1].uri,
            format!(
                "qemu+libssh2://root@10.255.3.2/system?keyfile=/k/h2.key&sshauth=privkey&known_hosts={}&known_hosts_verify=normal",
                kh.display()
            )
        );
        // No pin: refused with the fix.
        let e = HostsFile::parse("[[hosts]]\nname = \"h2\"\nuri = \"qemu+libssh2://root@10.255.3.2/system\"\n", Path::new("hosts.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hosts file hosts.toml: hosts[0] (`h2`): "), "{e}");
        assert!(e.contains("no keyfile= parameter") && e.ends_with("(or set `ssh_key` and `known_hosts` in this entry)"), "{e}");
    }

    #[test]
    fn a_bad_hosts_file_is_one_line_naming_the_entry() {
        let p = Path::new("hosts.toml");
        let cases = [
            ("", "no [[hosts]] entry"),
            ("[[hosts]]\nname = \"a b\"\nuri = \"qemu:///system\"\n", "`name` must be"),
            (
                "[[hosts]]\nname = \"a\"\nuri = \"qemu:///system\"\n[[hosts]]\nname = \"a\"\nuri = \"test:///default\"\n",
                "a second host with this name",
            ),
            ("[[hosts]]\nname = \"a\"\nuri = \"qemu:///system\"\n[[hosts]]\nname = \"b\"\nuri = \"qemu:///system\"\n", "the same URI"),
            ("[[hosts]]\nname = \"a\"\nuri = \"nope\"\n", "is not a libvirt URI"),
            ("[[hosts]]\nname = \"a\"\nuri = \"qemu:///system\"\nport = 22\n", "unknown field `port`"),
            ("[[hosts]]\nname = \"a\"\nuri = \"qemu+libssh2://h/system?keyfile=/x\"\nssh_key = \"/y\"\n", "both set it"),
            ("[[hosts]]\nname = \"a\"\nuri = \"qemu+libssh2://h/system\"\nssh_key = \"k&x\"\n", "must be an absolute path"),
        ];
        for (text, want) in cases {
            let e = HostsFile::parse(text, p).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_single_host_is_named_after_its_uri() {
        assert_eq!(HostsFile::single("qemu:///system").hosts[0].name, "local");
        assert_eq!(HostsFile::single("qemu+libssh2://root@hv1/system?keyfile=/k").hosts[0].name, "hv1");
    }
}
