//! The read-model store: where projections keep what queries read. A small
//! document store, JSON objects by string id in named collections, behind one
//! trait, [`ReadStore`], with an embedded SQLite backend ([`SqliteStore`], the
//! default: bundled, no server) and a MongoDB one ([`MongoStore`]). Everything
//! here can be thrown away and rebuilt from the event log.
//!
//! Owns: the operations projections and queries need and nothing more
//! (get, put, delete, field updates that replay cheaply, batches of writes
//! each guarded by a [`Mark`] so a replayed event applies once, dropping a
//! collection, indexed equality queries in a stable order with opaque
//! cursors, counts, word search), their
//! checks ([`model`]), cursors ([`cursor`]) and search words ([`tokens()`]);
//! a cache of documents by id in front of any backend ([`cache`]), for the
//! process serving queries.
//! Never touches: events, NATS, HTTP, the shape of any read model.
//!
//! Search does not use text indexes (the MongoDB server the tests run against
//! has none): a searchable document carries a `tokens` array of normalized
//! words, from [`tokens()`] or [`prefix_tokens`], and a search asks for
//! documents whose `tokens` contain every word of the query.
//!
//! Every backend passes the same behaviours, [`conformance`] (feature
//! `conformance`), each a pub async fn a backend's tests call on a fresh store.

pub mod any;
pub mod cache;
pub mod cursor;
pub mod model;
pub mod mongo;
pub mod sqlite;
pub mod tokens;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use any::AnyStore;
pub use cache::{CacheSettings, CacheStats, Cached, Docs};
pub use model::{
    Change, Collection, Direction, Document, Filter, Found, IfMissing, MAX_PAGE_SIZE, Mark, Order, Page, Query,
    TOKENS_FIELD, Update, Write,
};
pub use mongo::MongoStore;
pub use sqlite::SqliteStore;
pub use tokens::{prefix_tokens, substring_matches, substring_query, substring_tokens, tokens};

use std::future::Future;
use std::sync::Arc;

/// Failures of the read-model store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadStoreError {
    /// A page cursor that this store did not make for this query: forged,
    /// truncated, or from another list. The client's mistake.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A collection, field, id, filter or update the store refuses; a bug in
    /// the calling code, not in the data.
    #[error("invalid request to the read store: {0}")]
    Invalid(String),
    /// The collection was not declared with [`ReadStore::ensure`].
    #[error("collection {0} was not declared")]
    UnknownCollection(String),
    /// An update met a stored field of another type (an increment of text).
    #[error("field {field} is not {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// What the update needed it to be.
        expected: &'static str,
    },
    /// The database is down, locked, full or unreachable; nothing changed.
    #[error("read store unavailable: {0}")]
    Unavailable(String),
    /// A stored document is not a readable JSON object.
    #[error("unreadable document: {0}")]
    Codec(String),
}

/// What projections and queries need from a document store. Ids and
/// documents are plain; names of collections and fields come from code and
/// are checked anyway ([`model::check_field`]); values are always passed as
/// data, never spliced into a query.
pub trait ReadStore: Send + Sync + 'static {
    /// Creates the collections and their indexes if missing; safe to run at
    /// every start-up, and declares them to this handle. Indexes are added,
    /// never dropped.
    fn ensure(&self, collections: &[Collection]) -> impl Future<Output = Result<(), ReadStoreError>> + Send;

    /// The document with this id, if any.
    fn get(&self, collection: &str, id: &str) -> impl Future<Output = Result<Option<Document>, ReadStoreError>> + Send;

    /// The documents with these ids, in the same order (`None` where there is
    /// none): one round trip where a backend can, so a page of results that
    /// each name another document costs two reads, not one per item. At most
    /// [`MAX_PAGE_SIZE`] ids.
    fn get_many(
        &self,
        collection: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Document>>, ReadStoreError>> + Send;

    /// [`ReadStore::get_many`], the documents shared rather than owned: a
    /// cache ([`Cached`]) hands out what it keeps without copying it, which
    /// is what a page of many documents spends most on otherwise.
    fn get_many_shared(
        &self,
        collection: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Arc<Document>>>, ReadStoreError>> + Send {
        async move {
            let docs = self.get_many(collection, ids).await?;
            Ok(docs.into_iter().map(|doc| doc.map(Arc::new)).collect())
        }
    }

    /// Applies the writes in order, each atomically; how many changed
    /// something (a write its mark held back, a [`IfMissing::Skip`] update of
    /// a missing document and a delete of nothing change nothing). A batch is
    /// not one transaction on every backend: a failure may leave its first
    /// writes applied, which [`Mark`]s make safe to run again.
    fn write(&self, writes: &[Write]) -> impl Future<Output = Result<u64, ReadStoreError>> + Send;

    /// [`ReadStore::write`] of writes the caller shares rather than lends: a
    /// backend that applies them on another thread takes them as they are,
    /// where a borrowed batch would be copied first, and a projector's batch
    /// of thousands of writes is not cheap to copy.
    fn write_shared(&self, writes: Arc<[Write]>) -> impl Future<Output = Result<u64, ReadStoreError>> + Send {
        async move { self.write(&writes).await }
    }

    /// Removes a collection with its documents and indexes, and forgets its
    /// declaration; nothing happens when it does not exist.
    fn drop_collection(&self, collection: &str) -> impl Future<Output = Result<(), ReadStoreError>> + Send;

    /// Stores the whole document under the id, replacing any other.
    fn put(
        &self,
        collection: &str,
        id: &str,
        doc: &Document,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send {
        let write = Write::put(collection, id, doc.clone());
        async move { self.write(std::slice::from_ref(&write)).await.map(drop) }
    }

    /// Removes the document; whether there was one.
    fn delete(&self, collection: &str, id: &str) -> impl Future<Output = Result<bool, ReadStoreError>> + Send {
        let write = Write::delete(collection, id);
        async move { self.write(std::slice::from_ref(&write)).await.map(|n| n > 0) }
    }

    /// Applies the updates to one document atomically (all or none), creating
    /// it from an empty one when missing and asked to. Whether a document was
    /// updated or created. See [`Update`] for each operation's rules.
    fn update(
        &self,
        collection: &str,
        id: &str,
        updates: &[Update],
        missing: IfMissing,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send {
        let write = Write::update(collection, id, updates.to_vec(), missing);
        async move { self.write(std::slice::from_ref(&write)).await.map(|n| n > 0) }
    }

    /// One page of the documents matching the query's filter, in its order
    /// (then by id), after its cursor.
    fn find(&self, collection: &str, query: &Query) -> impl Future<Output = Result<Page, ReadStoreError>> + Send;

    /// How many documents match the filter.
    fn count(&self, collection: &str, filter: &Filter) -> impl Future<Output = Result<u64, ReadStoreError>> + Send;
}
