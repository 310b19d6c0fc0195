//! Reading a config: TOML → [`LabConfig`] (`from_toml`, `load`), and TOML or schema errors turned
//! into a [`ConfigError::Parse`] that names the dotted key (`parse_error`).

use std::path::Path;

use super::LabConfig;
use crate::errors::ConfigError;

impl LabConfig {
    /// Parses and validates a TOML document. `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: LabConfig = toml::from_str(text).map_err(|e| parse_error(text, origin, &e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { file: path.display().to_string(), source: e })?;
        Self::from_toml(&text, &path.display().to_string())
    }
}

/// A TOML or schema error as a [`ConfigError::Parse`] naming the dotted key where it can.
pub(crate) fn parse_error(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let raw = e.message().trim();
    let at = e.span().map(|s| s.start.min(text.len()));
    let (key, message) = match unknown_field(raw) {
        Some((field, expected)) => {
            let prefix = at.map(|o| table_at(text, o)).unwrap_or_default();
            let inline = at.map(|o| inline_prefix(text, o)).unwrap_or_default();
            (format!("{prefix}{inline}{field}"), format!("unknown key; remove it or check its spelling (expected one of {expected})"))
        }
        None => (at.and_then(|o| key_at(text, o)).unwrap_or_default(), raw.to_string()),
    };
    // One line: TOML syntax errors may quote the offending line.
    let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    ConfigError::Parse { file: origin.to_string(), key, message }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" → (`x`, "`a`, `b`").
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, tail) = rest.split_once('`')?;
    let expected = tail.trim_start_matches(',').trim().trim_start_matches("expected one of ").trim_start_matches("expected ").to_string();
    Some((field.to_string(), if expected.is_empty() { "nothing".into() } else { expected }))
}

/// The table a byte offset is in, as a key prefix: `""`, `"versions."`, `"nodes[1]."`.
fn table_at(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let mut table = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in before.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = arrays.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
            table = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
    }
    if table.is_empty() { table } else { format!("{table}.") }
}

/// For an offset inside an inline table or after a dotted key on its line
/// (`versions = { foo = 1 }`, `versions.foo = 1`), the key path before it: `"versions."`.
fn inline_prefix(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.rsplit('\n').next().unwrap_or("").trim_start();
    if let Some((k, _)) = line.split_once('=') {
        let k = k.trim();
        return if k.is_empty() { String::new() } else { format!("{k}.") };
    }
    // A dotted key whose last part is the unknown field.
    if line.ends_with('.') { line.to_string() } else { String::new() }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Best-effort: the dotted key whose value starts at byte `offset` (for error messages).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.rsplit('\n').next()?;
    let key = line.split('=').next()?.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    Some(format!("{}{key}", table_at(text, offset)))
}
