//! The contract between a read model and the engine that runs it.

use events::catalog::{Context, DomainEvent};
use read_store::{Collection, Direction, Document, Filter, Query, ReadStore, ReadStoreError, Write};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// One event as a projection sees it: what happened, where it is in its
/// stream, and when it was decided.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The event.
    pub event: &'a DomainEvent,
    /// Its sequence in its context's stream.
    pub sequence: u64,
    /// When it was decided (the CloudEvents `time`).
    pub time: OffsetDateTime,
}

/// A read model built from the log. `apply` is pure: the writes follow from
/// the event alone. Each document is written at most once per event (the
/// engine stamps every write with the event's sequence, so a second write to
/// the same document would be held back as a replay).
pub trait Projection: Send + Sync + 'static {
    /// A stable name (`profiles`): consumer names, checkpoints and CLI use it.
    fn name(&self) -> &'static str;

    /// The streams it reads; each is consumed on its own, in order.
    fn contexts(&self) -> &'static [Context];

    /// The collections it writes, under their plain names.
    fn collections(&self) -> Vec<Collection>;

    /// The writes one event makes, to collections under their plain names.
    fn apply(&self, event: Event<'_>) -> Vec<Write>;
}

/// Which build of a projection: collections are named per generation, so a
/// rebuild fills generation n+1 while queries read generation n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Generation(pub u32);

impl Generation {
    /// The generation a projection starts with.
    pub const FIRST: Self = Self(1);

    /// A throwaway generation that is never live: what `verify` builds to
    /// compare with the live one.
    pub const SCRATCH: Self = Self(0);

    /// The store's name for the collection `plain` in this generation.
    pub fn collection(self, plain: &str) -> String {
        format!("{plain}_g{}", self.0)
    }

    /// The generation a store collection name belongs to, when it is one of
    /// [`Generation::collection`]'s: the collections only projections write.
    pub fn of(collection: &str) -> Option<Self> {
        let (plain, number) = collection.rsplit_once("_g")?;
        let digits = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        (!plain.is_empty() && digits).then(|| number.parse().ok().map(Self)).flatten()
    }

    /// The next one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// Readies the writes of one event for the store: collections renamed for
    /// this generation, and each write stamped with the event's sequence in
    /// the mark of its stream (`mark_users`, ...), so the store applies it
    /// once per document however often the event is delivered.
    pub fn stamp(self, writes: Vec<Write>, context: Context, sequence: u64) -> Vec<Write> {
        let mark = mark_field(context);
        writes
            .into_iter()
            .map(|write| Write { collection: self.collection(&write.collection), ..write }.marked(&mark, sequence))
            .collect()
    }

    /// The projection's collections renamed for this generation.
    pub fn collections(self, projection: &dyn Projection) -> Vec<Collection> {
        projection
            .collections()
            .into_iter()
            .map(|c| Collection { name: self.collection(&c.name), indexes: c.indexes })
            .collect()
    }
}

/// The field in which documents keep the sequence of the last event of
/// `context` that wrote them.
pub fn mark_field(context: Context) -> String {
    format!("mark_{}", context.as_str())
}

/// Every document of one generation of a projection, by collection (plain
/// name) and id: what a rebuild is compared with. Reads each collection in
/// pages along its first index, so it costs one pass over the model.
pub async fn snapshot<S: ReadStore>(
    store: &S,
    projection: &dyn Projection,
    generation: Generation,
) -> Result<BTreeMap<(String, String), Document>, ReadStoreError> {
    let mut all = BTreeMap::new();
    for collection in projection.collections() {
        let Some(field) = collection.indexes.first().and_then(|index| index.first()) else { continue };
        let name = generation.collection(&collection.name);
        let mut query = Query::new(Filter::all(), field, Direction::Ascending);
        loop {
            let page = store.find(&name, &query).await?;
            for found in page.items {
                all.insert((collection.name.clone(), found.id), found.doc);
            }
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => break,
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::Generation;

    #[test]
    fn a_collection_name_tells_its_generation_and_other_names_none() {
        assert_eq!(Generation::of(&Generation(12).collection("posts")), Some(Generation(12)));
        assert_eq!(Generation::of(&Generation::SCRATCH.collection("missed_messages")), Some(Generation(0)));
        for other in ["checkpoints", "projections", "missed_messages", "_g1", "posts_g", "posts_gx1", "posts_g-1"] {
            assert_eq!(Generation::of(other), None, "{other}");
        }
    }
}
