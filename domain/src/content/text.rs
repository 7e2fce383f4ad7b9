//! Post and comment text: length, media URLs, `#hashtags`, `@mentions`, and the
//! moderation word list that rejects or flags content. [`compose`] turns raw
//! input into a [`PostBody`]; nothing else builds one from user input.

use crate::input::{self, InvalidInput};
use events::catalog::content::PostBody;
use std::collections::HashSet;

/// Longest post text, in characters.
pub const MAX_POST_CHARS: usize = 5000;
/// Longest comment text, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Most media attachments on a post.
pub const MAX_MEDIA: usize = 4;
/// Most hashtags kept from one text; later ones are ignored.
pub const MAX_HASHTAGS: usize = 30;
/// Most mentions kept from one text; later ones are ignored, which bounds the
/// notifications one post can send.
pub const MAX_MENTIONS: usize = 50;

/// What the word list does with content containing a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordAction {
    /// The content is refused.
    Reject,
    /// The content is published but marked for moderators.
    Flag,
}

/// Moderation words, matched as whole words, ignoring case and the accents of
/// common Latin letters (`Café`, `CAFE` and `cafe\u{301}` all match `cafe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordList {
    words: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    /// As listed, lowercased: what [`PostBody::flagged`] reports.
    listed: String,
    /// Lowercased and without accents: what text is compared with.
    folded: String,
    action: WordAction,
}

