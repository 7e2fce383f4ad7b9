//! Every conformance behaviour against the SQLite backend, each on a fresh
//! in-memory store (every call on one connection) and on a fresh file store
//! (writes on the writer, reads on the read-only connections beside it), plus
//! what only a file-backed store can show.

use read_store::{CacheSettings, Cached, Collection, Docs, Filter, ReadStore, SqliteStore};
use serde_json::json;

#[allow(clippy::unwrap_used)] // a test helper: no store, no test
async fn fresh() -> SqliteStore {
    SqliteStore::in_memory().unwrap()
}

read_store::conformance_tests!(fresh());

mod file {
    use read_store::SqliteStore;

    /// A store in a file of its own directory, removed when the test ends.
    #[allow(clippy::unwrap_used)] // a test helper: no store, no test
    async fn fresh() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (SqliteStore::open(&dir.path().join("read.sqlite")).unwrap(), dir)
    }

    read_store::conformance_tests!(kept: fresh());
}

#[tokio::test]
async fn a_file_store_keeps_its_documents_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read.sqlite");
    let people = [Collection::new("people").index(&["city"])];
    let doc = json!({"name": "Ana", "city": "Lisboa", "tokens": ["ana"]}).as_object().cloned().unwrap();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.ensure(&people).await.unwrap();
        store.put("people", "ana", &doc).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    store.ensure(&people).await.unwrap();
    assert_eq!(store.get("people", "ana").await.unwrap(), Some(doc));
    assert_eq!(store.count("people", &Filter::all().search("ana").eq("city", "Lisboa")).await.unwrap(), 1);
}

#[tokio::test]
async fn a_file_store_copies_its_wal_into_the_database_in_the_background_long_before_the_writers_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    store.ensure(&[Collection::new("people")]).await.unwrap();
    let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let before = size();

    // A few pages, far below the writer's own checkpoint at 8192 pages of
    // WAL: only the background checkpointer copies them into the database.
    for n in 0..50 {
        let doc = json!({"name": "x".repeat(2_000)}).as_object().cloned().unwrap();
        store.put("people", &format!("p{n}"), &doc).await.unwrap();
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() < before + 50 * 2_000 {
        assert!(std::time::Instant::now() < deadline, "the database file stayed at {} bytes", size());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn concurrent_readers_of_a_file_store_see_every_write_that_returned_before_they_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("read.sqlite")).unwrap();
    store.ensure(&[Collection::new("counters")]).await.unwrap();
    for round in 1..=50_i64 {
        let update = read_store::Update::Increment("n".into(), 1);
        store.update("counters", "c", &[update], read_store::IfMissing::Create).await.unwrap();
        // More readers than reader threads, so every thread answers some.
        let reads = (0..8).map(|_| store.get("counters", "c"));
        for doc in futures::future::join_all(reads).await {
            assert_eq!(doc.unwrap().unwrap()["n"], json!(round));
        }
    }
}

/// The cache in front of a store behaves as a store: writes through it
/// forget what they wrote.
mod cached {
    use read_store::{CacheSettings, Cached, Docs, SqliteStore};

    #[allow(clippy::unwrap_used)] // a test helper: no store, no test
    async fn fresh() -> Cached<SqliteStore> {
        Cached::new(SqliteStore::in_memory().unwrap(), Docs::new(CacheSettings::default(), |_| true))
    }

    read_store::conformance_tests!(fresh());
}

/// A cache over `store` of the `people` collection, entries living `ttl`.
fn cached(store: &SqliteStore, ttl: std::time::Duration) -> Cached<SqliteStore> {
    let settings = CacheSettings { capacity: 100, ttl };
    Cached::new(store.clone(), Docs::new(settings, |collection| collection == "people"))
}

#[tokio::test]
async fn a_cached_document_changed_behind_the_cache_is_read_anew_once_forgotten() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people")]).await.unwrap();
    let cache = cached(&store, std::time::Duration::from_secs(60));
    let ana = |city: &str| json!({"name": "Ana", "city": city}).as_object().cloned().unwrap();
    store.put("people", "ana", &ana("Lisboa")).await.unwrap();
    assert_eq!(cache.get("people", "ana").await.unwrap(), Some(ana("Lisboa")));

    // Written behind the cache, as a projector in another process writes.
    store.put("people", "ana", &ana("Porto")).await.unwrap();
    assert_eq!(cache.get("people", "ana").await.unwrap(), Some(ana("Lisboa")), "served from the cache");
    cache.docs().forget([("people", "ana")]);
    assert_eq!(cache.get("people", "ana").await.unwrap(), Some(ana("Porto")));

    store.put("people", "ana", &ana("Faro")).await.unwrap();
    cache.docs().clear();
    let many = cache.get_many("people", &["bo".to_owned(), "ana".to_owned()]).await.unwrap();
    assert_eq!(many, vec![None, Some(ana("Faro"))]);
}

#[tokio::test]
async fn a_cached_document_expires_and_other_collections_are_never_cached() {
    let store = fresh().await;
    store.ensure(&[Collection::new("people"), Collection::new("places")]).await.unwrap();
    let cache = cached(&store, std::time::Duration::from_millis(50));
    let named = |name: &str| json!({ "name": name }).as_object().cloned().unwrap();
    store.put("people", "ana", &named("Ana")).await.unwrap();
    store.put("places", "lx", &named("Lisboa")).await.unwrap();
    cache.get("people", "ana").await.unwrap();
    cache.get("places", "lx").await.unwrap();
    assert_eq!(cache.docs().len(), 1, "only people are kept");

    store.put("places", "lx", &named("Lisbon")).await.unwrap();
    assert_eq!(cache.get("places", "lx").await.unwrap(), Some(named("Lisbon")));
    store.put("people", "ana", &named("Ana Maria")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    assert_eq!(cache.get("people", "ana").await.unwrap(), Some(named("Ana Maria")), "expired, read anew");
}
