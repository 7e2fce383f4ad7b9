//! The backend chosen at start-up, as one type: services hold an [`AnyStore`]
//! and never name a backend. (The trait's methods return `impl Future`, so a
//! `dyn ReadStore` is not possible; an enum costs one match per call.)

use crate::model::{Collection, Document, Filter, Page, Query, Write};
use crate::{MongoStore, ReadStore, ReadStoreError, SqliteStore};
use std::sync::Arc;

/// One of the backends.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// The embedded SQLite store.
    Sqlite(SqliteStore),
    /// A MongoDB database.
    Mongo(MongoStore),
}

impl From<MongoStore> for AnyStore {
    fn from(store: MongoStore) -> Self {
        Self::Mongo(store)
    }
}

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

impl ReadStore for AnyStore {
    async fn ensure(&self, collections: &[Collection]) -> Result<(), ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.ensure(collections).await,
            Self::Mongo(s) => s.ensure(collections).await,
        }
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Document>, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.get(collection, id).await,
            Self::Mongo(s) => s.get(collection, id).await,
        }
    }

    async fn get_many(&self, collection: &str, ids: &[String]) -> Result<Vec<Option<Document>>, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.get_many(collection, ids).await,
            Self::Mongo(s) => s.get_many(collection, ids).await,
        }
    }

    async fn write(&self, writes: &[Write]) -> Result<u64, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.write(writes).await,
            Self::Mongo(s) => s.write(writes).await,
        }
    }

    async fn write_shared(&self, writes: Arc<[Write]>) -> Result<u64, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.write_shared(writes).await,
            Self::Mongo(s) => s.write_shared(writes).await,
        }
    }

    async fn drop_collection(&self, collection: &str) -> Result<(), ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.drop_collection(collection).await,
            Self::Mongo(s) => s.drop_collection(collection).await,
        }
    }

    async fn find(&self, collection: &str, query: &Query) -> Result<Page, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.find(collection, query).await,
            Self::Mongo(s) => s.find(collection, query).await,
        }
    }

    async fn count(&self, collection: &str, filter: &Filter) -> Result<u64, ReadStoreError> {
        match self {
            Self::Sqlite(s) => s.count(collection, filter).await,
            Self::Mongo(s) => s.count(collection, filter).await,
        }
    }
}