impl WordList {
    /// A list from words and their actions. Each word must be a single word
    /// of letters and digits; anything else could never match whole-word.
    pub fn new<W: AsRef<str>>(words: impl IntoIterator<Item = (W, WordAction)>) -> Result<Self, InvalidInput> {
        let words = words
            .into_iter()
            .map(|(word, action)| {
                let listed = word.as_ref().trim().to_lowercase();
                let folded = fold(&listed);
                if folded.is_empty() || !folded.chars().all(char::is_alphanumeric) {
                    return Err(InvalidInput::new(
                        "words",
                        format!("{listed:?} is not a single word of letters and digits"),
                    ));
                }
                Ok(Word { listed, folded, action })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { words })
    }

    /// Parses `word, other:flag, third:reject`: comma-separated entries, a bare
    /// word rejects, whitespace around words and actions is ignored. An empty
    /// or blank spec is an empty list. Errors name the field `words`.
    pub fn parse(spec: &str) -> Result<Self, InvalidInput> {
        let entries = spec
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.rsplit_once(':') {
                None => Ok((entry, WordAction::Reject)),
                Some((word, action)) => match action.trim() {
                    "reject" => Ok((word, WordAction::Reject)),
                    "flag" => Ok((word, WordAction::Flag)),
                    _ => Err(InvalidInput::new("words", format!("{entry:?}: the action must be flag or reject"))),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(entries)
    }

    /// Whether the list has no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The listed words found in `text`, in list order, each once.
    fn matches<'a>(&'a self, text: &str) -> Vec<&'a Word> {
        if self.words.is_empty() {
            return Vec::new();
        }
        let folded = fold(&text.to_lowercase());
        let tokens: HashSet<&str> = folded.split(|c: char| !c.is_alphanumeric()).collect();
        let mut found: Vec<&Word> = Vec::new();
        for word in &self.words {
            if tokens.contains(word.folded.as_str()) && !found.iter().any(|w| w.listed == word.listed) {
                found.push(word);
            }
        }
        found
    }
}

/// Builds a post body from raw input: trims and checks the text (field
/// `text`, 1 to `max_chars` characters, line breaks allowed), checks the media
/// (field `media` for the count, `media[i]` for each https URL), parses
/// hashtags and mentions, and applies the word list: a `Reject` word refuses
/// the text without naming the word, `Flag` words go to [`PostBody::flagged`].
pub fn compose(text: &str, media: &[String], words: &WordList, max_chars: usize) -> Result<PostBody, InvalidInput> {
    let text = input::text("text", text, 1, max_chars, true)?;
    if media.len() > MAX_MEDIA {
        return Err(InvalidInput::new(
            "media",
            format!("must hold at most {MAX_MEDIA} attachments (holds {})", media.len()),
        ));
    }
    let media = media
        .iter()
        .enumerate()
        .map(|(i, url)| input::url(&format!("media[{i}]"), url, false))
        .collect::<Result<Vec<_>, _>>()?;
    let found = words.matches(&text);
    // The word is not echoed: the message would teach how to get around the list.
    if found.iter().any(|word| word.action == WordAction::Reject) {
        return Err(InvalidInput::new("text", "contains a word that is not allowed"));
    }
    let flagged = found.into_iter().map(|word| word.listed.clone()).collect();
    Ok(PostBody { hashtags: hashtags(&text), mentions: mentions(&text), text, media, flagged })
}

/// [`compose`] for a comment: at most [`MAX_COMMENT_CHARS`], no media.
pub fn compose_comment(text: &str, words: &WordList) -> Result<PostBody, InvalidInput> {
    compose(text, &[], words, MAX_COMMENT_CHARS)
}

/// `#tag`s in `text`: `#` then 1 to 50 letters (any script), digits or `_`,
/// lowercased, each once, in order of first appearance, at most
/// [`MAX_HASHTAGS`]. A `#` right after a letter, digit, `_` or `#` starts no
/// tag (`x#y`, `##y`), a tag glued to a following `#` is none (`#a#b`), and a
/// longer run is no tag rather than a cut one.
pub fn hashtags(text: &str) -> Vec<String> {
    // Combining accents continue a tag, so `cafe\u{301}` is not cut to `cafe`.
    let tag_char = |c: char| c.is_alphanumeric() || c == '_' || is_combining_accent(c);
    tagged(text, '#', tag_char, 1..=50, MAX_HASHTAGS)
}

/// `@handle`s in `text`: `@` then 3 to 30 of `a-z 0-9 _` in any case,
/// lowercased, each once, in order of first appearance, at most
/// [`MAX_MENTIONS`]. An `@` right after a letter, digit, `_` or `@` starts no
/// mention, so email addresses do not count; neither does a run followed by a
/// letter outside `a-z` (`@anaé`) or a longer run.
pub fn mentions(text: &str) -> Vec<String> {
    tagged(text, '@', |c| c.is_ascii_alphanumeric() || c == '_', 3..=30, MAX_MENTIONS)
}

fn tagged(
    text: &str,
    sigil: char,
    part: impl Fn(char) -> bool,
    length: std::ops::RangeInclusive<usize>,
    most: usize,
) -> Vec<String> {
    // A sigil or tag glued to a word, or to another sigil, is part of something
    // else: an email address, a URL fragment, `##`.
    let glued = |c: char| c.is_alphanumeric() || c == '_' || c == sigil || is_combining_accent(c);
    let mut found: Vec<String> = Vec::new();
    for (at, _) in text.match_indices(sigil) {
        if text[..at].chars().next_back().is_some_and(glued) {
            continue;
        }
        let rest = &text[at + sigil.len_utf8()..];
        let end = rest.find(|c: char| !part(c)).unwrap_or(rest.len());
        let run = &rest[..end];
        if !length.contains(&run.chars().count()) || rest[end..].chars().next().is_some_and(glued) {
            continue;
        }
        let tag = run.to_lowercase();
        if !found.contains(&tag) {
            found.push(tag);
            if found.len() == most {
                break;
            }
        }
    }
    found
}

fn is_combining_accent(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// Lowercase `text` without the accents of common Latin letters, for matching
/// only: `crème brûlée` becomes `creme brulee`.
fn fold(lowercase: &str) -> String {
    let mut folded = String::with_capacity(lowercase.len());
    for c in lowercase.chars() {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' | 'đ' | 'ð' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ğ' => 'g',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
            'ł' => 'l',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ř' => 'r',
            'ś' | 'š' | 'ş' | 'ș' => 's',
            'ť' | 'ţ' | 'ț' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            'ß' => {
                folded.push_str("ss");
                continue;
            }
            'æ' => {
                folded.push_str("ae");
                continue;
            }
            'œ' => {
                folded.push_str("oe");
                continue;
            }
            c if is_combining_accent(c) => continue,
            c => c,
        };
        folded.push(base);
    }
    folded
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, tags: &[&str], people: &[&str]) {
        assert_eq!(hashtags(text), tags, "hashtags of {text:?}");
        assert_eq!(mentions(text), people, "mentions of {text:?}");
    }

    #[test]
    fn hashtags_and_mentions_are_parsed_from_text() {
        check("Hello #Rust and @Ana_99,", &["rust"], &["ana_99"]);
        check("#", &[], &[]);
        check("a # alone, and @ alone", &[], &[]);
        check("##x and @@ana", &[], &[]);
        check("#Rust! #rust #RUST #go", &["rust", "go"], &[]);
        check("#café #Café #CAFÉ", &["café"], &[]);
        check("#cafe\u{301} is one tag", &["cafe\u{301}"], &[]);
        check("#東京 #2024 #snake_case", &["東京", "2024", "snake_case"], &[]);
        check("x#notatag _#nor #this#either", &[], &[]);
        check("mail a@b.com or ana@example.org", &[], &[]);
        check("@ab is too short, @bo too, @ana is not", &[], &["ana"]);
        check("@ANA @ana @Ana_99, @ben.", &[], &["ana", "ana_99", "ben"]);
        check("@anaé @ana@host.org (@ben)", &[], &["ben"]);
        check("(#tag) [#list] \"#quoted\"", &["tag", "list", "quoted"], &[]);
    }

