//! The words the store speaks, shared by every backend: collections and their
//! indexes, documents, filters, queries, pages and updates. Everything a caller
//! hands the store is checked here once ([`Collection::check_query`],
//! [`check_updates`], ...), so a backend receives only names it may put in a
//! query and values of the kinds it can compare.

use crate::ReadStoreError;
use serde_json::{Map, Value};

/// A document: a JSON object. Its id is kept beside it, never inside it.
pub type Document = Map<String, Value>;

/// The field a searchable document keeps its words in (see [`crate::tokens()`]).
pub const TOKENS_FIELD: &str = "tokens";

/// The most items a page holds; a larger limit is lowered to it.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The longest id the store accepts, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// A named collection and the fields it is queried by, declared in code and
/// created at start-up by [`crate::ReadStore::ensure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// Table or collection name: a lowercase ASCII letter, then up to 47
    /// lowercase letters, digits or single `_` (a backend joins names with `__`).
    pub name: String,
    /// Each index is a list of fields, compared in that order, with the
    /// document id last. Filters and sorts may only use fields named here, so
    /// no query scans a collection by accident.
    pub indexes: Vec<Vec<String>>,
}

impl Collection {
    /// A collection with no indexes yet.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), indexes: Vec::new() }
    }

    /// Adds an index over `fields`, in that order (e.g. `["author", "created_at"]`
    /// for "posts by author, newest first").
    pub fn index(mut self, fields: &[&str]) -> Self {
        self.indexes.push(fields.iter().map(|f| (*f).to_owned()).collect());
        self
    }

    /// Whether `field` is in one of the indexes.
    pub fn is_indexed(&self, field: &str) -> bool {
        self.indexes.iter().flatten().any(|f| f == field)
    }

    /// Every field some index names, each once, in the order first named.
    pub fn fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        for field in self.indexes.iter().flatten() {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
        fields
    }

    /// Refuses a name or an index field outside the allowed charset.
    pub fn check(&self) -> Result<(), ReadStoreError> {
        let ok = self.name.len() <= 48
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !self.name.contains("__");
        if !ok {
            return Err(ReadStoreError::Invalid(format!("collection name {:?}", self.name)));
        }
        for index in &self.indexes {
            if index.is_empty() {
                return Err(ReadStoreError::Invalid(format!("an empty index on {}", self.name)));
            }
            index.iter().try_for_each(|field| check_field(field))?;
        }
        Ok(())
    }

    /// Refuses a filter or an order on a field that is not indexed.
    pub fn check_query(&self, filter: &Filter, order: Option<&Order>) -> Result<(), ReadStoreError> {
        for (field, value) in &filter.equals {
            check_field(field)?;
            if !self.is_indexed(field) {
                return Err(ReadStoreError::Invalid(format!("{field} is not indexed in {}", self.name)));
            }
            check_scalar(field, value)?;
        }
        if let Some(order) = order {
            check_field(&order.field)?;
            if !self.is_indexed(&order.field) {
                return Err(ReadStoreError::Invalid(format!("{} is not indexed in {}", order.field, self.name)));
            }
        }
        Ok(())
    }
}

/// Refuses a field name that is not an ASCII letter followed by up to 63
/// letters, digits or single `_`. Names come from code, but they end up in
/// SQL and in MongoDB paths, where `.` and `$` mean something: checked all the
/// same. A backend joins names with `__` to name its indexes, so that
/// separator cannot occur inside one.
pub fn check_field(field: &str) -> Result<(), ReadStoreError> {
    let ok = field.len() <= 64
        && field.starts_with(|c: char| c.is_ascii_alphabetic())
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !field.contains("__");
    if ok { Ok(()) } else { Err(ReadStoreError::Invalid(format!("field name {field:?}"))) }
}

/// Refuses more ids than a page holds, or any bad one.
pub fn check_ids(ids: &[String]) -> Result<(), ReadStoreError> {
    if ids.len() > MAX_PAGE_SIZE as usize {
        return Err(ReadStoreError::Invalid(format!("{} ids in one read", ids.len())));
    }
    ids.iter().try_for_each(|id| check_id(id))
}

