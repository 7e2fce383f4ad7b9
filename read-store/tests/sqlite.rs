//! Every conformance behaviour against the SQLite backend, each on a fresh
//! in-memory store (every call on one connection) and on a fresh file store
//! (writes on the writer, reads on the read-only connections beside it), plus
//! what only a file-backed store can show.

use read_store::{Collection, Filter, ReadStore, SqliteStore};
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
