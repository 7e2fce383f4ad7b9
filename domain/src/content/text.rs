//! Post and comment text: length, media URLs, `#hashtags`, `@mentions`, and the
//! moderation word list that rejects or flags content.

use crate::input::{self, InvalidInput};
use events::catalog::content::PostBody;

/// What the word list does with a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordAction {
    /// Content containing the word is refused.
    Reject,
    /// Content is published but marked for moderators.
    Flag,
}

/// Moderation words, matched whole-word and case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordList {
    words: Vec<(String, WordAction)>,
}

impl WordList {
    /// Parses `word, other:flag, third:reject`: comma-separated entries, a bare
    /// word rejects. An empty spec is an empty list.
    pub fn parse(spec: &str) -> Result<Self, InvalidInput> {
        let mut words = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (word, action) = match entry.rsplit_once(':') {
                Some((word, "flag")) => (word, WordAction::Flag),
                Some((word, "reject")) => (word, WordAction::Reject),
                Some(_) => return Err(InvalidInput::new("words", format!("{entry:?}: action must be flag or reject"))),
                None => (entry, WordAction::Reject),
            };
            let word = word.trim().to_lowercase();
            if word.is_empty() || word.contains(char::is_whitespace) {
                return Err(InvalidInput::new("words", format!("{entry:?} is not a single word")));
            }
            words.push((word, action));
        }
        Ok(Self { words })
    }

    /// The listed words found in `text`, with their actions.
    fn matches(&self, text: &str) -> Vec<(&str, WordAction)> {
        let tokens: Vec<String> = text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect();
        self.words.iter().filter(|(w, _)| tokens.iter().any(|t| t == w)).map(|(w, a)| (w.as_str(), *a)).collect()
    }
}

/// Most media attachments on a post.
pub const MAX_MEDIA: usize = 4;

/// Builds a post body from raw input: checks the text (field `text`) and
/// media (`media[i]`), parses tags and mentions, applies the word list.
pub fn compose(text: &str, media: &[String], words: &WordList, max_chars: usize) -> Result<PostBody, InvalidInput> {
    let text = input::text("text", text, 1, max_chars, true)?;
    if media.len() > MAX_MEDIA {
        return Err(InvalidInput::new("media", format!("at most {MAX_MEDIA} attachments")));
    }
    let media = media
        .iter()
        .enumerate()
        .map(|(i, url)| input::url(&format!("media[{i}]"), url, false))
        .collect::<Result<Vec<_>, _>>()?;
    let found = words.matches(&text);
    if found.iter().any(|(_, action)| *action == WordAction::Reject) {
        return Err(InvalidInput::new("text", "contains a word that is not allowed"));
    }
    let flagged = found.into_iter().map(|(word, _)| word.to_owned()).collect();
    Ok(PostBody { hashtags: hashtags(&text), mentions: mentions(&text), text, media, flagged })
}

/// `#tag` words: letters, digits and `_`, 1 to 50 long, lowercased, first
/// occurrence order, at most 30.
pub fn hashtags(text: &str) -> Vec<String> {
    tagged(text, '#', |c| c.is_alphanumeric() || c == '_', 1, 50, 30)
}

/// `@handle` words: 3 to 30 of `a-z 0-9 _`, lowercased, not inside an email
/// address, first occurrence order.
pub fn mentions(text: &str) -> Vec<String> {
    tagged(text, '@', |c| c.is_ascii_alphanumeric() || c == '_', 3, 30, 50)
}

fn tagged(text: &str, sigil: char, word: fn(char) -> bool, min: usize, max: usize, most: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<String> = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == sigil);
        if *c != sigil || !starts_word {
            continue;
        }
        let tag: String = chars[i + 1..].iter().take_while(|c| word(**c)).collect::<String>().to_lowercase();
        let length = tag.chars().count();
        if (min..=max).contains(&length) && !found.contains(&tag) && found.len() < most {
            found.push(tag);
        }
    }
    found
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
    fn tags_and_mentions_are_parsed_from_text() {
        check("Hello #Rust and @Ana_99,", &["rust"], &["ana_99"]);
        check("#café #Café ##x # alone", &["café"], &[]);
        check("mail a@b.com or @bo and @ben!", &[], &["ben"]);
        check("#Rust! #rust #go", &["rust", "go"], &[]);
        check("x#notatag @ANA", &[], &["ana"]);
    }

    #[test]
    fn listed_words_reject_or_flag_whole_words_only() {
        let words = WordList::parse("spam, shady:flag").unwrap();
        assert!(compose("this is SPAM.", &[], &words, 100).is_err());
        assert_eq!(compose("spammer shady deal", &[], &words, 100).unwrap().flagged, ["shady"]);
        assert!(WordList::parse("two words").is_err());
        assert!(WordList::parse("x:maybe").is_err());
        assert_eq!(WordList::parse(" ").unwrap(), WordList::default());
    }

    #[test]
    fn media_must_be_few_https_urls() {
        let words = WordList::default();
        assert!(compose("hi", &["http://x.org/a.png".to_owned()], &words, 10).is_err());
        let five = vec!["https://x.org/a.png".to_owned(); 5];
        assert_eq!(compose("hi", &five, &words, 10).unwrap_err().field, "media");
        let err = compose("hi", &["https://x.org/a".to_owned(), "nope".to_owned()], &words, 10).unwrap_err();
        assert_eq!(err.field, "media[1]");
    }
}
