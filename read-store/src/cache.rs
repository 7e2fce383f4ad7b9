//! A cache of documents by id in front of a store, for the process that
//! serves queries. A feed page names twenty posts and their authors, and
//! reading and decoding those from the store is most of what the page costs;
//! the same posts are on many users' pages.
//!
//! The cache does not see the documents change. Whoever learns of a change
//! (the projectors' progress notices, in `projectors::Progress`) calls
//! [`Docs::forget`] for the documents a batch wrote, or [`Docs::clear`] when
//! it cannot say which. Two rules keep what it serves true:
//! - a document read from the store is kept only if nothing was forgotten
//!   while it was being read (an epoch counter), so a read that raced a change
//!   never puts the old version back after the change was announced;
//! - every entry expires after a time to live: the bound on how stale a
//!   document can be when an announcement was lost and none followed it.
//!
//! Only the collections the cache admits are served from it; documents that
//! do not exist are not kept, and every query (`find`, `count`) goes to the
//! store.

use crate::model::{Collection, Document, Filter, Page, Query, Write};
use crate::{ReadStore, ReadStoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How much the cache holds and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// The most documents kept; zero keeps none.
    pub capacity: usize,
    /// How long a document is served from the cache after it was read.
    pub ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { capacity: 20_000, ttl: Duration::from_secs(30) }
    }
}

/// What a cache did, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Documents served from the cache.
    pub hits: u64,
    /// Documents asked for that had to be read from the store.
    pub misses: u64,
    /// Documents kept now.
    pub kept: usize,
}

/// The cached documents, shared by every clone; cheap to clone.
#[derive(Clone)]
pub struct Docs(Arc<Inner>);

struct Inner {
    kept: Mutex<Kept>,
    /// Moves on every forget and clear.
    epoch: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    settings: CacheSettings,
    admits: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

/// Keyed by names and ids: hashed with a per-process random seed (foldhash),
/// as unpredictable to a stranger choosing ids as SipHash is and several
/// times faster on short keys, which every document read pays for.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// The entries by collection, then id, so a lookup borrows its keys.
#[derive(Default)]
struct Kept {
    collections: Map<Map<Entry>>,
    len: usize,
}

impl Kept {
    fn remove(&mut self, collection: &str, id: &str) {
        if let Some(entries) = self.collections.get_mut(collection)
            && entries.remove(id).is_some()
        {
            self.len -= 1;
        }
    }

    /// Makes room for one more, dropping any one entry.
    fn evict_one(&mut self) {
        // Hash order is as good as random here, and costs no bookkeeping on reads.
        let Some(entries) = self.collections.values_mut().find(|entries| !entries.is_empty()) else { return };
        if let Some(victim) = entries.keys().next().cloned() {
            entries.remove(&victim);
            self.len -= 1;
        }
    }

    fn insert(&mut self, collection: &str, id: String, entry: Entry) {
        let entries = match self.collections.get_mut(collection) {
            Some(entries) => entries,
            None => self.collections.entry(collection.to_owned()).or_default(),
        };
        if entries.insert(id, entry).is_none() {
            self.len += 1;
        }
    }
}

struct Entry {
    doc: Arc<Document>,
    expires: Instant,
}

impl Docs {
    /// An empty cache of the documents of the collections `admits` accepts.
    pub fn new(settings: CacheSettings, admits: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(Inner {
            kept: Mutex::new(Kept::default()),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            settings,
            admits: Box::new(admits),
        }))
    }

