//! Search words: how text becomes the `tokens` a document carries and a query
//! asks for. Search must run on every MongoDB, including servers without text
//! indexes, so it is plain equality on an indexed array of normalized words,
//! computed here, the same way for both sides.
//!
//! A word is a run of letters and digits, decomposed (NFKD), stripped of
//! combining marks and lowercased: "Zoë" and "ZOE" are both `zoe`, "#Rust" is
//! `rust`. [`prefix_tokens`] adds every prefix of every word, so a document
//! indexed with it is found by the start of any of its words ("ana" finds
//! "Anabel"); [`tokens`] is what a query searches for.
//!
//! Names (handles, display names) are also found by the middle of a word
//! ("ana" finds "Mariana"): [`substring_tokens`] stores each word's first one
//! and two characters and every run of three (trigram), and [`substring_query`]
//! asks for a short query word (1-2 characters) as a prefix and for every
//! trigram of a longer one. A word of n characters gives at most n tokens, so
//! a document's list grows with its text, not with its square as prefixes
//! of every position would.

use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words longer than this are cut to it, on both sides, so a search for a very
/// long word still matches and a document cannot carry unbounded prefixes.
pub const MAX_WORD_CHARS: usize = 32;

/// The distinct normalized words of `text`, in order of first appearance.
pub fn tokens(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut seen = HashSet::new();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect::<String>())
        .filter(|word| seen.insert(word.clone()))
        .collect()
}

/// `text` decomposed, stripped of combining marks and lowercased. ASCII has
/// nothing to decompose or strip, so most text takes the short way.
fn fold(text: &str) -> String {
    if text.is_ascii() { text.to_ascii_lowercase() } else { fold_unicode(text) }
}

