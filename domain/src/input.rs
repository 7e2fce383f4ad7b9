//! Parsing user input at the edge: text lengths, URLs, and the unicode tricks
//! (bidirectional overrides, zero-width and control characters) that make text
//! look other than it is. Every error names the field.

/// One field of input that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidInput {
    /// The field, as named in the API (`body`, `profile.website`).
    pub field: String,
    /// What is wrong, for people.
    pub problem: String,
}

impl InvalidInput {
    /// An error about one field.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

/// Trims `raw` and checks it holds `min..=max` characters (Unicode scalar
/// values) and no control or invisible formatting characters. Newlines and
/// tabs are allowed only when `multiline`.
pub fn text(field: &str, raw: &str, min: usize, max: usize, multiline: bool) -> Result<String, InvalidInput> {
    let trimmed = raw.trim();
    // Most text is printable ASCII: one byte per character and nothing to
    // refuse. A branch-free pass over the bytes (it vectorizes) tells.
    let plain = trimmed.bytes().fold(true, |plain, b| plain & allowed_ascii(b, multiline));
    let count = if plain { trimmed.len() } else { trimmed.chars().count() };
    if count < min || count > max {
        let range = if min == 0 { format!("at most {max}") } else { format!("{min} to {max}") };
        return Err(InvalidInput::new(field, format!("must be {range} characters long (is {count})")));
    }
    if !plain && let Some(bad) = trimmed.chars().find(|c| !allowed(*c, multiline)) {
        return Err(InvalidInput::new(field, format!("contains the disallowed character U+{:04X}", bad as u32)));
    }
    Ok(trimmed.to_owned())
}

/// Whether a byte is a printable ASCII character (or a line break or tab when
/// `multiline`); `false` for every byte of a multi-byte character.
fn allowed_ascii(b: u8, multiline: bool) -> bool {
    (b' '..0x7f).contains(&b) | (multiline & ((b == b'\n') | (b == b'\t')))
}

/// Like [`text`], but an empty or blank value is `None`.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, InvalidInput> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(value) => text(field, value, 1, max, multiline).map(Some),
        None => Ok(None),
    }
}

fn allowed(c: char, multiline: bool) -> bool {
    if c == '\n' || c == '\t' {
        return multiline;
    }
    let invisible_or_bidi = matches!(c,
        '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{FEFF}' // byte order mark
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
    );
    !c.is_control() && !invisible_or_bidi
}

/// Checks an absolute URL: `https` (or `http` too when `allow_http`), a host,
/// at most 2048 characters, no spaces or control characters.
pub fn url(field: &str, raw: &str, allow_http: bool) -> Result<String, InvalidInput> {
    let trimmed = raw.trim();
    let schemes: &[&str] = if allow_http { &["https://", "http://"] } else { &["https://"] };
    let rest = schemes
        .iter()
        .find_map(|scheme| {
            trimmed.get(..scheme.len()).filter(|p| p.eq_ignore_ascii_case(scheme)).map(|_| &trimmed[scheme.len()..])
        })
        .ok_or_else(|| InvalidInput::new(field, format!("must be a URL starting with {}", schemes.join(" or "))))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return Err(InvalidInput::new(field, "must name a host"));
    }
    if trimmed.len() > 2048 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidInput::new(field, "must be at most 2048 characters without spaces"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_counted_in_characters_not_bytes() {
        assert_eq!(text("body", "  héllo  ", 1, 5, false), Ok("héllo".to_owned()));
        assert!(text("body", "", 1, 5, false).is_err());
        assert!(text("body", "héllo!", 1, 5, false).is_err());
    }

    #[test]
    fn unicode_tricks_are_refused_and_named() {
        for trick in ["evil\u{202E}txt", "zero\u{200B}width", "bell\u{7}", "bom\u{FEFF}x", "iso\u{2066}late"] {
            let err = text("body", trick, 1, 100, true).unwrap_err();
            assert_eq!(err.field, "body");
            assert!(err.problem.contains("U+"), "{trick:?}: {err}");
        }
        assert!(text("body", "line\nbreak", 1, 100, true).is_ok());
        assert!(text("title", "line\nbreak", 1, 100, false).is_err());
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(url("avatar_url", "https://cdn.example.org/a.png", false).is_ok());
        assert!(url("website", "http://example.org", true).is_ok());
        for bad in ["http://example.org", "ftp://x", "https://", "https:// x", "javascript:alert(1)", "example.org"] {
            assert!(url("avatar_url", bad, false).is_err(), "{bad} accepted");
        }
    }
}
