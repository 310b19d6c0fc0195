//! [`Redactor`]: removes join tokens, certificate keys, CA-cert hashes and kubeconfig secrets
//! from anything kubelab writes (logs, events, errors).

/// Replaces secrets by `[REDACTED]` markers. Pattern rules always apply; values learned at run
/// time (e.g. the join token just created) are added with [`Redactor::add_secret`].
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

const MARK: &str = "[REDACTED]";

impl Redactor {
    /// A redactor with only the pattern rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts this literal value wherever it appears (ignored when shorter than 6 bytes).
    pub fn add_secret(&mut self, secret: impl Into<String>) {
        let s = secret.into();
        if s.len() >= 6 && !self.secrets.contains(&s) {
            self.secrets.push(s);
        }
    }

    /// The redacted text.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), MARK);
        }
        let out = redact_join_tokens(&out);
        let out = redact_flag_values(&out, "--certificate-key");
        let out = redact_flag_values(&out, "--token");
        let out = redact_flag_values(&out, "--discovery-token-ca-cert-hash");
        out.split_inclusive('\n').map(redact_kubeconfig_line).collect()
    }
}

fn is_tok(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]{6}\.[a-z0-9]{16}` (kubeadm bootstrap token).
fn redact_join_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 23 <= b.len() {
        if b[i + 6] == b'.' && b[i..i + 6].iter().all(|&c| is_tok(c)) && b[i + 7..i + 23].iter().all(|&c| is_tok(c)) {
            out.push_str(&text[copied..i]);
            out.push_str("[REDACTED-TOKEN]");
            i += 23;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The value after `flag` (`flag value`, `flag=value`, `flag "value"`) up to whitespace.
fn redact_flag_values(text: &str, flag: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(flag) {
        let after = &rest[pos + flag.len()..];
        // `--token` must not match `--token-ttl` etc.
        let next = after.chars().next();
        if !matches!(next, Some(' ') | Some('=') | Some('\t')) {
            out.push_str(&rest[..pos + flag.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..pos + flag.len()]);
        let sep_len = after.len() - after.trim_start_matches([' ', '=', '\t']).len();
        out.push_str(&after[..sep_len]);
        let value = &after[sep_len..];
        let end = value.find(|c: char| c.is_whitespace()).unwrap_or(value.len());
        let v = &value[..end];
        if v.is_empty() || v.contains(MARK) || v.contains("[REDACTED-TOKEN]") || v.starts_with("--") {
            out.push_str(v);
        } else if let Some(h) = v.trim_matches(['"', '\'']).strip_prefix("sha256:") {
            let _ = h;
            out.push_str("sha256:");
            out.push_str(MARK);
        } else {
            out.push_str(MARK);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// kubeconfig secrets: `client-key-data:`, `client-certificate-data:`, `token:`.
fn redact_kubeconfig_line(line: &str) -> String {
    for key in ["client-key-data:", "client-certificate-data:", "token:"] {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(value) = trimmed.strip_prefix(key) {
            let v = value.trim();
            if v.is_empty() || v == MARK {
                return line.to_string();
            }
            let prefix_len = line.len() - trimmed.len() + key.len();
            let nl = if line.ends_with('\n') { "\n" } else { "" };
            return format!("{} {MARK}{nl}", &line[..prefix_len]);
        }
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdef.0123456789abcdef";
    const HASH: &str = "sha256:8d2b3f9c0e6a1b7d4c5e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4";

    #[test]
    fn join_command_lines_lose_token_hash_and_certificate_key() {
        let line = format!(
            "kubeadm join 192.168.1.134:6443 --token {TOKEN} \\\n    --discovery-token-ca-cert-hash {HASH} --control-plane --certificate-key 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
        );
        let r = Redactor::new().redact(&line);
        assert!(!r.contains("0123456789abcdef"), "{r}");
        assert!(!r.contains("8d2b3f9c"), "{r}");
        assert!(!r.contains("0f1e2d3c"), "{r}");
        assert!(r.contains("kubeadm join 192.168.1.134:6443 --token [REDACTED-TOKEN]"), "{r}");
        assert!(r.contains("--discovery-token-ca-cert-hash sha256:[REDACTED]"), "{r}");
        assert!(r.contains("--certificate-key [REDACTED]\n"), "{r}");
        assert!(r.contains("--control-plane"), "{r}");
    }

    #[test]
    fn bare_tokens_and_equals_flags_are_redacted() {
        let r = Redactor::new().redact(&format!("token={TOKEN}; --certificate-key=abc123def456 --token-ttl 2h"));
        assert_eq!(r, "token=[REDACTED-TOKEN]; --certificate-key=[REDACTED] --token-ttl 2h");
    }

    #[test]
    fn kubeconfig_secrets_are_redacted_but_structure_kept() {
        let kc = "users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTi\n    client-key-data: LS0tLS1CRUdJTiBSU0\n- name: sa\n  user:\n    token: eyJhbGciOiJSUzI1NiJ9.abc\nclusters:\n- cluster:\n    server: https://192.168.1.134:6443\n";
        let r = Redactor::new().redact(kc);
        assert!(!r.contains("LS0t") && !r.contains("eyJhbG"), "{r}");
        assert!(r.contains("    client-key-data: [REDACTED]\n"), "{r}");
        assert!(r.contains("    token: [REDACTED]\n"), "{r}");
        assert!(r.contains("server: https://192.168.1.134:6443"), "{r}");
    }

    #[test]
    fn learned_secrets_are_redacted_literally_and_innocent_text_survives() {
        let mut red = Redactor::new();
        red.add_secret("8d2b3f9c0e6a1b7d4c5e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4");
        let r = red.redact("[discovery] pinned 8d2b3f9c0e6a1b7d4c5e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4 ok");
        assert_eq!(r, "[discovery] pinned [REDACTED] ok");
        let innocent = "node/ice-k8s-machines-node1 Ready registry.k8s.io/kube-proxy:v1.23.6 token-ttl";
        assert_eq!(Redactor::new().redact(innocent), innocent);
    }
}