fn fold_unicode(text: &str) -> String {
    text.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// The words of `text` and every prefix of each (from one character), distinct:
/// what a document stores when it should be found by the start of a word.
pub fn prefix_tokens(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for word in tokens(text) {
        let mut prefix = String::new();
        for c in word.chars() {
            prefix.push(c);
            if seen.insert(prefix.clone()) {
                out.push(prefix.clone());
            }
        }
    }
    out
}

/// The most tokens [`substring_tokens`] returns: a handle (30 characters)
/// and a display name (50) make at most 80, one per character; the cap only
/// bites on text whose normalization expands (a ligature, a squared unit).
pub const MAX_SUBSTRING_TOKENS: usize = 128;

/// The longest query word that is looked up as a prefix rather than by trigrams.
pub const SHORT_WORD_CHARS: usize = 2;

/// The words of `text` as name search sees them: [`tokens`] of the lowercased
/// text. Lowercasing first matters: some capitals lowercase to a letter plus a
/// combining mark ("İ" to "i̇"), which [`tokens`] strips only if it is there
/// before it decomposes, so "İpek" and "ipek" are the same word here.
pub fn name_words(text: &str) -> Vec<String> {
    tokens(&text.to_lowercase())
}

/// What a name document stores to be found by a prefix or a substring of any
/// of its words: per word of `texts` (in order, so the first text's tokens are
/// kept when the cap bites), its first one and two characters and each of its
/// trigrams, distinct, at most [`MAX_SUBSTRING_TOKENS`].
pub fn substring_tokens(texts: &[&str]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for word in texts.iter().flat_map(|text| name_words(text)) {
        let chars: Vec<char> = word.chars().collect();
        let prefixes = (1..=SHORT_WORD_CHARS.min(chars.len())).map(|n| &chars[..n]);
        for piece in prefixes.chain(chars.windows(3)) {
            let piece: String = piece.iter().collect();
            if seen.insert(piece.clone()) {
                out.push(piece);
            }
        }
    }
    out.truncate(MAX_SUBSTRING_TOKENS);
    out
}

/// The tokens a name search asks for: each word of `text` of one or two
/// characters as itself (a prefix, matched by a document's first characters
/// of a word), each longer word as its trigrams (a substring, up to the
/// false positives trigrams allow: see [`substring_matches`]). Distinct; empty
/// when `text` holds no word.
pub fn substring_query(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for word in name_words(text) {
        let chars: Vec<char> = word.chars().collect();
        let pieces: Vec<String> = if chars.len() <= SHORT_WORD_CHARS {
            vec![word]
        } else {
            chars.windows(3).map(|w| w.iter().collect()).collect()
        };
        out.extend(pieces.into_iter().filter(|piece| seen.insert(piece.clone())));
    }
    out
}

/// Whether every word of `query` is, exactly, a prefix (1-2 characters) or a
/// substring (longer) of some word of `texts`. Trigrams over-match ("anaa"
/// has the trigrams of "ana naa"), so a search checks each document it found
/// with this before returning it.
pub fn substring_matches(query: &str, texts: &[&str]) -> bool {
    let words: Vec<String> = texts.iter().flat_map(|text| name_words(text)).collect();
    name_words(query).iter().all(|q| {
        if q.chars().count() <= SHORT_WORD_CHARS {
            words.iter().any(|w| w.starts_with(q.as_str()))
        } else {
            words.iter().any(|w| w.contains(q.as_str()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: &[&str]) {
        assert_eq!(tokens(text), expected, "tokens of {text:?}");
    }

    #[test]
    fn words_are_lowercased_accent_folded_and_split_on_anything_else() {
        check("Zoë", &["zoe"]);
        check("ÉLODIE Ångström", &["elodie", "angstrom"]);
        check("#Rust, rust & RUST!", &["rust"]);
        check("crème-brûlée_2024", &["creme", "brulee", "2024"]);
        check("ﬁne ｆｕｌｌ width", &["fine", "full", "width"]);
        check("Дмитрий Ёлкин", &["дмитрии", "елкин"]);
        check("  ... !!! ", &[]);
        check("", &[]);
    }

    #[test]
    fn ascii_takes_the_short_way_to_the_same_folding() {
        let every: String = (0u8..128).map(char::from).collect();
        assert_eq!(fold(&every), fold_unicode(&every));
    }

    #[test]
    fn a_very_long_word_is_cut_the_same_way_on_both_sides() {
        let long = "a".repeat(100);
        assert_eq!(tokens(&long), vec!["a".repeat(MAX_WORD_CHARS)]);
        assert_eq!(prefix_tokens(&long).len(), MAX_WORD_CHARS);
    }

    #[test]
    fn prefixes_cover_the_start_of_every_word_once() {
        assert_eq!(prefix_tokens("Ana anabel"), vec!["a", "an", "ana", "anab", "anabe", "anabel"]);
        assert!(prefix_tokens("").is_empty());
    }

    /// Whether a document of `texts` holds every token a query for `query` asks for.
    fn found(query: &str, texts: &[&str]) -> bool {
        let doc = substring_tokens(texts);
        let asked = substring_query(query);
        !asked.is_empty() && asked.iter().all(|t| doc.contains(t))
    }

    #[test]
    fn a_name_is_found_by_any_prefix_or_substring_of_its_words_in_any_case_or_accent() {
        let ana = ["ana_silva", "Mariana José"];
        for query in ["m", "ma", "MAR", "ana", "riana", "jose", "JOSÉ", "ana_s", "sil", "silva", "ana silva"] {
            assert!(found(query, &ana), "{query:?} should find {ana:?}");
            assert!(substring_matches(query, &ana), "{query:?} should match {ana:?}");
        }
        // Two letters are looked up as the start of a word only: "ar" and "os"
        // sit inside words of `ana`, not at their start.
        for query in ["ar", "os", "x", "anax", "silvia", "ana_x"] {
            assert!(!(found(query, &ana) && substring_matches(query, &ana)), "{query:?} should not find {ana:?}");
        }
    }

    #[test]
    fn short_query_words_are_prefixes_and_long_ones_are_trigrams() {
        assert_eq!(substring_query("Jo"), ["jo"]);
        assert_eq!(substring_query("José"), ["jos", "ose"]);
        assert_eq!(substring_query("ana_s"), ["ana", "s"]);
        assert_eq!(substring_query("ana ana"), ["ana"]);
        assert!(substring_query(" _-!").is_empty());
        assert_eq!(substring_tokens(&["Mariana"]), ["m", "ma", "mar", "ari", "ria", "ian", "ana"]);
        assert_eq!(substring_tokens(&["a_bc"]), ["a", "b", "bc"]);
    }

    #[test]
    fn trigrams_over_match_and_the_exact_check_says_so() {
        let texts = ["ana naa"];
        assert!(found("anaa", &texts), "every trigram of anaa is there, in two words");
        assert!(!substring_matches("anaa", &texts));
    }

    #[test]
    fn a_capital_that_lowercases_with_a_mark_folds_like_its_plain_letter() {
        assert_eq!(name_words("İpek"), ["ipek"]);
        assert!(found("ipek", &["İpek"]));
    }

    #[test]
    fn a_documents_tokens_are_bounded_by_its_length_and_the_cap() {
        let handle = "a".repeat(10) + &"b".repeat(10) + &"c".repeat(10);
        let name = "x".repeat(25) + " " + &"y".repeat(25);
        assert!(substring_tokens(&[&handle, &name]).len() <= handle.len() + name.len());
        let distinct: String = ('a'..='z').chain('0'..='9').collect();
        let long = [distinct.as_str(); 10].join(" ") + &"ｱ".repeat(300);
        assert!(substring_tokens(&[&long, &long]).len() <= MAX_SUBSTRING_TOKENS);
        let every: Vec<String> = (0..200).map(|i| format!("w{i:03}")).collect();
        assert_eq!(substring_tokens(&[&every.join(" ")]).len(), MAX_SUBSTRING_TOKENS);
        assert_eq!(substring_tokens(&["abc", &every.join(" ")])[..3], ["a", "ab", "abc"], "the first text is kept");
    }
}