/// Refuses an empty or over-long id.
pub fn check_id(id: &str) -> Result<(), ReadStoreError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ReadStoreError::Invalid(format!("an id of {} bytes", id.len())));
    }
    Ok(())
}

/// Refuses a document with a top-level field name outside the charset, or
/// whose `tokens` is anything but an array of strings.
pub fn check_document(doc: &Document) -> Result<(), ReadStoreError> {
    doc.keys().try_for_each(|key| check_field(key))?;
    match doc.get(TOKENS_FIELD) {
        None => Ok(()),
        Some(Value::Array(words)) if words.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ReadStoreError::Invalid(format!("{TOKENS_FIELD} must be an array of strings"))),
    }
}

/// Only strings, numbers and booleans can be filtered on: `null` and arrays
/// match differently in SQL and in MongoDB (a missing field, any element), so
/// neither backend is asked to pretend.
fn check_scalar(field: &str, value: &Value) -> Result<(), ReadStoreError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(ReadStoreError::Invalid(format!("{field} can only be compared to a string, number or boolean"))),
    }
}

/// Which documents: every equality holds, and the `tokens` array holds every word.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Indexed field and the value it must equal.
    pub equals: Vec<(String, Value)>,
    /// Normalized words (from [`crate::tokens()`]) the document's `tokens` must all contain.
    pub words: Option<Vec<String>>,
}

impl Filter {
    /// Every document.
    pub fn all() -> Self {
        Self::default()
    }

    /// Also requires `field == value`.
    pub fn eq(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.equals.push((field.to_owned(), value.into()));
        self
    }

    /// Also requires every word of `text` among the document's `tokens`. Text
    /// without a single word matches nothing: an empty search box shows no
    /// results, not the whole collection.
    pub fn search(mut self, text: &str) -> Self {
        self.words.get_or_insert_with(Vec::new).extend(crate::tokens(text));
        self
    }

    /// Whether the search part can match nothing at all.
    pub fn matches_nothing(&self) -> bool {
        self.words.as_ref().is_some_and(Vec::is_empty)
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first (newest first, for times).
    Descending,
}

/// Sort by one indexed field, then by id in the same direction, so the order is
/// total and a cursor is a position in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The indexed field.
    pub field: String,
    /// Its direction, also the id's.
    pub direction: Direction,
}

/// One page's worth of a filter, in an order, after a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which documents.
    pub filter: Filter,
    /// In which order.
    pub order: Order,
    /// At most this many (lowered to [`MAX_PAGE_SIZE`], raised to 1).
    pub limit: u32,
    /// The `next` of the previous page, as the client sent it back.
    pub after: Option<String>,
}

impl Query {
    /// The first page of `filter` by `field` ascending, [`MAX_PAGE_SIZE`] items.
    pub fn new(filter: Filter, field: &str, direction: Direction) -> Self {
        Self { filter, order: Order { field: field.to_owned(), direction }, limit: MAX_PAGE_SIZE, after: None }
    }

    /// At most `limit` items.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Resumes after the page whose `next` was `cursor`.
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }

    /// The page size a backend uses.
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE_SIZE)
    }
}

/// A document found, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The document id.
    pub id: String,
    /// The document.
    pub doc: Document,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The documents, in the query's order.
    pub items: Vec<Found>,
    /// Pass back as [`Query::after`] for the next page; `None` on the last one.
    pub next: Option<String>,
}

/// One change to one field of a document. Each is idempotent or commutes, the
/// two kinds a projection can replay cheaply: setting a value, a counter that
/// moves, membership in a set.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Sets the field to the value (any JSON).
    Set(String, Value),
    /// Adds to a number; a missing field counts as 0.
    Increment(String, i64),
    /// Appends the value to an array field unless an equal element is there;
    /// a missing field becomes `[value]`.
    AddToSet(String, Value),
    /// Removes every element equal to the value from an array field; a missing
    /// field stays missing.
    RemoveFromSet(String, Value),
}

impl Update {
    /// The field this changes.
    pub fn field(&self) -> &str {
        match self {
            Update::Set(f, _) | Update::Increment(f, _) | Update::AddToSet(f, _) | Update::RemoveFromSet(f, _) => f,
        }
    }
}

