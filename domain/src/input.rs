//! Parsing user input at the edge: text lengths, URLs, and the unicode tricks
//! (bidirectional overrides, zero-width, invisible and control characters)
//! that make text look other than it is. Every error names the field.
//!
//! Text is refused by Unicode general category rather than by a list of
//! known tricks, because a list always misses the next one: format characters
//! (Cf), line and paragraph separators (Zl, Zp), private use (Co), unassigned
//! code points (Cn) and controls (Cc, but for line breaks and tabs where several
//! lines are allowed). A few invisible characters of other categories are
//! refused by name. Accepted text is normalised to NFC, so two spellings of
//! `é` are one string for comparisons, tags and the word list.

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

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

/// Trims `raw`, normalises it to NFC and checks it holds `min..=max`
/// characters (Unicode scalar values, counted after normalisation) and no
/// control, format or invisible characters (see the module comment). Newlines
/// and tabs are allowed only when `multiline`.
pub fn text(field: &str, raw: &str, min: usize, max: usize, multiline: bool) -> Result<String, InvalidInput> {
    let trimmed = raw.trim();
    // Most text is printable ASCII: one byte per character, already in NFC and
    // nothing to refuse. A branch-free pass over the bytes (it vectorizes) tells.
    let plain = trimmed.bytes().fold(true, |plain, b| plain & allowed_ascii(b, multiline));
    if plain {
        check_length(field, trimmed.len(), min, max)?;
        return Ok(trimmed.to_owned());
    }
    let normalised: String = trimmed.nfc().collect();
    let chars: Vec<char> = normalised.chars().collect();
    check_length(field, chars.len(), min, max)?;
    if let Some(bad) = (0..chars.len()).map(|at| (at, chars[at])).find(|(at, _)| !allowed(&chars, *at, multiline)) {
        return Err(InvalidInput::new(field, format!("contains the disallowed character U+{:04X}", bad.1 as u32)));
    }
    Ok(normalised)
}

