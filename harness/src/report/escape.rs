//! Escaping for the HTML report ([`html`]). (JUnit XML is written by `quick-junit`.)
//!
//! Command output in evidence may hold anything, including terminal escape sequences; control
//! characters are rendered visibly as `\xNN`.

use std::fmt::Write as _;

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
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_quotes_and_control_characters() {
        assert_eq!(html("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(html("a\u{1b}[0m\"b\""), "a\\x1b[0m&quot;b&quot;");
    }
}