/// What [`crate::ReadStore::update`] does when the document does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// Applies the updates to an empty document and stores it (upsert).
    Create,
    /// Leaves it missing.
    Skip,
}

/// A stamp that makes a write apply at most once. The write goes ahead only
/// when the document's `field` is missing or holds a number below `sequence`,
/// and it leaves `sequence` there. A projection stamps each document with the
/// log sequence of the last event that changed it, so an event delivered
/// again, or replayed after a crash in the middle of a batch, changes nothing:
/// counters included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Where the document keeps the sequence (one field per stream read).
    pub field: String,
    /// The sequence of the event making the write.
    pub sequence: u64,
}

/// What a [`Write`] does to its document.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Stores the whole document, replacing any other.
    Put(Document),
    /// Removes the document.
    Delete,
    /// Applies the updates atomically (see [`Update`]).
    Update(Vec<Update>, IfMissing),
}

/// One change to one document, maybe held back by a [`Mark`]: the unit of
/// [`crate::ReadStore::write`].
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The collection.
    pub collection: String,
    /// The document id.
    pub id: String,
    /// The change.
    pub change: Change,
    /// Applies the change only once per sequence, when set.
    pub mark: Option<Mark>,
}

impl Write {
    /// Stores `doc` under `id`.
    pub fn put(collection: &str, id: &str, doc: Document) -> Self {
        Self::new(collection, id, Change::Put(doc))
    }

    /// Removes the document `id`.
    pub fn delete(collection: &str, id: &str) -> Self {
        Self::new(collection, id, Change::Delete)
    }

    /// Updates the document `id`.
    pub fn update(collection: &str, id: &str, updates: Vec<Update>, missing: IfMissing) -> Self {
        Self::new(collection, id, Change::Update(updates, missing))
    }

    /// Applies only if the document's `field` is missing or below `sequence`.
    pub fn marked(mut self, field: &str, sequence: u64) -> Self {
        self.mark = Some(Mark { field: field.to_owned(), sequence });
        self
    }

    fn new(collection: &str, id: &str, change: Change) -> Self {
        Self { collection: collection.to_owned(), id: id.to_owned(), change, mark: None }
    }

    /// Refuses a bad id, document, update list or mark field before anything
    /// runs. A mark's field may not be written by the change itself.
    pub fn check(&self) -> Result<(), ReadStoreError> {
        check_id(&self.id)?;
        match &self.change {
            Change::Put(doc) => check_document(doc)?,
            Change::Delete => {}
            Change::Update(updates, _) => check_updates(updates)?,
        }
        if let Some(mark) = &self.mark {
            check_field(&mark.field)?;
            let clash = match &self.change {
                Change::Put(doc) => doc.contains_key(&mark.field),
                Change::Delete => false,
                Change::Update(updates, _) => updates.iter().any(|u| u.field() == mark.field),
            };
            if clash || mark.field == TOKENS_FIELD {
                return Err(ReadStoreError::Invalid(format!("{} is a mark and written by the change", mark.field)));
            }
            if i64::try_from(mark.sequence).is_err() {
                return Err(ReadStoreError::Invalid(format!("a mark of {}", mark.sequence)));
            }
        }
        Ok(())
    }
}

impl Mark {
    /// Whether a document (or none) lets a write with this mark through.
    pub fn admits(&self, doc: Option<&Document>) -> bool {
        match doc.and_then(|d| d.get(&self.field)) {
            None => true,
            // A mark that is not a number is not below anything, as in MongoDB.
            Some(stored) => stored.as_u64().is_some_and(|stored| stored < self.sequence),
        }
    }
}

/// Refuses updates with a bad field name, or two that touch the same field:
/// MongoDB refuses those too, and their order would otherwise matter.
pub fn check_updates(updates: &[Update]) -> Result<(), ReadStoreError> {
    let mut seen = std::collections::HashSet::new();
    for update in updates {
        check_field(update.field())?;
        if !seen.insert(update.field()) {
            return Err(ReadStoreError::Invalid(format!("{} is updated twice", update.field())));
        }
    }
    Ok(())
}