fn check_length(field: &str, count: usize, min: usize, max: usize) -> Result<(), InvalidInput> {
    if count < min || count > max {
        let range = if min == 0 { format!("at most {max}") } else { format!("{min} to {max}") };
        return Err(InvalidInput::new(field, format!("must be {range} characters long (is {count})")));
    }
    Ok(())
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

/// Zero-width joiner: glues emoji into one picture (families, professions,
/// ❤️‍🔥). A social app must accept those, so it is the one format character
/// allowed, and only between two visible characters: at either end of the
/// text or of a word it joins nothing and only hides something.
const ZWJ: char = '\u{200D}';

/// Whether the character at `at` may stand where it is.
fn allowed(chars: &[char], at: usize, multiline: bool) -> bool {
    let c = chars[at];
    if c == '\n' || c == '\t' {
        return multiline;
    }
    // The emoji presentation selector counts as part of the emoji before it
    // (❤️‍🔥 is ❤, U+FE0F, a joiner, 🔥).
    let visible = |neighbour: Option<&char>| {
        neighbour
            .is_some_and(|&n| !n.is_whitespace() && n != ZWJ && (!is_variation_selector(n) || is_emoji_presentation(n)))
    };
    let before = at.checked_sub(1).and_then(|i| chars.get(i));
    match c {
        ZWJ => visible(before) && visible(chars.get(at + 1)),
        // Text and emoji presentation selectors (❤ as ❤️) are everyday emoji;
        // one may follow a visible character, never another selector, so no
        // run of invisible selectors can carry hidden data.
        '\u{FE0E}' | '\u{FE0F}' => {
            before.is_some_and(|b| !b.is_whitespace() && *b != ZWJ && !is_variation_selector(*b))
        }
        c if is_variation_selector(c) || is_invisible_letter(c) => false,
        c => !matches!(
            get_general_category(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned
                | GeneralCategory::Surrogate
        ),
    }
}

/// Variation selectors are nonspacing marks (Mn), so the categories let
/// them through, yet they are invisible and can be stacked to smuggle text.
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{180B}'..='\u{180D}' | '\u{180F}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The emoji presentation selector, after which a joiner may follow.
fn is_emoji_presentation(c: char) -> bool {
    c == '\u{FE0F}'
}

/// Characters of visible categories that draw nothing: the Hangul fillers
/// (Lo, used to make blank names), the combining grapheme joiner (Mn) and the
/// Braille blank (So).
fn is_invisible_letter(c: char) -> bool {
    matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{034F}' | '\u{2800}')
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

/// Longest reason (for a report, a hide, a cancellation), in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Defines a reason someone gives: 1 to [`MAX_REASON_CHARS`] characters, line
/// breaks allowed, checked by [`text`] (field `reason`). Only its `parse`
/// makes one; `parse_optional` reads an absent or blank reason as none.
macro_rules! reason {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Trims and checks a raw reason (field `reason`).
            pub fn parse(raw: &str) -> Result<Self, $crate::input::InvalidInput> {
                $crate::input::text("reason", raw, 1, $crate::input::MAX_REASON_CHARS, true).map(Self)
            }

            /// An optional reason as sent: absent or blank is no reason.
            pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, $crate::input::InvalidInput> {
                raw.filter(|r| !r.trim().is_empty()).map(Self::parse).transpose()
            }

            /// The reason as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The reason as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}
pub(crate) use reason;

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

    #[track_caller]
    fn refused(raw: &str, multiline: bool) {
        let err = text("body", raw, 1, 100, multiline).expect_err(raw);
        assert_eq!(err.field, "body");
        assert!(err.problem.contains("U+"), "{raw:?}: {err}");
    }

    #[test]
    fn every_invisible_or_reordering_character_is_refused_wherever_it_stands() {
        let tricks = [
            '\u{0007}',   // bell (Cc)
            '\u{000D}',   // carriage return (Cc): lines end with \n only
            '\u{0085}',   // next line (Cc)
            '\u{00AD}',   // soft hyphen (Cf)
            '\u{034F}',   // combining grapheme joiner (Mn, by name)
            '\u{061C}',   // Arabic letter mark (Cf)
            '\u{115F}',   // Hangul choseong filler (Lo, by name)
            '\u{1160}',   // Hangul jungseong filler (Lo, by name)
            '\u{180B}',   // Mongolian variation selector (Mn, by name)
            '\u{180E}',   // Mongolian vowel separator (Cf)
            '\u{200B}',   // zero-width space (Cf)
            '\u{200C}',   // zero-width non-joiner (Cf)
            '\u{200E}',   // left-to-right mark (Cf)
            '\u{200F}',   // right-to-left mark (Cf)
            '\u{2028}',   // line separator (Zl)
            '\u{2029}',   // paragraph separator (Zp)
            '\u{202A}',   // left-to-right embedding (Cf)
            '\u{202E}',   // right-to-left override (Cf)
            '\u{2060}',   // word joiner (Cf)
            '\u{2064}',   // invisible plus (Cf)
            '\u{2066}',   // left-to-right isolate (Cf)
            '\u{2069}',   // pop directional isolate (Cf)
            '\u{2800}',   // Braille blank (So, by name)
            '\u{3164}',   // Hangul filler (Lo, by name)
            '\u{E000}',   // private use (Co)
            '\u{FE00}',   // variation selector 1 (Mn, by name)
            '\u{FEFF}',   // byte order mark (Cf)
            '\u{FFA0}',   // halfwidth Hangul filler (Lo, by name)
            '\u{FFF9}',   // interlinear annotation anchor (Cf)
            '\u{FFFB}',   // interlinear annotation terminator (Cf)
            '\u{E0001}',  // language tag (Cf)
            '\u{E0041}',  // tag latin capital A (Cf): invisible ASCII smuggling
            '\u{E007F}',  // cancel tag (Cf)
            '\u{E0100}',  // variation selector 17 (Mn, by name)
            '\u{F0000}',  // supplementary private use (Co)
            '\u{0378}',   // unassigned (Cn)
            '\u{10FFFF}', // noncharacter (Cn)
        ];
        for trick in tricks {
            for multiline in [false, true] {
                refused(&format!("a{trick}b"), multiline);
                // Separators that are also white space are trimmed at the ends.
                if !trick.is_whitespace() {
                    refused(&format!("{trick}ab"), multiline);
                    refused(&format!("ab{trick}"), multiline);
                }
            }
        }
    }

    #[test]
    fn emoji_sequences_keep_their_joiners_and_presentation_selectors() {
        for emoji in [
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}", // family
            "\u{1F469}\u{1F3FD}\u{200D}\u{1F4BB}",         // technologist, skin tone
            "\u{2764}\u{FE0F}\u{200D}\u{1F525}",           // heart on fire
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",          // rainbow flag
            "\u{2764}\u{FE0F}",                            // red heart
            "1\u{FE0F}\u{20E3}",                           // keycap one
            "\u{1F1EB}\u{1F1F7}",                          // flag of France
        ] {
            assert_eq!(text("body", &format!("hi {emoji}!"), 1, 100, false), Ok(format!("hi {emoji}!")));
        }
    }

    #[test]
    fn a_joiner_or_selector_that_joins_nothing_is_refused() {
        for stray in [
            "\u{200D}ab",
            "ab\u{200D}",
            "a \u{200D}b",
            "a\u{200D} b",
            "a\u{200D}\u{200D}b",
            "\u{FE0F}ab",
            "a \u{FE0F}b",
            "a\u{FE0F}\u{FE0F}b",
            "a\u{200D}\u{FE0F}b",
        ] {
            refused(stray, true);
        }
    }

    #[test]
    fn accepted_text_is_normalised_to_nfc_and_counted_after() {
        assert_eq!(text("name", "cafe\u{301}", 1, 4, false), Ok("caf\u{E9}".to_owned()));
        assert_eq!(text("name", "\u{212B}", 1, 1, false), Ok("\u{C5}".to_owned()), "the angstrom sign is Å");
        assert!(text("name", "ordinary\u{00A0}space and \u{6771}\u{4EAC}", 1, 100, false).is_ok());
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