    /// Drops these documents (collection, id), which changed.
    pub fn forget<'a>(&self, changed: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut kept = self.kept();
        for (collection, id) in changed {
            kept.remove(collection, id);
        }
        // Moved while the lock is held, so no read in flight keeps what it read.
        self.0.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops every document: something changed, and what is not known.
    pub fn clear(&self) {
        let mut kept = self.kept();
        *kept = Kept::default();
        self.0.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// How many documents are kept (expired ones included until replaced).
    pub fn len(&self) -> usize {
        self.kept().len
    }

    /// Whether no document is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Documents served from the cache and read from the store, since start.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.0.hits.load(Ordering::Relaxed),
            misses: self.0.misses.load(Ordering::Relaxed),
            kept: self.len(),
        }
    }

    fn admits(&self, collection: &str) -> bool {
        self.0.settings.capacity > 0 && (self.0.admits)(collection)
    }

    fn epoch(&self) -> u64 {
        self.0.epoch.load(Ordering::SeqCst)
    }

    /// The kept, unexpired documents of `ids`, `None` for the others.
    fn lookup(&self, collection: &str, ids: &[String]) -> Vec<Option<Arc<Document>>> {
        let now = Instant::now();
        let kept = self.kept();
        let Some(entries) = kept.collections.get(collection) else { return vec![None; ids.len()] };
        ids.iter()
            .map(|id| {
                let entry = entries.get(id)?;
                (entry.expires > now).then(|| entry.doc.clone())
            })
            .collect()
    }

    /// Keeps documents read from the store since `epoch`, unless something
    /// was forgotten meanwhile.
    fn keep(&self, collection: &str, read: Vec<(String, Arc<Document>)>, epoch: u64) {
        let expires = Instant::now() + self.0.settings.ttl;
        let mut kept = self.kept();
        if self.epoch() != epoch {
            return;
        }
        for (id, doc) in read {
            if kept.len >= self.0.settings.capacity {
                kept.evict_one();
            }
            kept.insert(collection, id, Entry { doc, expires });
        }
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        // A panic while holding the lock leaves the maps whole: keep using them.
        self.0.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A store whose reads by id go through [`Docs`] first; writes go to the
/// store and forget what they wrote.
#[derive(Clone)]
pub struct Cached<S> {
    store: S,
    docs: Docs,
}

impl<S> Cached<S> {
    /// `store` behind `docs`.
    pub fn new(store: S, docs: Docs) -> Self {
        Self { store, docs }
    }

    /// The cache.
    pub fn docs(&self) -> &Docs {
        &self.docs
    }

    /// Drops what `writes` wrote, whether or not the store took them all.
    fn forget_written(&self, writes: &[Write]) {
        self.docs.forget(writes.iter().map(|w| (w.collection.as_str(), w.id.as_str())));
    }
}

impl<S: ReadStore> ReadStore for Cached<S> {
    async fn ensure(&self, collections: &[Collection]) -> Result<(), ReadStoreError> {
        self.store.ensure(collections).await
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Document>, ReadStoreError> {
        if !self.docs.admits(collection) {
            return self.store.get(collection, id).await;
        }
        let mut found = self.get_many(collection, &[id.to_owned()]).await?;
        Ok(found.pop().flatten())
    }

    async fn get_many(&self, collection: &str, ids: &[String]) -> Result<Vec<Option<Document>>, ReadStoreError> {
        if !self.docs.admits(collection) {
            return self.store.get_many(collection, ids).await;
        }
        let shared = self.get_many_shared(collection, ids).await?;
        Ok(shared.into_iter().map(|doc| doc.map(Arc::unwrap_or_clone)).collect())
    }

    async fn get_many_shared(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<Vec<Option<Arc<Document>>>, ReadStoreError> {
        if !self.docs.admits(collection) {
            return self.store.get_many_shared(collection, ids).await;
        }
        let epoch = self.docs.epoch();
        let mut found = self.docs.lookup(collection, ids);
        let missing: Vec<String> =
            ids.iter().zip(&found).filter(|(_, doc)| doc.is_none()).map(|(id, _)| id.clone()).collect();
        let hits = ids.len() - missing.len();
        self.docs.0.hits.fetch_add(hits as u64, Ordering::Relaxed);
        self.docs.0.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        if missing.is_empty() {
            return Ok(found);
        }
        let read = self.store.get_many_shared(collection, &missing).await?;
        let fresh = missing.iter().zip(&read).filter_map(|(id, doc)| Some((id.clone(), doc.clone()?)));
        self.docs.keep(collection, fresh.collect(), epoch);
        let mut read = read.into_iter();
        for slot in found.iter_mut().filter(|doc| doc.is_none()) {
            *slot = read.next().flatten();
        }
        Ok(found)
    }

    async fn write(&self, writes: &[Write]) -> Result<u64, ReadStoreError> {
        let written = self.store.write(writes).await;
        self.forget_written(writes);
        written
    }

    async fn write_shared(&self, writes: Arc<[Write]>) -> Result<u64, ReadStoreError> {
        let written = self.store.write_shared(writes.clone()).await;
        self.forget_written(&writes);
        written
    }

    async fn drop_collection(&self, collection: &str) -> Result<(), ReadStoreError> {
        let dropped = self.store.drop_collection(collection).await;
        self.docs.clear();
        dropped
    }

    async fn find(&self, collection: &str, query: &Query) -> Result<Page, ReadStoreError> {
        self.store.find(collection, query).await
    }

    async fn count(&self, collection: &str, filter: &Filter) -> Result<u64, ReadStoreError> {
        self.store.count(collection, filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(n: i64) -> Document {
        json!({ "n": n }).as_object().cloned().unwrap_or_default()
    }

    fn docs(capacity: usize) -> Docs {
        Docs::new(CacheSettings { capacity, ttl: Duration::from_secs(60) }, |c| c == "posts")
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn a_read_that_raced_a_forget_keeps_nothing() {
        let docs = docs(10);
        let epoch = docs.epoch();
        docs.forget([("posts", "p1")]);
        docs.keep("posts", vec![("p1".to_owned(), Arc::new(doc(1)))], epoch);
        assert!(docs.lookup("posts", &ids(&["p1"]))[0].is_none());

        let epoch = docs.epoch();
        docs.keep("posts", vec![("p1".to_owned(), Arc::new(doc(2)))], epoch);
        assert_eq!(docs.lookup("posts", &ids(&["p1"]))[0].as_deref(), Some(&doc(2)));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let docs = docs(3);
        for n in 0..10 {
            docs.keep("posts", vec![(format!("p{n}"), Arc::new(doc(n)))], docs.epoch());
            assert!(docs.len() <= 3, "{} kept", docs.len());
        }
        assert_eq!(docs.len(), 3);
    }

    #[test]
    fn a_cache_of_no_capacity_admits_nothing() {
        assert!(!docs(0).admits("posts"));
        assert!(docs(1).admits("posts"));
        assert!(!docs(1).admits("users"));
    }
}