/// Applies checked updates to a document in memory: the reference semantics,
/// which a backend without an update language (SQLite) runs as is.
pub fn apply_updates(doc: &mut Document, updates: &[Update]) -> Result<(), ReadStoreError> {
    for update in updates {
        match update {
            Update::Set(field, value) => {
                doc.insert(field.clone(), value.clone());
            }
            Update::Increment(field, by) => {
                let next = match doc.get(field) {
                    None => Value::from(*by),
                    Some(Value::Number(n)) => match n.as_i64().and_then(|n| n.checked_add(*by)) {
                        Some(sum) => Value::from(sum),
                        None => match n.as_f64().and_then(|n| serde_json::Number::from_f64(n + *by as f64)) {
                            Some(sum) => Value::Number(sum),
                            None => return Err(wrong_type(field, "a finite number")),
                        },
                    },
                    Some(_) => return Err(wrong_type(field, "a number")),
                };
                doc.insert(field.clone(), next);
            }
            Update::AddToSet(field, value) => match doc.get_mut(field) {
                None => {
                    doc.insert(field.clone(), Value::Array(vec![value.clone()]));
                }
                Some(Value::Array(items)) => {
                    if !items.contains(value) {
                        items.push(value.clone());
                    }
                }
                Some(_) => return Err(wrong_type(field, "an array")),
            },
            Update::RemoveFromSet(field, value) => match doc.get_mut(field) {
                None => {}
                Some(Value::Array(items)) => items.retain(|item| item != value),
                Some(_) => return Err(wrong_type(field, "an array")),
            },
        }
    }
    Ok(())
}

fn wrong_type(field: &str, expected: &'static str) -> ReadStoreError {
    ReadStoreError::WrongType { field: field.to_owned(), expected }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn field_names_outside_the_charset_are_refused() {
        for bad in ["", "_id", "a.b", "$inc", "a b", "1st", "naïve", "a__b", &"a".repeat(65)] {
            assert!(check_field(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["a", "created_at", "followers2"] {
            assert!(check_field(good).is_ok(), "{good:?} should pass");
        }
    }

    #[test]
    fn filters_and_orders_only_use_indexed_fields_and_scalars() {
        let posts = Collection::new("posts").index(&["author", "created_at"]);
        assert!(posts.check_query(&Filter::all().eq("author", "ana"), None).is_ok());
        assert!(posts.check_query(&Filter::all().eq("body", "x"), None).is_err());
        assert!(posts.check_query(&Filter::all().eq("author", Value::Null), None).is_err());
        assert!(posts.check_query(&Filter::all().eq("author", json!(["a"])), None).is_err());
        let order = Order { field: "likes".into(), direction: Direction::Ascending };
        assert!(posts.check_query(&Filter::all(), Some(&order)).is_err());
    }

    #[test]
    fn updating_one_field_twice_in_one_call_is_refused() {
        let updates = [Update::Increment("n".into(), 1), Update::Set("n".into(), json!(3))];
        assert!(check_updates(&updates).is_err());
    }

    #[test]
    fn updates_apply_as_documented() {
        let mut d = doc(json!({"n": 1, "f": 1.5, "set": ["a"]}));
        let updates = [
            Update::Increment("n".into(), 2),
            Update::Increment("f".into(), 1),
            Update::Increment("new".into(), -1),
            Update::AddToSet("set".into(), json!("a")),
            Update::AddToSet("other".into(), json!("x")),
            Update::RemoveFromSet("gone".into(), json!("x")),
            Update::Set("name".into(), json!("Ana")),
        ];
        apply_updates(&mut d, &updates).unwrap();
        assert_eq!(Value::Object(d), json!({"n": 3, "f": 2.5, "new": -1, "set": ["a"], "other": ["x"], "name": "Ana"}));
    }

    #[test]
    fn an_increment_of_text_or_a_set_operation_on_a_number_is_a_wrong_type() {
        let mut d = doc(json!({"name": "ana", "n": 1}));
        assert!(matches!(
            apply_updates(&mut d, &[Update::Increment("name".into(), 1)]),
            Err(ReadStoreError::WrongType { .. })
        ));
        assert!(matches!(
            apply_updates(&mut d, &[Update::AddToSet("n".into(), json!(1))]),
            Err(ReadStoreError::WrongType { .. })
        ));
    }
}
