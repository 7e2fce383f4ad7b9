//! Documents kept as the JSON a page sends, for the process serving queries.
//! A home feed page is twenty posts, most of them on other users' pages too,
//! and once their documents come from the read cache, building each post from
//! its document's map and writing it out is most of what the page costs.
//!
//! A rendered document is served again only while rendering it anew would give
//! the same bytes: the document is the very one it was rendered from (the read
//! cache hands out the same shared document until a progress notice or its time
//! to live drops it, and a document read anew is a new one), and whatever else
//! went into it (`With`: a post's author name, which comes from another document
//! whose counters move far more often than the name) is equal. Nothing here
//! needs to hear of changes, so nothing here can miss one.

use read_store::Document;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// One rendered document as JSON, shared by every page that shows it.
#[derive(Debug, Clone)]
pub struct Json(Arc<RawValue>);

impl Json {
    /// `value` as JSON.
    pub fn of(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| Self(Arc::from(raw)))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Rendered documents by id, each with what else it was rendered from; cheap
/// to clone, clones share them.
pub struct Rendered<With>(Arc<Inner<With>>);

impl<With> Clone for Rendered<With> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

struct Inner<With> {
    kept: Mutex<Kept<With>>,
    capacity: usize,
}

/// Entries by id, hashed as the read cache hashes ids (see `read_store::cache`).
type Kept<With> = HashMap<String, Entry<With>, foldhash::fast::RandomState>;

struct Entry<With> {
    /// The document it was rendered from. Held weakly: a document the cache
    /// dropped is freed all the same, while its address, which says whether
    /// a document is that one, is not given to another as long as this lives.
    doc: Weak<Document>,
    with: With,
    json: Json,
}

impl<With: PartialEq> Rendered<With> {
    /// Room for `capacity` documents; zero keeps none.
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(Inner { kept: Mutex::new(HashMap::default()), capacity }))
    }

    /// For each of a page's documents `(id, doc, with)`, its JSON if it was
    /// rendered from `doc` itself and `with`; one lock for the page.
    pub fn lookup_all<'a>(
        &self,
        docs: impl Iterator<Item = (&'a str, &'a Arc<Document>, &'a With)>,
    ) -> Vec<Option<Json>>
    where
        With: 'a,
    {
        let kept = self.kept();
        docs.map(|(id, doc, with)| {
            let entry = kept.get(id)?;
            (std::ptr::eq(entry.doc.as_ptr(), Arc::as_ptr(doc)) && entry.with == *with).then(|| entry.json.clone())
        })
        .collect()
    }

    /// Keeps the JSON of document `id`, rendered from `doc` and `with`.
    pub fn keep(&self, id: &str, doc: &Arc<Document>, with: With, json: Json) {
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
        kept.insert(id.to_owned(), Entry { doc: Arc::downgrade(doc), with, json });
    }

    /// How many documents are kept.
    pub fn len(&self) -> usize {
        self.kept().len()
    }

    /// Whether no document is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kept(&self) -> MutexGuard<'_, Kept<With>> {
        // A panic while holding the lock leaves the map whole: keep using it.
        self.0.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(likes: i64) -> Arc<Document> {
        Arc::new(json!({ "likes": likes }).as_object().cloned().unwrap_or_default())
    }

    fn author(name: &str) -> String {
        name.to_owned()
    }

    fn json(text: &str) -> Json {
        Json::of(&text).unwrap()
    }

    impl Rendered<String> {
        fn lookup(&self, id: &str, doc: &Arc<Document>, with: &String) -> Option<Json> {
            self.lookup_all(std::iter::once((id, doc, with))).pop().flatten()
        }
    }

    #[test]
    fn json_is_served_again_only_for_the_same_document_and_the_same_rest() {
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
    fn a_page_is_looked_up_in_its_order_each_document_on_its_own() {
        let rendered = Rendered::new(10);
        let (one, two, author) = (doc(1), doc(2), author("Ana"));
        rendered.keep("p1", &one, author.clone(), json("one"));
        rendered.keep("p2", &two, author.clone(), json("two"));
        let other = doc(2);

        let page = [("p2", &two, &author), ("p3", &one, &author), ("p1", &one, &author), ("p2", &other, &author)];
        let found: Vec<Option<String>> =
            rendered.lookup_all(page.into_iter()).into_iter().map(|j| j.map(|j| j.get().to_owned())).collect();

        assert_eq!(found, [Some(r#""two""#.into()), None, Some(r#""one""#.into()), None]);
    }

    #[test]
    fn a_dropped_document_is_freed_and_its_json_never_served_for_another() {
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
    fn the_kept_documents_never_exceed_the_capacity_and_zero_keeps_none() {
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
