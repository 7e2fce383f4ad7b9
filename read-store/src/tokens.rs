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

use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words longer than this are cut to it, on both sides, so a search for a very
/// long word still matches and a document cannot carry unbounded prefixes.
pub const MAX_WORD_CHARS: usize = 32;

/// The distinct normalized words of `text`, in order of first appearance.
pub fn tokens(text: &str) -> Vec<String> {
    let folded: String = text.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect();
    let mut seen = HashSet::new();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect::<String>())
        .filter(|word| seen.insert(word.clone()))
        .collect()
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
}