    #[test]
    fn over_long_tags_and_handles_are_ignored_not_cut() {
        let tag50 = "t".repeat(50);
        check(&format!("#{tag50} #{tag50}x"), &[&tag50], &[]);
        let handle30 = "h".repeat(30);
        check(&format!("@{handle30} @{handle30}x"), &[], &[&handle30]);
    }

    #[test]
    fn at_most_30_hashtags_and_50_mentions_are_kept() {
        let text: String = (0..40).map(|i| format!("#t{i} @user{i} ")).collect::<String>() + "@more";
        let tags = hashtags(&text);
        assert_eq!((tags.len(), tags[29].as_str()), (30, "t29"));
        let people: String = (0..60).map(|i| format!("@user{i} ")).collect();
        assert_eq!(mentions(&people).len(), 50);
    }

    #[test]
    fn a_rejected_word_refuses_the_text_without_naming_it() {
        let words = WordList::parse("spam").unwrap();
        let err = compose("this is SPAM.", &[], &words, 100).unwrap_err();
        assert_eq!(err, InvalidInput::new("text", "contains a word that is not allowed"));
        assert!(compose("spammer and antispam are other words", &[], &words, 100).is_ok());
        assert!(compose("#spam", &[], &words, 100).is_err());
    }

    #[test]
    fn flagged_words_are_published_and_listed_once() {
        let words = WordList::parse(" shady : flag , Deal:flag, nope:reject").unwrap();
        let body = compose("Shady DEAL, so shady #deal", &[], &words, 100).unwrap();
        assert_eq!(body.flagged, ["shady", "deal"]);
        assert_eq!(compose("all fine", &[], &words, 100).unwrap().flagged, Vec::<String>::new());
        assert!(compose("shady nope", &[], &words, 100).is_err());
    }

    #[test]
    fn accents_do_not_get_around_the_word_list() {
        let words = WordList::parse("creme:flag, café").unwrap();
        assert_eq!(compose("CRÈME", &[], &words, 100).unwrap().flagged, ["creme"]);
        assert!(compose("a cafe", &[], &words, 100).is_err());
        assert!(compose("a CAFÉ", &[], &words, 100).is_err());
        assert!(compose("a cafe\u{301}", &[], &words, 100).is_err());
    }

    #[test]
    fn word_list_specs_are_checked() {
        assert_eq!(WordList::parse("").unwrap(), WordList::default());
        assert!(WordList::parse(" , ,").unwrap().is_empty());
        for bad in ["two words", "x:maybe", "f*ck", ":flag", "spam,,ok:rejct"] {
            assert_eq!(WordList::parse(bad).map_err(|e| e.field), Err("words".to_owned()), "{bad:?}");
        }
        let built = WordList::new([("Spam", WordAction::Reject), ("shady", WordAction::Flag)]).unwrap();
        assert_eq!(built, WordList::parse("spam, shady:flag").unwrap());
    }

    #[test]
    fn text_is_trimmed_and_limited() {
        let words = WordList::default();
        assert_eq!(compose("  hi #x \n", &[], &words, 10).unwrap().text, "hi #x");
        assert_eq!(compose("   ", &[], &words, 10).unwrap_err().field, "text");
        assert_eq!(compose(&"x".repeat(11), &[], &words, 10).unwrap_err().field, "text");
        assert!(compose_comment(&"x".repeat(MAX_COMMENT_CHARS), &words).is_ok());
        assert!(compose_comment(&"x".repeat(MAX_COMMENT_CHARS + 1), &words).is_err());
    }

    #[test]
    fn media_must_be_at_most_4_https_urls() {
        let words = WordList::default();
        let urls = |n: usize| vec!["https://cdn.example.org/a.png".to_owned(); n];
        assert_eq!(compose("hi", &urls(4), &words, 10).unwrap().media.len(), 4);
        assert_eq!(compose("hi", &urls(5), &words, 10).unwrap_err().field, "media");
        let err = compose("hi", &["https://x.org/a".to_owned(), "http://x.org/b".to_owned()], &words, 10).unwrap_err();
        assert_eq!(err.field, "media[1]");
    }
}
