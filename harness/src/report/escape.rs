//! Escaping for XML and HTML output ([`xml_text`], [`xml_attr`], [`html`]) and
//! [`check_well_formed`], a small XML well-formedness check used to verify our own JUnit output.
//!
//! Command output in evidence may hold anything, including terminal escape sequences; XML 1.0
//! forbids most control characters even as character references, so they are rendered visibly
//! as `\xNN` instead of being dropped.

use std::fmt::Write as _;

fn push_visible_control(out: &mut String, c: char) {
    let _ = write!(out, "\\x{:02x}", c as u32);
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escapes text content for XML (`&`, `<`, `>`; forbidden characters shown as `\xNN`).
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if !is_xml_char(c) => push_visible_control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value for XML (double-quoted); newlines and tabs become character
/// references so parsers keep them.
pub fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if !is_xml_char(c) => push_visible_control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML content and double- or single-quoted attributes.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => push_visible_control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Test support (feature `test-support`): checks that `doc` is a well-formed XML document (prolog, comments, one root element, matched
/// tags, quoted unique attributes, predefined or numeric entity references, legal characters).
/// Returns the root element's name. Not a validating parser: no DTDs, no namespaces checks.
#[cfg(any(test, feature = "test-support"))]
pub fn check_well_formed(doc: &str) -> Result<String, String> {
    let b = doc.as_bytes();
    let mut i = 0;
    let mut stack: Vec<&str> = Vec::new();
    let mut root: Option<String> = None;
    if let Some(c) = doc.chars().find(|c| !is_xml_char(*c)) {
        return Err(format!("illegal character U+{:04X}", c as u32));
    }
    let err = |i: usize, m: &str| Err(format!("byte {i}: {m}"));
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |n| i + n);
            let text = &doc[i..end];
            if stack.is_empty() && !text.trim().is_empty() {
                return err(i, "text outside the root element");
            }
            check_refs(text).map_err(|m| format!("byte {i}: {m}"))?;
            i = end;
            continue;
        }
        let rest = &doc[i..];
        if rest.starts_with("<?") {
            let Some(n) = rest.find("?>") else {
                return err(i, "unterminated processing instruction");
            };
            if !(stack.is_empty() && root.is_none()) {
                return err(i, "processing instruction after the root element started");
            }
            i += n + 2;
        } else if let Some(body) = rest.strip_prefix("<!--") {
            let Some(n) = body.find("-->") else {
                return err(i, "unterminated comment");
            };
            if body[..n].contains("--") {
                return err(i, "`--` inside a comment");
            }
            i += 4 + n + 3;
        } else if rest.starts_with("<![CDATA[") {
            let Some(n) = rest.find("]]>") else {
                return err(i, "unterminated CDATA");
            };
            if stack.is_empty() {
                return err(i, "CDATA outside the root element");
            }
            i += n + 3;
        } else if let Some(close) = rest.strip_prefix("</") {
            let Some(n) = close.find('>') else {
                return err(i, "unterminated end tag");
            };
            let name = close[..n].trim_end();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return err(i, &format!("end tag </{name}> does not match <{open}>")),
                None => return err(i, &format!("end tag </{name}> without start tag")),
            }
            i += 2 + n + 1;
        } else {
            let Some(n) = find_tag_end(rest) else {
                return err(i, "unterminated start tag");
            };
            let inner = &rest[1..n];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(x) => (x, true),
                None => (inner, false),
            };
            let name_end = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
            let name = &inner[..name_end];
            if !is_name(name) {
                return err(i, &format!("bad element name `{name}`"));
            }
            check_attrs(&inner[name_end..]).map_err(|m| format!("byte {i}: <{name}>: {m}"))?;
            if stack.is_empty() {
                if root.is_some() {
                    return err(i, "second root element");
                }
                root = Some(name.to_string());
            }
            if !empty {
                stack.push(name);
            }
            i += n + 1;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("element <{open}> is never closed"));
    }
    root.ok_or_else(|| "no root element".to_string())
}

#[cfg(any(test, feature = "test-support"))]
/// Index of the `>` closing a start tag, skipping quoted attribute values.
fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') if i > 0 => return None,
            _ => {}
        }
    }
    None
}

#[cfg(any(test, feature = "test-support"))]
fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

#[cfg(any(test, feature = "test-support"))]
fn check_attrs(mut s: &str) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s.find('=').ok_or("attribute without value")?;
        let name = s[..eq].trim_end();
        if !is_name(name) {
            return Err(format!("bad attribute name `{name}`"));
        }
        if seen.contains(&name) {
            return Err(format!("duplicate attribute `{name}`"));
        }
        seen.push(name);
        let v = s[eq + 1..].trim_start();
        let q = v.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("unquoted attribute value")?;
        let end = v[1..].find(q).ok_or("unterminated attribute value")?;
        let value = &v[1..1 + end];
        if value.contains('<') {
            return Err(format!("`<` in value of `{name}`"));
        }
        check_refs(value)?;
        s = &v[1 + end + 1..];
        if !s.is_empty() && !s.starts_with(char::is_whitespace) {
            return Err("attributes not separated by whitespace".into());
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
fn check_refs(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(a) = rest.find('&') {
        let after = &rest[a + 1..];
        let semi = after.find(';').ok_or("`&` not starting an entity reference")?;
        let ent = &after[..semi];
        let ok = match ent {
            "amp" | "lt" | "gt" | "quot" | "apos" => true,
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).is_some_and(is_xml_char)
            }
        };
        if !ok {
            return Err(format!("bad entity reference `&{ent};`"));
        }
        rest = &after[semi + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_quotes_and_control_characters() {
        assert_eq!(xml_text("a<b & c>\u{1b}[0m"), "a&lt;b &amp; c&gt;\\x1b[0m");
        assert_eq!(xml_attr("x=\"1\"\n'y'"), "x=&quot;1&quot;&#10;&apos;y&apos;");
        assert_eq!(html("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    }

    #[test]
    fn escaped_text_is_well_formed() {
        let nasty = "<x> & \"q\" 'a' \u{1b}[31m \u{0} ]]> &amp;";
        let doc = format!("<?xml version=\"1.0\"?>\n<r a=\"{}\">{}</r>", xml_attr(nasty), xml_text(nasty));
        assert_eq!(check_well_formed(&doc), Ok("r".to_string()));
    }

    #[test]
    fn well_formedness_check_rejects_broken_documents() {
        for (doc, why) in [
            ("<a><b></a></b>", "does not match"),
            ("<a>", "never closed"),
            ("<a/><b/>", "second root"),
            ("<a x=1/>", "unquoted"),
            ("<a x='1' x='2'/>", "duplicate"),
            ("<a>&nbsp;</a>", "bad entity"),
            ("<a>a & b</a>", "not starting an entity"),
            ("<a>\u{1b}</a>", "illegal character"),
            ("text<a/>", "outside the root"),
            ("", "no root"),
        ] {
            let e = check_well_formed(doc).unwrap_err();
            assert!(e.contains(why), "{doc:?}: {e}");
        }
        assert_eq!(check_well_formed("<?xml version='1.0'?><!-- c --><a x='&lt;'><b/>t&#10;</a>\n"), Ok("a".into()));
    }
}
