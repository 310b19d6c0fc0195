//! A line parser for the few scalar keys the checks read from YAML files (kubelet
//! `config.yaml`, kube-proxy `config.conf`). It understands block mappings by indentation,
//! `key: value` scalars, quotes and comments; sequences and flow collections are skipped.
//! Main function: [`get`].

/// The scalar at a dotted `path` (e.g. `ipvs.strictARP`), unquoted; `None` if absent or not a scalar.
pub fn get<'a>(text: &'a str, path: &str) -> Option<&'a str> {
    let want: Vec<&str> = path.split('.').collect();
    // Stack of (indent, key) for the mapping we are inside.
    let mut stack: Vec<(usize, &str)> = Vec::new();
    for raw in text.lines() {
        let line = strip_comment(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('-') || trimmed == "---" {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let value = value.trim();
        if stack.len() + 1 == want.len()
            && stack.iter().map(|(_, k)| *k).eq(want[..stack.len()].iter().copied())
            && key == want[stack.len()]
        {
            if value.is_empty() {
                return None;
            }
            return Some(unquote(value));
        }
        if value.is_empty() {
            stack.push((indent, key));
        }
    }
    None
}

fn strip_comment(line: &str) -> &str {
    let mut in_quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (c, in_quote) {
            ('"' | '\'', None) => in_quote = Some(c),
            (q, Some(open)) if q == open => in_quote = None,
            ('#', None) if i == 0 || line[..i].ends_with(' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::get;

    #[test]
    fn nested_and_quoted() {
        let t = "ipvs:\n  excludeCIDRs: null\n  scheduler: \"\"\n  strictARP: true # metallb\nkind: KubeProxyConfiguration\nmode: \"ipvs\"\nclusterCIDR: 10.233.0.0/16\n";
        assert_eq!(get(t, "ipvs.strictARP"), Some("true"));
        assert_eq!(get(t, "ipvs.scheduler"), Some(""));
        assert_eq!(get(t, "mode"), Some("ipvs"));
        assert_eq!(get(t, "strictARP"), None);
        assert_eq!(get(t, "ipvs"), None);
        assert_eq!(get(t, "ipvs.missing"), None);
    }

    #[test]
    fn sibling_sections_do_not_leak() {
        let t = "a:\n  b:\n    c: 1\n  d: 2\nc: 3\nb:\n  c: 4\n";
        assert_eq!(get(t, "a.b.c"), Some("1"));
        assert_eq!(get(t, "a.d"), Some("2"));
        assert_eq!(get(t, "c"), Some("3"));
        assert_eq!(get(t, "b.c"), Some("4"));
    }
}
