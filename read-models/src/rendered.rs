//! Posts kept as the JSON a page sends, for the process serving queries. A
//! home feed page is twenty posts, most of them on other users' pages too,
//! and once their documents come from the read cache, building each post from
//! its document's map and writing it out is most of what the page costs.
//!
//! A rendered post is served again only while rendering it anew would give
//! the same bytes: the post document is the very one it was rendered from (the
//! read cache hands out the same shared document until a progress notice or
//! its time to live drops it, and a document read anew is a new one), and its
//! author's handle and display name are unchanged (they come from another
//! document, whose counters move far more often than the names). Nothing here
//! needs to hear of changes, so nothing here can miss one.

use crate::posts::Author;
use read_store::Document;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// One post as JSON, shared by every page that shows it.
#[derive(Debug, Clone)]
pub struct PostJson(Arc<RawValue>);

impl PostJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for PostJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The rendered posts, by post id; cheap to clone, clones share them.
#[derive(Clone)]
pub struct Rendered(Arc<Inner>);

struct Inner {
    kept: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

struct Entry {
    /// The document it was rendered from. Held weakly: a document the cache
    /// dropped is freed all the same, while its address, which says whether
    /// a document is that one, is not given to another as long as this lives.
    doc: Weak<Document>,
    author: Author,
    json: PostJson,
}

impl Rendered {
    /// Room for `capacity` posts; zero keeps none.
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(Inner { kept: Mutex::new(HashMap::new()), capacity }))
    }

    /// The JSON of post `id` if it was rendered from `doc` itself, by `author`.
    pub(crate) fn lookup(&self, id: &str, doc: &Arc<Document>, author: &Author) -> Option<PostJson> {
        let kept = self.kept();
        let entry = kept.get(id)?;
        (std::ptr::eq(entry.doc.as_ptr(), Arc::as_ptr(doc)) && entry.author == *author).then(|| entry.json.clone())
    }

    /// Keeps the JSON of post `id`, rendered from `doc` by `author`.
    pub(crate) fn keep(&self, id: &str, doc: &Arc<Document>, author: Author, json: PostJson) {
        if self.0.capacity == 0 {
            return;
        }
        let mut kept = self.kept();
        if kept.len() >= self.0.capacity && !kept.contains_key(id) {
            // Hash order is as good as random, and costs no bookkeeping on reads.
            if let Some(victim) = kept.keys().next().cloned() {
                kept.remove(&victim);
            }
        }
        kept.insert(id.to_owned(), Entry { doc: Arc::downgrade(doc), author, json });
    }

    /// How many posts are kept.
    pub fn len(&self) -> usize {
        self.kept().len()
    }

    /// Whether no post is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kept(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves the map whole: keep using it.
        self.0.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PostJson {
    /// `value` as JSON.
    pub(crate) fn of(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| Self(Arc::from(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(likes: i64) -> Arc<Document> {
        Arc::new(json!({ "likes": likes }).as_object().cloned().unwrap_or_default())
    }

    fn author(name: &str) -> Author {
        Author { user: "u1".into(), handle: Some("ana".into()), display_name: Some(name.into()) }
    }

    fn json(text: &str) -> PostJson {
        PostJson::of(&text).unwrap()
    }

    #[test]
    fn a_post_is_served_again_only_for_the_same_document_and_author_name() {
        let rendered = Rendered::new(10);
        let (first, author) = (doc(1), author("Ana"));
        rendered.keep("p1", &first, author.clone(), json("one"));
        assert_eq!(rendered.lookup("p1", &first, &author).map(|j| j.get().to_owned()), Some(r#""one""#.into()));
        // An equal document read anew is another document: rendered again.
        assert!(rendered.lookup("p1", &doc(1), &author).is_none());
        assert!(rendered.lookup("p1", &first, &self::author("Ana Lima")).is_none());
        assert!(rendered.lookup("p2", &first, &author).is_none());
    }

    #[test]
    fn a_dropped_document_is_freed_and_its_post_never_served_for_another() {
        let rendered = Rendered::new(10);
        let author = author("Ana");
        let first = doc(1);
        let weak = Arc::downgrade(&first);
        rendered.keep("p1", &first, author.clone(), json("one"));
        drop(first);
        assert!(weak.upgrade().is_none(), "the kept entry must not keep the document alive");
        for likes in 0..100 {
            assert!(rendered.lookup("p1", &doc(likes), &author).is_none());
        }
    }

    #[test]
    fn the_kept_posts_never_exceed_the_capacity_and_zero_keeps_none() {
        let rendered = Rendered::new(3);
        let (d, author) = (doc(1), author("Ana"));
        for n in 0..10 {
            rendered.keep(&format!("p{n}"), &d, author.clone(), json("x"));
            assert!(rendered.len() <= 3);
        }
        let none = Rendered::new(0);
        none.keep("p1", &d, author, json("x"));
        assert!(none.is_empty());
    }
}
